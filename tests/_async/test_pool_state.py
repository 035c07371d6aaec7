"""`ConnectionPool.state()`: the pool's snapshot at each step of a connection's life."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

import httpcore2
from tests.servers.h2 import H2Request, H2Server, H2ServerConnection, Script, respond_ok
from tests.servers.raw import RawServerFactory, close_after

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, world!"
EMPTY = httpcore2.PoolState(connections=(), waiting=0, in_use=0)


class Recorder:
    """A `trace` callback that takes the pool's snapshot at each event, by event name."""

    def __init__(self, pool: httpcore2.ConnectionPool) -> None:
        self.pool = pool
        self.states: dict[str, httpcore2.PoolState] = {}

    def __call__(self, name: str, info: dict[str, Any]) -> None:
        self.states[name] = self.pool.state()

    @property
    def extensions(self) -> dict[str, Any]:
        return {"trace": self}


def summary(state: httpcore2.PoolState) -> tuple[Any, ...]:
    """The pool's counts and, per connection, everything but its idle time."""
    connections = [
        (str(c.origin), c.http_version, c.state, c.in_flight, c.requests) for c in state.connections
    ]
    return state.in_use, state.waiting, connections


@pytest.mark.anyio
async def test_an_http11_connection_connects_carries_a_request_then_goes_idle() -> None:
    backend = httpcore2.MockBackend([OK] * 2)
    async with httpcore2.ConnectionPool(network_backend=backend) as pool:
        assert pool.state() == EMPTY
        recorder = Recorder(pool)
        url = "http://example.com/"
        async with pool.stream("GET", url, extensions=recorder.extensions) as response:
            active = pool.state()
            await response.aread()
        idle = pool.state()
        await pool.request("GET", url)
        again = pool.state()
    assert pool.state() == EMPTY
    origin = "http://example.com"
    for event in ("connection.connect_tcp.started", "connection.connect_tcp.complete"):
        assert summary(recorder.states[event]) == (1, 0, [(origin, None, "connecting", 1, 0)])
    sending = recorder.states["http11.send_request_headers.started"]
    assert summary(sending) == (1, 0, [(origin, "HTTP/1.1", "active", 1, 1)])
    assert summary(active) == (1, 0, [(origin, "HTTP/1.1", "active", 1, 1)])
    assert active.connections[0].idle_for is None
    assert summary(idle) == (0, 0, [(origin, "HTTP/1.1", "idle", 0, 1)])
    assert summary(again) == (0, 0, [(origin, "HTTP/1.1", "idle", 0, 2)])
    idle_for = idle.connections[0].idle_for
    assert idle_for is not None
    assert idle_for >= 0
    assert idle.connections[0].origin == httpcore2.Origin(url)
    assert idle.connections[0].proxy is None


@pytest.mark.anyio
async def test_an_http2_connection_with_several_streams_in_flight() -> None:
    with H2Server(respond_ok()) as server:
        async with httpcore2.ConnectionPool(http1=False, http2=True) as pool:
            recorder = Recorder(pool)
            responses = [
                await pool.handle_request(
                    httpcore2.Request("GET", server.url, extensions=recorder.extensions)
                )
                for _ in range(3)
            ]
            active = pool.state()
            await responses.pop().aclose()
            fewer = pool.state()
            for response in responses:
                await response.aclose()
            idle = pool.state()
    origin = server.url
    connecting = recorder.states["connection.connect_tcp.started"]
    assert summary(connecting) == (1, 0, [(origin, None, "connecting", 1, 0)])
    assert summary(active) == (1, 0, [(origin, "HTTP/2", "active", 3, 3)])
    assert summary(fewer) == (1, 0, [(origin, "HTTP/2", "active", 2, 3)])
    assert summary(idle) == (0, 0, [(origin, "HTTP/2", "idle", 0, 3)])
    assert idle.connections[0].idle_for is not None


@pytest.mark.anyio
async def test_requests_waiting_at_max_connections_are_counted() -> None:
    backend = httpcore2.MockBackend([OK] * 2)
    limits = httpcore2.PoolLimits(max_connections=1)
    async with httpcore2.ConnectionPool(network_backend=backend, pool_limits=limits) as pool:
        recorder = Recorder(pool)
        # The pool timeout ends the wait: the connection held here is never released.
        extensions = {**recorder.extensions, "timeout": {"pool": 0.01}}
        async with pool.stream("GET", "http://example.com/") as held:
            with pytest.raises(httpcore2.PoolTimeout):
                await pool.request("GET", "http://example.com/", extensions=extensions)
            after = pool.state()
            await held.aread()
    waiting = recorder.states["connection_pool.wait_for_connection.started"]
    origin = "http://example.com"
    assert summary(waiting) == (1, 1, [(origin, "HTTP/1.1", "active", 1, 1)])
    assert summary(after) == (1, 0, [(origin, "HTTP/1.1", "active", 1, 1)])


@pytest.mark.anyio
async def test_a_connection_the_server_closed_shows_closed_until_the_pool_drops_it() -> None:
    backend = httpcore2.MockBackend([b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"])
    async with httpcore2.ConnectionPool(network_backend=backend) as pool:
        recorder = Recorder(pool)
        extensions = recorder.extensions
        async with pool.stream("GET", "http://example.com/", extensions=extensions) as response:
            with pytest.raises(httpcore2.RemoteProtocolError):
                await response.aread()
            dropped = pool.state()
    # The body ended short: the connection closed itself, then its response let it go.
    closed = recorder.states["http11.response_closed.complete"]
    assert summary(closed) == (1, 0, [("http://example.com", "HTTP/1.1", "closed", 1, 1)])
    assert closed.connections[0].idle_for is None
    assert dropped == EMPTY


@pytest.mark.anyio
async def test_an_http2_connection_the_server_closed_shows_closed_until_released() -> None:
    def on_request(conn: H2ServerConnection, request: H2Request) -> None:
        if request.path == b"/slow":
            conn.respond(request.stream_id, body=b"x" * 10, chunk=1, delay=60.0)
        else:
            conn.close(linger=False)

    with H2Server(Script(on_request)) as server:
        async with httpcore2.ConnectionPool(http1=False, http2=True) as pool:
            slow = await pool.handle_request(httpcore2.Request("GET", server.url + "/slow"))
            with pytest.raises(httpcore2.RemoteProtocolError):
                await pool.request("GET", server.url + "/close")
            closed = pool.state()
            with pytest.raises(httpcore2.RemoteProtocolError):
                await slow.aread()
            released = pool.state()
    # The stream of /slow still holds the failed connection, until it is released too.
    assert summary(closed) == (1, 0, [(server.url, "HTTP/2", "closed", 1, 2)])
    assert released == EMPTY


@pytest.mark.anyio
async def test_an_idle_connection_the_server_closed_is_replaced_on_the_next_request(
    raw_server: RawServerFactory,
) -> None:
    server = raw_server(close_after(1))
    url = f"http://127.0.0.1:{server.port}/"
    async with httpcore2.ConnectionPool() as pool:
        await pool.request("GET", url)
        # Closed by the server, or about to be: the pool finds out when it reuses it.
        (first,) = pool.state().connections
        await pool.request("GET", url)
        (second,) = pool.state().connections
    assert (first.state, first.requests) == ("idle", 1)
    assert (second.state, second.requests) == ("idle", 1)


@pytest.mark.anyio
async def test_connections_through_a_proxy_name_it() -> None:
    backend = httpcore2.MockBackend([OK])
    proxy = httpcore2.Proxy("http://proxy.test:3128")
    async with httpcore2.ConnectionPool(proxy=proxy, network_backend=backend) as pool:
        await pool.request("GET", "http://example.com/")
        (connection,) = pool.state().connections
    assert connection.proxy is proxy
    assert str(connection.origin) == "http://example.com"


def test_snapshots_are_immutable() -> None:
    state = httpcore2.PoolState(connections=(), waiting=0, in_use=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        state.waiting = 1  # type: ignore[misc]
