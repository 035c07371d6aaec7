"""The fault cases of RELIABILITY.md on HTTP/2, against the scripted h2 server, by their id.

The HTTP/1.1 side is in `test_faults.py`; GOAWAY, RST_STREAM, stream limits and flow control
are in `test_http2.py`, `test_http2_edges.py` and the concurrency tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import anyio  # unasync: remove
import h2.events
import pytest
from h2.errors import ErrorCodes

import httpcore2
from tests.servers.app import HELLO
from tests.servers.h2 import H2Request, H2Server, H2ServerConnection, Script, reject_upload

QUICK = {"timeout": {"connect": 2.0, "read": 2.0, "write": 2.0, "pool": 2.0}}


def h2c_pool() -> httpcore2.ConnectionPool:
    return httpcore2.ConnectionPool(http1=False, http2=True)


def wrong_length(declared: int) -> Script:
    """Answer `/wrong` with `HELLO` under a `content-length` of `declared`, others rightly."""

    def on_request(conn: H2ServerConnection, request: H2Request) -> None:
        if request.path == b"/wrong":
            headers = [(b"content-length", b"%d" % declared)]
            conn.respond(request.stream_id, headers=headers, content_length=False)
        else:
            conn.respond(request.stream_id)

    return Script(on_request)


@pytest.mark.parametrize(
    "declared", [len(HELLO) + 10, len(HELLO) - 5], ids=["shorter-body", "longer-body"]
)
@pytest.mark.anyio
@pytest.mark.case("F04", "F05")
async def test_f04_f05_a_body_that_does_not_match_its_content_length(declared: int) -> None:
    with H2Server(wrong_length(declared)) as server:
        async with h2c_pool() as pool:
            request = httpcore2.Request("GET", server.url + "/wrong", extensions=QUICK)
            with pytest.raises(httpcore2.RemoteProtocolError) as info:
                async with await pool.handle_request(request) as response:
                    await response.aread()
            assert info.value.request is request
            assert (await pool.request("GET", server.url + "/", extensions=QUICK)).content == HELLO
    # h2 takes a malformed response for a connection error: the next request needed another.
    assert [list(conn.requests) for conn in server.connections] == [[1], [1]]


def upload() -> Iterator[bytes]:
    return (b"x" * 65536 for _ in range(200))


@pytest.mark.anyio
@pytest.mark.case("F09", "F25")
async def test_f09_a_refusal_of_an_expected_body_resets_only_its_stream() -> None:
    with H2Server(reject_upload(after=1, status=417, body=b"no")) as server:
        async with h2c_pool() as pool:
            response = await pool.request(
                "PUT",
                server.url + "/",
                headers={"Expect": "100-continue"},
                content=upload(),
                extensions=QUICK,
            )
            assert (response.status, response.content) == (417, b"no")
            assert (await pool.request("GET", server.url + "/", extensions=QUICK)).status == 200
    (conn,) = server.connections  # the connection was kept
    put = conn.requests[1]
    assert put.header(b"expect") == b"100-continue"
    assert not put.complete
    assert conn.resets() == [(1, ErrorCodes.CANCEL)]


def ping_with_each_answer(after: bool) -> Script:
    """Send a PING with each response, just before it or just after it."""

    def on_request(conn: H2ServerConnection, request: H2Request) -> None:
        if not after:
            conn.h2.ping(b"%08d" % request.stream_id)
        conn.respond(request.stream_id)
        if after:
            conn.h2.ping(b"%08d" % request.stream_id)

    return Script(on_request)


def ping_acks(conn: H2ServerConnection) -> list[bytes]:
    return [
        event.ping_data for event in conn.events if isinstance(event, h2.events.PingAckReceived)
    ]


async def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 5
    while not condition():
        assert time.monotonic() < deadline, "the server never got there"
        await anyio.sleep(0.005)  # unasync: sync=time.sleep(0.005)


@pytest.mark.parametrize("after", [False, True], ids=["in-flight", "once-idle"])
@pytest.mark.anyio
@pytest.mark.case("F23")
async def test_f23_pings_are_answered_and_keep_the_connection(after: bool) -> None:
    with H2Server(ping_with_each_answer(after)) as server:
        async with h2c_pool() as pool:
            for _ in range(2):
                response = await pool.request("GET", server.url + "/", extensions=QUICK)
                assert response.content == HELLO
            (conn,) = server.connections
            # A PING that came once the stream was over is answered by the next request at
            # the latest (on an event loop, the reader still running may answer it at once).
            await wait_until(lambda: len(ping_acks(conn)) >= (1 if after else 2))
    assert ping_acks(conn)[:1] == [b"00000001"]
