"""HTTP/2 edge cases, one request flow at a time: GOAWAY variants, stream limits, early answers to
uploads, flow control that never opens, bad status lines, failed handshakes, keep-alive limits,
and a connection used on its own, without a pool."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from h2.settings import SettingCodes

import httpcore2
from httpcore2._async import http2  # unasync: sync=from httpcore2._sync import http2
from tests._async.test_http2 import (  # unasync: sync=from tests._sync.test_http2 import (
    h2c_pool,
    send_window,
)
from tests._async.waiting import (  # unasync: sync=from tests._sync.waiting import (
    wait_until,
)
from tests.servers.app import HELLO, pattern_bytes
from tests.servers.asgi_server import Server
from tests.servers.h2 import (
    H2Request,
    H2Server,
    H2ServerConnection,
    Script,
    close_mid_body,
    reject_upload,
    respond_ok,
    slow_body,
)
from tests.servers.raw import RawConnection, RawServerFactory

MIB = 1 << 20
LAST_STREAM_ID = 2**31 - 1
# Every phase of the `timeout` extension, as a connection used without a pool needs it.
TIMEOUTS = httpcore2.Timeout(5.0).as_dict()


def alone(url: str) -> httpcore2.Request:
    """A GET for an `HTTPConnection` used without a pool."""
    return httpcore2.Request("GET", url, extensions={"timeout": TIMEOUTS})


def all_sent(conn: H2ServerConnection, response: httpcore2.Response) -> Callable[[], bool]:
    """Whether the server has sent the whole body of `response` (or all its window allows)."""
    stream_id = response.extensions["stream_id"]
    return lambda: send_window(conn, stream_id) in (0, None)


def goaway_then_respond(conn: H2ServerConnection, request: H2Request) -> None:
    """Announce GOAWAY with this request's stream as the last one, then answer it."""
    conn.send_goaway(request.stream_id)
    conn.respond(request.stream_id)


# -- a connection on its own -----------------------------------------------------------------


@pytest.mark.anyio
async def test_an_http_connection_used_alone_speaks_http2() -> None:
    script = Script(respond_ok().on_request, {SettingCodes.MAX_CONCURRENT_STREAMS: 7})
    with H2Server(script) as server:
        connection = httpcore2.HTTPConnection(http1=False, http2=True, keepalive_expiry=5.0)
        try:
            assert not connection.is_connected
            response = await connection.handle_request(alone(server.url + "/"))
            assert connection.is_multiplexed
            assert connection.max_concurrent_streams == 7
            # Never expired while a stream is in flight, however late it is.
            assert not connection.has_expired(time.monotonic() + 3600)
            assert await response.aread() == HELLO
            await response.aclose()
            idle_at = time.monotonic()
            assert connection.is_available()
            assert not connection.has_expired(idle_at)
            assert connection.has_expired(idle_at + 5.0)
            second = await connection.handle_request(alone(server.url + "/"))
            assert await second.aread() == HELLO
            await second.aclose()
        finally:
            await connection.aclose()
    assert [response.protocol, second.protocol] == ["HTTP/2", "HTTP/2"]
    assert [list(conn.requests) for conn in server.connections] == [[1, 3]]


@pytest.mark.anyio
async def test_an_http11_connection_carries_one_request_at_a_time(server: Server) -> None:
    connection = httpcore2.HTTPConnection(http2=True)
    try:
        response = await connection.handle_request(alone(server.url + "/"))
        assert await response.aread() == HELLO
        await response.aclose()
        assert not connection.is_multiplexed
        assert connection.max_concurrent_streams == 1
    finally:
        await connection.aclose()
    assert response.protocol == "HTTP/1.1"


@pytest.mark.anyio
@pytest.mark.case("F19")
async def test_a_connection_that_received_goaway_takes_no_new_request() -> None:
    with H2Server(goaway_then_respond) as server:
        connection = httpcore2.HTTPConnection(http1=False, http2=True)
        try:
            response = await connection.handle_request(alone(server.url + "/"))
            # The stream the GOAWAY let through is answered in full.
            assert await response.aread() == HELLO
            await response.aclose()
            assert not connection.is_available()
            assert connection.has_expired(time.monotonic())
            with pytest.raises(httpcore2.RemoteProtocolError, match="no new streams"):
                await connection.handle_request(alone(server.url + "/"))
        finally:
            await connection.aclose()
    assert [list(conn.requests) for conn in server.connections] == [[1]]


# -- GOAWAY ----------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.case("F19")
async def test_goaway_with_an_unknown_error_code_refuses_the_stream() -> None:
    script = Script(lambda conn, request: conn.send_goaway(0, error_code=0xDEAD))
    with H2Server(script) as server:
        async with h2c_pool() as pool:
            with pytest.raises(httpcore2.RemoteProtocolError, match=str(0xDEAD)):
                await pool.request("GET", server.url + "/")
            assert pool.connections == []
    # Refused every time on each new connection: three of them, then the request gives up.
    assert [list(conn.requests) for conn in server.connections] == [[1]] * 3


@pytest.mark.anyio
@pytest.mark.case("F19")
async def test_a_stream_in_flight_keeps_a_goaway_connection_but_new_requests_go_elsewhere() -> None:
    with H2Server(goaway_then_respond) as server:
        async with h2c_pool() as pool:
            async with pool.stream("GET", server.url + "/first") as first:
                second = await pool.request("GET", server.url + "/second")
                assert await first.aread() == HELLO
            assert second.content == HELLO
    assert [list(conn.requests) for conn in server.connections] == [[1], [1]]


@pytest.mark.anyio
@pytest.mark.case("F19")
async def test_a_second_goaway_with_a_lower_last_stream_id_refuses_more_streams() -> None:
    def script(conn: H2ServerConnection, request: H2Request) -> None:
        if conn.raw.index > 0:
            conn.respond(request.stream_id)
        elif request.stream_id == 1:
            conn.h2.send_headers(1, [(b":status", b"200")])  # the body comes later
        else:
            conn.send_goaway(LAST_STREAM_ID)  # "shutting down soon"
            conn.send_goaway(1)  # "only stream 1 will be processed"
            conn.h2.send_data(1, b"first", end_stream=True)

    with H2Server(script) as server:
        async with h2c_pool() as pool:
            async with pool.stream("GET", server.url + "/first") as first:
                second = await pool.request("GET", server.url + "/second")
                assert await first.aread() == b"first"
            assert second.content == HELLO
    paths = [[request.path for request in conn.requests.values()] for conn in server.connections]
    assert paths == [[b"/first", b"/second"], [b"/second"]]


@pytest.mark.anyio
@pytest.mark.case("F19")
async def test_a_complete_response_survives_the_goaway_and_close_that_followed() -> None:
    # Seen against nginx and Apache reloading: two GETs share a connection; the server answers
    # the first (two DATA frames), sends GOAWAY with the first as its last stream, and closes
    # the socket. The second is retried on a new connection; the first response, read later,
    # is complete. Nothing goes out for the refused stream (the server never opened it), and a
    # WINDOW_UPDATE that cannot be written costs no body whose end has arrived.
    def script(conn: H2ServerConnection, request: H2Request) -> None:
        if conn.raw.index > 0:
            conn.respond(request.stream_id)
        elif request.path == b"/first":
            conn.h2.send_headers(request.stream_id, [(b":status", b"200")])  # the body later
        else:
            first = conn.stream_id(b"/first")
            conn.h2.send_data(first, b"Hello, ")
            conn.h2.send_data(first, b"world!", end_stream=True)
            conn.send_goaway(first)
            conn.close(linger=False)

    with H2Server(script) as server:
        async with h2c_pool() as pool:
            async with pool.stream("GET", server.url + "/first") as first:
                second = await pool.request("GET", server.url + "/second")
                assert second.content == HELLO
                assert await first.aread() == b"Hello, world!"
    paths = [[request.path for request in conn.requests.values()] for conn in server.connections]
    assert paths == [[b"/first", b"/second"], [b"/second"]]
    assert server.connections[0].resets() == []


class FailingWrites(httpcore2.NetworkStream):
    """A network stream whose writes fail once `broken` is set, as on a socket whose peer has
    gone (asyncio's transport says so as soon as it reads the end of the stream)."""

    def __init__(self, stream: httpcore2.NetworkStream) -> None:
        self.stream = stream
        self.broken = False

    async def write(self, data: bytes, timeout: float | None = None) -> None:
        if self.broken:
            raise httpcore2.WriteError("The connection is closed")
        await self.stream.write(data, timeout)

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self.stream.read(max_bytes, timeout)

    async def aclose(self) -> None:
        await self.stream.aclose()

    def get_extra_info(self, info: str) -> Any:
        return self.stream.get_extra_info(info)

    def is_readable(self) -> bool:
        return self.stream.is_readable()


class FailingWritesBackend(httpcore2.AutoBackend):
    def __init__(self) -> None:
        super().__init__()
        self.streams: list[FailingWrites] = []

    async def connect_tcp(self, *args: Any, **kwargs: Any) -> httpcore2.NetworkStream:
        stream = FailingWrites(await super().connect_tcp(*args, **kwargs))
        self.streams.append(stream)
        return stream


@pytest.mark.anyio
async def test_a_failed_window_update_costs_no_body_whose_end_has_arrived() -> None:
    # As above, with five responses of 1.8 MiB, complete before the client reads any: reading
    # the fifth takes the data read past half the connection window (8 MiB), so the client
    # sends a connection WINDOW_UPDATE, whose write fails. Every body and its end are in hand:
    # each read succeeds all the same.
    size = 1800 * 1024
    body = pattern_bytes(size)
    held = [f"/held{index}".encode() for index in range(5)]

    def script(conn: H2ServerConnection, request: H2Request) -> None:
        if conn.raw.index > 0:
            conn.respond(request.stream_id)
        elif request.path in held:
            conn.h2.send_headers(request.stream_id, [(b":status", b"200")])  # the body later
        else:
            for path in held:
                stream_id = conn.stream_id(path)
                for start in range(0, size, 16384):
                    conn.h2.send_data(stream_id, body[start : start + 16384])
                conn.h2.end_stream(stream_id)
            conn.send_goaway(conn.stream_id(held[-1]))
            conn.close(linger=False)

    backend = FailingWritesBackend()
    with H2Server(script) as server:
        async with httpcore2.ConnectionPool(
            http1=False, http2=True, network_backend=backend
        ) as pool:
            responses = [
                await pool.handle_request(httpcore2.Request("GET", server.url + path.decode()))
                for path in held
            ]
            try:
                trigger = await pool.request("GET", server.url + "/trigger")
                assert trigger.content == HELLO
                backend.streams[0].broken = True
                for response in responses:
                    assert await response.aread() == body
            finally:
                for response in responses:
                    await response.aclose()
    assert len(backend.streams) == 2


@pytest.mark.anyio
@pytest.mark.case("F19")
async def test_an_answer_on_a_stream_the_goaway_refused_is_ignored() -> None:
    # The client sends nothing for a stream above the GOAWAY's last stream id (the server
    # never opened it), so a server that answers it after all is heard, and ignored.
    def script(conn: H2ServerConnection, request: H2Request) -> None:
        if conn.raw.index > 0:
            conn.respond(request.stream_id)
        elif request.path == b"/first":
            conn.h2.send_headers(request.stream_id, [(b":status", b"200")])  # the body later
        else:
            conn.send_goaway(conn.stream_id(b"/first"))

            def answer_both() -> None:
                conn.respond(request.stream_id, body=b"late")
                conn.h2.send_data(conn.stream_id(b"/first"), b"first", end_stream=True)

            conn.call_later(0.05, answer_both)

    with H2Server(script) as server:
        async with h2c_pool() as pool:
            async with pool.stream("GET", server.url + "/first") as first:
                second = await pool.request("GET", server.url + "/second")
                assert second.content == HELLO
                assert await first.aread() == b"first"
    assert server.connections[0].resets() == []


@pytest.mark.anyio
@pytest.mark.case("F19")
async def test_a_close_after_goaway_fails_the_stream_it_let_through() -> None:
    body = pattern_bytes(MIB)

    def script(conn: H2ServerConnection, request: H2Request) -> None:
        conn.send_goaway(request.stream_id)
        # The rest of the body is due in an hour: the connection is gone long before.
        conn.respond(request.stream_id, body=body, chunk=1000, delay=3600.0)
        conn.close()

    with H2Server(script) as server:
        async with h2c_pool() as pool:
            async with pool.stream("GET", server.url + "/") as response:
                with pytest.raises(httpcore2.RemoteProtocolError, match="after a GOAWAY"):
                    await response.aread()
            assert pool.connections == []
    assert len(server.connections) == 1


# -- stream limits and invalid requests ------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.case("F21")
async def test_a_server_that_allows_no_streams_gets_none() -> None:
    script = Script(respond_ok().on_request, {SettingCodes.MAX_CONCURRENT_STREAMS: 0})
    with H2Server(script) as server:
        async with h2c_pool() as pool:
            with pytest.raises(httpcore2.RemoteProtocolError, match="3 new connections"):
                await pool.request("GET", server.url + "/")
            assert pool.connections == []
    # Nothing was sent beyond the limit, so the server had nothing to complain about; each
    # connection that allowed no stream was closed, and the request gave up after three.
    assert [(conn.requests, conn.protocol_error) for conn in server.connections] == [({}, None)] * 3


@pytest.mark.anyio
async def test_a_request_h2_cannot_express_is_refused_locally() -> None:
    with H2Server(respond_ok()) as server:
        async with h2c_pool() as pool:
            # An ordinary CONNECT has neither :scheme nor :path in HTTP/2; a URL has both.
            with pytest.raises(httpcore2.LocalProtocolError, match="CONNECT"):
                await pool.request("CONNECT", server.url + "/")
            assert (await pool.request("GET", server.url + "/")).content == HELLO
    methods = [request.method for conn in server.connections for request in conn.requests.values()]
    assert methods == [b"GET"]


# -- responses -------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [b"2000", b"abc", b"20"])
@pytest.mark.anyio
async def test_an_invalid_status_fails_that_request_only(status: bytes) -> None:
    def script(conn: H2ServerConnection, request: H2Request) -> None:
        if request.path == b"/bad":
            conn.h2.send_headers(request.stream_id, [(b":status", status)], end_stream=True)
        else:
            conn.respond(request.stream_id)

    with H2Server(script) as server:
        async with h2c_pool() as pool:
            with pytest.raises(httpcore2.RemoteProtocolError, match="status"):
                await pool.request("GET", server.url + "/bad")
            assert (await pool.request("GET", server.url + "/")).content == HELLO
    assert len(server.connections) == 1


@pytest.mark.case("S25")
@pytest.mark.anyio
@pytest.mark.case("F08")
async def test_at_most_20_informational_responses() -> None:
    def script(conn: H2ServerConnection, request: H2Request) -> None:
        for _ in range(int((request.path or b"/0")[1:])):
            conn.h2.send_headers(request.stream_id, [(b":status", b"103")])
        conn.respond(request.stream_id)

    limit = 20  # as many as HTTP/1.1 allows too
    with H2Server(script) as server:
        async with h2c_pool() as pool:
            assert (await pool.request("GET", f"{server.url}/{limit}")).content == HELLO
            # A flood of them is cut off where it is queued, at the limit.
            for count in (limit + 1, 1000):
                with pytest.raises(httpcore2.RemoteProtocolError, match="more than 20 informa"):
                    await pool.request("GET", f"{server.url}/{count}")
            assert (await pool.request("GET", f"{server.url}/{limit}")).content == HELLO
    assert len(server.connections) == 1


@pytest.mark.anyio
@pytest.mark.case("F23")
async def test_data_received_before_the_connection_dropped_is_still_delivered() -> None:
    first_bytes = pattern_bytes(1000)
    with H2Server(close_mid_body(streams=2)) as server:
        async with h2c_pool() as pool:
            async with pool.stream("GET", server.url + "/a") as first:
                async with pool.stream("GET", server.url + "/b") as second:
                    with pytest.raises(httpcore2.RemoteProtocolError):
                        await second.aread()
                    # The connection is gone, but what it brought for the first stream is here.
                    chunks = first.aiter_stream()
                    assert await chunks.__anext__() == first_bytes
                    with pytest.raises(httpcore2.RemoteProtocolError):
                        await chunks.__anext__()
    assert len(server.connections) == 1


# -- uploads and flow control ----------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.case("F25")
async def test_an_early_answer_stops_the_upload() -> None:
    with H2Server(reject_upload(after=100_000)) as server:
        async with h2c_pool() as pool:
            response = await pool.request("POST", server.url + "/", content=b"x" * (10 * MIB))
            assert (response.status, response.content) == (413, b"too large")
            assert (await pool.request("GET", server.url + "/")).content == HELLO
    (conn,) = server.connections  # the next request went on the same connection
    upload = conn.requests[1]
    assert 100_000 <= len(upload.body) < MIB
    assert not upload.complete
    assert upload.reset  # the client gave up the rest of its body


@pytest.mark.anyio
@pytest.mark.case("F22")
async def test_a_window_that_never_opens_is_a_write_timeout() -> None:
    # The server lets no stream send any DATA, and never says otherwise.
    script = Script(respond_ok().on_request, {SettingCodes.INITIAL_WINDOW_SIZE: 0})
    with H2Server(script) as server:
        async with h2c_pool() as pool:
            with pytest.raises(httpcore2.WriteTimeout):
                await pool.request(
                    "POST", server.url + "/upload", content=b"data", extensions={"timeout": 0.2}
                )
            # Requests without a body need no window: the connection carries on.
            assert (await pool.request("GET", server.url + "/")).content == HELLO
    (conn,) = server.connections
    upload, get = conn.requests.values()
    assert (upload.path, bytes(upload.body), upload.complete) == (b"/upload", b"", False)
    assert upload.reset
    assert get.complete


@pytest.mark.anyio
@pytest.mark.case("F22")
async def test_data_for_closed_responses_gives_the_connection_window_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Small windows, so that a few abandoned bodies add up to more than a connection window.
    monkeypatch.setattr(http2, "STREAM_WINDOW", 2**16)
    monkeypatch.setattr(http2, "CONNECTION_WINDOW", 2**18)
    size = 2**16
    with H2Server(slow_body(size)) as server:
        async with h2c_pool() as pool:
            for _ in range(6):  # 6 x 64 KiB, sent by the server and never read
                async with pool.stream("GET", server.url + "/") as response:
                    await wait_until(all_sent(server.connections[-1], response))
            response = await pool.request("GET", server.url + "/")
    assert response.content == pattern_bytes(size)
    assert len(server.connections) == 1


# -- opening connections ---------------------------------------------------------------------


HTTP11_REPLY = b"HTTP/1.1 400 Bad Request\r\n\r\n"


@pytest.mark.parametrize("reply", [b"", HTTP11_REPLY], ids=["close", "http1"])
@pytest.mark.anyio
async def test_a_failed_handshake_fails_the_request_and_closes_the_socket(
    raw_server: RawServerFactory, reply: bytes
) -> None:
    closed_by_client: list[bool] = []

    def handler(conn: RawConnection) -> None:
        conn.recv()  # the client's preface
        if reply:
            conn.send(reply)
            conn.wait_for_close()
            closed_by_client.append(not conn.stopping)

    server = raw_server(handler)
    async with h2c_pool() as pool:
        with pytest.raises(httpcore2.RemoteProtocolError):
            # A short read timeout: an unrecognised server preface must not wait for it.
            await pool.request("GET", server.url + "/", extensions={"timeout": 1.0})
        assert pool.connections == []
        if reply:
            await wait_until(lambda: bool(closed_by_client))
            assert closed_by_client == [True]


# -- keep-alive ------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_max_keepalive_connections_closes_the_oldest_idle_http2_connection() -> None:
    limits = httpcore2.PoolLimits(max_keepalive_connections=1)
    with H2Server(respond_ok()) as one, H2Server(respond_ok()) as two:
        async with httpcore2.ConnectionPool(http1=False, http2=True, pool_limits=limits) as pool:
            await pool.request("GET", one.url + "/")
            await pool.request("GET", two.url + "/")  # one's connection is closed
            assert len(pool.connections) == 1
            await pool.request("GET", one.url + "/")  # a new one, and two's is closed
            await pool.request("GET", one.url + "/")  # reused
            assert len(pool.connections) == 1
        await wait_until(lambda: one.connections[0].raw.closed)
    assert [list(conn.requests) for conn in one.connections] == [[1], [1, 3]]
    assert [list(conn.requests) for conn in two.connections] == [[1]]


@pytest.mark.anyio
async def test_an_idle_http2_connection_past_its_keepalive_expiry_is_replaced() -> None:
    limits = httpcore2.PoolLimits(keepalive_expiry=0)
    with H2Server(respond_ok()) as server:
        async with httpcore2.ConnectionPool(http1=False, http2=True, pool_limits=limits) as pool:
            for _ in range(3):
                assert (await pool.request("GET", server.url + "/")).content == HELLO
            await wait_until(lambda: server.connections[0].raw.closed)
    assert [list(conn.requests) for conn in server.connections] == [[1]] * 3
