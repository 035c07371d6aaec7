"""A small soak run in the suite (the full one is `scripts/soak`), and the bugs soaking found.

Each run sends requests through the full client at high concurrency, 10 % cancelled at
random points and 10 % stalled into a read timeout (see `tests/soak.py`), then checks that no
file descriptor leaked, that the pool has no slot in use, and that no error but the expected
`ReadTimeout` occurred.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

import httpcore2
from httpcore2._backends.sync import SyncBackend
from tests import soak
from tests.servers.app import HELLO
from tests.servers.asgi_server import Server

REQUESTS = 500
CONCURRENCY = 100


@pytest.fixture(scope="module")
def soak_server() -> Iterator[tuple[str, int]]:
    with soak.serve() as address:
        yield address


@pytest.mark.parametrize("http2", [False, True], ids=["http11", "http2"])
# Cancellation lands at random points on asyncio and trio; the sync run is threads.
@pytest.mark.parametrize(
    "flavour",
    [
        pytest.param("asyncio", marks=pytest.mark.case("F14")),
        pytest.param("trio", marks=pytest.mark.case("F15")),
        pytest.param("sync", marks=pytest.mark.case("F16", "F17")),
    ],
)
@pytest.mark.case("F10", "F24")
def test_soak_leaves_no_leak_and_no_stuck_slot(
    soak_server: tuple[str, int], flavour: str, http2: bool
) -> None:
    url, port = soak_server
    if flavour == "sync":
        report = soak.run_sync(url, port, http2=http2, requests=REQUESTS, threads=CONCURRENCY)
    else:

        async def main() -> soak.Report:
            return await soak.run_async(
                url, port, http2=http2, requests=REQUESTS, concurrency=CONCURRENCY
            )

        report = anyio.run(main, backend=flavour)
    print(report)
    assert report.ok + report.cancelled + sum(report.errors.values()) == REQUESTS
    assert report.ok > REQUESTS // 2
    assert report.errors["ReadTimeout"] > 0  # the stalls did stall
    assert not report.unexpected, report
    assert report.fds_after <= report.fds_before, report
    assert report.slots_in_use == 0, report
    assert report.pool is not None
    assert len(report.pool.connections) <= 20  # the pool's default max_keepalive_connections


def test_sync_read_with_no_time_left_is_a_read_timeout() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        stream = SyncBackend().connect_tcp("127.0.0.1", listener.getsockname()[1], timeout=5)
        try:
            with pytest.raises(httpcore2.ReadTimeout):
                stream.read(1024, timeout=0.0)
        finally:
            stream.close()


class _CancelOnWrite:
    """A network backend whose next write, once armed, is cancelled before it sends anything."""

    def __init__(self) -> None:
        self._inner = httpcore2.AutoBackend()
        self.armed: anyio.CancelScope | None = None

    async def connect_tcp(self, host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        stream = await self._inner.connect_tcp(host, port, *args, **kwargs)
        backend = self

        class Stream:
            def __getattr__(self, name: str) -> Any:
                return getattr(stream, name)

            async def write(self, data: bytes, timeout: float | None = None) -> None:
                scope, backend.armed = backend.armed, None
                if scope is not None:
                    scope.cancel()
                    await anyio.sleep(0)  # the cancellation lands here, before any byte
                await stream.write(data, timeout)

        return Stream()

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_cancelled_write_leaves_other_streams_alone(server: Server, backend: str) -> None:
    async def main() -> bytes:
        network = _CancelOnWrite()
        async with httpcore2.ConnectionPool(
            http1=False, http2=True, network_backend=network
        ) as pool:
            async with pool.stream("GET", server.url + "/slow_body?delay=0.2") as first:
                with anyio.CancelScope() as scope:
                    network.armed = scope
                    await pool.request("GET", server.url + "/")
                assert scope.cancelled_caught
                return await first.aread()

    assert anyio.run(main, backend=backend) == HELLO
