"""HTTP/2 edge cases that need requests in flight at once, on asyncio and trio."""

from __future__ import annotations

import anyio
import pytest
from h2.settings import SettingCodes

import httpcore2
from tests._async.waiting import wait_until
from tests.servers.app import pattern_bytes
from tests.servers.h2 import H2Server, Script
from tests.test_http2_concurrency import h2c_pool

pytestmark = pytest.mark.anyio


@pytest.mark.case("F21")
async def test_a_request_waiting_for_the_only_stream_gets_it_when_it_frees() -> None:
    # One stream at a time, and a body larger than the default stream window of the
    # server's h2, so that the first stream stays open until its body is read.
    body = pattern_bytes(1 << 20)
    script = Script(
        lambda conn, request: conn.respond(request.stream_id, body=body),
        {SettingCodes.MAX_CONCURRENT_STREAMS: 1},
    )
    second: list[httpcore2.Response] = []

    async def request_second(pool: httpcore2.ConnectionPool) -> None:
        second.append(await pool.request("GET", server.url + "/second"))

    with H2Server(script) as server:
        async with h2c_pool() as pool:
            with anyio.fail_after(10):
                async with pool.stream("GET", server.url + "/first") as first:
                    async with anyio.create_task_group() as tasks:
                        tasks.start_soon(request_second, pool)
                        # The second request waits in the pool: the server never saw it.
                        await wait_until(lambda: pool.state().waiting == 1)
                        assert pool.state().connections[0].in_flight == 1
                        assert len(server.connections[0].requests) == 1
                        assert await first.aread() == body
                        await first.aclose()  # frees the stream for the second
    assert second[0].content == body
    assert [request.path for request in server.connections[0].requests.values()] == [
        b"/first",
        b"/second",
    ]
    assert len(server.connections) == 1
