"""ConnectionPool behaviour on a scripted network backend."""

from __future__ import annotations

import gc
from typing import Any

import pytest

import httpcore2

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, world!"


class FlakyBackend(httpcore2.MockBackend):
    """Fails the first `failures` connection attempts with `error`."""

    def __init__(self, failures: int, error: Exception | None = None) -> None:
        super().__init__([OK])
        self.failures = failures
        self.error = httpcore2.ConnectError("Connection refused") if error is None else error
        self.attempts = 0

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
    ) -> httpcore2.NetworkStream:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise self.error
        return await super().connect_tcp(host, port, timeout, local_address)


@pytest.mark.anyio
async def test_sequential_requests_reuse_one_connection() -> None:
    backend = httpcore2.MockBackend([OK] * 5)
    async with httpcore2.ConnectionPool(network_backend=backend) as pool:
        for _ in range(5):
            response = await pool.request("GET", "http://example.com/")
            assert response.status == 200
            assert response.content == b"Hello, world!"
        assert len(backend.streams) == 1
        assert len(pool.connections) == 1
        assert repr(pool) == (
            "<ConnectionPool [Requests: 0 active, 0 queued | Connections: 0 active, 1 idle]>"
        )
    assert backend.streams[0].closed
    assert pool.connections == []


@pytest.mark.anyio
@pytest.mark.case("F17")
async def test_stream_keeps_the_connection_until_closed() -> None:
    backend = httpcore2.MockBackend([OK] * 2)
    async with httpcore2.ConnectionPool(network_backend=backend) as pool:
        async with pool.stream("GET", "http://example.com/") as response:
            assert [c.state for c in pool.state().connections] == ["active"]
            assert [chunk async for chunk in response.aiter_stream()] == [b"Hello, world!"]
        assert [c.state for c in pool.state().connections] == ["idle"]


@pytest.mark.anyio
async def test_origins_get_their_own_connections() -> None:
    backend = httpcore2.MockBackend([OK] * 2)
    async with httpcore2.ConnectionPool(network_backend=backend) as pool:
        await pool.request("GET", "http://a.example/")
        await pool.request("GET", "http://b.example/")
        await pool.request("GET", "http://a.example/other")
        await pool.request("GET", "http://a.example:8080/")
        assert len(backend.streams) == 3


@pytest.mark.anyio
async def test_expired_keepalive_connections_are_replaced() -> None:
    backend = httpcore2.MockBackend([OK])
    limits = httpcore2.PoolLimits(keepalive_expiry=0)
    async with httpcore2.ConnectionPool(network_backend=backend, pool_limits=limits) as pool:
        await pool.request("GET", "http://example.com/")
        await pool.request("GET", "http://example.com/")
        assert len(backend.streams) == 2
        assert backend.streams[0].closed


@pytest.mark.anyio
async def test_no_keepalive_connections_kept_when_the_limit_is_zero() -> None:
    backend = httpcore2.MockBackend([OK])
    limits = httpcore2.PoolLimits(max_keepalive_connections=0)
    async with httpcore2.ConnectionPool(network_backend=backend, pool_limits=limits) as pool:
        await pool.request("GET", "http://example.com/")
        assert pool.connections == []
        assert backend.streams[0].closed


@pytest.mark.anyio
async def test_idle_connections_do_not_count_against_max_connections() -> None:
    # Issue 18: at the limit, another origin's idle connection used to be closed for each
    # request, so with several origins almost every request opened a connection.
    backend = httpcore2.MockBackend([OK] * 3)
    limits = httpcore2.PoolLimits(max_connections=1)
    async with httpcore2.ConnectionPool(network_backend=backend, pool_limits=limits) as pool:
        for _ in range(3):
            await pool.request("GET", "http://a.example/")
            await pool.request("GET", "http://b.example/")
        assert len(backend.streams) == 2
        assert not any(stream.closed for stream in backend.streams)
        assert [c.state for c in pool.state().connections] == ["idle", "idle"]


@pytest.mark.anyio
async def test_max_connections_counts_connections_in_use_even_for_an_idle_one() -> None:
    backend = httpcore2.MockBackend([OK] * 2)
    limits = httpcore2.PoolLimits(max_connections=1)
    quick = {"timeout": {"pool": 0.01}}
    async with httpcore2.ConnectionPool(network_backend=backend, pool_limits=limits) as pool:
        await pool.request("GET", "http://b.example/")
        async with pool.stream("GET", "http://a.example/"):
            # b's idle connection may not be put in use while a's is: the limit bounds the
            # requests in flight, whether or not an idle connection is at hand.
            with pytest.raises(httpcore2.PoolTimeout):
                await pool.request("GET", "http://b.example/", extensions=quick)
        assert (await pool.request("GET", "http://b.example/")).status == 200
        assert len(backend.streams) == 2


@pytest.mark.anyio
async def test_idle_connections_past_the_keepalive_limit_close_least_recently_used() -> None:
    backend = httpcore2.MockBackend([OK] * 3)
    limits = httpcore2.PoolLimits(max_keepalive_connections=2)
    async with httpcore2.ConnectionPool(network_backend=backend, pool_limits=limits) as pool:
        for origin in ("a", "b", "a", "c"):  # b is now the least recently used
            await pool.request("GET", f"http://{origin}.example/")
        assert [stream.closed for stream in backend.streams] == [False, True, False]
        await pool.request("GET", "http://a.example/")
        await pool.request("GET", "http://c.example/")
        assert len(backend.streams) == 3
        await pool.request("GET", "http://b.example/")  # a new one; a goes
        assert [stream.closed for stream in backend.streams] == [True, True, False, False]


@pytest.mark.anyio
async def test_past_the_keepalive_limit_an_origins_last_connection_is_spared() -> None:
    backend = httpcore2.MockBackend([OK] * 2)
    limits = httpcore2.PoolLimits(max_keepalive_connections=2)
    async with httpcore2.ConnectionPool(network_backend=backend, pool_limits=limits) as pool:
        await pool.request("GET", "http://b.example/")  # b's only connection, and the oldest
        async with pool.stream("GET", "http://a.example/") as first:
            async with pool.stream("GET", "http://a.example/") as second:
                await first.aread()
                await second.aread()
        # Three idle, two kept: a's older one goes, not b's last.
        assert [stream.closed for stream in backend.streams] == [False, True, False]
        await pool.request("GET", "http://b.example/")
        assert len(backend.streams) == 3


@pytest.mark.anyio
async def test_a_request_waits_briefly_for_its_origin_before_opening_one_more() -> None:
    # The pool already holds as many connections as it may keep idle, one of them idle (of
    # another origin): a request whose origin has a connection in use waits for it
    # SAME_ORIGIN_PATIENCE, then opens one.
    events: list[str] = []
    trace = {"trace": lambda name, info: events.append(name)}
    backend = httpcore2.MockBackend([OK] * 2)
    limits = httpcore2.PoolLimits(max_keepalive_connections=2)
    async with httpcore2.ConnectionPool(network_backend=backend, pool_limits=limits) as pool:
        await pool.request("GET", "http://b.example/")
        async with pool.stream("GET", "http://a.example/") as held:
            response = await pool.request("GET", "http://a.example/", extensions=trace)
            assert response.content == b"Hello, world!"
            assert len(backend.streams) == 3
            await held.aread()
        # Three idle, two kept: the least recently used with a sibling goes (a's newer one).
        assert [stream.closed for stream in backend.streams] == [False, False, True]
    assert "connection_pool.wait_for_connection.complete" in events


@pytest.mark.anyio
async def test_a_burst_to_one_origin_opens_its_connections_at_once() -> None:
    # Past the keep-alive size, but no other origin's idle connection would be pushed out:
    # no waiting for the connection in use.
    events: list[str] = []
    trace = {"trace": lambda name, info: events.append(name)}
    backend = httpcore2.MockBackend([OK] * 2)
    limits = httpcore2.PoolLimits(max_keepalive_connections=1)
    async with httpcore2.ConnectionPool(network_backend=backend, pool_limits=limits) as pool:
        async with pool.stream("GET", "http://a.example/") as held:
            response = await pool.request("GET", "http://a.example/", extensions=trace)
            assert response.content == b"Hello, world!"
            await held.aread()
    assert len(backend.streams) == 2
    assert [name for name in events if name.startswith("connection_pool.")] == []


@pytest.mark.anyio
async def test_a_pool_timeout_shorter_than_the_patience_opens_one_at_once() -> None:
    # Waiting for the origin's connection in use would end in PoolTimeout: connect instead.
    backend = httpcore2.MockBackend([OK] * 2)
    limits = httpcore2.PoolLimits(max_keepalive_connections=2)
    quick = {"timeout": {"pool": 0.05}}
    async with httpcore2.ConnectionPool(network_backend=backend, pool_limits=limits) as pool:
        await pool.request("GET", "http://b.example/")
        async with pool.stream("GET", "http://a.example/") as held:
            response = await pool.request("GET", "http://a.example/", extensions=quick)
            assert response.content == b"Hello, world!"
            await held.aread()
    assert len(backend.streams) == 3


@pytest.mark.anyio
@pytest.mark.case("F13")
async def test_pool_timeout_when_no_connection_frees_up() -> None:
    backend = httpcore2.MockBackend([OK] * 2)
    limits = httpcore2.PoolLimits(max_connections=1)
    async with httpcore2.ConnectionPool(network_backend=backend, pool_limits=limits) as pool:
        async with pool.stream("GET", "http://example.com/") as held:
            request = httpcore2.Request(
                "GET", "http://example.com/", extensions={"timeout": {"pool": 0.01}}
            )
            with pytest.raises(httpcore2.PoolTimeout) as info:
                await pool.handle_request(request)
            assert info.value.request is request
            assert pool.state().waiting == 0
            await held.aread()
        response = await pool.request("GET", "http://example.com/")
        assert response.content == b"Hello, world!"
        assert len(backend.streams) == 1


@pytest.mark.anyio
@pytest.mark.case("F13")
async def test_a_pool_timeout_of_zero_is_refused_before_anything_is_sent() -> None:
    # Zero is not "do not wait": like every timeout, it must be positive (or None).
    backend = httpcore2.MockBackend([OK])
    async with httpcore2.ConnectionPool(network_backend=backend) as pool:
        with pytest.raises(ValueError, match="pool=0 must be a positive number"):
            await pool.request("GET", "http://example.com/", extensions={"timeout": {"pool": 0}})
    assert backend.streams == []


@pytest.mark.anyio
async def test_per_host_cap_applies_to_one_origin_only() -> None:
    backend = httpcore2.MockBackend([OK] * 2)
    limits = httpcore2.PoolLimits(max_connections_per_host=1)
    quick = {"timeout": {"pool": 0.01}}
    async with httpcore2.ConnectionPool(network_backend=backend, pool_limits=limits) as pool:
        async with pool.stream("GET", "http://a.example/"):
            with pytest.raises(httpcore2.PoolTimeout):
                await pool.request("GET", "http://a.example/", extensions=quick)
            response = await pool.request("GET", "http://b.example/", extensions=quick)
            assert response.status == 200


@pytest.mark.anyio
@pytest.mark.case("F01", "F02")
async def test_stale_connection_is_retried_once_for_idempotent_requests() -> None:
    # Each connection answers one request, then the server has gone: the next request on
    # that connection fails before any response byte arrives.
    backend = httpcore2.MockBackend([OK])
    async with httpcore2.ConnectionPool(network_backend=backend) as pool:
        await pool.request("GET", "http://example.com/")
        response = await pool.request("PUT", "http://example.com/", content=b"replayable")
        assert response.status == 200
        assert len(backend.streams) == 2
        assert backend.streams[0].closed


@pytest.mark.parametrize(
    ("method", "content"),
    [("POST", b"data"), ("PUT", iter([b"not replayable"]))],
)
@pytest.mark.anyio
@pytest.mark.case("F01", "F02")
async def test_stale_connection_is_not_retried_when_unsafe(method: str, content: object) -> None:
    backend = httpcore2.MockBackend([OK])
    async with httpcore2.ConnectionPool(network_backend=backend) as pool:
        await pool.request("GET", "http://example.com/")
        with pytest.raises(httpcore2.RemoteProtocolError, match="without sending a response"):
            await pool.request(method, "http://example.com/", content=content)  # type: ignore[arg-type]
        assert pool.connections == []


@pytest.mark.anyio
@pytest.mark.case("F01")
async def test_a_fresh_connection_is_never_retried() -> None:
    backend = httpcore2.MockBackend([])
    async with httpcore2.ConnectionPool(network_backend=backend) as pool:
        with pytest.raises(httpcore2.RemoteProtocolError):
            await pool.request("GET", "http://example.com/")
        assert len(backend.streams) == 1
        assert pool.connections == []


@pytest.mark.anyio
@pytest.mark.case("F12")
async def test_connect_errors_are_retried_when_asked() -> None:
    backend = FlakyBackend(failures=2)
    async with httpcore2.ConnectionPool(network_backend=backend, retries=2) as pool:
        response = await pool.request("GET", "http://example.com/")
        assert response.status == 200
        assert backend.attempts == 3


@pytest.mark.anyio
@pytest.mark.case("F12")
async def test_connect_errors_surface_after_the_retries() -> None:
    backend = FlakyBackend(failures=3)
    async with httpcore2.ConnectionPool(network_backend=backend, retries=1) as pool:
        request = httpcore2.Request("GET", "http://example.com/")
        with pytest.raises(httpcore2.ConnectError) as info:
            await pool.handle_request(request)
        assert info.value.request is request
        assert backend.attempts == 2
        assert pool.connections == []
        # The failed connection left no trace: the next request connects afresh.
        assert (await pool.request("GET", "http://example.com/")).status == 200


@pytest.mark.case("S33")
@pytest.mark.parametrize(
    ("url", "extensions", "expected"),
    [
        ("https://example.com/", {}, "example.com"),
        ("https://example.com./", {}, "example.com"),
        ("https://xn--bcher-kva.example/", {}, "xn--bcher-kva.example"),
        ("https://127.0.0.1/", {}, "127.0.0.1"),
        ("https://[::1]/", {}, "::1"),
        ("https://127.0.0.1/", {"sni_hostname": "localhost"}, "localhost"),
    ],
)
@pytest.mark.anyio
async def test_tls_server_hostname(
    url: str, extensions: dict[str, str], expected: str | None
) -> None:
    backend = httpcore2.MockBackend([OK])
    async with httpcore2.ConnectionPool(network_backend=backend) as pool:
        await pool.request("GET", url, extensions=extensions)
        assert backend.streams[0].tls_hostname == expected


@pytest.mark.case("S35")
@pytest.mark.anyio
async def test_sni_override_is_part_of_the_pool_key() -> None:
    backend = httpcore2.MockBackend([OK] * 2)
    async with httpcore2.ConnectionPool(network_backend=backend) as pool:
        await pool.request("GET", "https://127.0.0.1/")
        await pool.request("GET", "https://127.0.0.1/", extensions={"sni_hostname": "localhost"})
        assert len(backend.streams) == 2


@pytest.mark.anyio
async def test_unix_socket_connections() -> None:
    backend = httpcore2.MockBackend([OK])
    async with httpcore2.ConnectionPool(network_backend=backend, uds="/tmp/x.sock") as pool:
        response = await pool.request("GET", "http://localhost/")
        assert response.content == b"Hello, world!"


@pytest.mark.anyio
async def test_unsupported_scheme() -> None:
    async with httpcore2.ConnectionPool(network_backend=httpcore2.MockBackend([])) as pool:
        request = httpcore2.Request("GET", "foo://example.com/")
        with pytest.raises(httpcore2.UnsupportedProtocol, match="foo") as info:
            await pool.handle_request(request)
        assert info.value.request is request


@pytest.mark.anyio
async def test_closed_pool_refuses_requests() -> None:
    pool = httpcore2.ConnectionPool(network_backend=httpcore2.MockBackend([OK]))
    await pool.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await pool.request("GET", "http://example.com/")


@pytest.mark.parametrize(
    ("timeout", "expected"),
    [
        (None, {"connect": None, "read": None, "write": None, "pool": None}),
        (2.5, {"connect": 2.5, "read": 2.5, "write": 2.5, "pool": 2.5}),
        (
            httpcore2.Timeout(1.0, read=None),
            {"connect": 1.0, "read": None, "write": 1.0, "pool": 1.0},
        ),
        ({"read": 9.0}, {"connect": 5.0, "read": 9.0, "write": 5.0, "pool": 5.0}),
    ],
)
@pytest.mark.anyio
async def test_timeout_extension_forms(timeout: object, expected: dict[str, float]) -> None:
    async with httpcore2.ConnectionPool(network_backend=httpcore2.MockBackend([OK])) as pool:
        extensions = {"timeout": timeout}
        response = await pool.request("GET", "http://example.com/", extensions=extensions)
        assert response.request.extensions["timeout"] == expected


@pytest.mark.anyio
async def test_default_timeouts_are_five_seconds_and_never_shared() -> None:
    async with httpcore2.ConnectionPool(network_backend=httpcore2.MockBackend([OK])) as pool:
        first = await pool.request("GET", "http://example.com/")
        assert first.request.extensions["timeout"] == dict.fromkeys(
            ("connect", "read", "write", "pool"), 5.0
        )
        first.request.extensions["timeout"]["read"] = None
        second = await pool.request("GET", "http://example.com/")
        assert second.request.extensions["timeout"]["read"] == 5.0


@pytest.mark.anyio
async def test_unknown_timeout_phase_is_rejected() -> None:
    async with httpcore2.ConnectionPool(network_backend=httpcore2.MockBackend([OK])) as pool:
        with pytest.raises(ValueError, match="conect"):
            await pool.request("GET", "http://example.com/", extensions={"timeout": {"conect": 1}})


def test_a_pool_needs_a_protocol() -> None:
    with pytest.raises(ValueError, match="http1 and http2"):
        httpcore2.ConnectionPool(http1=False, http2=False)


@pytest.mark.anyio
async def test_trace_extension_reports_connection_steps() -> None:
    events: list[str] = []
    backend = httpcore2.MockBackend([OK])
    async with httpcore2.ConnectionPool(network_backend=backend) as pool:
        await pool.request(
            "GET",
            "https://example.com/",
            extensions={"trace": lambda name, info: events.append(name)},
        )
    assert events[:4] == [
        "connection.connect_tcp.started",
        "connection.connect_tcp.complete",
        "connection.start_tls.started",
        "connection.start_tls.complete",
    ]


@pytest.mark.anyio
async def test_keepalive_without_expiry() -> None:
    backend = httpcore2.MockBackend([OK] * 2)
    limits = httpcore2.PoolLimits(keepalive_expiry=None)
    async with httpcore2.ConnectionPool(network_backend=backend, pool_limits=limits) as pool:
        await pool.request("GET", "http://example.com/")
        await pool.request("GET", "http://example.com/")
        assert len(backend.streams) == 1


@pytest.mark.anyio
async def test_closing_a_response_body_twice_releases_once() -> None:
    backend = httpcore2.MockBackend([OK] * 2)
    async with httpcore2.ConnectionPool(network_backend=backend) as pool:
        response = await pool.handle_request(httpcore2.Request("GET", "http://example.com/"))
        await response.aread()
        await response.stream.aclose()  # type: ignore[union-attr]
        assert [c.state for c in pool.state().connections] == ["idle"]
        await pool.request("GET", "http://example.com/")
        assert len(backend.streams) == 1


class FailingCloseStream(httpcore2.MockStream):
    async def aclose(self) -> None:
        await super().aclose()
        raise OSError("close failed")


class FailingCloseBackend(httpcore2.MockBackend):
    def _new_stream(self) -> httpcore2.MockStream:
        stream = FailingCloseStream([OK])
        self.streams.append(stream)
        return stream


@pytest.mark.anyio
@pytest.mark.case("F16", "F18")
async def test_a_close_that_fails_does_not_leave_the_other_connections_open() -> None:
    backend = FailingCloseBackend([])
    pool = httpcore2.ConnectionPool(network_backend=backend)
    held = [await pool.handle_request(httpcore2.Request("GET", "http://example.com/"))]
    held.append(await pool.handle_request(httpcore2.Request("GET", "http://example.com/")))
    for response in held:
        await response.aread()
    with pytest.raises(OSError, match="close failed"):
        await pool.aclose()
    assert [stream.closed for stream in backend.streams] == [True, True]
    assert pool.connections == []


@pytest.mark.anyio
@pytest.mark.case("F17")
# Without a total timeout the HTTP/1.1 body stream gives its connection back itself; with
# one, the pool's stream around it does (it checks each read against the deadline).
@pytest.mark.parametrize("extensions", [None, {"timeout": {"total": 60.0}}])
async def test_a_response_never_closed_warns_when_collected(
    extensions: dict[str, Any] | None,
) -> None:
    backend = httpcore2.MockBackend([OK] * 2)
    async with httpcore2.ConnectionPool(network_backend=backend) as pool:
        request = httpcore2.Request("GET", "http://example.com/", extensions=extensions)
        response = await pool.handle_request(request)
        with pytest.warns(ResourceWarning, match="never closed: its connection stays in use"):
            del response
        # The warning is all there is: nothing can be awaited to give the connection back.
        (connection,) = pool.connections
        assert not connection.is_idle()
        closed = await pool.handle_request(httpcore2.Request("GET", "http://example.com/"))
        await closed.aread()
        del closed
        gc.collect()  # a response read to its end was closed: no warning


@pytest.mark.anyio
@pytest.mark.parametrize("extensions", [None, {"timeout": {"total": 60.0}}])
async def test_a_body_closed_twice_gives_its_connection_back_once(
    extensions: dict[str, Any] | None,
) -> None:
    backend = httpcore2.MockBackend([OK] * 3)
    async with httpcore2.ConnectionPool(network_backend=backend) as pool:
        request = httpcore2.Request("GET", "http://example.com/", extensions=extensions)
        response = await pool.handle_request(request)
        await response.aread()
        await response.stream.aclose()  # type: ignore[union-attr]
        # Given back twice, the one connection would serve both requests in flight.
        first = await pool.handle_request(httpcore2.Request("GET", "http://example.com/"))
        second = await pool.handle_request(httpcore2.Request("GET", "http://example.com/"))
        assert [await first.aread(), await second.aread()] == [b"Hello, world!"] * 2
        assert len(pool.connections) == 2


@pytest.mark.anyio
async def test_connection_repr_through_its_life() -> None:
    backend = FlakyBackend(failures=1)
    async with httpcore2.ConnectionPool(network_backend=backend) as pool:
        with pytest.raises(httpcore2.ConnectError):
            await pool.request("GET", "http://example.com/")
        await pool.request("GET", "http://example.com/")
        (connection,) = pool.connections
        assert repr(connection) == "<HTTPConnection <HTTP11Connection [idle, requests: 1]>>"
    unused = httpcore2.HTTPConnection()
    assert repr(unused) == "<HTTPConnection [connecting]>"
    await unused.aclose()
    assert repr(unused) == "<HTTPConnection [closed]>"
    assert unused.is_closed()


@pytest.mark.anyio
@pytest.mark.case("F12")
async def test_unexpected_connect_failure_leaves_no_connection_behind() -> None:
    backend = FlakyBackend(failures=1, error=RuntimeError("resolver exploded"))
    async with httpcore2.ConnectionPool(network_backend=backend) as pool:
        with pytest.raises(RuntimeError, match="resolver exploded"):
            await pool.request("GET", "http://example.com/")
        assert pool.connections == []
        assert (await pool.request("GET", "http://example.com/")).status == 200
