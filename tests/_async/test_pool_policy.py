"""The pool's policy against scripted servers: limits with several origins on HTTP/2, the retry
rules (stale keep-alive connections, refused streams, servers whose connections take
nothing), and the trace of a wait for a connection."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from h2.errors import ErrorCodes

import httpcore2
from tests.servers.app import HELLO
from tests.servers.h2 import H2Server, H2ServerConnection, Script, reset_stream, respond_ok
from tests.servers.raw import RawServerFactory, close_after

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, world!"


def h2c_pool() -> httpcore2.ConnectionPool:
    """A pool that speaks HTTP/2 by prior knowledge on http:// URLs."""
    return httpcore2.ConnectionPool(http1=False, http2=True)


def refuse(count: int | None) -> Script:
    """Refuse the first `count` requests (on any connection; None: every one) with
    RST_STREAM(REFUSED_STREAM); answer the others with 200."""
    seen = itertools.count()
    return reset_stream(
        lambda request: count is None or next(seen) < count, ErrorCodes.REFUSED_STREAM
    )


def goaway_on_connect(connections: int = 50) -> Script:
    """The first `connections` connections open with SETTINGS and GOAWAY(last_stream_id=0,
    NO_ERROR) in one write, so they are unusable before they carry anything; later ones
    answer every request with 200 (so that a client that keeps reconnecting ends up served,
    instead of looping until the test times out)."""

    def on_connect(conn: H2ServerConnection) -> None:
        if conn.raw.index < connections:
            conn.send_goaway(0)

    return Script(lambda conn, request: conn.respond(request.stream_id), on_connect=on_connect)


@pytest.mark.anyio
async def test_idle_http2_connections_do_not_count_against_max_connections() -> None:
    # Issue 18: at the limit, the other origin's idle connection was closed each time, and
    # on HTTP/2 that is every stream such a connection could have carried.
    limits = httpcore2.PoolLimits(max_connections=1)
    with H2Server(respond_ok()) as first, H2Server(respond_ok()) as second:
        async with httpcore2.ConnectionPool(http1=False, http2=True, pool_limits=limits) as pool:
            for _ in range(3):
                for server in (first, second):
                    assert (await pool.request("GET", server.url + "/")).content == HELLO
            assert [c.state for c in pool.state().connections] == ["idle", "idle"]
    assert [len(first.connections), len(second.connections)] == [1, 1]


@pytest.mark.anyio
async def test_a_retry_does_not_end_on_another_stale_connection(
    raw_server: RawServerFactory,
) -> None:
    # Issue 16 point 2: a restarting server drops all its idle keep-alive connections at
    # once. Here each one closes when the next request on it arrives, unanswered; the retry
    # goes on through the stale ones and ends on a new connection.
    server = raw_server(close_after(1, on_next_request=True))
    async with httpcore2.ConnectionPool() as pool:
        async with pool.stream("GET", server.url + "/1") as first:
            async with pool.stream("GET", server.url + "/2") as second:
                async with pool.stream("GET", server.url + "/3") as third:
                    for held in (first, second, third):
                        await held.aread()
        response = await pool.request("GET", server.url + "/")
        assert response.content == HELLO
    assert [conn.received.count(b"GET /") for conn in server.connections] == [2, 2, 2, 1]


@pytest.mark.anyio
async def test_a_stale_connection_is_not_retried_past_the_pool_timeout(
    raw_server: RawServerFactory,
) -> None:
    server = raw_server(close_after(1, on_next_request=True))
    async with httpcore2.ConnectionPool() as pool:
        async with pool.stream("GET", server.url + "/1") as first:
            async with pool.stream("GET", server.url + "/2") as second:
                await first.aread()
                await second.aread()
        # The first stale failure is always retried; past the budget, the next is final.
        with pytest.raises(httpcore2.RemoteProtocolError, match="without sending a response"):
            await pool.request("GET", server.url + "/", extensions={"timeout": {"pool": 1e-9}})
    assert [conn.received.count(b"GET /") for conn in server.connections] == [2, 2]


@pytest.mark.anyio
async def test_refused_streams_are_sent_again_while_the_pool_timeout_allows() -> None:
    # Issue 16 point 4: a refusal used to be retried at most 3 times.
    with H2Server(refuse(6)) as server:
        async with h2c_pool() as pool:
            response = await pool.request("GET", server.url + "/")
            assert response.content == HELLO
    assert sum(len(conn.requests) for conn in server.connections) == 7


@pytest.mark.anyio
async def test_without_a_pool_timeout_refusals_are_retried_a_bounded_number_of_times() -> None:
    with H2Server(refuse(None)) as server:
        async with h2c_pool() as pool:
            with pytest.raises(httpcore2.RemoteProtocolError, match="refused stream"):
                await pool.request("GET", server.url + "/", extensions={"timeout": {"pool": None}})
    # Sent once, then again 100 times (MAX_REFUSALS_WITHOUT_DEADLINE), all on one connection.
    assert [len(conn.requests) for conn in server.connections] == [101]


@pytest.mark.anyio
async def test_a_server_that_turns_every_new_connection_away_gets_three() -> None:
    # Issue 17 point 1: each connection unusable at once made one request reconnect
    # without end (here: until the 50th connection, which answers).
    with H2Server(goaway_on_connect()) as server:
        async with h2c_pool() as pool:
            with pytest.raises(httpcore2.RemoteProtocolError) as info:
                await pool.request("GET", server.url + "/")
            assert pool.connections == []
    assert "3 new connections" in str(info.value)
    assert "GOAWAY (last stream id 0)" in str(info.value)
    assert type(info.value) is httpcore2.RemoteProtocolError
    assert len(server.connections) == 3
    assert all(not conn.requests for conn in server.connections)


@pytest.mark.anyio
async def test_a_new_connection_that_takes_nothing_is_not_replaced_past_the_pool_timeout() -> None:
    with H2Server(goaway_on_connect()) as server:
        async with h2c_pool() as pool:
            with pytest.raises(httpcore2.RemoteProtocolError, match="within the pool timeout"):
                await pool.request("GET", server.url + "/", extensions={"timeout": {"pool": 1e-9}})
    assert len(server.connections) == 1


@pytest.mark.anyio
async def test_a_wait_for_a_connection_is_traced() -> None:
    events: list[tuple[str, dict[str, Any]]] = []

    async def trace(name: str, info: dict[str, Any]) -> None:
        events.append((name, info))

    backend = httpcore2.MockBackend([OK])
    limits = httpcore2.PoolLimits(max_connections=1)
    async with httpcore2.ConnectionPool(network_backend=backend, pool_limits=limits) as pool:
        async with pool.stream("GET", "http://example.com/"):
            request = httpcore2.Request(
                "GET", "http://example.com/", extensions={"trace": trace, "timeout": {"pool": 1e-9}}
            )
            with pytest.raises(httpcore2.PoolTimeout) as info:
                await pool.handle_request(request)
    waits = [(name, info) for name, info in events if name.startswith("connection_pool.")]
    assert waits == [
        ("connection_pool.wait_for_connection.started", {"request": request}),
        ("connection_pool.wait_for_connection.failed", {"exception": info.value}),
    ]


class TraceError(Exception):
    pass


@pytest.mark.anyio
async def test_a_trace_that_fails_as_the_wait_starts_leaves_no_waiter_behind() -> None:
    async def trace(name: str, info: dict[str, Any]) -> None:
        if name == "connection_pool.wait_for_connection.started":
            raise TraceError(name)

    backend = httpcore2.MockBackend([OK] * 2)
    limits = httpcore2.PoolLimits(max_connections=1)
    async with httpcore2.ConnectionPool(network_backend=backend, pool_limits=limits) as pool:
        async with pool.stream("GET", "http://example.com/") as held:
            with pytest.raises(TraceError):
                await pool.request("GET", "http://example.com/", extensions={"trace": trace})
            state = pool.state()
            assert (state.in_use, state.waiting) == (1, 0)
            await held.aread()
        assert (await pool.request("GET", "http://example.com/")).status == 200
        assert len(backend.streams) == 1
