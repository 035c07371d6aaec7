"""HTTP/2 against servers that try to make the client hold memory: what one stream queues for
a user who holds its response without reading is bounded by its bytes, whatever the frames."""

from __future__ import annotations

import tracemalloc

import pytest

import httpcore2
from tests.servers.app import HELLO
from tests.servers.h2 import H2Request, H2Server, H2ServerConnection, Script

FRAMES = 5_000


def flood(data: bytes, pad_length: int | None) -> Script:
    """Answer /held with its head only. When /second arrives, send FRAMES DATA frames of
    `data` (padded with `pad_length` bytes) on /held, answer /second, then end /held."""

    def on_request(conn: H2ServerConnection, request: H2Request) -> None:
        if request.path == b"/held":
            conn.h2.send_headers(request.stream_id, [(b":status", b"200")])
            return
        held = conn.stream_id(b"/held")
        for _ in range(FRAMES):
            conn.h2.send_data(held, data, pad_length=pad_length)
        conn.respond(request.stream_id)
        conn.h2.send_data(held, b"", end_stream=True)

    return Script(on_request)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("data", "pad_length"),
    [(b"", None), (b"", 100), (b"x", None), (b"x", 50)],
    ids=["empty", "empty-padded", "one-byte", "one-byte-padded"],
)
async def test_many_tiny_data_frames_on_an_unread_stream_cost_no_memory_per_frame(
    data: bytes, pad_length: int | None
) -> None:
    # While the user holds /held unread, another request's task reads the connection and
    # hands /held's frames over: 5,000 of them. Queued one object per frame they cost 115 to
    # 150 bytes each; joined into one buffer, they cost their payload (5 KB at most).
    with H2Server(flood(data, pad_length)) as server:
        async with httpcore2.ConnectionPool(http1=False, http2=True) as pool:
            async with pool.stream("GET", server.url + "/held") as held:
                tracemalloc.start()
                try:
                    before = tracemalloc.get_traced_memory()[0]
                    # Traced allocations are slow: a read timeout to match.
                    second = await pool.request(
                        "GET", server.url + "/second", extensions={"timeout": 30.0}
                    )
                    grown = tracemalloc.get_traced_memory()[0] - before
                finally:
                    tracemalloc.stop()
                assert second.content == HELLO
                # Once, not per frame: the asyncio backend's receive buffer grows to 256 KiB
                # while reads fill it.
                assert grown < 20 * FRAMES + 256 * 1024
                assert await held.aread() == data * FRAMES
    assert len(server.connections) == 1
