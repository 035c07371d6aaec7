"""HTTP/2 streams under concurrency, on asyncio and trio: many tasks on one connection, and the
faults that hit some streams while others are in flight (GOAWAY, RST_STREAM, stream limits,
timeouts, cancellation, a connection that dies)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest
from h2.errors import ErrorCodes

import httpcore2
from tests._async.waiting import wait_until
from tests.servers.app import HELLO, pattern_bytes
from tests.servers.asgi_server import Server
from tests.servers.h2 import (
    H2Server,
    close_mid_body,
    goaway_after,
    goaway_with_streams_in_flight,
    hold_until_reset,
    max_concurrent_streams,
    reset_stream,
)

pytestmark = pytest.mark.anyio


def h2c_pool() -> httpcore2.ConnectionPool:
    """A pool that speaks HTTP/2 by prior knowledge on http:// URLs."""
    return httpcore2.ConnectionPool(http1=False, http2=True)


async def run_all(count: int, task: Callable[[int], Awaitable[None]]) -> None:
    """Run `task(0)` .. `task(count - 1)` at once; fail if they take more than 30 s."""
    with anyio.fail_after(30):
        async with anyio.create_task_group() as tasks:
            for index in range(count):
                tasks.start_soon(task, index)


@pytest.mark.parametrize("tls", [True, False], ids=["tls", "h2c"])
@pytest.mark.case("F24")
async def test_500_concurrent_requests_share_one_connection(
    server: Server, tls_server: Server, tls: bool
) -> None:
    if tls:
        url = tls_server.url
        pool = httpcore2.ConnectionPool(http2=True, verify=str(tls_server.ca_file))
    else:
        url, pool = server.url, h2c_pool()
    connects: list[str] = []
    trace = {"trace": lambda name, info: connects.append(name)}
    clients: set[tuple[str, int]] = set()
    versions: set[tuple[str, str]] = set()
    async with pool:

        async def one(index: int) -> None:
            response = await pool.request("GET", f"{url}/echo?i={index}", extensions=trace)
            data = json.loads(response.content)
            clients.add(tuple(data["client"]))  # type: ignore[arg-type]
            versions.add((response.protocol, data["http_version"]))

        await run_all(500, one)
        assert connects.count("connection.connect_tcp.started") == 1
        assert len(clients) == 1
        assert versions == {("HTTP/2", "2")}
        (connection,) = pool.state().connections
        assert (connection.http_version, connection.state) == ("HTTP/2", "idle")


async def test_concurrent_first_requests_fall_back_to_http11(
    http11_only_tls_server: Server,
) -> None:
    url = http11_only_tls_server.url
    protocols: list[str] = []
    limits = httpcore2.PoolLimits(max_connections=4)
    async with httpcore2.ConnectionPool(
        http2=True, verify=str(http11_only_tls_server.ca_file), pool_limits=limits
    ) as pool:

        async def one(index: int) -> None:
            protocols.append((await pool.request("GET", url + "/")).protocol)

        await run_all(20, one)
        assert 1 <= len(pool.connections) <= 4
    assert protocols == ["HTTP/1.1"] * 20


@pytest.mark.case("F22")
async def test_concurrent_uploads_all_arrive(server: Server) -> None:
    bodies = [pattern_bytes(1 << 20, offset=index) for index in range(10)]
    digests: dict[int, dict[str, Any]] = {}
    async with h2c_pool() as pool:

        async def upload(index: int) -> None:
            response = await pool.request("POST", server.url + "/digest", content=bodies[index])
            digests[index] = json.loads(response.content)

        await run_all(len(bodies), upload)
        assert len(pool.connections) == 1
    assert digests == {
        index: {"body_length": len(body), "sha256": hashlib.sha256(body).hexdigest()}
        for index, body in enumerate(bodies)
    }


@pytest.mark.case("F19")
async def test_goaway_retries_the_streams_in_flight_above_its_last_stream_id() -> None:
    contents: list[bytes] = []
    with H2Server(goaway_with_streams_in_flight(8, last_stream_id=3)) as server:
        async with h2c_pool() as pool:

            async def one(index: int) -> None:
                contents.append((await pool.request("GET", f"{server.url}/{index}")).content)

            await run_all(8, one)
    assert contents == [HELLO] * 8
    first, second = server.connections
    assert sorted(first.requests) == [1, 3, 5, 7, 9, 11, 13, 15]
    assert (first.responses, first.goaway_last_stream_id) == (2, 3)
    unanswered = {request.path for request in first.requests.values() if request.stream_id > 3}
    assert sorted(second.paths()) == sorted(unanswered)  # each sent again, once
    assert second.responses == 6


@pytest.mark.case("F19")
async def test_goaway_every_100_requests_is_invisible() -> None:
    # As nginx does after `keepalive_requests` (1000 by default) requests on a connection.
    contents: list[bytes] = []
    with H2Server(goaway_after(100)) as server:
        async with h2c_pool() as pool:
            remaining = 300

            async def worker(index: int) -> None:
                nonlocal remaining
                while remaining > 0:
                    remaining -= 1
                    contents.append((await pool.request("GET", server.url + "/")).content)

            await run_all(50, worker)
    assert contents == [HELLO] * 300
    # Each request was processed exactly once: none was lost or sent twice to be answered.
    assert [conn.responses for conn in server.connections] == [100, 100, 100]


@pytest.mark.case("F20")
async def test_rst_stream_fails_one_request_among_many() -> None:
    script = reset_stream(lambda request: request.path == b"/reset", ErrorCodes.INTERNAL_ERROR)
    outcomes: dict[int, int | httpcore2.HTTPError] = {}
    with H2Server(script) as server:
        async with h2c_pool() as pool:

            async def one(index: int) -> None:
                path = "/reset" if index == 10 else f"/{index}"
                try:
                    outcomes[index] = (await pool.request("GET", server.url + path)).status
                except httpcore2.RemoteProtocolError as exc:
                    outcomes[index] = exc

            await run_all(21, one)
            assert (await pool.request("GET", server.url + "/after")).status == 200
    error = outcomes.pop(10)
    assert outcomes == {index: 200 for index in range(21) if index != 10}
    (conn,) = server.connections
    assert isinstance(error, httpcore2.RemoteProtocolError)
    assert re.search(rf"\b{conn.stream_id(b'/reset')}\b", str(error)), error
    assert "INTERNAL_ERROR" in str(error)


@pytest.mark.case("F21")
async def test_at_most_max_concurrent_streams_are_open() -> None:
    contents: list[bytes] = []
    with H2Server(max_concurrent_streams(5, hold=0.02)) as server:
        async with h2c_pool() as pool:

            async def one(index: int) -> None:
                contents.append((await pool.request("GET", server.url + "/")).content)

            await run_all(50, one)
    assert contents == [HELLO] * 50
    (conn,) = server.connections
    assert conn.protocol_error is None
    assert conn.peak_open_streams == 5


@pytest.mark.case("F21")
async def test_max_concurrent_streams_lowered_then_raised_mid_flight() -> None:
    # Down to 2 with 5 streams open (the client must wait, without blocking its reader),
    # then up to 8.
    contents: list[bytes] = []
    script = max_concurrent_streams(5, hold=0.02, changes={10: 2, 30: 8})
    with H2Server(script) as server:
        async with h2c_pool() as pool:

            async def one(index: int) -> None:
                contents.append((await pool.request("GET", server.url + "/")).content)

            await run_all(50, one)
    assert contents == [HELLO] * 50
    (conn,) = server.connections
    assert conn.protocol_error is None  # never more streams than allowed
    assert conn.peak_open_streams == 8


@pytest.mark.case("F10")
async def test_a_read_timeout_resets_only_its_stream() -> None:
    # The server answers the other streams only once the timed-out one has been reset.
    statuses: list[int] = []
    with H2Server(hold_until_reset(b"/hold")) as server:
        async with h2c_pool() as pool, anyio.create_task_group() as tasks:

            async def other() -> None:
                statuses.append((await pool.request("GET", server.url + "/other")).status)

            for _ in range(5):
                tasks.start_soon(other)
            await wait_until(lambda: bool(server.connections))
            conn = server.connections[0]
            await wait_until(lambda: conn.paths().count(b"/other") == 5)
            with pytest.raises(httpcore2.ReadTimeout):
                await pool.request(
                    "GET", server.url + "/hold", extensions={"timeout": {"read": 0.2}}
                )
            # The reset goes out with the connection's next write at the latest: this one's.
            statuses.append((await pool.request("GET", server.url + "/after")).status)
    assert statuses.count(200) == 6
    assert len(server.connections) == 1
    assert conn.resets() == [(conn.stream_id(b"/hold"), ErrorCodes.CANCEL)]


@pytest.mark.case("F14", "F15")
async def test_cancelling_one_task_resets_only_its_stream() -> None:
    statuses: list[int] = []
    with H2Server(hold_until_reset(b"/hold")) as server:
        async with h2c_pool() as pool, anyio.create_task_group() as tasks:

            async def other() -> None:
                statuses.append((await pool.request("GET", server.url + "/other")).status)

            scope = anyio.CancelScope()
            cancelled = anyio.Event()

            async def victim() -> None:
                with scope:
                    await pool.request("GET", server.url + "/hold")
                cancelled.set()

            for _ in range(5):
                tasks.start_soon(other)
            tasks.start_soon(victim)
            await wait_until(lambda: bool(server.connections))
            conn = server.connections[0]
            await wait_until(lambda: len(conn.paths()) == 6)
            scope.cancel()
            await cancelled.wait()
            statuses.append((await pool.request("GET", server.url + "/after")).status)
        assert scope.cancelled_caught
    assert statuses == [200] * 6
    assert len(server.connections) == 1
    assert conn.resets() == [(conn.stream_id(b"/hold"), ErrorCodes.CANCEL)]


@pytest.mark.case("F23")
async def test_a_connection_that_dies_fails_every_stream_in_flight() -> None:
    failed: list[bool] = []
    with H2Server(close_mid_body(5)) as server:
        async with h2c_pool() as pool:

            async def one(index: int) -> None:
                request = httpcore2.Request("GET", server.url + "/")
                with pytest.raises((httpcore2.RemoteProtocolError, httpcore2.ReadError)) as info:
                    async with await pool.handle_request(request) as response:
                        await response.aread()
                failed.append(info.value.request is request)

            await run_all(5, one)
            assert failed == [True] * 5
            assert pool.connections == []
            assert (await pool.request("GET", server.url + "/")).content == HELLO
    assert len(server.connections) == 2


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.case("F14")
async def test_a_cancellation_while_batching_a_write_still_sends_the_batch() -> None:
    # On asyncio a stream that is about to write lets the other ready tasks queue their
    # frames first. Cancelling it right then must neither lose its frames (the server sees
    # the request, then its reset) nor take the connection or the other stream down.
    with H2Server(hold_until_reset(b"/hold")) as server:
        async with h2c_pool() as pool, anyio.create_task_group() as tasks:
            statuses: list[int] = []

            async def other() -> None:
                statuses.append((await pool.request("GET", server.url + "/other")).status)

            tasks.start_soon(other)
            await wait_until(
                lambda: bool(server.connections) and len(server.connections[0].paths()) == 1
            )
            victim = asyncio.get_running_loop().create_task(
                pool.request("GET", server.url + "/hold")
            )
            await asyncio.sleep(0)  # the victim queues its headers and yields before writing
            victim.cancel()
            with pytest.raises(asyncio.CancelledError):
                await victim
            statuses.append((await pool.request("GET", server.url + "/after")).status)
        conn = server.connections[0]
    assert statuses == [200, 200]
    assert len(server.connections) == 1
    assert conn.resets() == [(conn.stream_id(b"/hold"), ErrorCodes.CANCEL)]


@pytest.mark.case("F18")
async def test_closing_the_pool_fails_every_stream_in_flight_and_closes_the_socket() -> None:
    errors: list[Exception] = []
    with H2Server(hold_until_reset(b"/hold")) as server:
        pool = h2c_pool()

        async def in_flight() -> None:
            try:
                await pool.request("GET", server.url + "/hold")
            except (httpcore2.TransportError, RuntimeError) as exc:
                errors.append(exc)

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tasks:
                for _ in range(3):
                    tasks.start_soon(in_flight)
                await wait_until(lambda: bool(server.connections))
                conn = server.connections[0]
                await wait_until(lambda: len(conn.paths()) == 3)
                await pool.aclose()
        await wait_until(lambda: conn.raw.closed)  # the client closed its socket
    assert len(errors) == 3
    # Each fails at once: with the connection's error, or, sent again as a stream the server
    # never answered, with the closed pool's.
    assert all(closed_pool_error(error) for error in errors), errors
    assert pool.connections == []


def closed_pool_error(error: Exception | None) -> bool:
    if isinstance(error, RuntimeError):
        return str(error) == "The connection pool is closed."
    return isinstance(error, httpcore2.TransportError)
