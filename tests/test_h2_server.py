"""Self-tests of the scripted HTTP/2 server, driven by a minimal blocking client on `h2`."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import pytest
from h2.errors import ErrorCodes
from h2.settings import SettingCodes

from tests.servers import certs
from tests.servers.app import HELLO, pattern_bytes
from tests.servers.h2 import (
    H2Request,
    H2Server,
    H2ServerConnection,
    bad_frame,
    close_abruptly_after,
    close_mid_body,
    goaway_after,
    goaway_with_streams_in_flight,
    hold_until_reset,
    max_concurrent_streams,
    reject_upload,
    reset_stream,
    respond_ok,
    send_push_promise,
    slow_body,
    trailers,
)


@dataclass
class Stream:
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)
    trailers: list[tuple[bytes, bytes]] = field(default_factory=list)
    ended: bool = False
    reset: int | None = None  # the error code of a RST_STREAM from the server

    @property
    def status(self) -> bytes | None:
        return dict(self.headers).get(b":status")


class Client:
    """Just enough of an HTTP/2 client: send requests, read until a condition holds."""

    def __init__(self, sock: socket.socket, *, enable_push: bool = True) -> None:
        self.sock = sock
        self.h2 = h2.connection.H2Connection(
            config=h2.config.H2Configuration(client_side=True, header_encoding=None)
        )
        self.h2.local_settings[SettingCodes.ENABLE_PUSH] = int(enable_push)
        self.h2.initiate_connection()
        self.streams: dict[int, Stream] = {}
        self.events: list[h2.events.Event] = []
        self.acknowledge = True  # give flow-control credit back as soon as data arrives
        self.eof = False
        self.flush()

    def request(self, path: str = "/", body: bytes = b"", *, flush: bool = True) -> int:
        stream_id = self.h2.get_next_available_stream_id()
        headers = [
            (b":method", b"POST" if body else b"GET"),
            (b":scheme", b"https" if isinstance(self.sock, ssl.SSLSocket) else b"http"),
            (b":authority", b"localhost"),
            (b":path", path.encode()),
        ]
        self.h2.send_headers(stream_id, headers, end_stream=not body)
        for start in range(0, len(body), 16384):  # the largest frame the server accepts
            end = start + 16384
            self.h2.send_data(stream_id, body[start:end], end_stream=end >= len(body))
        self.streams[stream_id] = Stream()
        if flush:
            self.flush()
        return stream_id

    def read_until(self, done: Callable[[], bool]) -> None:
        """Read and handle frames until `done()` or the server closes the connection."""
        while not done() and not self.eof:
            data = self.sock.recv(65536)
            self.eof = not data
            for event in self.h2.receive_data(data) if data else ():
                self._handle(event)
            self.flush()

    def ended(self, *stream_ids: int) -> Callable[[], bool]:
        return lambda: all(self.streams[stream_id].ended for stream_id in stream_ids)

    def answered(self) -> int:
        return sum(stream.ended for stream in self.streams.values())

    def read_next_answer(self) -> None:
        """Read until one more stream has ended."""
        before = self.answered()
        self.read_until(lambda: self.answered() > before)

    def received(self, kind: type[h2.events.Event]) -> list[h2.events.Event]:
        return [event for event in self.events if isinstance(event, kind)]

    def _handle(self, event: h2.events.Event) -> None:
        self.events.append(event)
        stream = self.streams.setdefault(getattr(event, "stream_id", 0), Stream())
        if isinstance(event, (h2.events.ResponseReceived, h2.events.PushedStreamReceived)):
            stream.headers = list(event.headers or [])
        elif isinstance(event, h2.events.DataReceived):
            stream.body += event.data
            if self.acknowledge:
                self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, h2.events.TrailersReceived):
            stream.trailers = list(event.headers or [])
        elif isinstance(event, h2.events.StreamEnded):
            stream.ended = True
        elif isinstance(event, h2.events.StreamReset):
            stream.reset = event.error_code
            stream.ended = True

    def flush(self) -> None:
        if data := self.h2.data_to_send():
            self.sock.sendall(data)


@contextmanager
def connect(server: H2Server, *, enable_push: bool = True) -> Iterator[Client]:
    sock = socket.create_connection((server.host, server.port), timeout=3)
    if server.tls is not None:
        context = certs.client_ssl_context(alpn_protocols=["h2"])
        sock = context.wrap_socket(sock, server_hostname="localhost")
    with sock:
        yield Client(sock, enable_push=enable_push)


def test_get_over_h2c() -> None:
    with H2Server(respond_ok(b"hi")) as server, connect(server) as client:
        stream_id = client.request("/path?q=1")
        client.read_until(client.ended(stream_id))

    assert server.url.startswith("http://127.0.0.1:")
    response = client.streams[stream_id]
    assert response.status == b"200"
    assert (b"content-length", b"2") in response.headers
    assert response.body == b"hi"
    [conn] = server.connections
    request = conn.requests[stream_id]
    assert (request.method, request.path, request.complete) == (b"GET", b"/path?q=1", True)
    assert any(isinstance(event, h2.events.RequestReceived) for event in conn.events)
    assert conn.alpn_protocol is None


def test_post_body_is_recorded() -> None:
    with H2Server(respond_ok()) as server, connect(server) as client:
        stream_id = client.request("/upload", body=b"x" * 60_000)
        client.read_until(client.ended(stream_id))

    assert client.streams[stream_id].body == HELLO
    assert server.connections[0].requests[stream_id].body == b"x" * 60_000


def test_get_over_tls_with_alpn() -> None:
    context = certs.server_ssl_context(alpn_protocols=["h2"])
    with H2Server(respond_ok(), tls=context) as server, connect(server) as client:
        stream_id = client.request()
        client.read_until(client.ended(stream_id))
        assert isinstance(client.sock, ssl.SSLSocket)
        assert client.sock.selected_alpn_protocol() == "h2"

    assert server.url.startswith("https://")
    assert client.streams[stream_id].body == HELLO
    assert server.connections[0].alpn_protocol == "h2"


def test_goaway_below_open_streams() -> None:
    with H2Server(goaway_after(2, last_stream_id=3)) as server, connect(server) as client:
        stream_ids = [client.request(flush=False) for _ in range(4)]
        client.flush()  # all four at once, so that the server has them all when it goes away
        client.read_until(
            lambda: bool(client.received(h2.events.ConnectionTerminated)) and client.ended(1, 3)()
        )

    assert stream_ids == [1, 3, 5, 7]
    [goaway] = client.received(h2.events.ConnectionTerminated)
    assert isinstance(goaway, h2.events.ConnectionTerminated)
    assert (goaway.last_stream_id, goaway.error_code) == (3, ErrorCodes.NO_ERROR)
    assert [client.streams[i].status for i in stream_ids] == [b"200", b"200", None, None]
    conn = server.connections[0]
    assert sorted(conn.requests) == stream_ids  # received, but 5 and 7 were never answered
    assert (conn.responses, conn.goaway_last_stream_id) == (2, 3)


def test_goaway_with_streams_in_flight_then_a_second_connection() -> None:
    with H2Server(goaway_with_streams_in_flight(3, last_stream_id=1)) as server:
        with connect(server) as client:
            first, second = client.request("/a"), client.request("/b")
            client.sock.settimeout(0.1)
            with pytest.raises(TimeoutError):  # held until the third request arrives
                client.read_until(lambda: False)
            client.sock.settimeout(3)
            third = client.request("/c")
            client.read_until(
                lambda: (
                    bool(client.received(h2.events.ConnectionTerminated)) and client.ended(first)()
                )
            )
        with connect(server) as again:
            stream_id = again.request("/b")
            again.read_until(again.ended(stream_id))

    [goaway] = client.received(h2.events.ConnectionTerminated)
    assert isinstance(goaway, h2.events.ConnectionTerminated)
    assert goaway.last_stream_id == 1
    assert [client.streams[i].ended for i in (first, second, third)] == [True, False, False]
    assert again.streams[stream_id].body == HELLO
    assert [conn.responses for conn in server.connections] == [1, 1]


def test_reset_one_stream_while_another_completes() -> None:
    script = reset_stream(lambda request: request.path == b"/reset", ErrorCodes.REFUSED_STREAM)
    with H2Server(script) as server, connect(server) as client:
        reset, ok = client.request("/reset"), client.request("/ok")
        client.read_until(client.ended(reset, ok))

    assert client.streams[reset].reset == ErrorCodes.REFUSED_STREAM
    assert client.streams[reset].status is None
    assert client.streams[ok].status == b"200"
    assert client.streams[ok].body == HELLO
    assert server.connections[0].responses == 1


def test_reset_by_stream_id() -> None:
    with H2Server(reset_stream(3)) as server, connect(server) as client:
        first, second = client.request(), client.request()
        client.read_until(client.ended(first, second))

    assert client.streams[first].reset is None
    assert client.streams[second].reset == ErrorCodes.INTERNAL_ERROR


def test_max_concurrent_streams_advertised_and_peak_recorded() -> None:
    with H2Server(max_concurrent_streams(5, hold=0.05)) as server, connect(server) as client:
        client.read_until(lambda: bool(client.received(h2.events.RemoteSettingsChanged)))
        assert client.h2.remote_settings.max_concurrent_streams == 5
        sent: list[int] = []
        while len(sent) < 12 or not client.ended(*sent)():
            while len(sent) < 12 and client.h2.open_outbound_streams < 5:
                sent.append(client.request(flush=False))
            client.flush()
            client.read_next_answer()

    assert all(client.streams[i].status == b"200" for i in sent)
    [conn] = server.connections
    assert len(conn.requests) == 12
    assert conn.peak_open_streams == 5
    assert conn.protocol_error is None


def test_close_abruptly_after_n_responses() -> None:
    with H2Server(close_abruptly_after(1)) as server, connect(server) as client:
        first, second = client.request(flush=False), client.request(flush=False)
        client.flush()
        client.read_until(lambda: False)  # until EOF

    assert client.eof
    assert client.streams[first].body == HELLO
    assert not client.streams[second].ended
    assert not client.received(h2.events.ConnectionTerminated)  # no GOAWAY
    assert len(server.connections) == 1


def test_reset_abruptly_after_n_responses() -> None:
    with H2Server(close_abruptly_after(1, reset=True)) as server, connect(server) as client:
        client.request()
        with pytest.raises(ConnectionResetError):
            client.read_until(lambda: False)

    assert server.connections[0].responses == 1


def test_max_concurrent_streams_changes_after_some_responses() -> None:
    with H2Server(max_concurrent_streams(5, hold=0, changes={1: 2})) as server:
        with connect(server) as client:
            client.read_until(lambda: client.h2.remote_settings.max_concurrent_streams == 5)
            stream_id = client.request()
            client.read_until(lambda: client.h2.remote_settings.max_concurrent_streams == 2)

    assert client.streams[stream_id].body == HELLO
    assert server.connections[0].protocol_error is None


def test_close_mid_body_on_the_first_connection_only() -> None:
    with H2Server(close_mid_body(2, size=50_000)) as server:
        with connect(server) as client:
            first, second = client.request(), client.request()
            client.read_until(lambda: False)  # until the server drops the connection
        with connect(server) as again:
            stream_id = again.request()
            again.read_until(again.ended(stream_id))

    for partial in (client.streams[first], client.streams[second]):
        assert (b"content-length", b"50000") in partial.headers
        assert partial.body == pattern_bytes(1000)
        assert not partial.ended
    assert not client.received(h2.events.ConnectionTerminated)  # no GOAWAY
    assert again.streams[stream_id].body == HELLO


def test_close_mid_body_with_a_reset() -> None:
    with H2Server(close_mid_body(1, reset=True)) as server, connect(server) as client:
        client.request()
        with pytest.raises(ConnectionResetError):
            client.read_until(lambda: False)

    assert server.connections[0].responses == 1


def test_hold_until_reset() -> None:
    with H2Server(hold_until_reset(b"/hold")) as server, connect(server) as client:
        held, other = client.request("/hold"), client.request("/other")
        client.sock.settimeout(0.1)
        with pytest.raises(TimeoutError):  # nothing is answered while /hold is open
            client.read_until(lambda: False)
        client.sock.settimeout(3)
        client.h2.reset_stream(held, ErrorCodes.CANCEL)
        client.flush()
        client.read_until(client.ended(other))
        later = client.request("/later")
        client.read_until(client.ended(later))

    assert client.streams[other].body == HELLO
    assert client.streams[later].body == HELLO
    [conn] = server.connections
    assert conn.requests[held].reset
    assert conn.responses == 2


def test_push_promise() -> None:
    with (
        H2Server(send_push_promise(b"/style.css", b"body {}")) as server,
        connect(server) as client,
    ):
        stream_id = client.request()
        client.read_until(lambda: client.ended(stream_id, 2)() if 2 in client.streams else False)

    [push] = client.received(h2.events.PushedStreamReceived)
    assert isinstance(push, h2.events.PushedStreamReceived)
    assert (push.parent_stream_id, push.pushed_stream_id) == (stream_id, 2)
    assert (b":path", b"/style.css") in (push.headers or [])
    assert client.streams[2].body == b"body {}"
    assert client.streams[stream_id].body == HELLO
    assert server.connections[0].responses == 2


def test_push_promise_when_push_is_disabled() -> None:
    with H2Server(send_push_promise()) as server, connect(server, enable_push=False) as client:
        client.request()
        with pytest.raises(h2.exceptions.ProtocolError):
            client.read_until(lambda: False)


def test_bad_frame() -> None:
    with H2Server(bad_frame()) as server, connect(server) as client:
        client.request()
        with pytest.raises(h2.exceptions.ProtocolError, match="Frame data missing or invalid"):
            client.read_until(lambda: False)

    assert server.connections[0].responses == 0


def test_slow_body_respects_flow_control() -> None:
    size, window = 200_000, 65_535
    with H2Server(slow_body(size, chunk=10_000, delay=0.001)) as server, connect(server) as client:
        client.acknowledge = False
        stream_id = client.request()
        client.read_until(lambda: len(client.streams[stream_id].body) >= window)
        client.sock.settimeout(0.1)
        with pytest.raises(TimeoutError):  # the window is used up: the server must wait
            client.read_until(lambda: False)
        client.sock.settimeout(3)
        body = client.streams[stream_id].body
        assert len(body) == window
        client.h2.acknowledge_received_data(len(body), stream_id)
        client.flush()
        client.acknowledge = True
        client.read_until(client.ended(stream_id))

    assert client.streams[stream_id].body == pattern_bytes(size)
    frames = client.received(h2.events.DataReceived)
    assert (
        max(len(event.data or b"") for event in frames if isinstance(event, h2.events.DataReceived))
        <= 10_000
    )
    assert server.connections[0].peak_unacked == window


def test_trailers() -> None:
    with H2Server(trailers(((b"x-checksum", b"abc"),), body=b"data")) as server:
        with connect(server) as client:
            stream_id = client.request()
            client.read_until(client.ended(stream_id))

    response = client.streams[stream_id]
    assert response.body == b"data"
    assert response.trailers == [(b"x-checksum", b"abc")]
    assert (b"trailer", b"x-checksum") in response.headers


def test_plain_function_as_script() -> None:
    def teapot(conn: H2ServerConnection, request: H2Request) -> None:
        conn.respond(request.stream_id, 418, b"")

    with H2Server(teapot) as server, connect(server) as client:
        stream_id = client.request()
        client.read_until(client.ended(stream_id))

    assert client.streams[stream_id].status == b"418"
    assert client.streams[stream_id].body == b""


def test_reject_upload_answers_before_the_body_is_complete() -> None:
    with H2Server(reject_upload(after=20_000)) as server, connect(server) as client:
        large = client.request("/large", body=b"x" * 50_000)
        small = client.request("/small", body=b"y" * 10_000)
        client.read_until(client.ended(large, small))

    assert (client.streams[large].status, bytes(client.streams[large].body)) == (
        b"413",
        b"too large",
    )
    assert (client.streams[small].status, bytes(client.streams[small].body)) == (b"200", HELLO)
    conn = server.connections[0]
    # Answered once, at the first DATA frame that took the body past 20,000 bytes.
    assert conn.responses == 2
    assert [request.answered for request in conn.requests.values()] == [True, True]
