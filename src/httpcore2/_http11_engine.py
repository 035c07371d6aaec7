"""The HTTP/1.1 protocol engine: sans-IO, behind one narrow interface.

`HTTP11Connection` does the I/O; its engine turns a request into bytes and received bytes
into response events, and says whether the connection may carry another request. `H11Engine`,
on h11, is the reference engine; `FastEngine` (`_fast_engine.py`), the default, stands behind
the same interface: `tests/test_http11_engine.py` holds every engine to the same byte vectors.

Events: a `ResponseHead` (informational ones too, status < 200), body data as `bytes`,
`END_OF_BODY`; `NEED_DATA` when more bytes must be received first; `SWITCHED_PROTOCOL` after
the head of a response that hands the connection over to another protocol (a 2xx answer to
`CONNECT`, a `101 Switching Protocols`): what follows on the wire is no longer HTTP/1.1.

The request target is the URL's path and query, or the request extension `target` when set
(the absolute form for a forward proxy, the authority form for `CONNECT`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol, Union

import h11

from ._config import DEFAULT_LIMITS, Limits
from ._exceptions import LocalProtocolError, RemoteProtocolError
from ._models import Request

__all__ = [
    "END_OF_BODY",
    "NEED_DATA",
    "SWITCHED_PROTOCOL",
    "request_target",
    "H11Engine",
    "HTTP11Engine",
    "ResponseEvent",
    "ResponseHead",
    "head_too_large",
    "too_many_headers",
    "trailers_too_large",
]

_NOT_IN_TARGET = re.compile(rb"[\x00-\x20\x7f]")


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


class _Marker:
    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


NEED_DATA = _Marker("NEED_DATA")
END_OF_BODY = _Marker("END_OF_BODY")
SWITCHED_PROTOCOL = _Marker("SWITCHED_PROTOCOL")

ResponseEvent = Union[ResponseHead, bytes, _Marker]


class HTTP11Engine(Protocol):
    """What `HTTP11Connection` needs from an HTTP/1.1 implementation.

    One request/response exchange at a time: `request_head`, `body_chunk`... `end_of_body`
    give the bytes to send; `receive_data` takes what arrived (`b""` at end of stream) and
    `next_event` hands out the response piece by piece. Protocol violations raise
    `LocalProtocolError` (ours) or `RemoteProtocolError` (the server's).
    """

    def request_head(self, request: Request) -> bytes: ...

    def body_chunk(self, data: bytes) -> bytes: ...

    def end_of_body(self) -> bytes: ...

    def receive_data(self, data: bytes) -> None: ...

    def next_event(self) -> ResponseEvent: ...

    @property
    def awaiting_response(self) -> bool:
        """Whether no part of the final response has been parsed yet."""

    def start_next_exchange(self) -> bool:
        """Ready the engine for another request if this exchange completed cleanly and
        nothing forbids reuse; `False` when the connection must be closed instead."""


class H11Engine:
    """The HTTP/1.1 engine on h11.

    h11 bounds what it buffers of an incomplete head or trailer section, with one size for
    both: the larger of `max_head_size` and `max_trailer_size`. A complete one is then held
    to its own limit, measured as its fields take on the wire when written canonically
    (`name: value` lines ending in CRLF), which is what h11 hands over.
    """

    __slots__ = ("_h11", "_limits", "_must_close")

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self._limits = limits
        self._h11 = h11.Connection(
            h11.CLIENT,
            max_incomplete_event_size=max(limits.max_head_size, limits.max_trailer_size),
        )
        self._must_close = False

    def request_head(self, request: Request) -> bytes:
        target = request_target(request)
        # h11 validates the method, target and headers again, though `Request` has already
        # done so: skipping that (about 5 µs a request) would take a private h11 flag.
        return self._send(
            h11.Request,
            method=request.method.encode("ascii"),
            target=target,
            headers=request.headers.raw,
        )

    def body_chunk(self, data: bytes) -> bytes:
        return self._send(h11.Data, data=data)

    def end_of_body(self) -> bytes:
        return self._send(h11.EndOfMessage)

    def _send(self, event_type: Callable[..., h11.Event], **fields: Any) -> bytes:
        try:
            data = self._h11.send(event_type(**fields))
        except h11.LocalProtocolError as exc:
            raise LocalProtocolError(str(exc)) from exc
        assert data is not None
        return bytes(data)

    def receive_data(self, data: bytes) -> None:
        self._h11.receive_data(data)

    def next_event(self) -> ResponseEvent:
        in_head = self._h11.their_state is h11.SEND_RESPONSE  # h11 errs out of it
        try:
            event = self._h11.next_event()
        except h11.RemoteProtocolError as exc:
            if str(exc) == "Receive buffer too long":
                limits = self._limits
                if in_head:
                    raise head_too_large(limits.max_head_size) from exc
                raise trailers_too_large(limits.max_trailer_size) from exc
            raise RemoteProtocolError(_in_our_words(exc)) from exc
        event_type = type(event)
        if event_type is h11.Data:
            return bytes(event.data)  # type: ignore[union-attr]
        if event_type is h11.Response or event_type is h11.InformationalResponse:
            raw = event.headers.raw_items()  # type: ignore[union-attr]
            limits = self._limits
            if len(raw) > limits.max_headers:
                raise too_many_headers(limits.max_headers)
            # The status line: "HTTP/", version, " ", status, " ", reason, CRLF.
            line = 12 + len(event.http_version) + len(event.reason)  # type: ignore[union-attr]
            if line + _fields_size(raw) > limits.max_head_size:
                raise head_too_large(limits.max_head_size)
            if event_type is h11.Response and _has_ambiguous_framing(raw):
                # Framed by chunked, but a sign of response smuggling: RFC 9112 §6.3 asks
                # the client to close the connection once the response is done.
                self._must_close = True
            return ResponseHead(
                event.status_code,  # type: ignore[union-attr]
                event.reason,  # type: ignore[union-attr]
                event.http_version,  # type: ignore[union-attr]
                raw,
            )
        if event_type is h11.EndOfMessage:
            trailers = event.headers.raw_items()  # type: ignore[union-attr]
            if trailers and _fields_size(trailers) > self._limits.max_trailer_size:
                raise trailers_too_large(self._limits.max_trailer_size)
            return END_OF_BODY
        if event is h11.PAUSED:
            return SWITCHED_PROTOCOL
        # h11 hands out nothing else to a client before the end of the response.
        assert event is h11.NEED_DATA, event
        return NEED_DATA

    @property
    def awaiting_response(self) -> bool:
        return self._h11.their_state is h11.SEND_RESPONSE

    def start_next_exchange(self) -> bool:
        connection = self._h11
        reusable = (
            not self._must_close
            and connection.our_state is h11.DONE
            and connection.their_state is h11.DONE
            # Bytes after the framed body (a body on a 204, a too-long body) must never be
            # parsed as the next response; a body delimited by EOF leaves the stream closed.
            and connection.trailing_data == (b"", False)
        )
        if reusable:
            connection.start_next_cycle()
        return reusable


def request_target(request: Request) -> bytes:
    """The target of the request line: the URL's, or the `target` extension's when set."""
    target: bytes | None = request.extensions.get("target")
    if target is None:
        return request.url.raw.target
    if not target or _NOT_IN_TARGET.search(target):
        # Unlike the URL's, a target given as an extension has not been validated.
        raise LocalProtocolError(f"Invalid request target {target!r}: no spaces or controls.")
    return target


def _fields_size(fields: list[tuple[bytes, bytes]]) -> int:
    """The size of field lines and the empty line after them, written canonically."""
    return sum(len(name) + len(value) + 4 for name, value in fields) + 2


def _has_ambiguous_framing(headers: list[tuple[bytes, bytes]]) -> bool:
    names = {name.lower() for name, _ in headers}
    return b"transfer-encoding" in names and b"content-length" in names


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
