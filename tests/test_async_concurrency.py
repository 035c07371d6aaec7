"""Concurrency and cancellation of the async pool, on asyncio and trio, against real servers."""

from __future__ import annotations

import json
import random
from typing import Any

import anyio
import pytest

import httpcore2
from httpcore2._async import connection_pool
from tests._async.waiting import wait_until
from tests.servers.asgi_server import Server
from tests.servers.fds import client_sockets_to
from tests.servers.h2 import H2Server, respond_ok

pytestmark = pytest.mark.anyio


def assert_pool_is_at_rest(pool: httpcore2.ConnectionPool, most: int) -> None:
    """Nothing in use or queued, and at most `most` connections kept idle."""
    state = pool.state()
    assert (state.in_use, state.waiting) == (0, 0)
    assert len(state.connections) <= most
    assert all(connection.state == "idle" for connection in state.connections)


@pytest.mark.case("F24")
async def test_concurrent_requests_share_the_allowed_connections(server: Server) -> None:
    limits = httpcore2.PoolLimits(max_connections=10, max_keepalive_connections=10)
    clients: set[tuple[str, int]] = set()
    async with httpcore2.ConnectionPool(pool_limits=limits) as pool:

        async def one() -> None:
            response = await pool.request("GET", server.url + "/echo")
            clients.add(tuple(json.loads(response.content)["client"]))  # type: ignore[arg-type]

        async with anyio.create_task_group() as tasks:
            for _ in range(500):
                tasks.start_soon(one)
        assert 1 <= len(clients) <= 10
        assert_pool_is_at_rest(pool, 10)


async def test_per_host_cap_is_never_exceeded(server: Server) -> None:
    limits = httpcore2.PoolLimits(max_connections=50, max_connections_per_host=3)
    clients: set[tuple[str, int]] = set()
    async with httpcore2.ConnectionPool(pool_limits=limits) as pool:

        async def one() -> None:
            response = await pool.request("GET", server.url + "/echo")
            clients.add(tuple(json.loads(response.content)["client"]))  # type: ignore[arg-type]

        async with anyio.create_task_group() as tasks:
            for _ in range(200):
                tasks.start_soon(one)
        assert len(clients) <= 3


@pytest.mark.case("F13", "F14", "F15")
async def test_cancelled_waiter_leaves_the_queue(server: Server) -> None:
    limits = httpcore2.PoolLimits(max_connections=1)
    async with httpcore2.ConnectionPool(pool_limits=limits) as pool:
        async with pool.stream("GET", server.url + "/") as held:
            with anyio.move_on_after(0.05) as scope:
                await pool.request("GET", server.url + "/")
            assert scope.cancelled_caught
            state = pool.state()
            assert (state.in_use, state.waiting) == (1, 0)
            await held.aread()
        response = await pool.request("GET", server.url + "/")
        assert response.status == 200
        assert_pool_is_at_rest(pool, 1)


@pytest.mark.case("F14", "F15")
async def test_cancellation_at_random_points_under_contention(server: Server) -> None:
    # Requests cancelled while waiting for a connection, connecting, uploading, waiting for
    # the response head and reading the body must leave no slot leaked and no half-read
    # connection in the pool: afterwards, the pool serves every new request.
    rng = random.Random(2026)
    limits = httpcore2.PoolLimits(max_connections=5, max_keepalive_connections=5)
    upload = b"x" * 300_000
    targets: list[tuple[str, str, bytes | None]] = [
        ("GET", "/delay/0.02", None),
        ("GET", "/slow_body?delay=0.02", None),
        ("GET", "/stream/300000?chunk_size=4096", None),
        ("POST", "/digest", upload),
        ("GET", "/", None),
    ]
    outcomes = {"completed": 0, "cancelled": 0}
    async with httpcore2.ConnectionPool(pool_limits=limits) as pool:

        async def victim(delay: float, method: str, path: str, body: bytes | None) -> None:
            with anyio.move_on_after(delay) as scope:
                async with pool.stream(method, server.url + path, content=body) as response:
                    async for _ in response.aiter_stream():
                        pass
            outcomes["cancelled" if scope.cancelled_caught else "completed"] += 1

        async with anyio.create_task_group() as tasks:
            for _ in range(300):
                tasks.start_soon(victim, rng.uniform(0, 0.4), *rng.choice(targets))
        # Both outcomes happen (how many of each depends on the machine's speed).
        assert outcomes["cancelled"] > 0
        assert outcomes["completed"] > 0
        assert_pool_is_at_rest(pool, 5)

        statuses: list[int] = []

        async def follow_up() -> None:
            statuses.append((await pool.request("GET", server.url + "/")).status)

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tasks:
                for _ in range(100):
                    tasks.start_soon(follow_up)
        assert statuses == [200] * 100
        assert_pool_is_at_rest(pool, 5)


@pytest.mark.case("F14", "F15")
async def test_cancellation_at_random_points_over_tls(tls_server: Server) -> None:
    # As above, over TLS: a cancellation may also land in the handshake. A small
    # max_keepalive_connections makes the pool close and open connections all along.
    rng = random.Random(2027)
    limits = httpcore2.PoolLimits(max_connections=4, max_keepalive_connections=1)
    outcomes = {"completed": 0, "cancelled": 0}
    async with httpcore2.ConnectionPool(pool_limits=limits, verify=str(tls_server.ca_file)) as pool:

        async def victim(delay: float, path: str) -> None:
            with anyio.move_on_after(delay) as scope:
                async with pool.stream("GET", tls_server.url + path) as response:
                    await response.aread()
            outcomes["cancelled" if scope.cancelled_caught else "completed"] += 1

        async with anyio.create_task_group() as tasks:
            for _ in range(100):
                path = rng.choice(["/", "/delay/0.02", "/stream/200000?chunk_size=4096"])
                tasks.start_soon(victim, rng.uniform(0, 0.2), path)
        assert outcomes["cancelled"] > 0
        assert_pool_is_at_rest(pool, 1)
        with anyio.fail_after(10):
            for _ in range(5):
                assert (await pool.request("GET", tls_server.url + "/")).status == 200
        assert_pool_is_at_rest(pool, 1)


@pytest.mark.case("F10", "F13")
async def test_timeouts_under_contention_release_their_slots(server: Server) -> None:
    limits = httpcore2.PoolLimits(max_connections=4)
    failures: list[type[Exception]] = []
    async with httpcore2.ConnectionPool(pool_limits=limits) as pool:

        async def one(index: int) -> None:
            path = "/delay/0.5" if index % 2 else "/"
            try:
                await pool.request(
                    "GET", server.url + path, extensions={"timeout": {"read": 0.1, "pool": 0.3}}
                )
            except (httpcore2.ReadTimeout, httpcore2.PoolTimeout) as exc:
                failures.append(type(exc))

        async with anyio.create_task_group() as tasks:
            for index in range(60):
                tasks.start_soon(one, index)
        assert httpcore2.ReadTimeout in failures
        assert_pool_is_at_rest(pool, 4)
        assert (await pool.request("GET", server.url + "/")).status == 200


@pytest.mark.case("F18")
async def test_closing_the_pool_fails_requests_in_flight(server: Server) -> None:
    pool = httpcore2.ConnectionPool(pool_limits=httpcore2.PoolLimits(max_connections=1))
    errors: list[BaseException] = []
    events: list[str] = []
    trace = {"trace": lambda name, info: events.append(name)}

    async def in_flight(path: str) -> None:
        try:
            await pool.request("GET", server.url + path, extensions=trace)
        except (httpcore2.TransportError, RuntimeError) as exc:
            errors.append(exc)

    # The server answers after a minute: only the close can end the read before.
    with anyio.fail_after(30):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(in_flight, "/delay/60")
            await wait_until(lambda: "http11.receive_response_headers.started" in events)
            tasks.start_soon(in_flight, "/")  # waits for the only connection
            await wait_for_queue(pool, 1)
            await pool.aclose()
    assert len(errors) == 2
    assert any(isinstance(error, RuntimeError) and "closed" in str(error) for error in errors)
    assert any(isinstance(error, httpcore2.TransportError) for error in errors)


@pytest.mark.case("F24")
async def test_no_file_descriptor_leak(server: Server) -> None:
    before = client_sockets_to(server.port)
    limits = httpcore2.PoolLimits(max_connections=20, max_keepalive_connections=5)
    async with httpcore2.ConnectionPool(pool_limits=limits) as pool:
        remaining = 2000

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                response = await pool.request("GET", server.url + "/")
                assert response.status == 200

        async with anyio.create_task_group() as tasks:
            for _ in range(20):
                tasks.start_soon(worker)
    # Closed sockets are released by the event loop and the server thread shortly after.
    await wait_until(lambda: client_sockets_to(server.port) <= before)


async def wait_for_queue(pool: httpcore2.ConnectionPool, queued: int) -> None:
    """Wait until `queued` requests wait for a connection."""
    await wait_until(lambda: pool.state().waiting == queued)


async def test_a_waiter_for_another_origin_gets_the_slot_and_the_idle_connection_stays(
    server: Server,
) -> None:
    # max_connections counts connections in use: the one released goes idle and frees the
    # slot for the other origin's waiter, which opens its own; neither is closed.
    other_origin = f"http://localhost:{server.port}/"
    statuses: list[int] = []
    async with httpcore2.ConnectionPool(
        pool_limits=httpcore2.PoolLimits(max_connections=1)
    ) as pool:
        async with anyio.create_task_group() as tasks:
            async with pool.stream("GET", server.url + "/") as held:
                tasks.start_soon(lambda: _status(pool, other_origin, statuses))
                await wait_for_queue(pool, 1)
                await held.aread()
        assert statuses == [200]
        assert_pool_is_at_rest(pool, 2)
        assert len(pool.connections) == 2


async def test_per_host_waiters_get_a_slot_when_a_connection_is_dropped(server: Server) -> None:
    limits = httpcore2.PoolLimits(max_connections=1, max_connections_per_host=1)
    other_origin = f"http://localhost:{server.port}/"
    statuses: list[int] = []
    async with httpcore2.ConnectionPool(pool_limits=limits) as pool:
        async with anyio.create_task_group() as tasks:
            async with pool.stream("GET", server.url + "/"):
                for _ in range(2):
                    tasks.start_soon(lambda: _status(pool, other_origin, statuses))
                await wait_for_queue(pool, 2)
            # Closed unread: the connection is dropped, and its slot goes to the waiters.
        assert statuses == [200, 200]
        assert_pool_is_at_rest(pool, 1)


async def test_waiters_on_the_per_host_cap_get_one_connection_at_a_time(server: Server) -> None:
    limits = httpcore2.PoolLimits(max_connections=None, max_connections_per_host=1)
    statuses: list[int] = []
    async with httpcore2.ConnectionPool(pool_limits=limits) as pool:
        async with anyio.create_task_group() as tasks:
            async with pool.stream("GET", server.url + "/"):
                for _ in range(2):
                    tasks.start_soon(_status, pool, server.url + "/", statuses)
                await wait_for_queue(pool, 2)
            # Closed unread: dropped; the first waiter opens the one connection allowed,
            # which the second gets after it.
        assert statuses == [200, 200]
        assert_pool_is_at_rest(pool, 1)


async def _status(
    pool: httpcore2.ConnectionPool,
    url: str,
    statuses: list[int],
    extensions: dict[str, Any] | None = None,
) -> None:
    statuses.append((await pool.request("GET", url, extensions=extensions)).status)


async def _cancellable_status(
    pool: httpcore2.ConnectionPool, url: str, scope: anyio.CancelScope
) -> None:
    with scope:
        await pool.request("GET", url)


@pytest.mark.case("F13")
async def test_a_timed_out_waiter_leaves_the_others_in_line(server: Server) -> None:
    outcomes: list[str] = []
    async with httpcore2.ConnectionPool(
        pool_limits=httpcore2.PoolLimits(max_connections=1)
    ) as pool:

        async def impatient() -> None:
            try:
                await pool.request("GET", server.url + "/", extensions={"timeout": {"pool": 0.05}})
            except httpcore2.PoolTimeout:
                outcomes.append("timed out")

        async def patient() -> None:
            await pool.request("GET", server.url + "/")
            outcomes.append("served")

        async with anyio.create_task_group() as tasks:
            async with pool.stream("GET", server.url + "/") as held:
                tasks.start_soon(patient)
                await wait_for_queue(pool, 1)
                tasks.start_soon(impatient)
                await wait_for_queue(pool, 2)
                await wait_for_queue(pool, 1)  # the impatient one gave up
                await held.aread()
        assert outcomes == ["timed out", "served"]
        assert_pool_is_at_rest(pool, 1)


async def test_waiters_for_several_origins_at_the_limit(server: Server, tls_server: Server) -> None:
    origins = [f"http://localhost:{server.port}/", tls_server.url + "/"]
    statuses: list[int] = []
    limits = httpcore2.PoolLimits(max_connections=1)
    async with httpcore2.ConnectionPool(verify=str(tls_server.ca_file), pool_limits=limits) as pool:
        async with anyio.create_task_group() as tasks:
            async with pool.stream("GET", server.url + "/"):
                for url in origins:
                    tasks.start_soon(_status, pool, url, statuses)
                await wait_for_queue(pool, 2)
        assert statuses == [200, 200]
        assert_pool_is_at_rest(pool, 3)  # one idle per origin


class CountingBackend(httpcore2.AutoBackend):
    """Records the port of each TCP connect attempt."""

    def __init__(self) -> None:
        super().__init__()
        self.attempts: list[int] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
    ) -> httpcore2.NetworkStream:
        self.attempts.append(port)
        return await super().connect_tcp(host, port, timeout, local_address)


async def test_requests_waiting_on_an_http2_connect_fail_with_it_together(
    never_accepting: tuple[str, int],
) -> None:
    # Issue 8 point 6: they used to fail one connect timeout after another.
    host, port = never_accepting
    backend = CountingBackend()
    errors: list[httpcore2.HTTPError] = []
    timeouts = {"timeout": {"connect": 0.3, "pool": 30.0}}
    async with httpcore2.ConnectionPool(http2=True, network_backend=backend) as pool:

        async def one() -> None:
            try:
                await pool.request("GET", f"https://{host}:{port}/", extensions=timeouts)
            except httpcore2.HTTPError as exc:
                errors.append(exc)

        async with anyio.create_task_group() as tasks:
            for _ in range(4):
                tasks.start_soon(one)
        assert pool.connections == []
    assert [type(error) for error in errors] == [httpcore2.ConnectTimeout] * 4
    assert len({id(error.request) for error in errors}) == 4  # each names its own request
    assert backend.attempts == [port]  # one connect, whose failure they all share


@pytest.mark.case("F14", "F15")
async def test_a_cancelled_http2_connect_leaves_its_waiters_to_connect(
    never_accepting: tuple[str, int],
) -> None:
    # Only a connect that failed fails its waiters: when the task connecting is cancelled,
    # the next waiter connects instead.
    host, port = never_accepting
    url = f"https://{host}:{port}/"
    backend = CountingBackend()
    errors: list[httpcore2.HTTPError] = []
    async with httpcore2.ConnectionPool(http2=True, network_backend=backend) as pool:

        async def waiter() -> None:
            try:
                await pool.request("GET", url, extensions={"timeout": {"connect": 0.3}})
            except httpcore2.HTTPError as exc:
                errors.append(exc)

        async with anyio.create_task_group() as tasks:
            connecting = anyio.CancelScope()
            tasks.start_soon(_cancellable_status, pool, url, connecting)
            await wait_until(lambda: backend.attempts)
            tasks.start_soon(waiter)
            await wait_for_queue(pool, 1)
            connecting.cancel()
    assert [type(error) for error in errors] == [httpcore2.ConnectTimeout]
    assert backend.attempts == [port, port]


async def test_a_wait_for_a_connection_is_traced_to_its_end(server: Server) -> None:
    events: list[str] = []
    trace = {"trace": lambda name, info: events.append(name)}
    statuses: list[int] = []
    limits = httpcore2.PoolLimits(max_connections=1)
    async with httpcore2.ConnectionPool(pool_limits=limits) as pool:
        async with anyio.create_task_group() as tasks:
            async with pool.stream("GET", server.url + "/") as held:
                tasks.start_soon(lambda: _status(pool, server.url + "/", statuses, trace))
                await wait_for_queue(pool, 1)
                await held.aread()
    assert statuses == [200]
    assert [name for name in events if name.startswith("connection_pool.")] == [
        "connection_pool.wait_for_connection.started",
        "connection_pool.wait_for_connection.complete",
    ]


@pytest.mark.case("F14", "F15")
async def test_a_cancelled_waiter_for_an_idle_connection_passes_it_on(server: Server) -> None:
    # At max_connections a request waits even when its origin has an idle connection; a
    # waiter cancelled meanwhile leaves it to the next one.
    other_origin = f"http://localhost:{server.port}/"
    statuses: list[int] = []
    limits = httpcore2.PoolLimits(max_connections=1)
    async with httpcore2.ConnectionPool(pool_limits=limits) as pool:
        await pool.request("GET", other_origin)
        async with anyio.create_task_group() as tasks:
            async with pool.stream("GET", server.url + "/") as held:
                cancelled = anyio.CancelScope()
                tasks.start_soon(_cancellable_status, pool, other_origin, cancelled)
                await wait_for_queue(pool, 1)
                tasks.start_soon(_status, pool, other_origin, statuses)
                await wait_for_queue(pool, 2)
                cancelled.cancel()
                await wait_for_queue(pool, 1)
                await held.aread()
        assert statuses == [200]
        assert_pool_is_at_rest(pool, 2)  # the idle one was reused: no third connection


async def test_a_waiter_gets_its_origins_connection_rather_than_open_one(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue 18: when the pool holds as many connections as it may keep idle, a request whose
    # origin has a connection in use waits for it instead of opening one more, which would
    # push another origin's idle connection out. (Patience long enough for a slow machine, and
    # shorter than the pool timeout.)
    monkeypatch.setattr(connection_pool, "SAME_ORIGIN_PATIENCE", 3.0)
    other_origin = f"http://localhost:{server.port}/"
    statuses: list[int] = []
    limits = httpcore2.PoolLimits(max_keepalive_connections=2)
    async with httpcore2.ConnectionPool(pool_limits=limits) as pool:
        await pool.request("GET", other_origin)
        async with anyio.create_task_group() as tasks:
            async with pool.stream("GET", server.url + "/") as held:
                tasks.start_soon(_status, pool, server.url + "/", statuses)
                await wait_for_queue(pool, 1)
                await held.aread()
        assert statuses == [200]
        assert_pool_is_at_rest(pool, 2)
        assert len(pool.connections) == 2


async def test_an_idle_http2_connection_waits_for_a_slot_then_serves_its_waiters() -> None:
    # max_connections counts HTTP/2 connections carrying streams: B's idle one may not be
    # put in use while A's is; once A's is released, B's takes every waiting stream.
    limits = httpcore2.PoolLimits(max_connections=1)
    statuses: list[int] = []
    with H2Server(respond_ok()) as first, H2Server(respond_ok()) as second:
        async with httpcore2.ConnectionPool(http1=False, http2=True, pool_limits=limits) as pool:
            await pool.request("GET", second.url + "/")
            async with anyio.create_task_group() as tasks:
                async with pool.stream("GET", first.url + "/") as held:
                    for _ in range(3):
                        tasks.start_soon(_status, pool, second.url + "/", statuses)
                    await wait_for_queue(pool, 3)
                    await held.aread()
            assert statuses == [200] * 3
            assert_pool_is_at_rest(pool, 2)
    assert [len(first.connections), len(second.connections)] == [1, 1]


async def test_a_trace_that_fails_once_the_wait_is_over_gives_the_connection_back(
    server: Server,
) -> None:
    def trace(name: str, info: dict[str, Any]) -> None:
        if name == "connection_pool.wait_for_connection.complete":
            raise RuntimeError(name)

    errors: list[BaseException] = []

    async def traced() -> None:
        try:
            await pool.request("GET", server.url + "/", extensions={"trace": trace})
        except RuntimeError as exc:
            errors.append(exc)

    limits = httpcore2.PoolLimits(max_connections=1)
    async with httpcore2.ConnectionPool(pool_limits=limits) as pool:
        async with anyio.create_task_group() as tasks:
            async with pool.stream("GET", server.url + "/") as held:
                tasks.start_soon(traced)
                await wait_for_queue(pool, 1)
                await held.aread()
        assert [str(error) for error in errors] == ["connection_pool.wait_for_connection.complete"]
        assert_pool_is_at_rest(pool, 1)
        assert (await pool.request("GET", server.url + "/")).status == 200
