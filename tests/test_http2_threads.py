"""HTTP/2 streams of the sync pool shared by threads: many threads on one connection, and the
faults that hit some streams while others are in flight (GOAWAY, RST_STREAM, stream limits,
timeouts, a connection that dies)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest
from h2.errors import ErrorCodes

import httpcore2
from tests._sync.waiting import wait_until
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
from tests.test_http2_concurrency import closed_pool_error

T = TypeVar("T")


def h2c_pool() -> httpcore2.SyncConnectionPool:
    """A pool that speaks HTTP/2 by prior knowledge on http:// URLs."""
    return httpcore2.SyncConnectionPool(http1=False, http2=True)


def run_all(count: int, task: Callable[[int], T], *, threads: int | None = None) -> list[T]:
    """`task(0)` .. `task(count - 1)` on `threads` threads (default: one each), in order."""
    with ThreadPoolExecutor(max_workers=threads or count) as executor:
        return list(executor.map(task, range(count), timeout=30))


@pytest.mark.case("F16", "F24")
def test_500_requests_from_50_threads_share_one_connection(tls_server: Server) -> None:
    connects: list[str] = []
    trace = {"trace": lambda name, info: connects.append(name)}
    with httpcore2.SyncConnectionPool(http2=True, verify=str(tls_server.ca_file)) as pool:

        def one(index: int) -> tuple[str, tuple[str, int]]:
            response = pool.request("GET", f"{tls_server.url}/echo?i={index}", extensions=trace)
            data = json.loads(response.content)
            return response.protocol, (data["client"][0], data["client"][1])

        results = run_all(500, one, threads=50)
        assert connects.count("connection.connect_tcp.started") == 1
        assert {protocol for protocol, _ in results} == {"HTTP/2"}
        assert len({client for _, client in results}) == 1
        (connection,) = pool.state().connections
        assert (connection.http_version, connection.state) == ("HTTP/2", "idle")


def test_threads_fall_back_to_http11_with_the_server(http11_only_tls_server: Server) -> None:
    url = http11_only_tls_server.url
    limits = httpcore2.PoolLimits(max_connections=4)
    with httpcore2.SyncConnectionPool(
        http2=True, verify=str(http11_only_tls_server.ca_file), pool_limits=limits
    ) as pool:
        protocols = run_all(20, lambda index: pool.request("GET", url + "/").protocol)
        assert 1 <= len(pool.connections) <= 4
    assert protocols == ["HTTP/1.1"] * 20


@pytest.mark.case("F16", "F22")
def test_concurrent_uploads_all_arrive(server: Server) -> None:
    bodies = [pattern_bytes(1 << 20, offset=index) for index in range(10)]
    with h2c_pool() as pool:

        def upload(index: int) -> dict[str, Any]:
            response = pool.request("POST", server.url + "/digest", content=bodies[index])
            digest: dict[str, Any] = json.loads(response.content)
            return digest

        digests = run_all(len(bodies), upload)
        assert len(pool.connections) == 1
    assert digests == [
        {"body_length": len(body), "sha256": hashlib.sha256(body).hexdigest()} for body in bodies
    ]


@pytest.mark.case("F16", "F19")
def test_goaway_retries_the_streams_in_flight_above_its_last_stream_id() -> None:
    with H2Server(goaway_with_streams_in_flight(8, last_stream_id=3)) as server:
        with h2c_pool() as pool:
            contents = run_all(
                8, lambda index: pool.request("GET", f"{server.url}/{index}").content
            )
    assert contents == [HELLO] * 8
    first, second = server.connections
    assert sorted(first.requests) == [1, 3, 5, 7, 9, 11, 13, 15]
    assert (first.responses, first.goaway_last_stream_id) == (2, 3)
    unanswered = {request.path for request in first.requests.values() if request.stream_id > 3}
    assert sorted(second.paths()) == sorted(unanswered)  # each sent again, once
    assert second.responses == 6


@pytest.mark.case("F16", "F19")
def test_goaway_every_100_requests_is_invisible_to_threads() -> None:
    with H2Server(goaway_after(100)) as server:
        with h2c_pool() as pool:
            contents = run_all(
                300, lambda index: pool.request("GET", server.url + "/").content, threads=50
            )
    assert contents == [HELLO] * 300
    assert [conn.responses for conn in server.connections] == [100, 100, 100]


@pytest.mark.case("F16", "F20")
def test_rst_stream_fails_one_request_among_many() -> None:
    script = reset_stream(lambda request: request.path == b"/reset", ErrorCodes.INTERNAL_ERROR)
    with H2Server(script) as server:
        with h2c_pool() as pool:

            def one(index: int) -> int | httpcore2.HTTPError:
                path = "/reset" if index == 10 else f"/{index}"
                try:
                    return pool.request("GET", server.url + path).status
                except httpcore2.RemoteProtocolError as exc:
                    return exc

            outcomes = run_all(21, one)
            assert pool.request("GET", server.url + "/after").status == 200
    error = outcomes.pop(10)
    assert outcomes == [200] * 20
    (conn,) = server.connections
    assert isinstance(error, httpcore2.RemoteProtocolError)
    assert re.search(rf"\b{conn.stream_id(b'/reset')}\b", str(error)), error
    assert "INTERNAL_ERROR" in str(error)


@pytest.mark.parametrize(
    ("changes", "peak"), [(None, 5), ({10: 2, 30: 8}, 8)], ids=["fixed", "lowered-then-raised"]
)
@pytest.mark.case("F16", "F21")
def test_threads_respect_max_concurrent_streams(changes: dict[int, int] | None, peak: int) -> None:
    with H2Server(max_concurrent_streams(5, hold=0.02, changes=changes)) as server:
        with h2c_pool() as pool:
            contents = run_all(50, lambda index: pool.request("GET", server.url + "/").content)
    assert contents == [HELLO] * 50
    (conn,) = server.connections
    assert conn.protocol_error is None
    assert conn.peak_open_streams == peak


@pytest.mark.case("F10", "F16")
def test_a_read_timeout_resets_only_its_stream() -> None:
    # The server answers the other streams only once the timed-out one has been reset.
    with H2Server(hold_until_reset(b"/hold")) as server:
        with h2c_pool() as pool, ThreadPoolExecutor(max_workers=5) as executor:
            others = [
                executor.submit(lambda: pool.request("GET", server.url + "/other").status)
                for _ in range(5)
            ]
            wait_until(lambda: bool(server.connections))
            conn = server.connections[0]
            wait_until(lambda: conn.paths().count(b"/other") == 5)
            with pytest.raises(httpcore2.ReadTimeout):
                pool.request("GET", server.url + "/hold", extensions={"timeout": {"read": 0.2}})
            # The reset goes out with the connection's next write at the latest: this one's.
            assert pool.request("GET", server.url + "/after").status == 200
            assert [other.result(timeout=10) for other in others] == [200] * 5
    assert len(server.connections) == 1
    assert conn.resets() == [(conn.stream_id(b"/hold"), ErrorCodes.CANCEL)]


@pytest.mark.case("F16", "F23")
def test_a_connection_that_dies_fails_every_stream_in_flight() -> None:
    with H2Server(close_mid_body(5)) as server:
        with h2c_pool() as pool:

            def one(index: int) -> bool:
                request = httpcore2.Request("GET", server.url + "/")
                with pytest.raises((httpcore2.RemoteProtocolError, httpcore2.ReadError)) as info:
                    with pool.handle_request(request) as response:
                        response.read()
                return info.value.request is request

            assert run_all(5, one) == [True] * 5
            assert pool.connections == []
            assert pool.request("GET", server.url + "/").content == HELLO
    assert len(server.connections) == 2


@pytest.mark.case("F16", "F18")
def test_closing_the_pool_fails_every_stream_in_flight_and_closes_the_socket() -> None:
    with H2Server(hold_until_reset(b"/hold")) as server:
        pool = h2c_pool()

        def in_flight(_: int) -> Exception | None:
            try:
                pool.request("GET", server.url + "/hold")
            except (httpcore2.TransportError, RuntimeError) as exc:
                return exc
            return None

        with ThreadPoolExecutor(max_workers=3) as executor:
            outcomes = [executor.submit(in_flight, index) for index in range(3)]
            wait_until(lambda: bool(server.connections))
            conn = server.connections[0]
            wait_until(lambda: len(conn.paths()) == 3)
            pool.close()
            errors = [outcome.result(timeout=10) for outcome in outcomes]
        wait_until(lambda: conn.raw.closed)  # the client closed its socket
    # Each fails at once: with the connection's error, or, sent again as a stream the server
    # never answered, with the closed pool's.
    assert all(closed_pool_error(error) for error in errors), errors
    assert pool.connections == []
