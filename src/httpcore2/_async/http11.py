"""One HTTP/1.1 connection: the I/O around a sans-IO protocol engine.

The engine (`_fast_engine.py` by default, or h11's in `_http11_engine.py`) turns the request
into bytes and received bytes into response events; this module only moves the bytes.
"""

from __future__ import annotations

import enum
import time
from typing import Any

from .._content import ByteStream, RequestStream
from .._exceptions import HTTPError, RemoteProtocolError, WriteError
from .._fast_engine import HTTP1EngineName, new_engine
from .._http11_engine import END_OF_BODY, NEED_DATA, ResponseEvent, ResponseHead
from .._models import Headers, Request, Response
from .network import NetworkStream

__all__ = ["HTTP11Connection"]

READ_SIZE = 64 * 1024
# In-memory bodies up to this size go out in the same write as the request head.
MAX_COALESCED_BODY = 64 * 1024
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
    sets it; the pool is the usual way to use a connection. `http1_engine` names the
    protocol engine: `"fast"` or `"h11"` (`None`, the default, is `"fast"`).
    """

    def __init__(
        self,
        stream: NetworkStream,
        *,
        keepalive_expiry: float | None = None,
        http1_engine: HTTP1EngineName | None = None,
    ) -> None:
        self._stream = stream
        self._keepalive_expiry = keepalive_expiry
        self._engine = new_engine(http1_engine)
        self._state = _State.IDLE
        self._idle_since = time.monotonic()
        self._requests = 0
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
            head = await self._receive_response_head(timeouts["read"])
        except BaseException as exc:
            await self.aclose()
            if isinstance(exc, HTTPError):
                exc.request = request
            raise
        extensions: dict[str, Any] = {
            "http_version": b"HTTP/" + head.http_version,
            "reason_phrase": head.reason,
            "network_stream": self._stream,
        }
        return Response(
            head.status,
            headers=Headers.from_wire(head.headers),
            content=HTTP11ResponseStream(self, request),
            extensions=extensions,
            request=request,
        )

    async def _send_request(self, request: Request, timeout: float | None) -> None:
        try:
            body = request.stream
            if type(body) is ByteStream and len(body.content) <= MAX_COALESCED_BODY:
                # The whole request in one write: one system call for a typical request.
                data = self._engine.request_head(request)
                if body.content:
                    data += self._engine.body_chunk(body.content)
                await self._stream.write(data + self._engine.end_of_body(), timeout)
            else:
                await self._stream.write(self._engine.request_head(request), timeout)
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
                await self._stream.write(self._engine.body_chunk(chunk), timeout)
            end = self._engine.end_of_body()
            if end:
                await self._stream.write(end, timeout)
        finally:
            # A body generator left mid-way must be finalized now, not by the garbage
            # collector (which trio reports as an error).
            await chunks.aclose()

    # Receiving the response.

    async def _next_event(self, timeout: float | None) -> ResponseEvent:
        """Feed received bytes to the engine until it has an event for us."""
        while True:
            event = self._engine.next_event()
            if event is not NEED_DATA:
                return event
            await self._receive_data(timeout)

    async def _receive_data(self, timeout: float | None) -> None:
        data = await self._stream.read(READ_SIZE, timeout)
        if data:
            self.response_started = True
        elif self._engine.awaiting_response and not self.response_started:
            raise RemoteProtocolError("Server disconnected without sending a response.")
        self._engine.receive_data(data)

    async def _receive_response_head(self, timeout: float | None) -> ResponseHead:
        # A reused connection never holds bytes from before (see _response_closed), so
        # there is nothing to parse until the first read.
        await self._receive_data(timeout)
        for _ in range(MAX_INFORMATIONAL + 1):
            head = await self._next_event(timeout)
            # Before the body, the only events are response heads; 1xx ones are skipped.
            assert type(head) is ResponseHead, head
            if head.status >= 200:
                return head
        raise RemoteProtocolError(
            f"The server sent more than {MAX_INFORMATIONAL} informational (1xx) responses."
        )

    async def _response_closed(self) -> None:
        if self._state is _State.ACTIVE and self._engine.start_next_exchange():
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
        if type(event) is bytes:
            return event
        # In a body, the engine hands out data, then the end of the body.
        assert event is END_OF_BODY, event
        self._done = True
        raise StopAsyncIteration()

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self._connection._response_closed()
