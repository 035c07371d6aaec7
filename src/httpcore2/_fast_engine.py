"""A fast, strict HTTP/1.1 engine in pure Python, and the choice of engine by name.

`FastEngine` implements `HTTP11Engine` with a handful of precompiled patterns, byte scans
and slices: a response head is found with one search, checked for forbidden bytes with
`translate`, and split into fields with one `split` whose gaps must be empty; the request
head is built with one join. It accepts what RFC 9112 calls well-formed and rejects
everything h11 rejects, and more:

- obs-fold (a field line that starts with a space or a tab) anywhere in a head;
- control characters other than HTAB in a reason phrase, field value or chunk extension;
- HTTP versions other than 1.x in the status line;
- chunk sizes of 2**63 or more, and heads (or trailer sections) larger than
  `Limits.max_head_size` (`max_trailer_size`), however they arrive.

Otherwise it follows h11 to the byte (a differential test holds it there): a line may end
in LF alone, a `Content-Length` repeated with the same value is folded into one, a
`Transfer-Encoding` is surfaced lower-cased, and trailers are checked, then dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal

from ._config import DEFAULT_LIMITS, Limits
from ._exceptions import LocalProtocolError, RemoteProtocolError
from ._http11_engine import (
    END_OF_BODY,
    NEED_DATA,
    SWITCHED_PROTOCOL,
    H11Engine,
    HTTP11Engine,
    ResponseEvent,
    ResponseHead,
    head_too_large,
    request_target,
    too_many_headers,
    trailers_too_large,
)
from ._models import Request

__all__ = [
    "DEFAULT_HTTP1_ENGINE",
    "HTTP1_ENGINES",
    "FastEngine",
    "HTTP1EngineName",
    "check_engine_name",
    "new_engine",
]

# A head ends at the first empty line; like h11, a line may end in LF alone.
_HEAD_END = re.compile(rb"\n\r?\n")
_STATUS_LINE = re.compile(rb"HTTP/(1\.[0-9]) ([0-9]{3})(?: ([\t\x20-\x7e\x80-\xff]*))?\n")
# A field line of a head whose CRLFs became LFs, and whose characters are all allowed: a
# token, a colon, optional whitespace, the value (trailing whitespace is stripped later).
_FIELD = re.compile(rb"([-!#$%&'*+.^_`|~0-9A-Za-z]+):[ \t]*([^\n]*)\n")
# The framing fields, found in the lower-cased head.
_FRAMING_FIELDS = re.compile(rb"\n(content-length|transfer-encoding|connection):[ \t]*([^\n]*)")
# Every byte but the control characters (HTAB, CR and LF aside) and DEL.
_ALLOWED = bytes([9, 10, 13, *range(0x20, 0x7F), *range(0x80, 0x100)])
_CHUNK_LINE = re.compile(rb"([0-9A-Fa-f]{1,20})(?:;[\t\x20-\x7e\x80-\xff]*)?[ \t]*\r\n")
_MAX_CHUNK_SIZE = 2**63 - 1
_MAX_LENGTH_DIGITS = 20

# Where the engine is in the exchange.
_IDLE = 0  # nothing sent yet
_HEAD = 1  # waiting for a (final) response head
_LENGTH = 2  # a body framed by Content-Length (`_remaining` bytes to come)
_CHUNK_SIZE = 3  # a chunked body: a chunk-size line next
_CHUNK_DATA = 4  # ... chunk data (`_remaining` bytes)
_CHUNK_END = 5  # ... the CRLF after chunk data
_TRAILERS = 6  # ... the trailer section
_UNTIL_EOF = 7  # a body delimited by the end of the stream
_DONE = 8  # the response is complete
_ERROR = 9
_SWITCHED = 10  # the connection left HTTP/1.1 (a 101, a 2xx answer to CONNECT)


class FastEngine:
    """The fast HTTP/1.1 engine: strict, in pure Python, no per-event objects."""

    __slots__ = (
        "_buffer",
        "_eof",
        "_keep_alive",
        "_length",
        "_limits",
        "_method",
        "_must_close",
        "_remaining",
        "_request_done",
        "_search_from",
        "_send_chunked",
        "_send_remaining",
        "_state",
        "_upgrade",
    )

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self._limits = limits
        self._buffer: bytes | bytearray = b""
        self._search_from = 0
        self._eof = False
        self._state = _IDLE
        self._method = b""
        self._upgrade = False
        self._request_done = False
        self._keep_alive = True
        self._must_close = False
        self._send_chunked = False
        self._send_remaining = 0
        self._remaining = 0
        self._length = 0

    # Sending.

    def request_head(self, request: Request) -> bytes:
        method = request.method.encode("ascii")
        parts = [method, b" ", request_target(request), b" HTTP/1.1\r\n", b""]
        hosts = 0
        lengths: list[bytes] = []
        chunked = False
        keep_alive = True
        upgrade = False
        # `Request` and `Headers` have validated the method, names and values: only the
        # framing headers need a look. Host goes first, as h11 writes it.
        for raw, name, value in request.headers._items:
            if name == b"host":
                hosts += 1
                parts[4] = b"%s: %s\r\n" % (raw, value)
                continue
            if name == b"content-length":
                if lengths:
                    lengths.append(value)
                    continue
                lengths.append(value)
                value = _single_length([value], LocalProtocolError)
            elif name == b"transfer-encoding":
                if chunked or value.lower() != b"chunked":
                    raise LocalProtocolError(
                        "Only a single Transfer-Encoding: chunked can be sent."
                    )
                chunked = True
                value = b"chunked"
            elif name == b"connection" and _has_close(value):
                keep_alive = False
            elif name == b"upgrade":
                upgrade = True
            parts += (raw, b": ", value, b"\r\n")
        if hosts != 1:
            raise LocalProtocolError("An HTTP/1.1 request needs exactly one Host header.")
        length = int(_single_length(lengths, LocalProtocolError)) if lengths else 0
        parts.append(b"\r\n")
        self._method = method
        self._upgrade = upgrade
        self._send_chunked = chunked
        self._send_remaining = length
        self._keep_alive = keep_alive
        self._request_done = False
        self._state = _HEAD
        return b"".join(parts)

    def body_chunk(self, data: bytes) -> bytes:
        if self._send_chunked:
            return b"%x\r\n%s\r\n" % (len(data), data) if data else b""
        self._send_remaining -= len(data)
        if self._send_remaining < 0:
            raise LocalProtocolError("Too much data for the declared Content-Length.")
        return data

    def end_of_body(self) -> bytes:
        self._request_done = True
        if self._send_chunked:
            return b"0\r\n\r\n"
        if self._send_remaining:
            raise LocalProtocolError("Too little data for the declared Content-Length.")
        return b""

    # Receiving.

    def receive_data(self, data: bytes) -> None:
        if not data:
            self._eof = True
            return
        buffer = self._buffer
        if not buffer:
            self._buffer = data
        elif type(buffer) is bytearray:
            buffer += data
        else:
            # Appending to a bytearray keeps a head that arrives in many small reads linear.
            self._buffer = bytearray(buffer) + data

    def next_event(self) -> ResponseEvent:
        state = self._state
        if state == _LENGTH:
            remaining = self._remaining
            if not remaining:
                self._state = _DONE
                return END_OF_BODY
            buffer = self._buffer
            if not buffer:
                if self._eof:
                    received = self._length - remaining
                    raise self._fail(
                        "The server closed the connection before sending the complete message "
                        f"body (received {received} of {self._length} bytes)."
                    )
                return NEED_DATA
            if len(buffer) <= remaining:
                self._buffer = b""
                self._remaining = remaining - len(buffer)
                return bytes(buffer)
            self._buffer = buffer[remaining:]
            self._remaining = 0
            return bytes(buffer[:remaining])
        if state == _HEAD:
            return self._read_head()
        if state == _UNTIL_EOF:
            buffer = self._buffer
            if buffer:
                self._buffer = b""
                return bytes(buffer)
            if self._eof:
                self._state = _DONE
                return END_OF_BODY
            return NEED_DATA
        if _CHUNK_SIZE <= state <= _TRAILERS:
            return self._read_chunked()
        if state == _ERROR:
            raise RemoteProtocolError("The connection has already failed.")
        if state == _SWITCHED:
            return SWITCHED_PROTOCOL
        # Nothing is expected now; `start_next_exchange` decides about the bytes left.
        return NEED_DATA

    def _switch(self) -> None:
        """What follows the head is another protocol: no body, never another request."""
        self._state = _SWITCHED
        self._keep_alive = False

    def _fail(self, message: str) -> RemoteProtocolError:
        self._state = _ERROR
        return RemoteProtocolError(message)

    def _take_block(self, limit: int) -> bytes | None:
        """Take a head or trailer section up to its empty line, or `None` if incomplete;
        one larger than `limit` bytes fails."""
        buffer = self._buffer
        first = buffer[:2]
        if first[:1] == b"\n":
            end = 1  # nothing but the empty line
        elif first == b"\r\n":
            end = 2
        else:
            match = _HEAD_END.search(buffer, self._search_from)
            if match is None:
                if len(buffer) > limit:
                    raise self._too_large(limit)
                if self._eof:
                    raise self._fail("The server closed the connection in the middle of a head.")
                self._search_from = max(0, len(buffer) - 2)
                return None
            end = match.end()
            if end > limit:
                raise self._too_large(limit)
        block = bytes(buffer[:end])
        self._buffer = buffer[end:]
        self._search_from = 0
        return block

    def _too_large(self, limit: int) -> RemoteProtocolError:
        too_large = head_too_large if self._state == _HEAD else trailers_too_large
        self._state = _ERROR
        return too_large(limit)

    def _read_head(self) -> ResponseEvent:
        buffer = self._buffer
        if buffer and buffer[0] < 0x21:
            raise self._fail("The response does not start with a status line.")
        if not buffer and not self._eof:
            return NEED_DATA
        head = self._take_block(self._limits.max_head_size)
        if head is None:
            return NEED_DATA
        head = self._normalised(head)
        status_line = _STATUS_LINE.match(head)
        if status_line is None:
            line = head.partition(b"\n")[0]
            shown = repr(line[:80]) + ("..." if len(line) > 80 else "")
            raise self._fail(f"The server sent an invalid status line: {shown}")
        start = status_line.end()
        headers = self._fields(head, start)
        if len(headers) > self._limits.max_headers:
            self._state = _ERROR
            raise too_many_headers(self._limits.max_headers)
        version, status_bytes, reason = status_line.groups()
        status = int(status_bytes)
        length, chunked, close = self._framing(head, start - 1, headers)
        if status < 200:
            if status < 100:
                raise self._fail(f"Invalid status code {status}.")
            if status == 101:
                if not self._upgrade:
                    raise self._fail("The server switched protocols (101) unasked.")
                self._switch()
            return ResponseHead(status, reason or b"", version, headers)
        if chunked and length is not None:
            # Framed by chunked, but a sign of response smuggling: RFC 9112 §6.3 asks the
            # client to close the connection once the response is done.
            self._must_close = True
        if close or version == b"1.0":
            self._keep_alive = False
        method = self._method
        if status == 204 or status == 304 or method == b"HEAD":
            self._state = _LENGTH
            self._remaining = 0
        elif method == b"CONNECT" and status < 300:
            self._switch()  # the connection carries the tunnel now
        elif chunked:
            self._state = _CHUNK_SIZE
        elif length is not None:
            self._state = _LENGTH
            self._remaining = self._length = length
        else:
            self._state = _UNTIL_EOF
        return ResponseHead(status, reason or b"", version, headers)

    def _normalised(self, block: bytes) -> bytes:
        """A head or trailer section with every CRLF made an LF, once it is known to hold
        no control character, bare CR or obs-fold."""
        if block.translate(None, _ALLOWED):
            raise self._fail("A control character in a head.")
        if b"\r" in block:
            if block.count(b"\r") != block.count(b"\r\n"):
                raise self._fail("A bare CR in a head.")
            block = block.replace(b"\r\n", b"\n")
        if b"\n " in block or b"\n\t" in block:
            raise self._fail("A folded header line (obs-fold) in a head.")
        return block

    def _fields(self, block: bytes, start: int) -> list[tuple[bytes, bytes]]:
        """The field lines of a normalised block from `start`, as (name, value) pairs."""
        parts = _FIELD.split(block[start:])
        gaps = parts[::3]
        if gaps[-1] != b"\n" or any(gaps[:-1]):
            raise self._fail("An invalid header line in a head.")
        fields = list(zip(parts[1::3], parts[2::3], strict=True))
        if b" \n" in block or b"\t\n" in block:
            fields = [(name, value.rstrip(b" \t")) for name, value in fields]
        return fields

    def _framing(
        self, block: bytes, start: int, headers: list[tuple[bytes, bytes]]
    ) -> tuple[int | None, bool, bool]:
        """Check the framing fields of a normalised block: the length, chunked, close.

        Normalises `headers` in place as h11 surfaces them: a repeated Content-Length
        folded into the first, a Transfer-Encoding lower-cased.
        """
        lengths: list[bytes] = []
        encodings: list[bytes] = []
        close = False
        for name, value in _FRAMING_FIELDS.findall(block.lower(), start):
            if name == b"content-length":
                lengths.append(value)
            elif name == b"transfer-encoding":
                encodings.append(value.rstrip(b" \t"))
            elif _has_close(value):
                close = True
        length = None
        if lengths:
            if len(lengths) == 1 and lengths[0].isdigit() and len(lengths[0]) <= 20:
                length = int(lengths[0])
            else:
                try:
                    value = _single_length(lengths, RemoteProtocolError)
                except RemoteProtocolError:
                    self._state = _ERROR
                    raise
                _normalise(headers, b"content-length", value)
                length = int(value)
        if encodings:
            if len(encodings) > 1 or encodings[0] != b"chunked":
                raise self._fail("Only a single Transfer-Encoding: chunked is supported.")
            _normalise(headers, b"transfer-encoding", b"chunked")
        return length, bool(encodings), close

    def _read_chunked(self) -> ResponseEvent:
        while True:
            state = self._state
            buffer = self._buffer
            if state == _CHUNK_DATA:
                if not buffer:
                    break
                remaining = self._remaining
                if len(buffer) < remaining:
                    self._buffer = b""
                    self._remaining = remaining - len(buffer)
                    return bytes(buffer)
                self._buffer = buffer[remaining:]
                self._state = _CHUNK_END
                return bytes(buffer[:remaining])
            if state == _CHUNK_END:
                if buffer[:2] == b"\r\n":
                    self._buffer = buffer[2:]
                    self._state = _CHUNK_SIZE
                    continue
                if buffer and buffer != b"\r":
                    raise self._fail("Chunk data is not followed by CRLF.")
                break
            if state == _CHUNK_SIZE:
                end = buffer.find(b"\r\n") + 2
                if end == 1:
                    if len(buffer) > self._limits.max_head_size:
                        raise self._fail("The chunk-size line is too long.")
                    break
                line = _CHUNK_LINE.fullmatch(buffer, 0, end)
                if line is None:
                    raise self._fail(f"Invalid chunk-size line: {bytes(buffer[:end])[:80]!r}.")
                size = int(line[1], 16)
                if size > _MAX_CHUNK_SIZE:
                    raise self._fail("The chunk size is too large.")
                self._buffer = buffer[end:]
                self._remaining = size
                self._state = _CHUNK_DATA if size else _TRAILERS
                continue
            trailers = self._take_block(self._limits.max_trailer_size)
            if trailers is None:
                return NEED_DATA
            # Checked as strictly as a head (framing fields included), then dropped.
            trailers = self._normalised(b"\n" + trailers)
            self._framing(trailers, 0, self._fields(trailers, 1))
            self._state = _DONE
            return END_OF_BODY
        if self._eof:
            raise self._fail(
                "The server closed the connection before sending the complete message body "
                "(in the middle of a chunked body)."
            )
        return NEED_DATA

    @property
    def awaiting_response(self) -> bool:
        return self._state == _HEAD

    def start_next_exchange(self) -> bool:
        reusable = (
            self._state == _DONE
            and self._request_done
            and self._keep_alive
            and not self._must_close
            # Bytes after the framed body (a body on a 204, a too-long body) must never be
            # parsed as the next response.
            and not self._buffer
            and not self._eof
        )
        if reusable:
            self._state = _IDLE
            self._method = b""
        return reusable


def _has_close(value: bytes) -> bool:
    value = value.lower()
    return b"close" in value and any(token.strip() == b"close" for token in value.split(b","))


def _single_length(
    values: list[bytes], error: type[LocalProtocolError] | type[RemoteProtocolError]
) -> bytes:
    """The one length that every Content-Length value (and list element) agrees on."""
    lengths = {part.strip() for value in values for part in value.split(b",")}
    if len(lengths) != 1:
        raise error("Conflicting Content-Length values.")
    length = lengths.pop()
    if not length.isdigit() or len(length) > _MAX_LENGTH_DIGITS:
        raise error(f"Invalid Content-Length: {length[:40]!r}.")
    return length


def _normalise(headers: list[tuple[bytes, bytes]], name: bytes, value: bytes) -> None:
    """Keep the first `name` field with `value`, and drop the others."""
    seen = False
    kept = []
    for raw, old in headers:
        if raw.lower() == name:
            if seen:
                continue
            seen = True
            old = value
        kept.append((raw, old))
    headers[:] = kept


# Choosing an engine by name.

HTTP1EngineName = Literal["fast", "h11"]
HTTP1_ENGINES: dict[str, Callable[[Limits], HTTP11Engine]] = {"fast": FastEngine, "h11": H11Engine}
DEFAULT_HTTP1_ENGINE: HTTP1EngineName = "fast"


def check_engine_name(name: str | None) -> None:
    """Raise `ValueError` unless `name` is `None` (the default) or an engine's name."""
    if name is not None and name not in HTTP1_ENGINES:
        raise ValueError(f"Unknown HTTP/1.1 engine {name!r}: use one of {sorted(HTTP1_ENGINES)}.")


def new_engine(name: str | None = None, limits: Limits = DEFAULT_LIMITS) -> HTTP11Engine:
    """A new engine of the given name (`None`: the default engine), held to `limits`."""
    return HTTP1_ENGINES[DEFAULT_HTTP1_ENGINE if name is None else name](limits)
