"""One HTTP/1.1 connection, on h11.

Everything h11 does sits behind three methods of `HTTP11Connection`:
`_write_head` / `_write_body_chunk` turn a request into bytes, `_next_event` feeds
received bytes and takes events out. A faster parser could stand behind the same seam.
"""

from __future__ import annotations

import enum
import time
from typing import Any

import h11

from .._content import ByteStream, RequestStream
from .._exceptions import (
    HTTPError,
    LocalProtocolError,
    RemoteProtocolError,
    WriteError,
)
from .._models import Headers, Request, Response
from .network import NetworkStream

__all__ = ["HTTP11Connection"]

READ_SIZE = 64 * 1024
# In-memory bodies up to this size go out in the same write as the request head.
MAX_COALESCED_BODY = 64 * 1024
# h11's default of 16 KiB rejects real-world responses with large cookies or CSP headers.
MAX_HEAD_SIZE = 100 * 1024
# A server may send a few 1xx responses (100, 102, 103); an endless stream of them is an attack.
MAX_INFORMATIONAL = 20


class _State(enum.Enum):
    IDLE = "idle"
    ACTIVE = "active"
    CLOSED = "closed"


def _timeouts(request: Request) -> dict[str, float | None]:
    timeouts: dict[str, float | None] = request.extensions["timeout"]
    return timeouts


class HTTP11Connection:
    """An HTTP/1.1 connection over an open network stream, one request at a time.

    ```python
    stream = await backend.connect_tcp("example.org", 80)
    connection = HTTP11Connection(stream, keepalive_expiry=5.0)
    response = await connection.handle_request(Request("GET", "http://example.org/"))
    ```

    Requests must carry the `timeout` extension as a mapping of phases, as the pool
    sets it; the pool is the usual way to use a connection.
    """

    def __init__(self, stream: NetworkStream, *, keepalive_expiry: float | None = None) -> None:
        self._stream = stream
        self._keepalive_expiry = keepalive_expiry
        self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_SIZE)
        self._state = _State.IDLE
        self._idle_since = time.monotonic()
        self._requests = 0
        self._must_close = False
        self.response_started = False

    # The pool's view of the connection.

    def is_idle(self) -> bool:
        """Whether the connection can take a request now."""
        return self._state is _State.IDLE

    def is_closed(self) -> bool:
        """Whether the connection has been closed."""
        return self._state is _State.CLOSED

    def has_expired(self, now: float) -> bool:
        """Whether an idle connection is past its keep-alive expiry, or dead (EOF or data)."""
        if self._state is not _State.IDLE:
            return False
        expiry = self._keepalive_expiry
        if expiry is not None and now - self._idle_since >= expiry:
            return True
        return self._stream.is_readable()

    @property
    def idle_since(self) -> float:
        """When the connection last became idle (`time.monotonic()`)."""
        return self._idle_since

    async def aclose(self) -> None:
        """Close the connection."""
        self._state = _State.CLOSED
        await self._stream.aclose()

    # Sending a request.

    async def handle_request(self, request: Request) -> Response:
        """Send a request and return the response once its head has arrived."""
        if self._state is not _State.IDLE:
            raise RuntimeError(f"Cannot send a request on a connection that is {self._state.value}")
        self._state = _State.ACTIVE
        self._requests += 1
        self.response_started = False
        timeouts = _timeouts(request)
        try:
            await self._send_request(request, timeouts["write"])
            event = await self._receive_response_head(timeouts["read"])
        except BaseException as exc:
            await self.aclose()
            if isinstance(exc, HTTPError):
                exc.request = request
            raise
        extensions: dict[str, Any] = {
            "http_version": b"HTTP/" + event.http_version,
            "reason_phrase": event.reason,
            "network_stream": self._stream,
        }
        headers = Headers.from_wire(event.headers.raw_items())
        names = [name for _, name, _ in headers._items]
        if b"transfer-encoding" in names and b"content-length" in names:
            # Framed by chunked, but a sign of response smuggling: RFC 9112 §6.3 asks the
            # client to close the connection once the response is done.
            self._must_close = True
        return Response(
            event.status_code,
            headers=headers,
            content=HTTP11ResponseStream(self, request),
            extensions=extensions,
            request=request,
        )

    async def _send_request(self, request: Request, timeout: float | None) -> None:
        try:
            body = request.stream
            if type(body) is ByteStream and len(body.content) <= MAX_COALESCED_BODY:
                # The whole request in one write: one system call for a typical request.
                data = self._write_head(request)
                if body.content:
                    data += self._write_body_chunk(body.content)
                await self._stream.write(data + self._write_end(), timeout)
            else:
                await self._stream.write(self._write_head(request), timeout)
                await self._send_body(body, timeout)
        except WriteError:
            # The server may have answered early (413, 401...) and closed its read side:
            # stop sending and read what it said; if there is no response, the read fails.
            if not self._stream.is_readable():
                raise

    async def _send_body(self, body: RequestStream, timeout: float | None) -> None:
        chunks = body.__aiter__()
        try:
            async for chunk in chunks:
                if self._stream.is_readable():
                    # The server answered (or hung up) before the body was sent: stop
                    # sending and read what it said. The connection is not reused.
                    return
                await self._stream.write(self._write_body_chunk(chunk), timeout)
            end = self._write_end()
            if end:
                await self._stream.write(end, timeout)
        finally:
            # A body generator left mid-way must be finalized now, not by the garbage
            # collector (which trio reports as an error).
            await chunks.aclose()

    def _write_head(self, request: Request) -> bytes:
        # `Request`, `Headers` and `URL` have already validated the method (a token), every
        # header name and value (tokens; no CR, LF, NUL or other controls) and the target
        # (percent-encoded, no whitespace), so h11's own regexes would only repeat that
        # work: `_parsed=True` skips them. h11 still checks the framing headers.
        event = h11.Request(
            method=request.method.encode("ascii"),
            target=request.url.raw.target,
            headers=request.headers.raw,
            _parsed=True,
        )
        return self._send(event)

    def _write_body_chunk(self, chunk: bytes) -> bytes:
        return self._send(h11.Data(data=chunk))

    def _write_end(self) -> bytes:
        return self._send(h11.EndOfMessage())

    def _send(self, event: Any) -> bytes:
        try:
            data = self._h11.send(event)
        except h11.LocalProtocolError as exc:
            raise LocalProtocolError(str(exc)) from exc
        assert data is not None
        return bytes(data)

    # Receiving the response.

    async def _next_event(self, timeout: float | None) -> Any:
        """Feed received bytes to h11 until it has an event for us."""
        h11_connection = self._h11
        while True:
            try:
                event = h11_connection.next_event()
            except h11.RemoteProtocolError as exc:
                raise RemoteProtocolError(str(exc)) from exc
            if event is not h11.NEED_DATA:
                return event
            await self._receive_data(timeout)

    async def _receive_data(self, timeout: float | None) -> None:
        data = await self._stream.read(READ_SIZE, timeout)
        if data:
            self.response_started = True
        elif self._h11.their_state is h11.SEND_RESPONSE and not self.response_started:
            raise RemoteProtocolError("Server disconnected without sending a response.")
        self._h11.receive_data(data)

    async def _receive_response_head(self, timeout: float | None) -> h11.Response:
        # A reused connection never holds bytes from before (see _response_closed), so
        # there is nothing for h11 to parse until the first read.
        await self._receive_data(timeout)
        # Before the final response, h11 only ever hands out informational (1xx) ones.
        for _ in range(MAX_INFORMATIONAL + 1):
            event = await self._next_event(timeout)
            if type(event) is h11.Response:
                return event
        raise RemoteProtocolError(
            f"The server sent more than {MAX_INFORMATIONAL} informational (1xx) responses."
        )

    async def _response_closed(self) -> None:
        h11_connection = self._h11
        reusable = (
            self._state is _State.ACTIVE
            and not self._must_close
            and h11_connection.our_state is h11.DONE
            and h11_connection.their_state is h11.DONE
            # Bytes after the framed body (a body on a 204, a too-long body) must never be
            # parsed as the next response; a body delimited by EOF leaves the stream closed.
            and h11_connection.trailing_data == (b"", False)
        )
        if reusable:
            h11_connection.start_next_cycle()
            self._state = _State.IDLE
            self._idle_since = time.monotonic()
        else:
            await self.aclose()

    def __repr__(self) -> str:
        return f"<HTTP11Connection [{self._state.value}, requests: {self._requests}]>"


class HTTP11ResponseStream:
    """The body of a response on an HTTP/1.1 connection; closing it frees the connection.

    An iterator object rather than a generator: one abandoned half-way needs no
    finalizing by the garbage collector.
    """

    __slots__ = ("_closed", "_connection", "_done", "_request", "_timeout")

    def __init__(self, connection: HTTP11Connection, request: Request) -> None:
        self._connection = connection
        self._request = request
        self._timeout = _timeouts(request)["read"]
        self._closed = False
        self._done = False

    def __aiter__(self) -> HTTP11ResponseStream:
        return self

    async def __anext__(self) -> bytes:
        if self._done:
            raise StopAsyncIteration()
        try:
            event = await self._connection._next_event(self._timeout)
        except BaseException as exc:
            self._done = True
            await self.aclose()
            if isinstance(exc, HTTPError):
                exc.request = self._request
            raise
        if type(event) is h11.Data:
            return bytes(event.data)
        # In a body, h11 hands out data, then the end of the message.
        self._done = True
        raise StopAsyncIteration()

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self._connection._response_closed()
