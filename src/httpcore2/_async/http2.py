"""One HTTP/2 connection: many concurrent streams over one network stream, on h2.

Each stream is driven by the task (or thread) that sent its request. Whoever needs data and
finds nobody reading becomes the reader: it reads once, feeds h2, hands every event to the
stream it belongs to and wakes that stream's task. Sending works alike: whoever finds nobody
writing sends everything h2 has queued, its own frames and the others'. No task queues on a
lock behind another's slow read, and every stream keeps its own timeouts.
"""

from __future__ import annotations

import asyncio  # unasync: remove
import collections
import collections.abc  # unasync: remove
import contextlib  # unasync: remove
import time
from collections.abc import Callable
from typing import Any, TypeVar

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.frame_buffer
import h2.settings
from h2.errors import ErrorCodes
from h2.settings import SettingCodes
from hyperframe.frame import ContinuationFrame, Frame

from .. import _synchronization  # unasync: remove
from .._config import DEFAULT_LIMITS, Limits
from .._content import ByteStream, FileStream, RequestStream
from .._exceptions import (
    ConnectionNotAvailable,
    HTTPError,
    LocalProtocolError,
    ReadError,
    ReadTimeout,
    RemoteProtocolError,
    StreamRefused,
    WriteError,
    WriteTimeout,
)
from .._http11_engine import too_many_headers
from .._models import Headers, Request, Response
from .._synchronization import NoLock, Waiter
from .._trace import Trace, TraceStep, aemit
from .http11 import too_many_informational
from .network import NetworkStream

__all__ = ["HTTP2Connection"]

# Our receive windows. Data is acknowledged as the user reads it, so these bound what a
# stream, and the whole connection, buffers for a reader that does not keep up.
STREAM_WINDOW = 2**21
CONNECTION_WINDOW = 2**24
# A connection whose next stream id would pass this takes no new streams.
MAX_STREAM_ID = 2**31 - 1
# A server that sets no limit of concurrent streams gets at most this many from us.
MAX_CONCURRENT_STREAMS = 1000
# A connection idle for this long must answer a PING before it carries a request again,
# within PING_TIMEOUT (or the request's read timeout, if shorter).
PING_AFTER_IDLE = 30.0
PING_TIMEOUT = 2.0
# What arrived on an idle connection is read before it carries a request; data that is not
# there after all (the socket was readable for TLS's own records) is waited for this long.
IDLE_READ_TIMEOUT = 0.1
_PING_DATA = b"liveness"
READ_SIZE = 64 * 1024
# An upload queues at most this much at a time before handing it to the network.
SEND_BATCH = 256 * 1024
_DEFAULT_WINDOW = 65535
_FRAME_HEADER_SIZE = 9
_SETTINGS_FRAME_TYPE = 0x04

# Connection-specific headers have no place in HTTP/2 (RFC 9113, 8.2.2); Host becomes
# `:authority`.
_DROPPED_HEADERS = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade", b"host"}
)
_CONFIG = h2.config.H2Configuration(client_side=True, header_encoding=None)
_STREAM_EVENTS = frozenset(
    {
        h2.events.ResponseReceived,
        h2.events.InformationalResponseReceived,
        h2.events.TrailersReceived,
        h2.events.StreamEnded,
        h2.events.StreamReset,
    }
)

_T = TypeVar("_T")


# unasync: remove-begin
def _on_trio() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return True
    return False


async def _uncancellable(
    coroutine: collections.abc.Coroutine[Any, Any, None],
) -> BaseException | None:
    """Run `coroutine` to its end even if the task is cancelled meanwhile.

    On asyncio the cancellation is returned, for the caller to raise; on trio it is
    delivered at the caller's next checkpoint.
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        import anyio

        with anyio.CancelScope(shield=True):
            await coroutine
        return None
    task = loop.create_task(coroutine)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError as exc:
        while not task.done():
            # anyio's cancel scopes cancel a task again at every turn of the loop.
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait((task,))
        task.exception()  # retrieved: an error there has failed the connection already
        return exc
    return None


# unasync: remove-end


async def _traced(
    trace: Trace,
    name: str,
    info: dict[str, Any],
    step: Callable[[], collections.abc.Awaitable[_T]],  # unasync: sync=step: Callable[[], _T],
) -> _T:
    """Run `step` as a trace step; `.complete` carries `info` and what the step returned."""
    async with TraceStep(trace, name, info) as traced:
        result = await step()
        traced.complete_info = info if result is None else {**info, "return_value": result}
    return result


def _timeouts(request: Request) -> dict[str, float | None]:
    timeouts: dict[str, float | None] = request.extensions["timeout"]
    return timeouts


def _error_name(code: ErrorCodes | int | None) -> str:
    return code.name if isinstance(code, ErrorCodes) else f"error code {code}"


class _H2Connection(h2.connection.H2Connection):
    """h2, except that a GOAWAY leaves the streams it let through running.

    h2 closes its whole state machine on GOAWAY and drops the frames it had queued, so the
    streams at or below the last stream id could not finish: their DATA, and our
    WINDOW_UPDATEs, would be protocol errors. `HTTP2Connection` refuses new streams itself
    once a GOAWAY has arrived.

    h2 has no public hook for this: the override replaces a private method, which h2 looks
    up in its frame dispatch table. pyproject.toml bounds h2 below its next major version,
    and tests/test_h2_private_api.py fails loudly if h2 stops calling the method.
    """

    def _receive_goaway_frame(self, frame: Any) -> tuple[list[Any], list[h2.events.Event]]:
        event = h2.events.ConnectionTerminated()
        try:
            event.error_code = ErrorCodes(frame.error_code)
        except ValueError:
            event.error_code = frame.error_code
        event.last_stream_id = frame.last_stream_id
        event.additional_data = frame.additional_data or None
        return [], [event]


class _FrameBuffer(h2.frame_buffer.FrameBuffer):
    """h2's frame buffer, with our bound on the CONTINUATION frames that follow a HEADERS
    frame in place of h2's fixed one.

    h2 fails a header block at `CONTINUATION_BACKLOG` buffered frames; joining the buffered
    CONTINUATION frames into one before that keeps its bound from applying. This relies on
    private parts of h2 (`_update_header_buffer`, `_headers_buffer`), which
    tests/test_h2_private_api.py pins down.
    """

    def __init__(self, max_continuation_frames: int) -> None:
        super().__init__(server=False)
        self._max_continuation_frames = max_continuation_frames
        self._continuation_frames = 0

    def _update_header_buffer(self, f: Frame | None) -> Frame | None:
        buffered = self._headers_buffer
        if buffered and type(f) is ContinuationFrame:
            self._continuation_frames += 1
            if self._continuation_frames > self._max_continuation_frames:
                raise h2.exceptions.ProtocolError(
                    f"More than {self._max_continuation_frames} CONTINUATION frames in one "
                    "header block (Limits.max_continuation_frames)."
                )
            if len(buffered) == h2.frame_buffer.CONTINUATION_BACKLOG:
                buffered[1].data = b"".join(frame.data for frame in buffered[1:])
                del buffered[2:]
        else:
            self._continuation_frames = 0
        return super()._update_header_buffer(f)


class _Data:
    """Body bytes that arrived on a stream and are not read yet.

    Consecutive DATA frames are joined into one buffer, so that what a stream holds for a
    user who does not read tracks the bytes (which its flow-control window bounds), not the
    number of frames: tiny or padded frames cost no more than one big one.
    """

    __slots__ = ("data", "size")

    def __init__(self, data: bytes) -> None:
        self.data: bytes | bytearray = data
        self.size = 0  # flow-controlled bytes (data and padding) to acknowledge once read

    def append(self, data: bytes) -> None:
        if type(self.data) is bytes:
            self.data = bytearray(self.data)
        self.data += data

    def take(self) -> bytes:
        data = self.data
        return data if isinstance(data, bytes) else bytes(data)


StreamEvent = h2.events.Event | _Data | HTTPError


class _Stream:
    """Our side of one stream: the events the reader handed over, not yet consumed."""

    __slots__ = ("answered", "ended", "events", "id", "informational", "unread")

    def __init__(self, stream_id: int) -> None:
        self.id = stream_id
        self.events: collections.deque[StreamEvent] = collections.deque()
        self.ended = False  # the server ended or reset the stream, or refused it
        self.answered = False  # the server sent something on the stream
        self.unread = 0  # flow-controlled bytes received and not yet read by the user
        self.informational = 0  # 1xx responses received


class HTTP2Connection:
    """An HTTP/2 connection over an open network stream, many requests at a time.

    ```python
    stream = await backend.connect_tcp("example.org", 80)
    connection = HTTP2Connection(stream)
    await connection.handshake({"connect": 5.0, "read": 5.0, "write": 5.0, "pool": 5.0})
    response = await connection.handle_request(request)
    ```

    Requests must carry the `timeout` extension as a mapping of phases, as the pool sets
    it; the pool is the usual way to use a connection. `limits` bounds what a response may
    cost (see `Limits`); its `max_header_list_size` is advertised in our SETTINGS.
    """

    def __init__(
        self,
        stream: NetworkStream,
        *,
        keepalive_expiry: float | None = None,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self._stream = stream
        self._keepalive_expiry = keepalive_expiry
        self._limits = limits
        self._h2 = _H2Connection(config=_CONFIG)
        self._h2.local_settings = h2.settings.Settings(
            client=True,
            initial_values={
                SettingCodes.ENABLE_PUSH: 0,
                SettingCodes.INITIAL_WINDOW_SIZE: STREAM_WINDOW,
                SettingCodes.MAX_CONCURRENT_STREAMS: 100,
                SettingCodes.MAX_HEADER_LIST_SIZE: limits.max_header_list_size,
            },
        )
        # h2 applies our SETTINGS once the server acknowledges them: enforce from the start.
        self._h2.decoder.max_header_list_size = limits.max_header_list_size
        self._h2.incoming_buffer = _FrameBuffer(limits.max_continuation_frames)
        self._lock = NoLock()
        self._streams: dict[int, _Stream] = {}
        # Streams waiting for an event while another task reads, oldest first.
        self._waiters: dict[int, Waiter] = {}
        self._reading = False
        self._writing = False
        self._settings_received = False
        self._error: HTTPError | None = None  # why the connection cannot be used any more
        # Why nothing more can be sent: the connection's error, or a write that found the
        # server gone (what it sent before is still read, see `_write`).
        self._unsendable: HTTPError | None = None
        self._last_stream_id: int | None = None  # from the server's GOAWAY
        self._exhausted = False
        self._closed = False
        self._idle_since = time.monotonic()
        self._requests = 0
        # Requests (by id) that failed with the connection before any answer arrived.
        self._unanswered: set[int] = set()
        self._responded = False  # a response head arrived on some stream
        self._server_closed = False  # the server ended the connection
        self._ping: _Stream | None = None  # waits for the answer to a liveness check

    # The pool's view of the connection.

    @property
    def max_concurrent_streams(self) -> int:
        """How many streams the server lets us open at once."""
        return min(self._h2.remote_settings.max_concurrent_streams, MAX_CONCURRENT_STREAMS)

    def is_available(self) -> bool:
        """Whether the connection may take new streams: open, no GOAWAY, stream ids left."""
        return (
            not self._closed
            and self._unsendable is None
            and self._last_stream_id is None
            and not self._exhausted
        )

    def is_idle(self) -> bool:
        """Whether no stream is in flight."""
        return not self._streams

    def response_started(self, request: Request) -> bool:
        """Whether `request`, which just failed, had received any part of its answer.

        False only when the connection failed before the server answered it at all: then
        an idempotent request may be sent again, as on HTTP/1.1.
        """
        return id(request) not in self._unanswered

    def took_requests(self) -> bool:
        """Whether the server answered a request on the connection, or said in a GOAWAY
        that it processes some: a request refused on it was refused by a server at work,
        not by one that takes nothing on new connections."""
        return self._responded or bool(self._last_stream_id)

    def was_dropped(self) -> bool:
        """Whether the connection failed because the server closed or reset it (or a write
        found it so), rather than for a protocol error or a timeout."""
        return self._server_closed or isinstance(self._unsendable, (ReadError, WriteError))

    def is_closed(self) -> bool:
        """Whether the connection has been closed (a failed one is closed once its streams
        are released)."""
        return self._closed

    def has_expired(self, now: float) -> bool:
        """Whether an idle connection is past its keep-alive expiry, or unusable.

        What the server sent while the connection was idle is read before the next request
        (see `_catch_up`), since late frames for closed streams are no reason to drop it.
        """
        if self._streams:
            return False
        if not self.is_available():
            return True
        expiry = self._keepalive_expiry
        return expiry is not None and now - self._idle_since >= expiry

    @property
    def idle_since(self) -> float:
        """When the last stream ended (`time.monotonic()`)."""
        return self._idle_since

    @property
    def request_count(self) -> int:
        """How many requests the connection has been sent, those in flight included."""
        return self._requests

    @property
    def state(self) -> str:
        """`"idle"`, `"active"` (streams in flight) or `"closed"` (closed, or failed: its
        streams fail, and it is closed once they are released)."""
        return "closed" if self._error else "active" if self._streams else "idle"

    async def aclose(self) -> None:
        """Close the connection; streams still in flight fail."""
        with self._lock:
            self._closed = True
            self._fail(RemoteProtocolError("The HTTP/2 connection was closed."))
        await self._stream.aclose()

    # Opening the connection.

    async def handshake(
        self, timeouts: dict[str, float | None], request: Request | None = None
    ) -> None:
        """Send the connection preface and wait for the server's SETTINGS.

        Knowing the server's limit of concurrent streams before the pool hands out more
        streams means no request is refused for exceeding it. `request`, the one that opened
        the connection, has the `trace` extension, if any, told about the preface.

        A server that closes the connection before its SETTINGS arrived took nothing on it:
        that raises `ConnectionNotAvailable`, and a request may go to another connection.
        """
        try:
            await self._exchange_settings(timeouts, request)
        except (ReadError, WriteError) as exc:
            message = f"The server closed the new HTTP/2 connection: {exc}"
            raise ConnectionNotAvailable(message) from exc

    async def _exchange_settings(
        self, timeouts: dict[str, float | None], request: Request | None
    ) -> None:
        with self._lock:
            self._h2.initiate_connection()
            self._h2.increment_flow_control_window(CONNECTION_WINDOW - _DEFAULT_WINDOW)
        write_timeout = timeouts["write"]
        trace = None if request is None else request.extensions.get("trace")
        if trace is None:
            await self._flush(write_timeout)
        else:
            info = {"request": request}
            await _traced(
                trace, "http2.send_connection_init", info, lambda: self._flush(write_timeout)
            )
        # The server's preface must start with a SETTINGS frame (RFC 9113, 3.4); anything
        # else, an HTTP/1.1 answer say, would read as the head of a huge frame and hang.
        data = b""
        while len(data) < _FRAME_HEADER_SIZE:
            chunk = await self._read(timeouts["read"])
            data += chunk
        if data[3] != _SETTINGS_FRAME_TYPE:
            error = RemoteProtocolError(f"The server does not speak HTTP/2: it sent {data[:32]!r}")
            with self._lock:
                raise self._fail(error)
        await self._process(data, timeouts["read"])
        while not self._settings_received and self._unsendable is None:
            await self._receive(timeouts["read"])
        if self._unsendable is not None:  # our acknowledgement of the SETTINGS was not sent
            raise self._connection_error()

    # Sending a request.

    async def handle_request(self, request: Request) -> Response:
        """Send a request on a new stream and return the response once its head arrived."""
        timeouts = _timeouts(request)
        stream = None
        if (
            not self._streams
            and not await self._catch_up(request)
            and self._requests
            and time.monotonic() - self._idle_since >= PING_AFTER_IDLE
        ):
            await self._check_alive(request, timeouts)
        trace = request.extensions.get("trace")
        try:
            stream, body = self._open_stream(request)
            if trace is None:
                await self._flush(timeouts["write"])
                if body is not None:
                    await self._send_body(stream, body, timeouts["write"])
                status, headers = await self._receive_response_head(stream, timeouts["read"])
            else:
                status, headers = await self._exchange_traced(trace, request, stream, body)
        except BaseException as exc:
            if stream is not None:
                self._stream_finished(stream)
                if self._unsendable is not None and not stream.answered:
                    self._unanswered.add(id(request))
            if isinstance(exc, HTTPError):
                exc.request = request
            raise
        extensions: dict[str, Any] = {
            "http_version": b"HTTP/2",
            "network_stream": self._stream,
            "stream_id": stream.id,
            "limits": self._limits,
        }
        return Response(
            status,
            headers=headers,
            content=HTTP2ResponseStream(self, stream, request, extensions),
            extensions=extensions,
            request=request,
        )

    async def _exchange_traced(
        self, trace: Trace, request: Request, stream: _Stream, body: RequestStream | None
    ) -> tuple[int, Headers]:
        """What `handle_request` does without a trace, each step between its events."""
        info = {"request": request, "stream_id": stream.id}
        timeouts = _timeouts(request)
        write, read = timeouts["write"], timeouts["read"]
        await _traced(trace, "http2.send_request_headers", info, lambda: self._flush(write))
        if body is not None:
            await _traced(
                trace,
                "http2.send_request_body",
                info,
                lambda: self._send_body(stream, body, write),
            )
        return await _traced(
            trace,
            "http2.receive_response_headers",
            info,
            lambda: self._receive_response_head(stream, read),
        )

    async def _catch_up(self, request: Request) -> bool:
        """Read what arrived while the connection was idle (late frames for streams we
        closed, a GOAWAY, the end of the connection) before a request goes out on it.

        True if the connection showed signs of life: something arrived, or another task is
        reading. Only the reader looks at the stream: on TLS, `is_readable` decrypts what
        is there, which must never race with a read.
        """
        with self._lock:
            if self._reading:
                return True
            if not self.is_available():
                return False  # opening the stream says why
            self._reading = True
        arrived = False
        try:
            while self.is_available() and self._stream.is_readable():
                arrived = True
                await self._receive(IDLE_READ_TIMEOUT)
        except HTTPError:
            pass  # a timeout: there was nothing for us; a failure: see below
        finally:
            self._stop_reading()
        if not self.is_available():
            raise ConnectionNotAvailable(self._unavailable_message(), request=request)
        return arrived

    async def _check_alive(self, request: Request, timeouts: dict[str, float | None]) -> None:
        """PING a long idle connection: one that does not answer takes no more requests.

        A connection can die silently (a NAT or firewall forgot it), and a request sent on it
        would wait for its whole read timeout; this costs one round trip after a long idle
        period instead. Requests that arrive meanwhile go ahead without waiting.
        """
        with self._lock:
            if self._ping is not None or self._error is not None:
                return
            self._idle_since = time.monotonic()
            ping = self._ping = _Stream(0)
            self._h2.ping(_PING_DATA)
        read_timeout = timeouts["read"]
        timeout = PING_TIMEOUT if read_timeout is None else min(read_timeout, PING_TIMEOUT)
        try:
            await self._flush(timeouts["write"])
            await self._wait(ping, lambda: ping.ended, timeout, ReadTimeout)
        except HTTPError as exc:
            with self._lock:
                self._fail(RemoteProtocolError("The idle HTTP/2 connection did not answer a PING."))
            raise ConnectionNotAvailable(str(self._error), request=request) from exc
        finally:
            self._ping = None

    def _open_stream(self, request: Request) -> tuple[_Stream, RequestStream | None]:
        headers = _request_headers(request)
        body = request.stream
        end_stream = type(body) is ByteStream and not body.content
        with self._lock:
            if not self.is_available():
                raise ConnectionNotAvailable(self._unavailable_message())
            stream_id = self._h2.get_next_available_stream_id()
            if stream_id > MAX_STREAM_ID:
                self._exhausted = True
                raise ConnectionNotAvailable("The HTTP/2 connection has run out of stream ids.")
            try:
                self._h2.send_headers(stream_id, headers, end_stream=end_stream)
            except h2.exceptions.TooManyStreamsError as exc:
                # Checked before h2 touches any state.
                message = "The server lowered its limit of concurrent streams."
                raise ConnectionNotAvailable(message) from exc
            except h2.exceptions.ProtocolError as exc:
                # h2 may have updated its header compression state: the connection is lost.
                error = LocalProtocolError(f"Invalid HTTP/2 request: {exc}")
                self._fail(error)
                raise error from exc
            stream = self._streams[stream_id] = _Stream(stream_id)
            self._requests += 1
        return stream, None if end_stream else body

    async def _send_body(self, stream: _Stream, body: RequestStream, timeout: float | None) -> None:
        chunks = body.__aiter__()
        try:
            async for chunk in chunks:
                data = memoryview(chunk)
                while data:
                    sent = self._send_data(stream, data)
                    if sent:
                        data = data[sent:]
                        await self._flush(timeout)
                    elif not await self._wait_for_window(stream, timeout):
                        # The server answered (or reset the stream) before the whole body was
                        # sent: stop sending and read what it said.
                        return
            with self._lock:
                if not stream.ended:
                    self._h2.end_stream(stream.id)
            await self._flush(timeout)
        finally:
            # A body generator left mid-way must be finalized now, not by the garbage
            # collector (which trio reports as an error).
            await chunks.aclose()

    def _send_data(self, stream: _Stream, data: memoryview) -> int:
        """Queue as much of `data` as the flow-control windows allow; how much that was."""
        with self._lock:
            if stream.ended or self._unsendable is not None:
                return 0
            room = min(self._h2.local_flow_control_window(stream.id), len(data), SEND_BATCH)
            frame_size = self._h2.max_outbound_frame_size
            for start in range(0, room, frame_size):
                self._h2.send_data(stream.id, bytes(data[start : min(start + frame_size, room)]))
            return room

    async def _wait_for_window(self, stream: _Stream, timeout: float | None) -> bool:
        """Wait until the stream may send more; `False` if the server ended it instead."""

        def ready() -> bool:
            # A connection that can send nothing more (`_send_data`) has no window to give,
            # whatever h2 counts: the sender waits for the end of the connection (whose error
            # `_wait` raises) or for an answer, instead of asking again without end.
            return stream.ended or (
                self._unsendable is None and self._h2.local_flow_control_window(stream.id) > 0
            )

        await self._wait(stream, ready, timeout, WriteTimeout)
        return not stream.ended

    async def _flush(self, timeout: float | None) -> None:
        """Send what h2 has queued, unless another task is sending already (then it will).

        Nothing is sent once the connection has failed, or a write found the server gone:
        whoever needed it sent knows.
        """
        with self._lock:
            if self._writing or self._unsendable is not None:
                return
            data = self._h2.data_to_send()
            if not data:
                return
            self._writing = True
        # unasync: remove-begin
        if len(self._streams) > 1 or _on_trio():
            # What goes out may be other streams' frames too (on trio, also those of streams
            # opened while the write goes on, and a shield costs nothing there): a
            # cancellation of this task must not cut the write short, which would leave part
            # of a frame on the wire and fail every stream. It is raised once the write is done.
            cancelled = await _uncancellable(self._write(data, timeout, batch=True))
            if cancelled is not None:
                raise cancelled
            return
        # unasync: remove-end
        await self._write(data, timeout, batch=False)  # unasync: sync=self._write(data, timeout)

    async def _write(
        self,
        data: bytes,
        timeout: float | None,
        batch: bool,  # unasync: remove
    ) -> None:
        """Write `data`, then whatever h2 queued meanwhile, until nothing is left."""
        try:
            # unasync: remove-begin
            if batch:
                # The other streams' tasks that are ready to send get to queue their frames
                # first, so that one write carries them all.
                await _synchronization.yield_on_asyncio()
                data += self._h2.data_to_send()
            # unasync: remove-end
            while True:
                await self._stream.write(data, timeout)
                with self._lock:
                    data = self._h2.data_to_send()
                    if not data:
                        self._writing = False
                        return
        except WriteError as exc:
            # The server closed or reset the connection: nothing more can be sent. What it
            # sent before is read all the same, until the end of the connection, and tells
            # each stream its fate (the rest of its response, a GOAWAY that says the server
            # never processed it, or the end): the writer, who may have written for others,
            # is not failed here.
            with self._lock:
                self._writing = False
                if self._unsendable is None:
                    self._unsendable = exc
        except BaseException as exc:
            # Part of a frame may have gone out: nothing more can be sent on this connection.
            with self._lock:
                self._writing = False
                self._fail(
                    exc
                    if isinstance(exc, HTTPError)
                    else RemoteProtocolError("A write on the HTTP/2 connection was interrupted.")
                )
            raise

    # Receiving.

    async def _receive_response_head(
        self, stream: _Stream, timeout: float | None
    ) -> tuple[int, Headers]:
        while True:  # `_dispatch` fails the stream past `max_informational` 1xx responses
            event = await self._next_event(stream, timeout)
            if type(event) is h2.events.ResponseReceived:
                return _response_head(event.headers, self._limits.max_headers)
            # h2 lets nothing else come before a response head: DATA, or the end of the
            # stream, there is a protocol error of the whole connection.
            assert type(event) is h2.events.InformationalResponseReceived, event

    async def _next_event(self, stream: _Stream, timeout: float | None) -> h2.events.Event | _Data:
        """The stream's next event; a reset or a refusal is raised."""
        if not stream.events:
            await self._wait(stream, stream.events.__len__, timeout, ReadTimeout)
        with self._lock:
            event = stream.events.popleft()
        if isinstance(event, HTTPError):
            raise event
        if type(event) is h2.events.StreamReset:
            if event.error_code == ErrorCodes.REFUSED_STREAM:
                raise StreamRefused(f"The server refused stream {stream.id}.")
            raise RemoteProtocolError(
                f"The server reset stream {stream.id} ({_error_name(event.error_code)})."
            )
        return event

    async def _acknowledge(self, stream: _Stream, size: int, timeout: float | None) -> None:
        """Give the server back the window of data the user has read.

        The reader needs nothing sent: if the write fails, the connection is failed for the
        streams that still need it, and this one goes on with what it has received (all of
        its body, maybe).
        """
        with self._lock:
            stream.unread -= size
            if self._unsendable is None:
                self._h2.acknowledge_received_data(size, stream.id)
        try:
            await self._flush(timeout)
        except HTTPError:
            pass

    async def _wait(
        self,
        stream: _Stream,
        ready: Callable[[], object],
        timeout: float | None,
        timeout_error: type[ReadTimeout | WriteTimeout],
    ) -> None:
        """Wait until `ready()`, reading from the network if nobody else is."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                if ready():
                    return
                if self._error is not None:
                    raise self._connection_error()
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    # Frames for other streams can keep a reader busy past its deadline.
                    raise timeout_error(f"Stream {stream.id} timed out after {timeout} s")
                reader = not self._reading
                if reader:
                    self._reading = True
                else:
                    waiter = self._waiters[stream.id] = Waiter()
            if reader:
                try:
                    await self._receive(remaining)
                except ReadTimeout as exc:
                    if timeout_error is ReadTimeout:
                        raise
                    raise timeout_error(str(exc)) from exc
                finally:
                    self._stop_reading()
            else:
                await self._sleep(stream, waiter, remaining)  # unasync: sync=waiter.wait(remaining)
                if waiter.value is None:
                    with self._lock:
                        if self._waiters.get(stream.id) is waiter:
                            del self._waiters[stream.id]
                        if not ready():
                            raise timeout_error(f"Stream {stream.id} timed out after {timeout} s")

    def _stop_reading(self) -> None:
        with self._lock:
            self._reading = False
            self._pass_reading()

    def _pass_reading(self) -> None:
        """If nobody reads, wake the oldest waiter to take over the reading."""
        if not self._reading and self._waiters:
            self._wake(next(iter(self._waiters)))

    # unasync: remove-begin
    async def _sleep(self, stream: _Stream, waiter: Waiter, timeout: float | None) -> None:
        """Wait to be woken. A task cancelled meanwhile may have been woken to take over the
        reading, which must not be lost with it: the next waiter gets it."""
        try:
            await waiter.wait(timeout)
        except BaseException:
            if self._waiters.get(stream.id) is waiter:
                del self._waiters[stream.id]
            self._pass_reading()
            raise

    # unasync: remove-end

    async def _receive(self, timeout: float | None) -> None:
        """Read once from the network and hand the events to their streams."""
        await self._process(await self._read(timeout), timeout)

    async def _read(self, timeout: float | None) -> bytes:
        try:
            data = await self._stream.read(READ_SIZE, timeout)
        except ReadTimeout:
            raise  # one stream's patience ran out; the connection is fine
        except HTTPError as exc:
            with self._lock:
                self._fail(exc)
            raise
        if not data:
            with self._lock:
                self._server_closed = True
                message = self._disconnected_message()
                if not self._settings_received:  # in the handshake: see `handshake`
                    raise self._fail(ConnectionNotAvailable(message))
                raise self._fail(RemoteProtocolError(message))
        return data

    async def _process(self, data: bytes, timeout: float | None) -> None:
        """Feed received bytes to h2, hand the events to their streams, send any answers."""
        with self._lock:
            try:
                events = self._h2.receive_data(data)
            except h2.exceptions.ProtocolError as exc:
                message = f"HTTP/2 protocol error: {exc}"
                if isinstance(exc, h2.exceptions.DenialOfServiceError):  # only raised for this
                    message += " (Limits.max_header_list_size)."
                error = self._fail(RemoteProtocolError(message))
                raise error from exc
            for event in events:
                self._dispatch(event)
        try:
            await self._flush(timeout)
        except HTTPError:
            # What goes out here is for the connection and the other streams (WINDOW_UPDATE,
            # acknowledgements, their frames): a write that failed (timed out, say) has failed
            # the connection, and each stream meets that error only if it still needs the
            # connection. A stream whose response is all here reads it.
            pass

    def _unavailable_message(self) -> str:
        if self._last_stream_id is None:
            return "The HTTP/2 connection takes no new streams."
        return (
            "The HTTP/2 connection takes no new streams: the server sent GOAWAY "
            f"(last stream id {self._last_stream_id})."
        )

    def _disconnected_message(self) -> str:
        message = "The server closed the HTTP/2 connection"
        if self._last_stream_id is not None:
            message += " after a GOAWAY"
        return message + "."

    def _dispatch(self, event: h2.events.Event) -> None:
        event_type = type(event)
        if event_type is h2.events.DataReceived:
            self._data_received(event)  # type: ignore[arg-type]
        elif event_type in _STREAM_EVENTS:
            stream_id: int = event.stream_id  # type: ignore[attr-defined]
            stream = self._streams.get(stream_id)
            if stream is None:
                return
            if event_type is h2.events.InformationalResponseReceived:
                # Their number is bounded here, where they are queued, not where they are
                # read: a server must not make a stream hold events without end.
                stream.informational += 1
                if stream.informational > self._limits.max_informational:
                    if not stream.ended:
                        stream.ended = True
                        error = too_many_informational(self._limits.max_informational)
                        stream.events.append(error)
                        self._wake(stream_id)
                    return
            if event_type is h2.events.StreamEnded or event_type is h2.events.StreamReset:
                stream.ended = True
            elif event_type is h2.events.ResponseReceived:
                self._responded = True
            stream.answered = True
            stream.events.append(event)
            self._wake(stream_id)
        elif event_type is h2.events.WindowUpdated:
            stream_id = event.stream_id  # type: ignore[attr-defined]
            if stream_id:
                self._wake(stream_id)
            else:
                self._wake_all()
        elif event_type is h2.events.RemoteSettingsChanged:
            self._settings_received = True
            self._wake_all()
        elif event_type is h2.events.ConnectionTerminated:
            self._goaway(event)  # type: ignore[arg-type]
        elif event_type is h2.events.PingAckReceived and self._ping is not None:
            self._ping.ended = True
            self._wake(0)
        # PINGs (h2 answers them), SETTINGS acknowledgements, PRIORITY and unknown frames need
        # nothing from us.

    def _data_received(self, event: h2.events.DataReceived) -> None:
        stream_id = event.stream_id
        size = event.flow_controlled_length or 0
        data: bytes = event.data or b""
        stream = self._streams.get(stream_id)
        if stream is None or not data:
            # Data for a stream we gave up on, or a frame that carries none (only padding,
            # or nothing at all: h2 reports the end of a stream on its own): hand nothing
            # over, and give the windows back at once.
            if size:
                self._h2.acknowledge_received_data(size, stream_id)
            return
        stream.unread += size
        events = stream.events
        last = events[-1] if events else None
        if type(last) is _Data:
            last.append(data)
        else:
            last = _Data(data)
            events.append(last)
        last.size += size
        stream.answered = True
        self._wake(stream_id)

    def _goaway(self, event: h2.events.ConnectionTerminated) -> None:
        """Streams above the last stream id were not processed: fail them as refused."""
        last = event.last_stream_id or 0
        if self._last_stream_id is not None:
            last = min(last, self._last_stream_id)
        self._last_stream_id = last
        code = _error_name(event.error_code)
        for stream in self._streams.values():
            if stream.id > last and not stream.ended:
                stream.ended = True
                message = f"The server did not process stream {stream.id} (GOAWAY, {code})."
                stream.events.append(StreamRefused(message))
        self._wake_all()

    def _connection_error(self) -> HTTPError:
        """The error for a stream on the failed connection: a copy of the connection's.

        (A stream above a GOAWAY's last stream id never gets here: its refusal is among
        its events already.)
        """
        error = self._unsendable if self._error is None else self._error
        assert error is not None
        result = type(error)(str(error))
        result.__cause__ = error
        return result

    def _fail(self, error: HTTPError) -> HTTPError:
        """The connection is unusable: remember why, and wake every waiting stream."""
        if self._error is None:
            self._error = error
        if self._unsendable is None:
            self._unsendable = error
        self._wake_all()
        return error

    def _wake(self, stream_id: int) -> None:
        waiter = self._waiters.pop(stream_id, None)
        if waiter is not None:
            waiter.set(True)

    def _wake_all(self) -> None:
        for waiter in self._waiters.values():
            waiter.set(True)
        self._waiters.clear()

    def _stream_finished(self, stream: _Stream) -> None:
        """Forget a stream; if it is still open, reset it (sent with the next write)."""
        with self._lock:
            del self._streams[stream.id]  # callers finish a stream once
            self._waiters.pop(stream.id, None)
            if not self._streams:
                self._idle_since = time.monotonic()
            if self._unsendable is not None:
                return
            if self._last_stream_id is not None and stream.id > self._last_stream_id:
                return  # the server never opened it (GOAWAY): nothing to send for it
            if stream.unread:
                self._h2.acknowledge_received_data(stream.unread, stream.id)
            h2_stream = self._h2.streams.get(stream.id)
            if h2_stream is not None and not h2_stream.closed:
                self._h2.reset_stream(stream.id, ErrorCodes.CANCEL)

    def __repr__(self) -> str:
        return (
            f"<HTTP2Connection [{self.state}, streams: {len(self._streams)}, "
            f"requests: {self._requests}]>"
        )


def _request_headers(request: Request) -> list[tuple[bytes, bytes]]:
    raw = request.url.raw
    headers = request.headers
    headers_out = [
        (b":method", request.method.encode("ascii")),
        (b":authority", headers.get(b"host", raw.host_header)),
        (b":scheme", raw.scheme),
        (b":path", raw.target),
    ]
    for _, name, value in headers._items:
        if name in _DROPPED_HEADERS or (name == b"te" and value.lower() != b"trailers"):
            continue
        headers_out.append((name, value))
    body = request.stream
    # HTTP/1.1 sends a file chunked; HTTP/2 has no chunks to drop, and some servers answer
    # 411 to an upload without a length, so a regular file's size goes out.
    if type(body) is FileStream and b"content-length" not in headers:
        size = body.regular_file_size()
        if size is not None:
            headers_out.append((b"content-length", str(size).encode("ascii")))
    return headers_out


def _response_head(raw: list[tuple[bytes, bytes]], max_headers: int) -> tuple[int, Headers]:
    status = raw[0][1]  # h2 has checked that `:status` comes first
    if len(status) != 3 or not status.isdigit():
        raise RemoteProtocolError(f"Invalid HTTP/2 status {status!r}.")
    fields = [(name, value) for name, value in raw if not name.startswith(b":")]
    if len(fields) > max_headers:
        raise too_many_headers(max_headers)
    return int(status), Headers._from_wire(fields)


class HTTP2ResponseStream:
    """The body of a response on an HTTP/2 stream; closing it ends the stream.

    Data is acknowledged to the server as it is read, so a slow reader makes the server
    wait instead of making us buffer. Trailers land in `response.extensions["trailers"]`.
    """

    __slots__ = (
        "_closed",
        "_connection",
        "_done",
        "_extensions",
        "_request",
        "_stream",
        "_timeouts",
        "_trace",
        "_trace_state",
    )

    def __init__(
        self,
        connection: HTTP2Connection,
        stream: _Stream,
        request: Request,
        extensions: dict[str, Any],
    ) -> None:
        self._connection = connection
        self._stream = stream
        self._request = request
        self._extensions = extensions
        self._timeouts = _timeouts(request)
        self._closed = False
        self._done = False
        self._trace: Trace | None = request.extensions.get("trace")
        self._trace_state = 0  # body events emitted: 1 once started, 2 once complete or failed

    def __aiter__(self) -> HTTP2ResponseStream:
        return self

    async def __anext__(self) -> bytes:
        connection = self._connection
        trace = self._trace
        try:
            if trace is not None and not self._trace_state:
                self._trace_state = 1
                await aemit(trace, "http2.receive_response_body.started", self._info())
            while not self._done:
                event = await connection._next_event(self._stream, self._timeouts["read"])
                if type(event) is _Data:
                    await connection._acknowledge(self._stream, event.size, self._timeouts["write"])
                    return event.take()
                if type(event) is h2.events.TrailersReceived:
                    self._extensions["trailers"] = Headers._from_wire(event.headers)
                else:
                    self._done = True
        except BaseException as exc:
            self._done = True
            if isinstance(exc, HTTPError):
                exc.request = self._request
            try:
                if trace is not None and self._trace_state == 1:
                    self._trace_state = 2
                    await aemit(trace, "http2.receive_response_body.failed", {"exception": exc})
            finally:
                await self.aclose()
            raise
        if trace is not None and self._trace_state == 1:
            self._trace_state = 2
            await aemit(trace, "http2.receive_response_body.complete", self._info())
        raise StopAsyncIteration()

    def _info(self) -> dict[str, Any]:
        return {"request": self._request, "stream_id": self._stream.id}

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        # No I/O here: a reset this needs goes out with the connection's next write,
        # so closing stays safe in a cancelled task.
        trace = self._trace
        if trace is None:
            self._connection._stream_finished(self._stream)
            return
        try:
            await aemit(trace, "http2.response_closed.started", self._info())
        finally:
            self._connection._stream_finished(self._stream)
        await aemit(trace, "http2.response_closed.complete", self._info())
