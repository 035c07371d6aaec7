"""The sync pool shared by threads, against a real server."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

import httpcore2
from httpcore2._sync import connection_pool
from httpcore2._synchronization import SyncWaiter
from tests._sync.waiting import wait_until
from tests.servers.asgi_server import Server
from tests.servers.fds import client_sockets_to
from tests.servers.h2 import H2Server, respond_ok


def assert_at_rest(pool: httpcore2.SyncConnectionPool) -> None:
    """No connection in use, no request waiting."""
    state = pool.state()
    assert (state.in_use, state.waiting) == (0, 0)


def wait_for_queue(pool: httpcore2.SyncConnectionPool, queued: int) -> None:
    """Wait until `queued` requests wait for a connection."""
    wait_until(lambda: pool.state().waiting == queued)


@pytest.mark.case("F16")
def test_threads_share_the_allowed_connections(server: Server) -> None:
    limits = httpcore2.PoolLimits(max_connections=5, max_keepalive_connections=5)
    with httpcore2.SyncConnectionPool(pool_limits=limits) as pool:

        def one(_: int) -> tuple[str, int]:
            response = pool.request("GET", server.url + "/echo")
            client: list[str | int] = json.loads(response.content)["client"]
            return str(client[0]), int(client[1])

        with ThreadPoolExecutor(max_workers=20) as executor:
            clients = set(executor.map(one, range(400)))
        assert 1 <= len(clients) <= 5
        assert_at_rest(pool)
        assert len(pool.connections) <= 5


@pytest.fixture
def frequent_thread_switches() -> Iterator[None]:
    """Threads switch as often as they can, so that a race shows up in a short test."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(previous)


@pytest.mark.usefixtures("frequent_thread_switches")
def test_state_is_consistent_while_threads_use_the_pool(server: Server) -> None:
    limits = httpcore2.PoolLimits(max_connections=4, max_keepalive_connections=4)
    seen: list[int] = []  # the connections of each snapshot
    with httpcore2.SyncConnectionPool(pool_limits=limits) as pool:
        done = threading.Event()

        def inspect() -> None:
            while not done.is_set():
                state = pool.state()
                idle = sum(connection.state == "idle" for connection in state.connections)
                assert state.in_use <= 4
                assert idle <= len(state.connections) - state.in_use
                seen.append(len(state.connections))

        def one(_: int) -> int:
            return pool.request("GET", server.url + "/").status

        with ThreadPoolExecutor(max_workers=9) as executor:
            inspector = executor.submit(inspect)
            try:
                assert set(executor.map(one, range(400))) == {200}
            finally:
                done.set()
            inspector.result()
        assert_at_rest(pool)
    assert max(seen) >= 1


@pytest.mark.case("F13", "F16")
def test_pool_timeout_in_a_thread(server: Server) -> None:
    limits = httpcore2.PoolLimits(max_connections=1)
    with httpcore2.SyncConnectionPool(pool_limits=limits) as pool:
        with pool.stream("GET", server.url + "/") as held:
            outcome: list[BaseException] = []

            def waiter() -> None:
                try:
                    pool.request("GET", server.url + "/", extensions={"timeout": {"pool": 0.1}})
                except httpcore2.PoolTimeout as exc:
                    outcome.append(exc)

            thread = threading.Thread(target=waiter)
            thread.start()
            thread.join(5)
            assert len(outcome) == 1
            held.read()
        assert pool.request("GET", server.url + "/").status == 200
        assert pool.state().waiting == 0


def test_a_waiting_thread_gets_the_released_connection(server: Server) -> None:
    limits = httpcore2.PoolLimits(max_connections=1)
    with httpcore2.SyncConnectionPool(pool_limits=limits) as pool:
        results: list[int] = []
        with pool.stream("GET", server.url + "/") as held:
            thread = threading.Thread(
                target=lambda: results.append(pool.request("GET", server.url + "/").status)
            )
            thread.start()
            wait_for_queue(pool, 1)
            held.read()
        thread.join(5)
        assert results == [200]
        assert len(pool.connections) == 1


@pytest.mark.case("F16", "F18")
def test_closing_the_pool_wakes_a_thread_blocked_in_a_read(server: Server) -> None:
    pool = httpcore2.SyncConnectionPool()
    errors: list[BaseException] = []
    events: list[str] = []
    trace = {"trace": lambda name, info: events.append(name)}

    def in_flight() -> None:
        try:
            # The server answers after a minute: only the close can end the read before.
            pool.request("GET", server.url + "/delay/60", extensions=trace)
        except httpcore2.TransportError as exc:
            errors.append(exc)

    thread = threading.Thread(target=in_flight)
    thread.start()
    wait_until(lambda: "http11.receive_response_headers.started" in events)
    pool.close()
    thread.join(30)
    assert not thread.is_alive()
    assert len(errors) == 1


@pytest.mark.case("F16", "F24")
def test_no_file_descriptor_leak(server: Server) -> None:
    before = client_sockets_to(server.port)
    limits = httpcore2.PoolLimits(max_connections=8, max_keepalive_connections=2)
    with httpcore2.SyncConnectionPool(pool_limits=limits) as pool:

        def one(_: int) -> int:
            return pool.request("GET", server.url + "/").status

        with ThreadPoolExecutor(max_workers=8) as executor:
            assert set(executor.map(one, range(2000))) == {200}
    # Closed sockets are released by the server thread shortly after.
    wait_until(lambda: client_sockets_to(server.port) <= before)


def test_a_thread_waiting_for_another_origin_gets_the_slot_and_the_idle_connection_stays(
    server: Server,
) -> None:
    # max_connections counts connections in use: the released one stays idle.
    other_origin = f"http://localhost:{server.port}/"
    statuses: list[int] = []
    limits = httpcore2.PoolLimits(max_connections=1)
    with httpcore2.SyncConnectionPool(pool_limits=limits) as pool:
        with pool.stream("GET", server.url + "/") as held:
            thread = threading.Thread(
                target=lambda: statuses.append(pool.request("GET", other_origin).status)
            )
            thread.start()
            wait_for_queue(pool, 1)
            held.read()
        thread.join(5)
        assert statuses == [200]
        assert len(pool.connections) == 2
        assert all(connection.is_idle() for connection in pool.connections)


def test_per_host_waiting_threads_get_a_slot_when_a_connection_is_dropped(
    server: Server,
) -> None:
    limits = httpcore2.PoolLimits(max_connections=1, max_connections_per_host=1)
    other_origin = f"http://localhost:{server.port}/"
    statuses: list[int] = []
    with httpcore2.SyncConnectionPool(pool_limits=limits) as pool:
        with pool.stream("GET", server.url + "/"):
            threads = [
                threading.Thread(
                    target=lambda: statuses.append(pool.request("GET", other_origin).status)
                )
                for _ in range(2)
            ]
            for thread in threads:
                thread.start()
            wait_for_queue(pool, 2)
        for thread in threads:
            thread.join(5)
        assert statuses == [200, 200]
        assert_at_rest(pool)


@pytest.mark.case("F16", "F18")
def test_closing_the_pool_wakes_a_waiting_thread(server: Server) -> None:
    pool = httpcore2.SyncConnectionPool(pool_limits=httpcore2.PoolLimits(max_connections=1))
    errors: list[BaseException] = []

    def waiter() -> None:
        try:
            pool.request("GET", server.url + "/")
        except RuntimeError as exc:
            errors.append(exc)

    with pool.stream("GET", server.url + "/"):
        thread = threading.Thread(target=waiter)
        thread.start()
        wait_for_queue(pool, 1)
        pool.close()
        thread.join(5)
    assert [str(error) for error in errors] == [
        "The connection pool was closed while waiting for a connection."
    ]


@pytest.mark.parametrize("granted_first", [False, True])
@pytest.mark.case("F16")
def test_interrupt_while_waiting_leaves_the_pool_consistent(
    server: Server, monkeypatch: pytest.MonkeyPatch, granted_first: bool
) -> None:
    # Ctrl-C (KeyboardInterrupt) is how a waiting thread gets interrupted. If the
    # connection was handed over just before, the waiter must give it back.
    limits = httpcore2.PoolLimits(max_connections=1)
    with httpcore2.SyncConnectionPool(pool_limits=limits) as pool:
        held = pool.handle_request(httpcore2.Request("GET", server.url + "/"))

        def interrupted_wait(self: SyncWaiter, timeout: float | None) -> None:
            if granted_first:
                held.read()
            raise KeyboardInterrupt

        monkeypatch.setattr(SyncWaiter, "wait", interrupted_wait)
        with pytest.raises(KeyboardInterrupt):
            pool.request("GET", server.url + "/")
        monkeypatch.undo()
        held.read()
        assert_at_rest(pool)
        assert pool.request("GET", server.url + "/").status == 200


@pytest.mark.case("F13", "F16")
def test_a_timed_out_thread_leaves_the_others_in_line(server: Server) -> None:
    outcomes: list[str] = []
    limits = httpcore2.PoolLimits(max_connections=1)
    with httpcore2.SyncConnectionPool(pool_limits=limits) as pool:

        def impatient() -> None:
            try:
                pool.request("GET", server.url + "/", extensions={"timeout": {"pool": 0.05}})
            except httpcore2.PoolTimeout:
                outcomes.append("timed out")

        def patient() -> None:
            pool.request("GET", server.url + "/")
            outcomes.append("served")

        with pool.stream("GET", server.url + "/") as held:
            threads = [threading.Thread(target=patient), threading.Thread(target=impatient)]
            threads[0].start()
            wait_for_queue(pool, 1)
            threads[1].start()
            wait_for_queue(pool, 2)
            wait_for_queue(pool, 1)
            held.read()
        for thread in threads:
            thread.join(5)
        assert outcomes == ["timed out", "served"]


def test_threads_waiting_for_several_origins_at_the_limit(
    server: Server, tls_server: Server
) -> None:
    origins = [f"http://localhost:{server.port}/", tls_server.url + "/"]
    statuses: list[int] = []
    limits = httpcore2.PoolLimits(max_connections=1)
    with httpcore2.SyncConnectionPool(verify=str(tls_server.ca_file), pool_limits=limits) as pool:
        with pool.stream("GET", server.url + "/"):
            threads = [
                threading.Thread(
                    target=lambda u=url: statuses.append(pool.request("GET", u).status)
                )
                for url in origins
            ]
            for thread in threads:
                thread.start()
            wait_for_queue(pool, 2)
        for thread in threads:
            thread.join(5)
        assert statuses == [200, 200]
        assert_at_rest(pool)


def test_a_thread_waiting_on_the_per_host_cap_gets_the_dropped_slot(server: Server) -> None:
    limits = httpcore2.PoolLimits(max_connections_per_host=1)
    statuses: list[int] = []
    with httpcore2.SyncConnectionPool(pool_limits=limits) as pool:
        with pool.stream("GET", server.url + "/"):
            thread = threading.Thread(
                target=lambda: statuses.append(pool.request("GET", server.url + "/").status)
            )
            thread.start()
            wait_for_queue(pool, 1)
        # Closed unread: dropped, and its per-host slot goes to the waiting thread.
        thread.join(5)
        assert statuses == [200]


class CountingBackend(httpcore2.SyncBackend):
    """Records the port of each TCP connect attempt."""

    def __init__(self) -> None:
        super().__init__()
        self.attempts: list[int] = []

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
    ) -> httpcore2.SyncNetworkStream:
        self.attempts.append(port)
        return super().connect_tcp(host, port, timeout, local_address)


def test_threads_waiting_on_an_http2_connect_fail_with_it_together(
    never_accepting: tuple[str, int],
) -> None:
    # Issue 8 point 6: they used to fail one connect timeout after another.
    host, port = never_accepting
    backend = CountingBackend()
    errors: list[httpcore2.HTTPError] = []
    timeouts = {"timeout": {"connect": 0.3, "pool": 30.0}}
    with httpcore2.SyncConnectionPool(http2=True, network_backend=backend) as pool:

        def one() -> None:
            try:
                pool.request("GET", f"https://{host}:{port}/", extensions=timeouts)
            except httpcore2.HTTPError as exc:
                errors.append(exc)

        threads = [threading.Thread(target=one) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert pool.connections == []
    assert [type(error) for error in errors] == [httpcore2.ConnectTimeout] * 4
    assert backend.attempts == [port]


def test_a_waiting_thread_gets_its_origins_connection_rather_than_open_one(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue 18: see the async test of the same name.
    monkeypatch.setattr(connection_pool, "SAME_ORIGIN_PATIENCE", 3.0)
    other_origin = f"http://localhost:{server.port}/"
    statuses: list[int] = []
    limits = httpcore2.PoolLimits(max_keepalive_connections=2)
    with httpcore2.SyncConnectionPool(pool_limits=limits) as pool:
        pool.request("GET", other_origin)
        with pool.stream("GET", server.url + "/") as held:
            thread = threading.Thread(
                target=lambda: statuses.append(pool.request("GET", server.url + "/").status)
            )
            thread.start()
            wait_for_queue(pool, 1)
            held.read()
        thread.join(5)
        assert statuses == [200]
        assert len(pool.connections) == 2
        assert all(connection.is_idle() for connection in pool.connections)


def test_an_idle_http2_connection_waits_for_a_slot_then_serves_waiting_threads() -> None:
    # See the async test of the same name.
    limits = httpcore2.PoolLimits(max_connections=1)
    statuses: list[int] = []
    with H2Server(respond_ok()) as first, H2Server(respond_ok()) as second:
        with httpcore2.SyncConnectionPool(http1=False, http2=True, pool_limits=limits) as pool:
            pool.request("GET", second.url + "/")
            with pool.stream("GET", first.url + "/") as held:
                threads = [
                    threading.Thread(
                        target=lambda: statuses.append(pool.request("GET", second.url + "/").status)
                    )
                    for _ in range(3)
                ]
                for thread in threads:
                    thread.start()
                wait_for_queue(pool, 3)
                held.read()
            for thread in threads:
                thread.join(5)
            assert statuses == [200] * 3
    assert [len(first.connections), len(second.connections)] == [1, 1]


def test_threads_on_the_per_host_cap_get_one_connection_at_a_time(server: Server) -> None:
    limits = httpcore2.PoolLimits(max_connections=None, max_connections_per_host=1)
    statuses: list[int] = []
    with httpcore2.SyncConnectionPool(pool_limits=limits) as pool:
        with pool.stream("GET", server.url + "/"):
            threads = [
                threading.Thread(
                    target=lambda: statuses.append(pool.request("GET", server.url + "/").status)
                )
                for _ in range(2)
            ]
            for thread in threads:
                thread.start()
            wait_for_queue(pool, 2)
        for thread in threads:
            thread.join(5)
        assert statuses == [200, 200]
        assert len(pool.connections) == 1


@pytest.mark.case("F16")
def test_a_trace_that_fails_once_the_wait_is_over_gives_the_connection_back(
    server: Server,
) -> None:
    def trace(name: str, info: dict[str, object]) -> None:
        if name == "connection_pool.wait_for_connection.complete":
            raise RuntimeError(name)

    errors: list[BaseException] = []

    def traced() -> None:
        try:
            pool.request("GET", server.url + "/", extensions={"trace": trace})
        except RuntimeError as exc:
            errors.append(exc)

    limits = httpcore2.PoolLimits(max_connections=1)
    with httpcore2.SyncConnectionPool(pool_limits=limits) as pool:
        with pool.stream("GET", server.url + "/") as held:
            thread = threading.Thread(target=traced)
            thread.start()
            wait_for_queue(pool, 1)
            held.read()
        thread.join(5)
        assert [str(error) for error in errors] == ["connection_pool.wait_for_connection.complete"]
        assert_at_rest(pool)
        assert pool.request("GET", server.url + "/").status == 200
