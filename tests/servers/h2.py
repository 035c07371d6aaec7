"""A scripted HTTP/2 server on `h2`, for fault tests of an HTTP/2 client.

`H2Server(script)` listens on loopback (on top of `RawServer`, one thread per connection) and
speaks HTTP/2 by prior knowledge (h2c), or over TLS with ALPN `h2` when given `tls=` a server
context. Each connection runs a small loop: read from the socket, feed `h2`, record and dispatch
the events, send what `h2` has to send and any response body the flow-control windows allow.
When a request is complete (headers and body), the script decides how to answer it:

```python
with H2Server(goaway_after(2, last_stream_id=3)) as server:
    ...  # send four requests at once to server.url: streams 1 and 3 are answered, 5 and 7 not
conn = server.connections[0]
assert sorted(conn.requests) == [1, 3, 5, 7]
assert isinstance(conn.events[0], h2.events.RemoteSettingsChanged)
```

A script is a `Script` (settings to advertise, plus the `on_request` callback), or just the
callback `(conn, request) -> None`. The factories below build the canned behaviours. Counters a
script needs live on the connection, so one script serves every connection independently.
"""

from __future__ import annotations

import select
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
from h2.errors import ErrorCodes
from h2.settings import SettingCodes
from hyperframe.frame import GoAwayFrame, PushPromiseFrame

from .app import HELLO, pattern_bytes
from .lifecycle import Lifecycle
from .raw import RawConnection, RawServer

__all__ = [
    "H2ServerConnection",
    "H2Request",
    "H2Server",
    "OnRequest",
    "Script",
    "bad_frame",
    "close_abruptly_after",
    "close_mid_body",
    "goaway_after",
    "goaway_with_streams_in_flight",
    "hold_until_reset",
    "max_concurrent_streams",
    "on_first_connection",
    "reject_upload",
    "reset_stream",
    "respond_ok",
    "send_push_promise",
    "slow_body",
    "trailers",
]

Headers = Sequence[tuple[bytes, bytes]]


@dataclass
class H2Request:
    """What the client sent on one stream."""

    stream_id: int
    headers: list[tuple[bytes, bytes]]
    body: bytearray = field(default_factory=bytearray)
    trailers: list[tuple[bytes, bytes]] = field(default_factory=list)
    complete: bool = False  # the client ended the stream
    reset: bool = False  # the client reset the stream
    answered: bool = False  # the server sent the response head

    def header(self, name: bytes) -> bytes | None:
        return next((value for key, value in self.headers if key == name), None)

    @property
    def method(self) -> bytes | None:
        return self.header(b":method")

    @property
    def path(self) -> bytes | None:
        return self.header(b":path")


@dataclass
class _Outgoing:
    """A response body still to send on one stream, as flow control and pacing allow."""

    data: bytes
    chunk: int
    delay: float
    trailers: Headers | None
    next_at: float = 0.0


class _Close(Exception):
    """Raised by a script to drop the connection (no GOAWAY)."""

    def __init__(self, reset: bool, linger: bool) -> None:
        self.reset = reset
        self.linger = linger


OnRequest = Callable[["H2ServerConnection", H2Request], None]


@dataclass(frozen=True)
class Script:
    """How to answer: `on_request(conn, request)` for each complete request, extra
    `settings` (`SettingCodes` -> value) for the server's first SETTINGS frame,
    `on_data(conn, request)` after each DATA frame of a request body still arriving (to answer
    before the upload is complete), and `on_connect(conn)` once the server's SETTINGS are
    queued, before anything is read (what it sends goes out in the same write)."""

    on_request: OnRequest
    settings: Mapping[SettingCodes, int] = field(default_factory=dict)
    on_data: OnRequest | None = None
    on_connect: Callable[[H2ServerConnection], None] | None = None


class H2ServerConnection:
    """One HTTP/2 connection, as a script sees it; also the record a test inspects.

    Records: `events` (every `h2` event received), `requests` (by stream id), `responses` (how
    many were answered), `peak_open_streams` (most streams the client had open at once),
    `peak_unacked` (most DATA bytes sent and not yet credited back by a connection-level
    WINDOW_UPDATE), `protocol_error` (an `h2` error the client caused) and `raw` (the
    `RawConnection`: received bytes, socket errors).
    """

    def __init__(self, raw: RawConnection, script: Script) -> None:
        self.raw = raw
        self.script = script
        self.h2 = h2.connection.H2Connection(
            config=h2.config.H2Configuration(client_side=False, header_encoding=None)
        )
        self.events: list[h2.events.Event] = []
        self.requests: dict[int, H2Request] = {}
        self.responses = 0
        self.peak_open_streams = 0
        self.peak_unacked = 0
        self.protocol_error: h2.exceptions.ProtocolError | None = None
        self.goaway_last_stream_id: int | None = None  # of the GOAWAY this server sent
        self.tls_version: str | None = None
        self.alpn_protocol: str | None = None
        self._unacked = 0
        self._outgoing: dict[int, _Outgoing] = {}
        self._timers: list[tuple[float, Callable[[], None]]] = []

    def __repr__(self) -> str:
        return f"<H2ServerConnection #{self.raw.index} requests={len(self.requests)}>"

    # Actions for scripts.

    def paths(self) -> list[bytes | None]:
        """The path of each request, in stream order."""
        return [request.path for request in list(self.requests.values())]

    def stream_id(self, path: bytes) -> int:
        """The stream of the one request for `path`."""
        (found,) = [request.stream_id for request in self.requests.values() if request.path == path]
        return found

    def resets(self) -> list[tuple[int, int | None]]:
        """(stream id, error code) of each RST_STREAM the client sent."""
        return [
            (event.stream_id, event.error_code)
            for event in self.events
            if isinstance(event, h2.events.StreamReset)
        ]

    def respond(
        self,
        stream_id: int,
        status: int = 200,
        body: bytes = HELLO,
        headers: Headers = (),
        *,
        content_length: bool = True,
        chunk: int = 0,
        delay: float = 0.0,
        trailers: Headers | None = None,
    ) -> None:
        """Send response headers now and `body` as the windows allow: at most `chunk` bytes
        (0: no limit beyond the frame size) every `delay` seconds, then `trailers` if any."""
        stream = self.h2.streams.get(stream_id)
        if stream is None or stream.closed:
            return  # the client reset the stream before its request was dispatched here
        head = [(b":status", str(status).encode()), *headers]
        if content_length:
            head.append((b"content-length", str(len(body)).encode()))
        self.responses += 1
        if stream_id in self.requests:
            self.requests[stream_id].answered = True
        trailers = trailers or None
        ends = not body and trailers is None
        self.h2.send_headers(stream_id, head, end_stream=ends)
        if not ends:
            self._outgoing[stream_id] = _Outgoing(body, chunk, delay, trailers)
            self._pump()

    def call_later(self, delay: float, callback: Callable[[], None]) -> None:
        """Run `callback` in this connection's loop `delay` seconds from now."""
        self._timers.append((time.monotonic() + delay, callback))

    def send_goaway(
        self, last_stream_id: int, error_code: int = ErrorCodes.NO_ERROR, data: bytes = b""
    ) -> None:
        """Send GOAWAY and carry on (`h2` would refuse to send or receive anything after its
        own GOAWAY, but streams up to `last_stream_id` may still need answers)."""
        frame = GoAwayFrame(0, last_stream_id=last_stream_id, error_code=error_code)
        frame.additional_data = data
        self.goaway_last_stream_id = last_stream_id
        self.send_raw(frame.serialize())

    def send_raw(self, data: bytes) -> None:
        """Queue bytes behind what `h2` already has to send (which goes first)."""
        self.raw.send(self.h2.data_to_send() + data)

    def close(self, *, reset: bool = False, linger: bool = True) -> None:
        """Drop the connection once what is queued is sent, without GOAWAY: a FIN (then read
        until the client closes too, so that its late frames cause no RST; with `linger=False`
        the socket is closed at once, as a server that exits does) or with `reset` a RST.
        Only from a script: this leaves the connection's loop."""
        raise _Close(reset, linger)

    # The loop.

    def serve(self, tls: ssl.SSLContext | None) -> None:
        if tls is not None:
            self.raw.sock = tls.wrap_socket(self.raw.sock, server_side=True)
            self.tls_version = self.raw.sock.version()
            self.alpn_protocol = self.raw.sock.selected_alpn_protocol()
        if self.script.settings:
            values = {SettingCodes(code): value for code, value in self.h2.local_settings.items()}
            values.update(self.script.settings)
            self.h2.local_settings = h2.settings.Settings(client=False, initial_values=values)
        self.h2.initiate_connection()
        try:
            if self.script.on_connect is not None:
                self.script.on_connect(self)
            self._flush()
            while self._wait_readable():
                data = self.raw.recv()
                if not data:
                    return
                try:
                    events = self.h2.receive_data(data)
                except h2.exceptions.ProtocolError as exc:
                    self.protocol_error = exc
                    self._flush()  # h2's GOAWAY
                    return
                for event in events:
                    self.events.append(event)
                    self._dispatch(event)
                    self.peak_open_streams = max(
                        self.peak_open_streams, self.h2.open_inbound_streams
                    )
                self._pump()
                self._flush()
        except _Close as close:
            self._flush()
            if close.reset:
                self.raw.reset()
            elif close.linger:
                self.raw.shutdown_write()
                self.raw.wait_for_close()
            else:
                self.raw.close()

    def _wait_readable(self) -> bool:
        """Wait for bytes from the client, sending paced body chunks meanwhile; False once
        the server is stopping."""
        sock = self.raw.sock
        while not self.raw.stopping:
            if isinstance(sock, ssl.SSLSocket) and sock.pending():
                return True
            if select.select([sock], [], [], self._next_send_in())[0]:
                return True
            self._pump()
            self._flush()
        return False

    def _dispatch(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.RequestReceived):
            self.requests[event.stream_id] = H2Request(event.stream_id, list(event.headers or []))
        elif isinstance(event, h2.events.DataReceived):
            request = self.requests[event.stream_id]
            request.body += event.data
            # Credit the window at once: this server never applies back-pressure itself.
            self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            if self.script.on_data is not None and not request.complete:
                self.script.on_data(self, request)
        elif isinstance(event, h2.events.TrailersReceived):
            self.requests[event.stream_id].trailers = list(event.headers or [])
        elif isinstance(event, h2.events.StreamEnded):
            request = self.requests[event.stream_id]
            request.complete = True
            self.script.on_request(self, request)
        elif isinstance(event, h2.events.StreamReset):
            if event.stream_id in self.requests:
                self.requests[event.stream_id].reset = True
            self._outgoing.pop(event.stream_id, None)
        elif isinstance(event, h2.events.WindowUpdated) and event.stream_id == 0:
            self._unacked = max(0, self._unacked - event.delta)

    def _window(self, stream_id: int, out: _Outgoing) -> int:
        window = min(self.h2.local_flow_control_window(stream_id), self.h2.max_outbound_frame_size)
        return min(window, out.chunk) if out.chunk else window

    def _pump(self) -> None:
        """Run the timers that are due, then send every body chunk that is due and fits its
        window."""
        now = time.monotonic()
        due = [callback for when, callback in self._timers if when <= now]
        self._timers = [timer for timer in self._timers if timer[0] > now]
        for callback in due:
            callback()
        for stream_id, out in list(self._outgoing.items()):
            stream = self.h2.streams.get(stream_id)
            if stream is None or stream.closed:
                # The client reset it, in frames whose events are still to be dispatched.
                del self._outgoing[stream_id]
                continue
            while out.data and out.next_at <= now and (size := self._window(stream_id, out)) > 0:
                piece, out.data = out.data[:size], out.data[size:]
                self.h2.send_data(stream_id, piece, end_stream=not out.data and not out.trailers)
                self._unacked += len(piece)
                self.peak_unacked = max(self.peak_unacked, self._unacked)
                if out.delay:
                    out.next_at = now + out.delay
            if not out.data:
                if out.trailers:
                    self.h2.send_headers(stream_id, out.trailers, end_stream=True)
                del self._outgoing[stream_id]

    def _next_send_in(self) -> float | None:
        """Seconds until a body chunk is due that its window has room for; None if none."""
        now = time.monotonic()
        due = [
            max(0.0, out.next_at - now)
            for stream_id, out in self._outgoing.items()
            if self._window(stream_id, out) > 0
        ]
        due += [max(0.0, when - now) for when, _ in self._timers]
        return min(due, default=None)

    def _flush(self) -> None:
        if data := self.h2.data_to_send():
            self.raw.send(data)


class H2Server(Lifecycle):
    """An HTTP/2 server on loopback that answers as `script` says. See the module docstring.

    `tls`: a server `ssl.SSLContext` offering ALPN `h2` (`certs.server_ssl_context(
    alpn_protocols=["h2"])`); without it the server speaks h2c by prior knowledge. Leaving the
    `with` block stops it as `RawServer.stop()` does, re-raising a script's exceptions.
    """

    def __init__(
        self,
        script: Script | OnRequest,
        *,
        tls: ssl.SSLContext | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.script = script if isinstance(script, Script) else Script(script)
        self.tls = tls
        self.connections: list[H2ServerConnection] = []
        self._raw = RawServer(self._serve, host=host)

    @property
    def host(self) -> str:
        return self._raw.host

    @property
    def port(self) -> int:
        return self._raw.port

    @property
    def url(self) -> str:
        """`http://host:port`, or `https://` with TLS."""
        url = self._raw.url
        return url.replace("http://", "https://", 1) if self.tls else url

    def __repr__(self) -> str:
        return f"<H2Server {self.url} connections={len(self.connections)}>"

    def start(self) -> None:
        self._raw.start()

    def stop(self) -> None:
        self._raw.stop()

    def _serve(self, raw: RawConnection) -> None:
        conn = H2ServerConnection(raw, self.script)
        self.connections.append(conn)
        conn.serve(self.tls)


def respond_ok(body: bytes = HELLO) -> Script:
    """Answer every request with 200, `content-length` and `body`."""
    return Script(lambda conn, request: conn.respond(request.stream_id, body=body))


def on_first_connection(script: Script) -> Script:
    """`script` on the first connection; later connections answer every request with 200,
    so that a test can show that the client recovered with a new connection."""

    def on_request(conn: H2ServerConnection, request: H2Request) -> None:
        if conn.raw.index == 0:
            script.on_request(conn, request)
        else:
            conn.respond(request.stream_id)

    return Script(on_request, script.settings, script.on_data)


def goaway_after(n: int, *, last_stream_id: int | None = None) -> Script:
    """Answer `n` requests per connection, then send GOAWAY with `last_stream_id` (default: the
    n-th answered stream). Later requests on streams up to `last_stream_id` are still answered,
    those above it never are; the connection stays open until the client closes it."""

    def on_request(conn: H2ServerConnection, request: H2Request) -> None:
        limit = conn.goaway_last_stream_id
        if limit is None:
            conn.respond(request.stream_id)
            if conn.responses == n:
                conn.send_goaway(request.stream_id if last_stream_id is None else last_stream_id)
        elif request.stream_id <= limit:
            conn.respond(request.stream_id)

    return Script(on_request)


def goaway_with_streams_in_flight(in_flight: int, last_stream_id: int) -> Script:
    """On the first connection, hold the requests until `in_flight` of them are complete, then
    answer those up to `last_stream_id` and send GOAWAY with it: the streams above it were in
    flight and are never answered there. Later connections answer every request at once."""

    def on_request(conn: H2ServerConnection, request: H2Request) -> None:
        if conn.raw.index > 0:
            conn.respond(request.stream_id)
            return
        complete = [held for held in conn.requests.values() if held.complete]
        if conn.goaway_last_stream_id is None and len(complete) == in_flight:
            for held in complete:
                if held.stream_id <= last_stream_id:
                    conn.respond(held.stream_id)
            conn.send_goaway(last_stream_id)

    return Script(on_request)


def reset_stream(
    target: int | Callable[[H2Request], bool], error_code: int = ErrorCodes.INTERNAL_ERROR
) -> Script:
    """Answer a request matching `target` (a stream id, or a predicate on the request) with
    RST_STREAM `error_code`, and the others with 200."""
    matches = target if callable(target) else lambda request: request.stream_id == target

    def on_request(conn: H2ServerConnection, request: H2Request) -> None:
        if matches(request):
            conn.h2.reset_stream(request.stream_id, error_code)
        else:
            conn.respond(request.stream_id)

    return Script(on_request)


def max_concurrent_streams(
    limit: int = 5, *, hold: float = 0.05, changes: Mapping[int, int] | None = None
) -> Script:
    """Advertise SETTINGS_MAX_CONCURRENT_STREAMS = `limit` and answer each request `hold` seconds
    after it is complete, so that streams pile up; `conn.peak_open_streams` shows how many.

    `changes` maps a number of responses to a new limit, advertised in a SETTINGS frame once a
    connection has sent that many responses (`{10: 2}`: down to 2 after the 10th response).
    """
    steps = sorted((changes or {}).items())
    advertised: dict[H2ServerConnection, int] = {}  # how many of `steps` each connection sent

    def respond(conn: H2ServerConnection, stream_id: int) -> None:
        # `respond` may answer other streams whose time has come too, so count, don't match.
        conn.respond(stream_id)
        reached = sum(after <= conn.responses for after, _ in steps)
        if reached > advertised.get(conn, 0):
            advertised[conn] = reached
            conn.h2.update_settings({SettingCodes.MAX_CONCURRENT_STREAMS: steps[reached - 1][1]})

    def on_request(conn: H2ServerConnection, request: H2Request) -> None:
        conn.call_later(hold, lambda: respond(conn, request.stream_id))

    return Script(on_request, {SettingCodes.MAX_CONCURRENT_STREAMS: limit})


def close_abruptly_after(n: int, *, reset: bool = False) -> Script:
    """Answer `n` requests per connection, then drop the TCP connection without GOAWAY: a FIN,
    or with `reset` a RST (see `H2ServerConnection.close`)."""

    def on_request(conn: H2ServerConnection, request: H2Request) -> None:
        conn.respond(request.stream_id)
        if conn.responses >= n:
            conn.close(reset=reset)

    return Script(on_request)


def close_mid_body(streams: int = 1, *, reset: bool = False, size: int = 1 << 20) -> Script:
    """On the first connection, answer each request with the head of a `size`-byte response and
    its first 1000 bytes (`pattern_bytes`); once `streams` requests are answered so, drop the
    connection without GOAWAY (see `close_abruptly_after`). Later connections answer every
    request whole, with `HELLO`."""
    body = pattern_bytes(size)

    def on_request(conn: H2ServerConnection, request: H2Request) -> None:
        if conn.raw.index > 0:
            conn.respond(request.stream_id)
            return
        # The rest of the body is due in an hour: the connection is gone long before.
        conn.respond(request.stream_id, body=body, chunk=1000, delay=3600.0)
        if conn.responses == streams:
            conn.close(reset=reset)

    return Script(on_request)


def hold_until_reset(path: bytes = b"/hold") -> Script:
    """Never answer requests for `path`; answer the others (200, `HELLO`) only once the client
    has reset a stream for `path` on the same connection, which shows that a stream the client
    gave up on (timeout, cancellation) did not take the connection or its other streams down."""

    def answer_after_reset(conn: H2ServerConnection, stream_id: int) -> None:
        if any(request.reset for request in conn.requests.values() if request.path == path):
            conn.respond(stream_id)
        else:
            conn.call_later(0.01, lambda: answer_after_reset(conn, stream_id))

    def on_request(conn: H2ServerConnection, request: H2Request) -> None:
        if request.path != path:
            answer_after_reset(conn, request.stream_id)

    return Script(on_request)


def send_push_promise(path: bytes = b"/pushed", body: bytes = HELLO) -> Script:
    """Promise `path` on the first request of a connection, then answer both streams.

    If the client disabled push, `h2` will not push, so the PUSH_PROMISE goes out as a raw
    frame (promising stream 2) and only the request is answered.
    """

    def on_request(conn: H2ServerConnection, request: H2Request) -> None:
        if conn.responses == 0:
            promised = [
                (b":method", b"GET"),
                (b":scheme", request.header(b":scheme") or b"http"),
                (b":authority", request.header(b":authority") or b"localhost"),
                (b":path", path),
            ]
            if conn.h2.remote_settings.enable_push:
                pushed = conn.h2.get_next_available_stream_id()
                conn.h2.push_stream(request.stream_id, pushed, promised)
                conn.respond(request.stream_id)
                conn.respond(pushed, body=body)
                return
            frame = PushPromiseFrame(request.stream_id, promised_stream_id=2)
            frame.data = conn.h2.encoder.encode(promised)
            frame.flags.add("END_HEADERS")
            conn.send_raw(frame.serialize())
        conn.respond(request.stream_id)

    return Script(on_request)


# A PING frame with 7 bytes of payload where PING must carry 8: a frame-size error, complete on
# the wire, so that a client that waits for whole frames still sees it.
MALFORMED_PING = b"\x00\x00\x07\x06\x00\x00\x00\x00\x00" + bytes(7)


def reject_upload(after: int, status: int = 413, body: bytes = b"too large") -> Script:
    """Answer `status` with `body` (ending the stream) as soon as `after` bytes of a request
    body arrived, without waiting for the rest; requests whose body ends first get 200."""

    def on_data(conn: H2ServerConnection, request: H2Request) -> None:
        if len(request.body) >= after and not request.answered:
            conn.respond(request.stream_id, status, body)

    def on_request(conn: H2ServerConnection, request: H2Request) -> None:
        if not request.answered:
            conn.respond(request.stream_id)

    return Script(on_request, on_data=on_data)


def bad_frame(data: bytes = MALFORMED_PING) -> Script:
    """On each request, send `data` (bytes that are not a valid frame) instead of an answer."""
    return Script(lambda conn, request: conn.send_raw(data))


def slow_body(size: int = 1 << 20, chunk: int = 16384, delay: float = 0.0) -> Script:
    """Answer with `pattern_bytes(size)` in DATA frames of at most `chunk` bytes, one every
    `delay` seconds, never beyond the client's windows; see `conn.peak_unacked`."""
    body = pattern_bytes(size)
    return Script(
        lambda conn, request: conn.respond(request.stream_id, body=body, chunk=chunk, delay=delay)
    )


def trailers(fields: Headers = ((b"x-checksum", b"c0ffee"),), body: bytes = HELLO) -> Script:
    """Answer with `body`, then trailing `fields` in a HEADERS frame that ends the stream."""
    names = b", ".join(name for name, _ in fields)
    return Script(
        lambda conn, request: conn.respond(
            request.stream_id, body=body, headers=[(b"trailer", names)], trailers=fields
        )
    )
