"""A fast, strict HTTP/1.1 engine in pure Python, and the choice of engine by name.

`FastEngine` implements `HTTP11Engine` with a handful of precompiled patterns, byte scans
and slices: a response head is found with one search; one whose lines all end in CRLF (the
common case) is checked whole by one pattern and its fields taken by another, while any
other is checked for forbidden bytes with `translate`, made LF-only, and split into fields
by a pattern that must match every line; the request head is built with one join.
Received bytes are read in place, from an offset: body data goes out as a slice (a
`memoryview` when it is large) of what was received, never by re-slicing the rest of the
buffer. It accepts what RFC 9112 calls well-formed and rejects everything h11 rejects, and
more:

- obs-fold (a field line that starts with a space or a tab) anywhere in a head;
- control characters other than HTAB in a reason phrase, field value or chunk extension;
- HTTP versions other than 1.x in the status line;
- chunk sizes of 2**63 or more, and heads (or trailer sections) larger than
  `Limits.max_head_size` (`max_trailer_size`), however they arrive.

Otherwise it follows h11 to the byte (a differential test holds it there): a line may end
in LF alone, a `Content-Length` repeated with the same value is folded into one, and a
`Transfer-Encoding` is surfaced lower-cased.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal

from ._config import DEFAULT_LIMITS, Limits
from ._exceptions import LocalProtocolError, RemoteProtocolError
from ._http11_engine import (
    BY_LENGTH,
    CHUNKED,
    END_OF_BODY,
    INFORMATIONAL,
    NO_BODY,
    SWITCHED,
    SWITCHED_PROTOCOL,
    UNTIL_EOF,
    H11Engine,
    HTTP11Engine,
    RequestFraming,
    ResponseEvent,
    ResponseHead,
    Trailers,
    has_close,
    head_too_large,
    response_framing,
    single_length,
    too_many_headers,
    trailers_too_large,
)

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
_FIELD = re.compile(rb"^([-!#$%&'*+.^_`|~0-9A-Za-z]+):[ \t]*([^\n]*)\n", re.MULTILINE)
# The common case in one pattern: a head whose every line ends in CRLF, checked whole (no
# control character, bare CR or obs-fold can match); its field lines, then, are these.
_CRLF_HEAD = re.compile(
    rb"HTTP/(1\.[0-9]) ([0-9]{3})(?: ([\t\x20-\x7e\x80-\xff]*))?\r\n"
    rb"((?:[-!#$%&'*+.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*\r\n)*)\r\n"
)
_CRLF_FIELD = re.compile(rb"([-!#$%&'*+.^_`|~0-9A-Za-z]+):[ \t]*([^\r]*)\r\n")
# The framing fields, found in the lower-cased head (normalised, or the common case).
_FRAMING_FIELDS = re.compile(rb"\n(content-length|transfer-encoding|connection):[ \t]*([^\r\n]*)")
# Every byte but the control characters (HTAB, CR and LF aside) and DEL.
_ALLOWED = bytes([9, 10, 13, *range(0x20, 0x7F), *range(0x80, 0x100)])
_CHUNK_LINE = re.compile(rb"([0-9A-Fa-f]{1,20})(?:;[\t\x20-\x7e\x80-\xff]*)?[ \t]*\r\n")
_MAX_CHUNK_SIZE = 2**63 - 1
# Body data shorter than this is copied out (cheaper than a view for small pieces).
_VIEW_FROM = 4096

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


class FastEngine(HTTP11Engine):
    """The fast HTTP/1.1 engine: strict, in pure Python, no per-event objects."""

    __slots__ = (
        "_buffer",
        "_eof",
        "_length",
        "_method",
        "_pos",
        "_remaining",
        "_request_done",
        "_search_from",
        "_send_chunked",
        "_send_remaining",
        "_state",
        "_upgrade",
    )

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        super().__init__(limits)
        # Received bytes not yet parsed are `_buffer[_pos:]`.
        self._buffer: bytes | bytearray = b""
        self._pos = 0
        self._search_from = 0
        self._eof = False
        self._state = _IDLE
        self._method = b""
        self._upgrade = False
        self._request_done = False
        self._send_chunked = False
        self._send_remaining = 0
        self._remaining = 0
        self._length = 0

    # Sending.

    def request_head(
        self,
        method: bytes,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        framing: RequestFraming,
    ) -> bytes:
        parts = [method, b" ", target, b" HTTP/1.1\r\n"]
        for name, value in headers:
            parts += (name, b": ", value, b"\r\n")
        parts.append(b"\r\n")
        self._must_close = framing.close
        self._method = method
        self._upgrade = framing.upgrade
        self._send_chunked = framing.length is None
        self._send_remaining = framing.length or 0
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

    def body_sent(self, size: int) -> tuple[bytes, bytes]:
        if self._send_chunked:
            return b"%x\r\n" % size, b"\r\n"
        self._send_remaining -= size
        if self._send_remaining < 0:
            raise LocalProtocolError("Too much data for the declared Content-Length.")
        return b"", b""

    def end_of_body(self) -> bytes:
        self._request_done = True
        if self._send_chunked:
            return b"0\r\n\r\n"
        if self._send_remaining:
            raise LocalProtocolError("Too little data for the declared Content-Length.")
        return b""

    # Receiving.

    def receive_data(self, data: bytes) -> list[ResponseEvent]:
        if self._state == _ERROR:
            raise RemoteProtocolError("The connection has already failed.")
        if not data:
            self._eof = True
        else:
            buffer = self._buffer
            pos = self._pos
            if pos == len(buffer):
                self._buffer = data
                self._pos = self._search_from = 0
            else:
                # Appending to a bytearray keeps a head that arrives in many small reads
                # linear; deleting from its front is cheap in CPython.
                if type(buffer) is bytearray:
                    del buffer[:pos]
                else:
                    buffer = self._buffer = bytearray(memoryview(buffer)[pos:])
                buffer += data
                self._pos = 0
                self._search_from = max(0, self._search_from - pos)
        events: list[ResponseEvent] = []
        try:
            self._parse(events)
        except RemoteProtocolError as exc:
            self._state = _ERROR
            events.append(exc)
        return events

    def _parse(self, events: list[ResponseEvent]) -> None:
        """Append every event the buffered bytes complete."""
        while True:
            state = self._state
            if state == _LENGTH:
                self._by_length(events)
                return
            if state == _HEAD:
                if not self._head(events):
                    return
            elif _CHUNK_SIZE <= state <= _TRAILERS:
                self._chunked(events)
                return
            elif state == _UNTIL_EOF:
                if self._pos < len(self._buffer):
                    events.append(self._take(len(self._buffer)))
                if self._eof:
                    self._state = _DONE
                    events.append(END_OF_BODY)
                return
            else:
                # Nothing is expected now (done, or switched): `start_next_exchange`
                # decides about any bytes left.
                return

    def _take(self, end: int) -> bytes | memoryview:
        """Body data up to `end`: the received bytes themselves, a slice or a view."""
        buffer = self._buffer
        start = self._pos
        self._pos = end
        if type(buffer) is bytes:
            if start == 0 and end == len(buffer):
                return buffer
            if end - start >= _VIEW_FROM:
                return memoryview(buffer)[start:end]
            return buffer[start:end]
        # The bytearray changes with the next receive: no view of it may leave.
        return bytes(buffer[start:end])

    def _by_length(self, events: list[ResponseEvent]) -> None:
        remaining = self._remaining
        available = len(self._buffer) - self._pos
        if available >= remaining:
            if remaining:
                events.append(self._take(self._pos + remaining))
                self._remaining = 0
            self._state = _DONE
            events.append(END_OF_BODY)
            return
        if available:
            events.append(self._take(len(self._buffer)))
            self._remaining = remaining = remaining - available
        if self._eof:
            received = self._length - remaining
            raise RemoteProtocolError(
                "The server closed the connection before sending the complete message "
                f"body (received {received} of {self._length} bytes)."
            )

    def _take_block(self, limit: int) -> bytes | None:
        """Take a head or trailer section up to its empty line, or `None` if incomplete;
        one larger than `limit` bytes fails."""
        buffer = self._buffer
        pos = self._pos
        first = buffer[pos : pos + 2]
        if first[:1] == b"\n":
            end = pos + 1  # nothing but the empty line
        elif first == b"\r\n":
            end = pos + 2
        else:
            match = _HEAD_END.search(buffer, max(pos, self._search_from))
            if match is None:
                if len(buffer) - pos > limit:
                    raise self._too_large(limit)
                if self._eof:
                    raise RemoteProtocolError(
                        "The server closed the connection in the middle of a head."
                    )
                self._search_from = max(pos, len(buffer) - 2)
                return None
            end = match.end()
            if end - pos > limit:
                raise self._too_large(limit)
        self._pos = end
        self._search_from = 0
        return bytes(buffer[pos:end])

    def _too_large(self, limit: int) -> RemoteProtocolError:
        return (head_too_large if self._state == _HEAD else trailers_too_large)(limit)

    def _head(self, events: list[ResponseEvent]) -> bool:
        """Parse a response head; whether parsing goes on after it."""
        buffer = self._buffer
        pos = self._pos
        if pos < len(buffer):
            if buffer[pos] < 0x21:
                raise RemoteProtocolError("The response does not start with a status line.")
        elif not self._eof:
            return False
        head = self._take_block(self._limits.max_head_size)
        if head is None:
            return False
        crlf_head = _CRLF_HEAD.fullmatch(head)
        if crlf_head is not None:
            version, status_bytes, reason, lines = crlf_head.groups()
            start = crlf_head.start(4)
            headers: list[tuple[bytes, bytes]] = _CRLF_FIELD.findall(lines)
            if b" \r" in lines or b"\t\r" in lines:
                headers = [(name, value.rstrip(b" \t")) for name, value in headers]
        else:
            # Anything else is checked, and errors told apart, on the head made LF-only.
            head = _normalised(head)
            status_line = _STATUS_LINE.match(head)
            if status_line is None:
                line = head.partition(b"\n")[0]
                shown = repr(line[:80]) + ("..." if len(line) > 80 else "")
                raise RemoteProtocolError(f"The server sent an invalid status line: {shown}")
            start = status_line.end()
            headers = _fields(head, start)
            version, status_bytes, reason = status_line.groups()
        if len(headers) > self._limits.max_headers:
            raise too_many_headers(self._limits.max_headers)
        status = int(status_bytes)
        if status < 100:
            raise RemoteProtocolError(f"Invalid status code {status}.")
        length, chunked, close = _framing(head, start - 1, headers)
        # As `ResponseHead(...)` makes it, for half the cost (see `request_parts`).
        events.append(tuple.__new__(ResponseHead, (status, reason or b"", version, headers)))
        framing = response_framing(self._method, status, chunked, length)
        if framing == INFORMATIONAL:
            return True
        if framing == SWITCHED:
            if status == 101 and not self._upgrade:
                raise RemoteProtocolError("The server switched protocols (101) unasked.")
            # What follows is another protocol: no body, never another request.
            self._state = _SWITCHED
            self._must_close = True
            events.append(SWITCHED_PROTOCOL)
            return False
        self._close_after(version, chunked, length is not None, close)
        if framing == NO_BODY:
            self._state = _LENGTH
            self._remaining = 0
        elif framing == CHUNKED:
            self._state = _CHUNK_SIZE
        elif framing == BY_LENGTH:
            assert length is not None
            self._state = _LENGTH
            self._remaining = self._length = length
        else:
            assert framing == UNTIL_EOF
            self._state = _UNTIL_EOF
        return True

    def _chunked(self, events: list[ResponseEvent]) -> None:
        while True:
            state = self._state
            buffer = self._buffer
            pos = self._pos
            if state == _CHUNK_DATA:
                available = len(buffer) - pos
                if not available:
                    break
                remaining = self._remaining
                if available < remaining:
                    self._remaining = remaining - available
                    events.append(self._take(len(buffer)))
                    break
                events.append(self._take(pos + remaining))
                self._state = _CHUNK_END
            elif state == _CHUNK_END:
                crlf = buffer[pos : pos + 2]
                if crlf == b"\r\n":
                    self._pos = pos + 2
                    self._state = _CHUNK_SIZE
                    continue
                if crlf and crlf != b"\r":
                    raise RemoteProtocolError("Chunk data is not followed by CRLF.")
                break
            elif state == _CHUNK_SIZE:
                end = buffer.find(b"\r\n", pos) + 2
                if end == 1:
                    if len(buffer) - pos > self._limits.max_head_size:
                        raise RemoteProtocolError("The chunk-size line is too long.")
                    break
                line = _CHUNK_LINE.fullmatch(buffer, pos, end)
                if line is None:
                    shown = bytes(buffer[pos:end])[:80]
                    raise RemoteProtocolError(f"Invalid chunk-size line: {shown!r}.")
                size = int(line[1], 16)
                if size > _MAX_CHUNK_SIZE:
                    raise RemoteProtocolError("The chunk size is too large.")
                self._pos = end
                self._remaining = size
                self._state = _CHUNK_DATA if size else _TRAILERS
            else:
                block = self._take_block(self._limits.max_trailer_size)
                if block is None:
                    return
                # Checked as strictly as a head (framing fields included).
                block = _normalised(b"\n" + block)
                trailers = _fields(block, 1)
                _framing(block, 0, trailers)
                if trailers:
                    events.append(Trailers(trailers))
                self._state = _DONE
                events.append(END_OF_BODY)
                return
        if self._eof:
            raise RemoteProtocolError(
                "The server closed the connection before sending the complete message body "
                "(in the middle of a chunked body)."
            )

    @property
    def awaiting_response(self) -> bool:
        return self._state == _HEAD

    def _next_exchange(self) -> bool:
        if not (
            self._state == _DONE
            and self._request_done
            and self._pos == len(self._buffer)
            and not self._eof
        ):
            return False
        self._state = _IDLE
        self._method = b""
        # All of it was parsed: an idle connection keeps no read buffer alive.
        self._buffer = b""
        self._pos = 0
        return True


def _normalised(block: bytes) -> bytes:
    """A head or trailer section with every CRLF made an LF, once it is known to hold no
    control character, bare CR or obs-fold."""
    if block.translate(None, _ALLOWED):
        raise RemoteProtocolError("A control character in a head.")
    if b"\r" in block:
        if block.count(b"\r") != block.count(b"\r\n"):
            raise RemoteProtocolError("A bare CR in a head.")
        block = block.replace(b"\r\n", b"\n")
    if b"\n " in block or b"\n\t" in block:
        raise RemoteProtocolError("A folded header line (obs-fold) in a head.")
    return block


def _fields(block: bytes, start: int) -> list[tuple[bytes, bytes]]:
    """The field lines of a normalised block from `start`, as (name, value) pairs."""
    fields: list[tuple[bytes, bytes]] = _FIELD.findall(block, start)
    # A match is a whole line (anchored at its start, up to its LF): every line but the
    # final empty one must be one.
    if len(fields) != block.count(b"\n", start) - 1:
        raise RemoteProtocolError("An invalid header line in a head.")
    if b" \n" in block or b"\t\n" in block:
        fields = [(name, value.rstrip(b" \t")) for name, value in fields]
    return fields


def _framing(
    block: bytes, start: int, headers: list[tuple[bytes, bytes]]
) -> tuple[int | None, bool, bool]:
    """Check the framing fields of a normalised block: the length, chunked, close.

    Normalises `headers` in place as h11 surfaces them: a repeated Content-Length folded
    into the first, a Transfer-Encoding lower-cased.
    """
    lengths: list[bytes] = []
    encodings: list[bytes] = []
    close = False
    for name, value in _FRAMING_FIELDS.findall(block.lower(), start):
        if name == b"content-length":
            lengths.append(value)
        elif name == b"transfer-encoding":
            encodings.append(value.rstrip(b" \t"))
        elif b"close" in value and has_close(value):  # `value` is lower-cased already
            close = True
    length = None
    if lengths:
        if len(lengths) == 1 and lengths[0].isdigit() and len(lengths[0]) <= 20:
            length = int(lengths[0])
        else:
            value = single_length(lengths, RemoteProtocolError)
            _normalise(headers, b"content-length", value)
            length = int(value)
    if encodings:
        if len(encodings) > 1 or encodings[0] != b"chunked":
            raise RemoteProtocolError("Only a single Transfer-Encoding: chunked is supported.")
        _normalise(headers, b"transfer-encoding", b"chunked")
    return length, bool(encodings), close


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
