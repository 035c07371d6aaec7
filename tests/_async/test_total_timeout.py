"""The optional total timeout: one deadline for a whole request, body included (issue 17)."""

from __future__ import annotations

import time

import pytest

import httpcore2
from tests.servers.asgi_server import Server
from tests.servers.raw import (
    Handler,
    RawConnection,
    RawServerFactory,
    build_response,
    never_respond,
    respond_with,
)

# Each read would get 2 s, and the trickling servers below send a byte every second: only
# the total of 1.5 s can end these requests.
TRICKLE = {"timeout": {"read": 2.0, "total": 1.5}}
HEAD = build_response(body=b"", content_length=60)


def trickle(data: bytes, *, first: bytes = b"", every: float = 1.0) -> Handler:
    """Read a request, send `first`, then `data` one byte `every` seconds."""

    def handler(conn: RawConnection) -> None:
        if not conn.recv_request():
            return
        conn.send(first)
        for byte in data:
            if not conn.pause(every):
                return
            conn.send(bytes([byte]))

    return handler


@pytest.mark.anyio
async def test_a_total_timeout_ends_a_trickled_body(raw_server: RawServerFactory) -> None:
    server = raw_server(trickle(b"x" * 60, first=HEAD))
    async with httpcore2.ConnectionPool() as pool:
        started = time.monotonic()
        with pytest.raises(httpcore2.TotalTimeout, match=r"total timeout of 1\.5 s") as info:
            await pool.request("GET", server.url + "/", extensions=TRICKLE)
        assert time.monotonic() - started >= 1.5
        assert info.value.request.url == server.url + "/"
        assert isinstance(info.value.__cause__, httpcore2.ReadTimeout)
        assert pool.connections == []  # a body cut short: the connection is closed


@pytest.mark.anyio
async def test_a_total_timeout_ends_a_streamed_body(raw_server: RawServerFactory) -> None:
    server = raw_server(trickle(b"x" * 60, first=HEAD))
    async with httpcore2.ConnectionPool() as pool:
        async with pool.stream("GET", server.url + "/", extensions=TRICKLE) as response:
            with pytest.raises(httpcore2.TotalTimeout):
                [chunk async for chunk in response.aiter_raw()]


@pytest.mark.anyio
async def test_a_total_timeout_ends_a_trickled_head(raw_server: RawServerFactory) -> None:
    server = raw_server(trickle(HEAD))
    async with httpcore2.ConnectionPool() as pool:
        with pytest.raises(httpcore2.TotalTimeout) as info:
            await pool.request("GET", server.url + "/", extensions=TRICKLE)
        assert isinstance(info.value.__cause__, httpcore2.ReadTimeout)


@pytest.mark.anyio
async def test_a_total_timeout_ends_a_slow_http2_body(server: Server) -> None:
    # /slow_body sends 7 bytes, then the other 6 after a second: only the total ends it.
    extensions = {"timeout": {"read": 2.0, "total": 0.5}}
    async with httpcore2.ConnectionPool(http1=False, http2=True) as pool:
        with pytest.raises(httpcore2.TotalTimeout) as info:
            await pool.request("GET", server.url + "/slow_body?delay=1.0", extensions=extensions)
        assert isinstance(info.value.__cause__, httpcore2.ReadTimeout)
        assert info.value.request.url.path == "/slow_body"


@pytest.mark.anyio
async def test_a_client_total_timeout(raw_server: RawServerFactory) -> None:
    server = raw_server(trickle(b"x" * 60, first=HEAD))
    async with httpcore2.Client(timeout=httpcore2.Timeout(2.0, total=1.5)) as client:
        with pytest.raises(httpcore2.TotalTimeout):
            await client.get(server.url + "/")


@pytest.mark.anyio
async def test_a_total_timeout_covers_a_slow_connect(
    never_accepting: tuple[str, int],
) -> None:
    host, port = never_accepting
    extensions = {"timeout": {"connect": 10.0, "total": 0.3}}
    async with httpcore2.ConnectionPool() as pool:
        with pytest.raises(httpcore2.TotalTimeout) as info:
            await pool.request("GET", f"http://{host}:{port}/", extensions=extensions)
        assert isinstance(info.value.__cause__, httpcore2.ConnectTimeout)


@pytest.mark.anyio
async def test_a_total_timeout_ends_connect_retries(
    never_accepting: tuple[str, int],
) -> None:
    # Each attempt is bounded by the time left; none starts once the deadline has passed.
    host, port = never_accepting
    extensions = {"timeout": {"connect": 10.0, "total": 0.3}}
    async with httpcore2.ConnectionPool(retries=100) as pool:
        with pytest.raises(httpcore2.TotalTimeout) as info:
            await pool.request("GET", f"http://{host}:{port}/", extensions=extensions)
    assert info.value.request.url == f"http://{host}:{port}/"


@pytest.mark.anyio
async def test_a_total_timeout_covers_the_wait_for_a_connection() -> None:
    backend = httpcore2.MockBackend([HEAD + b"x" * 60] * 2)
    limits = httpcore2.PoolLimits(max_connections=1)
    async with httpcore2.ConnectionPool(network_backend=backend, pool_limits=limits) as pool:
        async with pool.stream("GET", "http://example.com/"):
            extensions = {"timeout": {"pool": None, "total": 0.05}}
            with pytest.raises(httpcore2.TotalTimeout) as info:
                await pool.request("GET", "http://example.com/", extensions=extensions)
            assert isinstance(info.value.__cause__, httpcore2.PoolTimeout)


@pytest.mark.anyio
async def test_each_request_sent_has_a_deadline_of_its_own(server: Server) -> None:
    # A redirect is a new request: a new deadline. So is a request sent again, and one
    # sharing the extensions dict of an earlier one.
    extensions = {"timeout": {"read": 5.0, "total": 30.0}}
    url = server.url + "/redirect/302?location=/json"
    async with httpcore2.Client() as client:
        response = await client.get(url, extensions=extensions)
    first, second = response.history[0].request, response.request
    previous = first.extensions["timeout"].deadline
    assert second.extensions["timeout"].deadline > previous
    previous = second.extensions["timeout"].deadline
    async with httpcore2.ConnectionPool() as pool:
        for _ in range(2):
            await pool.request("GET", server.url + "/json", extensions=extensions)
            timeouts = extensions["timeout"]
            assert timeouts.total == 30.0
            assert 0 < timeouts["read"] <= 5.0
            assert timeouts.deadline > previous
            previous = timeouts.deadline


@pytest.mark.anyio
async def test_without_a_total_timeouts_stay_per_phase(
    raw_server: RawServerFactory,
) -> None:
    # Each read gets its own 2 s: a byte now and then keeps the response going.
    head = build_response(body=b"", content_length=3)
    server = raw_server(trickle(b"xyz", first=head, every=0.1))
    async with httpcore2.ConnectionPool() as pool:
        response = await pool.request("GET", server.url + "/", extensions={"timeout": 2.0})
    assert response.content == b"xyz"


@pytest.mark.anyio
async def test_a_phase_that_times_out_before_the_deadline_says_so(
    raw_server: RawServerFactory,
) -> None:
    quick_read = {"timeout": {"read": 0.2, "total": 30.0}}
    silent, stalled_body = raw_server(never_respond()), raw_server(respond_with(HEAD))
    async with httpcore2.ConnectionPool() as pool:
        with pytest.raises(httpcore2.ReadTimeout) as head:
            await pool.request("GET", silent.url + "/", extensions=quick_read)
        with pytest.raises(httpcore2.ReadTimeout) as body:
            await pool.request("GET", stalled_body.url + "/", extensions=quick_read)
    assert not isinstance(head.value, httpcore2.TotalTimeout)
    assert not isinstance(body.value, httpcore2.TotalTimeout)
