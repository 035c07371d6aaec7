"""One HTTP/1.1 connection: the I/O around a sans-IO protocol engine.

The engine (`_fast_engine.py` by default, or h11's in `_http11_engine.py`) turns the request
into bytes and received bytes into response events; this module only moves the bytes.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import (
    Awaitable,  # unasync: remove
    Callable,
)
from typing import IO, Any

from .._config import DEFAULT_LIMITS, Limits
from .._content import ByteStream, FileStream, IteratorStream, RequestStream
from .._exceptions import (
    HTTPError,
    LocalProtocolError,
    RemoteProtocolError,
    WriteError,
    WriteTimeout,
)
from .._fast_engine import HTTP1EngineName, new_engine
from .._http11_engine import (
    END_OF_BODY,
    SWITCHED_PROTOCOL,
    ResponseEvent,
    ResponseHead,
    Trailers,
    request_parts,
)
from .._logging import warn_unclosed_response
from .._models import Headers, Request, Response
from .._trace import Trace, TraceStep
from .network import NetworkStream

__all__ = ["HTTP11Connection", "HTTP11ResponseStream"]

READ_SIZE = 64 * 1024
# After a read that filled READ_SIZE (more is waiting: a large body), reads ask for this much:
# a quarter of the calls. Not always: glibc serves a buffer this large with mmap and munmap,
# several microseconds a read, which only pays when the read fills much of it.
LARGE_READ_SIZE = 256 * 1024
# In-memory bodies up to this size go out in the same write as the request head.
MAX_COALESCED_BODY = 64 * 1024


# The connection's states, as `state` names them: plain constants rather than an Enum, whose
# members cost a descriptor call each time one is looked up on the class (Python 3.11),
# several times per request.
_IDLE = "idle"
_ACTIVE = "active"
_CLOSED = "closed"


# What a response stream awaits once closed (see `HTTP11ResponseStream.on_close`).
CloseHook = Callable[[], Awaitable[None]]  # unasync: sync=CloseHook = Callable[[], None]


def too_many_informational(limit: int) -> RemoteProtocolError:
    # A server may send a few 1xx responses (100, 102, 103); an endless stream is an attack.
    return RemoteProtocolError(
        f"The server sent more than {limit} informational (1xx) responses "
        "(Limits.max_informational)."
    )


class HTTP11Connection:
    """An HTTP/1.1 connection over an open network stream, one request at a time.

    ```python
    stream = await backend.connect_tcp("example.org", 80)
    connection = HTTP11Connection(stream, keepalive_expiry=5.0)
    response = await connection.handle_request(Request("GET", "http://example.org/"))
    ```

    Requests must carry the `timeout` extension as a mapping of phases, as the pool
    sets it; the pool is the usual way to use a connection. `http1_engine` names the
    protocol engine: `"fast"` or `"h11"` (`None`, the default, is `"fast"`). `limits` bounds
    what a response may cost (see `Limits`).
    """

    def __init__(
        self,
        stream: NetworkStream,
        *,
        keepalive_expiry: float | None = None,
        http1_engine: HTTP1EngineName | None = None,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self._stream = stream
        self._keepalive_expiry = keepalive_expiry
        self._engine = new_engine(http1_engine, limits)
        self._limits = limits
        self._state = _IDLE
        # When the connection last became idle (`time.monotonic()`).
        self.idle_since = time.monotonic()
        self._requests = 0
        self.response_started = False
        # Events the engine handed out and the response has not taken yet.
        self._events: deque[ResponseEvent] = deque()
        self._read_size = READ_SIZE

    # The pool's view of the connection.

    def is_idle(self) -> bool:
        """Whether the connection can take a request now."""
        return self._state is _IDLE

    def is_closed(self) -> bool:
        """Whether the connection has been closed."""
        return self._state is _CLOSED

    def has_expired(self, now: float) -> bool:
        """Whether an idle connection is past its keep-alive expiry, or dead (EOF or data)."""
        if self._state is not _IDLE:
            return False
        expiry = self._keepalive_expiry
        if expiry is not None and now - self.idle_since >= expiry:
            return True
        return self._stream.is_readable()

    @property
    def request_count(self) -> int:
        """How many requests the connection has been sent, the one in flight included."""
        return self._requests

    @property
    def state(self) -> str:
        """`"idle"`, `"active"` (a request in flight) or `"closed"`."""
        return self._state

    async def aclose(self) -> None:
        """Close the connection."""
        self._state = _CLOSED
        await self._stream.aclose()

    # Sending a request.

    async def handle_request(self, request: Request) -> Response:
        """Send a request and return the response once its head has arrived."""
        if self._state is not _IDLE:
            raise RuntimeError(f"Cannot send a request on a connection that is {self._state}")
        self._state = _ACTIVE
        self._requests += 1
        self.response_started = False
        # A phase is looked up at each network operation: with a total timeout, its value is
        # the time left (see `Deadline`).
        timeouts: dict[str, float | None] = request.extensions["timeout"]
        trace = request.extensions.get("trace")
        try:
            await self._send_request(request, timeouts, trace)
            if trace is None:
                head = await self._receive_response_head(timeouts)
            else:
                info = {"request": request}
                async with TraceStep(trace, "http11.receive_response_headers", info) as step:
                    head = await self._receive_response_head(timeouts)
                    step.complete_info = {
                        "http_version": b"HTTP/" + head.http_version,
                        "status": head.status,
                        "reason_phrase": head.reason,
                        "headers": head.headers,
                    }
        except BaseException as exc:
            await self.aclose()
            if isinstance(exc, HTTPError):
                exc.request = request
            raise
        extensions: dict[str, Any] = {
            "http_version": b"HTTP/" + head.http_version,
            "reason_phrase": head.reason,
            "network_stream": self._stream,
            "limits": self._limits,
        }
        return Response(
            head.status,
            headers=Headers._from_wire(head.headers),
            content=HTTP11ResponseStream(self, request, trace),
            extensions=extensions,
            request=request,
        )

    async def _send_request(
        self, request: Request, timeouts: dict[str, float | None], trace: Trace | None
    ) -> None:
        try:
            if trace is None:
                if not await self._send_request_head(request, timeouts):
                    await self._send_body(request, timeouts)
                return
            info = {"request": request}
            async with TraceStep(trace, "http11.send_request_headers", info):
                body_sent = await self._send_request_head(request, timeouts)
            async with TraceStep(trace, "http11.send_request_body", info):
                if not body_sent:
                    await self._send_body(request, timeouts)
        except (WriteError, WriteTimeout):
            # The server may have answered early (413, 401...) and closed its read side, or
            # stopped reading: stop sending and read what it said; if there is no response,
            # the read fails.
            if not self._stream.is_readable():
                raise

    async def _send_request_head(self, request: Request, timeouts: dict[str, float | None]) -> bool:
        """Send the request head; True if the body went out with it."""
        body = request.stream
        if type(body) is ByteStream and len(body.content) <= MAX_COALESCED_BODY:
            # The whole request in one write: one system call for a typical request.
            data = self._engine.request_head(*request_parts(request))
            if body.content:
                data += self._engine.body_chunk(body.content)
            await self._stream.write(data + self._engine.end_of_body(), timeouts["write"])
            return True
        await self._stream.write(
            self._engine.request_head(*request_parts(request)), timeouts["write"]
        )
        return False

    async def _send_body(self, request: Request, timeouts: dict[str, float | None]) -> None:
        body: RequestStream = request.stream
        chunks = body.__aiter__()
        try:
            if type(body) is FileStream:
                regular = body.start_regular_file()
                if regular is not None:
                    if await self._refused_early(timeouts):
                        return
                    await self._send_file_chunk(*regular, timeouts["write"])
                    # What the file grew by meanwhile follows, in chunks of its own.
                    chunks = IteratorStream(body.rest()).__aiter__()
            async for chunk in chunks:
                if await self._refused_early(timeouts):
                    # The server answered before the body was sent, with a refusal: stop
                    # sending and read what it said. The connection is not reused.
                    return
                await self._stream.write(self._engine.body_chunk(chunk), timeouts["write"])
            end = self._engine.end_of_body()
            if end:
                await self._stream.write(end, timeouts["write"])
        finally:
            # A body generator left mid-way must be finalized now, not by the garbage
            # collector (which trio reports as an error).
            await chunks.aclose()

    async def _refused_early(self, timeouts: dict[str, float | None]) -> bool:
        """Whether the server has already answered, refusing the body."""
        return (
            not self._events and self._stream.is_readable() and await self._body_refused(timeouts)
        )

    async def _send_file_chunk(self, file: IO[bytes], size: int, timeout: float | None) -> None:
        """A regular file's bytes as one piece of the body, which the network stream can
        have the kernel send (`sendfile`): the engine counts them and frames them."""
        if not size:
            return
        before, after = self._engine.body_sent(size)
        if before:
            await self._stream.write(before, timeout)
        if await self._stream.send_file(file, size, timeout) != size:
            raise LocalProtocolError("The file of the request body shrank while it was sent.")
        if after:
            await self._stream.write(after, timeout)

    async def _body_refused(self, timeouts: dict[str, float | None]) -> bool:
        """Read the response that arrived while the body is going out: True if it refuses
        the body (a final status of 300 or more), False to keep sending (an informational
        response, or a final one the server streams while it reads, as an echo does)."""
        events = self._events
        for _ in range(self._limits.max_informational + 1):
            while not events:
                if not self._stream.is_readable():
                    return False  # the rest of the head is still on its way
                self._received(await self._stream.read(self._read_size, timeouts["read"]))
            event = events[0]
            if isinstance(event, RemoteProtocolError):
                raise event
            # Before the body, the only events are response heads; 1xx ones are skipped,
            # a final one stays for `_receive_response_head`.
            assert type(event) is ResponseHead, event
            if event.status >= 200:
                return event.status >= 300
            events.popleft()
        raise too_many_informational(self._limits.max_informational)

    # Receiving the response.

    def _received(self, data: bytes) -> None:
        # Takes what `self._stream.read(self._read_size, ...)` returned. The readers await
        # the read themselves: a coroutine frame fewer to resume at each wait.
        self._read_size = LARGE_READ_SIZE if len(data) >= READ_SIZE else READ_SIZE
        if data:
            self.response_started = True
        elif self._engine.awaiting_response and not self.response_started:
            raise RemoteProtocolError("Server disconnected without sending a response.")
        self._events.extend(self._engine.receive_data(data))

    async def _receive_response_head(self, timeouts: dict[str, float | None]) -> ResponseHead:
        events = self._events
        for _ in range(self._limits.max_informational + 1):
            # The next event, once received bytes give the engine one. (Inline, here and in
            # the response stream: a coroutine frame fewer for the event loop to resume at
            # each wait.)
            while not events:
                self._received(await self._stream.read(self._read_size, timeouts["read"]))
            head = events.popleft()
            if isinstance(head, RemoteProtocolError):
                raise head
            # Before the body, the only events are response heads; 1xx ones are skipped,
            # but for a 101: the connection switched protocols, and that is the answer.
            assert type(head) is ResponseHead, head
            if head.status >= 200 or head.status == 101:
                return head
        raise too_many_informational(self._limits.max_informational)

    async def _response_closed(self) -> None:
        # Events left over mean the response was closed unread (even if all of it came
        # with its head): the connection is closed, as for a body still on the wire.
        read_to_the_end = not self._events
        self._events.clear()
        if self._state is _ACTIVE and read_to_the_end and self._engine.start_next_exchange():
            self._state = _IDLE
            self.idle_since = time.monotonic()
        else:
            await self.aclose()

    def __repr__(self) -> str:
        return f"<HTTP11Connection [{self._state}, requests: {self._requests}]>"


class HTTP11ResponseStream:
    """The body of a response on an HTTP/1.1 connection; closing it frees the connection.

    An iterator object rather than a generator: one abandoned half-way needs no
    finalizing by the garbage collector.
    """

    __slots__ = (
        "_body_step",
        "_closed",
        "_connection",
        "_done",
        "_request",
        "_timeouts",
        "_trace",
        "on_close",
    )

    def __init__(
        self, connection: HTTP11Connection, request: Request, trace: Trace | None = None
    ) -> None:
        self._connection = connection
        self._request = request
        self._timeouts: dict[str, float | None] = request.extensions["timeout"]
        self._closed = False
        self._done = False
        self._trace = trace
        # With `trace`: the body's trace step, from the first read to the end of the body.
        self._body_step: TraceStep | None = None
        # Set by whoever lent out the connection (the pool): awaited once the stream is
        # closed and the connection settled, to take it back. With it, a stream collected
        # unclosed warns: the connection is never given back.
        self.on_close: CloseHook | None = None

    def __aiter__(self) -> HTTP11ResponseStream:
        return self

    async def __anext__(self) -> bytes:
        if self._done:
            raise StopAsyncIteration()
        if self._trace is not None and self._body_step is None:
            self._body_step = TraceStep(
                self._trace, "http11.receive_response_body", {"request": self._request}
            )
            await self._body_step.__aenter__()
        connection = self._connection
        events = connection._events
        try:
            # As in `_receive_response_head`; with a small body, all of it came with the head.
            while not events:
                read = connection._stream.read(connection._read_size, self._timeouts["read"])
                connection._received(await read)
            event = events.popleft()
            if isinstance(event, RemoteProtocolError):
                raise event
        except BaseException as exc:
            self._done = True
            if self._body_step is not None:
                await self._body_step.__aexit__(type(exc), exc, exc.__traceback__)
            await self.aclose()
            if isinstance(exc, HTTPError):
                exc.request = self._request
            raise
        if type(event) is bytes:
            return event
        if type(event) is memoryview:
            # A view of received bytes: whoever reads the stream gets bytes.
            return bytes(event)
        if type(event) is Trailers:
            return await self.__anext__()  # not surfaced: the body goes on
        # In a body, the engine hands out data, then the end of the body; after a protocol
        # switch there is no body (the connection is closed with the response: what
        # follows is not HTTP/1.1; the `network_stream` extension gives access to it).
        assert event is END_OF_BODY or event is SWITCHED_PROTOCOL, event
        self._done = True
        if self._body_step is not None:
            await self._body_step.__aexit__(None, None, None)
        raise StopAsyncIteration()

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                if self._trace is None:
                    await self._connection._response_closed()
                else:
                    info = {"request": self._request}
                    async with TraceStep(self._trace, "http11.response_closed", info):
                        await self._connection._response_closed()
            finally:
                if self.on_close is not None:
                    await self.on_close()

    def __del__(self) -> None:
        if not self._closed and self.on_close is not None:
            warn_unclosed_response(self)
