"""The HTTP/1.1 protocol engine: sans-IO, behind one narrow, engine-neutral interface.

`HTTP11Connection` does the I/O; its engine turns a request head (plain bytes: method,
target, header list, and how the body is framed) into bytes, and received bytes into
batches of response events, and says whether the connection may carry another request.
`H11Engine`, on h11, is the reference engine; `FastEngine` (`_fast_engine.py`), the
default, stands behind the same interface: `tests/test_http11_engine.py` holds every engine
to the same byte vectors, and a differential test holds the fast one to h11.

`receive_data(data)` takes what arrived (`b""` at the end of the stream) and returns every
event it completes, in order:

- a `ResponseHead` (informational ones too, status < 200);
- body data, as `bytes` or a `memoryview` of received bytes (never of a buffer the engine
  will change);
- `Trailers`, when a chunked body ends with a non-empty trailer section;
- `END_OF_BODY`;
- `SWITCHED_PROTOCOL` after the head of a response that hands the connection over to another
  protocol (a 2xx answer to `CONNECT`, a `101 Switching Protocols`): what follows on the
  wire is no longer HTTP/1.1;
- a `RemoteProtocolError`, last, when the bytes break the protocol: the events before it
  stand (a head may arrive intact before its body turns out malformed). The engine has
  failed then, and a further `receive_data` raises.

An empty batch means more bytes must be received first.

The rules that do not depend on how the bytes are parsed live here, once: the checks and
normalisation of a request head (`request_parts`), the framing of a response body
(`response_framing`: HEAD, 204, 304, 1xx, CONNECT), the size limit of a head, and when a
connection may be reused (`HTTP11Engine.start_next_exchange`: not after ambiguous framing,
`Connection: close` or HTTP/1.0, nor with bytes left after a framed body). h11 frames
bodies by its own copy of the same rules, which the differential test compares.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Callable
from typing import Any, NamedTuple, Union, cast

import h11

from ._config import DEFAULT_LIMITS, Limits
from ._exceptions import LocalProtocolError, RemoteProtocolError
from ._models import Request

__all__ = [
    "END_OF_BODY",
    "SWITCHED_PROTOCOL",
    "H11Engine",
    "HTTP11Engine",
    "RequestFraming",
    "ResponseEvent",
    "ResponseHead",
    "Trailers",
    "has_close",
    "head_too_large",
    "request_parts",
    "response_framing",
    "single_length",
    "too_many_headers",
    "trailers_too_large",
]

_NOT_IN_TARGET = re.compile(rb"[\x00-\x20\x7f]")
_MAX_LENGTH_DIGITS = 20


def head_too_large(limit: int) -> RemoteProtocolError:
    return RemoteProtocolError(
        f"The response head is larger than the limit of {limit} bytes (status line and "
        "headers; Limits.max_head_size): the server sent too much, or not HTTP/1.1."
    )


def trailers_too_large(limit: int) -> RemoteProtocolError:
    return RemoteProtocolError(
        f"The trailer section is larger than the limit of {limit} bytes (Limits.max_trailer_size)."
    )


def too_many_headers(limit: int) -> RemoteProtocolError:
    return RemoteProtocolError(
        f"The response head has more header fields than the limit of {limit} (Limits.max_headers)."
    )


class ResponseHead(NamedTuple):
    """A response's status line and headers, as received."""

    status: int
    reason: bytes
    http_version: bytes
    headers: list[tuple[bytes, bytes]]


class Trailers(NamedTuple):
    """The trailer section of a chunked body, when it has fields."""

    headers: list[tuple[bytes, bytes]]


class _Marker:
    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


END_OF_BODY = _Marker("END_OF_BODY")
SWITCHED_PROTOCOL = _Marker("SWITCHED_PROTOCOL")

ResponseEvent = Union[ResponseHead, bytes, memoryview, Trailers, _Marker, RemoteProtocolError]


# The request side.


class RequestFraming(NamedTuple):
    """How a request body is framed, and what the request head asks of the connection."""

    length: int | None  # the declared Content-Length (0 without one); None when chunked
    close: bool  # `Connection: close`: no other request on this connection
    upgrade: bool  # an `Upgrade` offer: a 101 answer is allowed


def request_parts(
    request: Request,
) -> tuple[bytes, bytes, list[tuple[bytes, bytes]], RequestFraming]:
    """The plain inputs of `HTTP11Engine.request_head` for `request`: the method, the
    target, the header list (Host first, repeated Content-Length folded, the coding
    lower-cased, as h11 writes them), and the framing.

    `Request` and `Headers` have validated the method, names and values: only the framing
    headers need a look here.
    """
    headers: list[tuple[bytes, bytes]] = []
    host: tuple[bytes, bytes] | None = None
    lengths: list[bytes] = []
    chunked = close = upgrade = False
    for raw, name, value in request.headers._items:
        if name == b"host":
            if host is not None:
                raise LocalProtocolError("An HTTP/1.1 request needs exactly one Host header.")
            host = (raw, value)
            continue
        if name == b"content-length":
            lengths.append(value)
            if len(lengths) > 1:
                continue
            value = single_length(lengths, LocalProtocolError)
        elif name == b"transfer-encoding":
            if chunked or value.lower() != b"chunked":
                raise LocalProtocolError("Only a single Transfer-Encoding: chunked can be sent.")
            chunked = True
            value = b"chunked"
        elif name == b"connection":
            close = close or has_close(value)
        elif name == b"upgrade":
            upgrade = True
        headers.append((raw, value))
    if host is None:
        raise LocalProtocolError("An HTTP/1.1 request needs exactly one Host header.")
    headers.insert(0, host)
    length = int(single_length(lengths, LocalProtocolError)) if lengths else 0
    # `tuple.__new__` makes the same named tuple as `RequestFraming(...)`, whose `__new__`
    # is Python code, for half the cost (once per request).
    framing = tuple.__new__(RequestFraming, (None if chunked else length, close, upgrade))
    # The target of the request line: the URL's, or the `target` extension's when set.
    target: bytes | None = request.extensions.get("target")
    if target is None:
        target = request.url.raw.target
    else:
        _check_target(target)
    return request.method.encode("ascii"), target, headers, framing


def _check_target(target: bytes) -> None:
    if not target or _NOT_IN_TARGET.search(target):
        # Unlike the URL's, a target given as an extension has not been validated.
        raise LocalProtocolError(f"Invalid request target {target!r}: no spaces or controls.")


# The response side.

# How a response body is framed (`response_framing`).
INFORMATIONAL = 0  # a 1xx other than 101: another head follows
NO_BODY = 1  # HEAD, 204, 304: the body is empty whatever the head says
BY_LENGTH = 2
CHUNKED = 3
UNTIL_EOF = 4  # delimited by the end of the stream
SWITCHED = 5  # a 101, or a 2xx answer to CONNECT: the connection leaves HTTP/1.1


def response_framing(method: bytes, status: int, chunked: bool, length: int | None) -> int:
    """How the body of a response to `method` is framed (RFC 9112 §6.3)."""
    if status < 200:
        return SWITCHED if status == 101 else INFORMATIONAL
    if status == 204 or status == 304 or method == b"HEAD":
        return NO_BODY
    if method == b"CONNECT" and status < 300:
        return SWITCHED
    if chunked:
        return CHUNKED
    return UNTIL_EOF if length is None else BY_LENGTH


def has_close(value: bytes) -> bool:
    """Whether a `Connection` value holds the `close` option."""
    value = value.lower()
    return b"close" in value and any(token.strip() == b"close" for token in value.split(b","))


def single_length(
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


class HTTP11Engine(abc.ABC):
    """What `HTTP11Connection` needs from an HTTP/1.1 implementation.

    One request/response exchange at a time: `request_head`, `body_chunk`... `end_of_body`
    give the bytes to send; `receive_data` takes what arrived and returns a batch of events
    (see the module's docstring). Errors in what we send raise `LocalProtocolError`.
    """

    __slots__ = ("_limits", "_must_close")

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self._limits = limits
        self._must_close = False

    @abc.abstractmethod
    def request_head(
        self,
        method: bytes,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        framing: RequestFraming,
    ) -> bytes:
        """The bytes of the request head; the arguments come from `request_parts`."""

    @abc.abstractmethod
    def body_chunk(self, data: bytes) -> bytes:
        """The bytes that carry `data`, a piece of the request body."""

    @abc.abstractmethod
    def body_sent(self, size: int) -> tuple[bytes, bytes]:
        """Count `size` bytes of the request body that the connection sends itself (a file
        the kernel sends), as `body_chunk` counts what it carries; the bytes to send just
        before and just after them: a chunk's framing, or nothing for a fixed length."""

    @abc.abstractmethod
    def end_of_body(self) -> bytes:
        """The bytes that end the request body."""

    @abc.abstractmethod
    def receive_data(self, data: bytes) -> list[ResponseEvent]:
        """Take received bytes (`b""`: the end of the stream); the events they complete."""

    @property
    @abc.abstractmethod
    def awaiting_response(self) -> bool:
        """Whether no part of the final response has been parsed yet."""

    def _close_after(
        self, http_version: bytes, chunked: bool, length: bool, close: bool = False
    ) -> None:
        """Note what a final response head says about reuse."""
        # Framed by chunked and a Content-Length is a sign of response smuggling: RFC 9112
        # §6.3 asks the client to close the connection once the response is done.
        if close or (chunked and length) or http_version == b"1.0":
            self._must_close = True

    def start_next_exchange(self) -> bool:
        """Ready the engine for another request if this exchange completed cleanly and
        nothing forbids reuse; `False` when the connection must be closed instead."""
        # Bytes after the framed body (a body on a 204, a too-long body) must never be
        # parsed as the next response; a body delimited by EOF leaves the stream closed.
        return not self._must_close and self._next_exchange()

    @abc.abstractmethod
    def _next_exchange(self) -> bool:
        """If both messages are complete and nothing was received after them, forget the
        exchange and return `True`; otherwise `False`, the state left as it is. (One step,
        not a check and a reset: this runs once per request.)"""


class H11Engine(HTTP11Engine):
    """The HTTP/1.1 engine on h11: the reference.

    h11 bounds what it buffers of an incomplete head or trailer section, with one size for
    both: the larger of `max_head_size` and `max_trailer_size`. A complete one is then held
    to its own limit, measured as its fields take on the wire when written canonically
    (`name: value` lines ending in CRLF), which is what h11 hands over.
    """

    __slots__ = ("_failed", "_h11")

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        super().__init__(limits)
        self._h11 = h11.Connection(
            h11.CLIENT,
            max_incomplete_event_size=max(limits.max_head_size, limits.max_trailer_size),
        )
        self._failed = False

    def request_head(
        self,
        method: bytes,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        framing: RequestFraming,
    ) -> bytes:
        self._must_close = framing.close
        # h11 validates the method, target and headers again, though `Request` has already
        # done so: skipping that (about 5 µs a request) would take a private h11 flag.
        return self._send(h11.Request, method=method, target=target, headers=headers)

    def body_chunk(self, data: bytes) -> bytes:
        return self._send(h11.Data, data=data)

    def body_sent(self, size: int) -> tuple[bytes, bytes]:
        # h11's way to a sendfile: the body's bytes stand for themselves in what it
        # returns, so only their length need be there.
        sized = cast(bytes, _Sized(size))
        try:
            parts = self._h11.send_with_data_passthrough(h11.Data(data=sized))
        except h11.LocalProtocolError as exc:
            raise LocalProtocolError(str(exc)) from exc
        assert parts is not None
        at = parts.index(sized)
        return b"".join(parts[:at]), b"".join(parts[at + 1 :])

    def end_of_body(self) -> bytes:
        return self._send(h11.EndOfMessage)

    def _send(self, event_type: Callable[..., h11.Event], **fields: Any) -> bytes:
        try:
            data = self._h11.send(event_type(**fields))
        except h11.LocalProtocolError as exc:
            raise LocalProtocolError(str(exc)) from exc
        assert data is not None
        return bytes(data)

    def receive_data(self, data: bytes) -> list[ResponseEvent]:
        connection = self._h11
        if self._failed or connection.their_state is h11.ERROR:
            raise RemoteProtocolError("The connection has already failed.")
        connection.receive_data(data)
        events: list[ResponseEvent] = []
        if connection.their_state is h11.DONE or connection.their_state is h11.SWITCHED_PROTOCOL:
            # Nothing is expected now: `start_next_exchange` decides about the bytes.
            return events
        limits = self._limits
        try:
            while True:
                in_head = connection.their_state is h11.SEND_RESPONSE  # h11 errs out of it
                event = connection.next_event()
                event_type = type(event)
                if event_type is h11.Data:
                    events.append(bytes(event.data))  # type: ignore[union-attr]
                elif event_type is h11.Response or event_type is h11.InformationalResponse:
                    events.append(self._head(event))  # type: ignore[arg-type]
                elif event_type is h11.EndOfMessage:
                    trailers = event.headers.raw_items()  # type: ignore[union-attr]
                    if trailers:
                        if _fields_size(trailers) > limits.max_trailer_size:
                            raise trailers_too_large(limits.max_trailer_size)
                        events.append(Trailers(trailers))
                    events.append(END_OF_BODY)
                    return events
                elif event is h11.PAUSED:
                    events.append(SWITCHED_PROTOCOL)
                    return events
                else:
                    # h11 hands out nothing else to a client before the end of the response.
                    assert event is h11.NEED_DATA, event
                    return events
        except h11.RemoteProtocolError as exc:
            if str(exc) != "Receive buffer too long":
                error = RemoteProtocolError(_in_our_words(exc))
            elif in_head:
                error = head_too_large(limits.max_head_size)
            else:
                error = trailers_too_large(limits.max_trailer_size)
            error.__cause__ = exc
            events.append(error)
            return events
        except RemoteProtocolError as exc:  # a limit of ours: h11 itself saw no error
            self._failed = self._must_close = True
            events.append(exc)
            return events

    def _head(self, event: h11.Response | h11.InformationalResponse) -> ResponseHead:
        raw = event.headers.raw_items()
        limits = self._limits
        if len(raw) > limits.max_headers:
            raise too_many_headers(limits.max_headers)
        # The status line: "HTTP/", version, " ", status, " ", reason, CRLF.
        if 12 + len(event.http_version) + len(event.reason) + _fields_size(raw) > (
            limits.max_head_size
        ):
            raise head_too_large(limits.max_head_size)
        if type(event) is h11.Response:
            names = {name.lower() for name, _ in raw}
            self._close_after(
                event.http_version, b"transfer-encoding" in names, b"content-length" in names
            )
        return ResponseHead(event.status_code, event.reason, event.http_version, raw)

    @property
    def awaiting_response(self) -> bool:
        return self._h11.their_state is h11.SEND_RESPONSE

    def _next_exchange(self) -> bool:
        connection = self._h11
        if (
            connection.our_state is h11.DONE
            and connection.their_state is h11.DONE
            and connection.trailing_data == (b"", False)
        ):
            connection.start_next_cycle()
            return True
        return False


class _Sized:
    """Stands for bytes sent outside h11: all h11 asks of them is their length."""

    __slots__ = ("_size",)

    def __init__(self, size: int) -> None:
        self._size = size

    def __len__(self) -> int:
        return self._size


def _fields_size(fields: list[tuple[bytes, bytes]]) -> int:
    """The size of field lines and the empty line after them, written canonically."""
    return sum(len(name) + len(value) + 4 for name, value in fields) + 2


# h11's messages quote the offending line as `bytearray(b'...')`.
_H11_QUOTED = re.compile(r"^(illegal [a-z ]+): bytearray\((b.*)\)$", re.DOTALL)
_SHOWN_BYTES = 80


def _in_our_words(exc: h11.RemoteProtocolError) -> str:
    """h11's message for a malformed response, reworded to say what was wrong and where."""
    text = str(exc)
    quoted = _H11_QUOTED.match(text)
    if quoted is not None:
        what, line = quoted.groups()
        if len(line) > _SHOWN_BYTES:
            line = line[:_SHOWN_BYTES] + "..."
        return f"The server sent an {what.replace('illegal', 'invalid', 1)}: {line}"
    return f"The server sent an invalid HTTP/1.1 response: {text}"
