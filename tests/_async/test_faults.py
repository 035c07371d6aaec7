"""Misbehaving servers, on raw sockets: each case of RELIABILITY.md by its id."""

from __future__ import annotations

import time
from collections.abc import Iterator

import anyio  # unasync: remove
import pytest

import httpcore2
from tests.servers.raw import (
    CONTINUE,
    OK,
    RawConnection,
    RawServerFactory,
    build_response,
    close_after,
    close_delimited,
    endless_continue,
    informational,
    never_respond,
    reset_mid_body,
    respond_with,
    short_body,
)

# Every test here runs on each HTTP/1.1 engine.
pytestmark = pytest.mark.usefixtures("http1_engine")

QUICK = {"timeout": {"connect": 2.0, "read": 2.0, "write": 2.0, "pool": 2.0}}
UPLOAD = 400  # chunks of 64 KiB: 26 MB, more than the socket buffers hold


@pytest.mark.anyio
@pytest.mark.case("F01")
async def test_f01_idle_connection_closed_by_the_server(raw_server: RawServerFactory) -> None:
    server = raw_server(close_after(1))
    async with httpcore2.ConnectionPool() as pool:
        for _ in range(3):
            response = await pool.request("GET", server.url + "/", extensions=QUICK)
            assert response.content == b"Hello, world!"
    assert len(server.connections) == 3


@pytest.mark.anyio
@pytest.mark.case("F01")
async def test_f01_a_dead_idle_connection_is_not_used_even_for_a_post(
    raw_server: RawServerFactory,
) -> None:
    # A POST is never sent again, so only the check at checkout keeps it off the dead one.
    server = raw_server(close_after(1))
    async with httpcore2.ConnectionPool() as pool:
        await pool.request("GET", server.url + "/", extensions=QUICK)
        (idle,) = pool.connections
        deadline = time.monotonic() + 5
        while not idle.has_expired(time.monotonic()):  # until the server's FIN is seen
            assert time.monotonic() < deadline, "the server never closed the connection"
            await anyio.sleep(0.005)  # unasync: sync=time.sleep(0.005)
        response = await pool.request("POST", server.url + "/", content=b"x", extensions=QUICK)
        assert response.content == b"Hello, world!"
    assert [conn.received[:4] for conn in server.connections] == [b"GET ", b"POST"]
    assert b"POST" not in server.connections[0].received


@pytest.mark.anyio
@pytest.mark.case("F01", "F02")
async def test_f02_server_closes_as_the_request_is_sent(raw_server: RawServerFactory) -> None:
    server = raw_server(close_after(1, on_next_request=True))
    async with httpcore2.ConnectionPool() as pool:
        await pool.request("GET", server.url + "/", extensions=QUICK)
        response = await pool.request("GET", server.url + "/", extensions=QUICK)
        assert response.status == 200
        assert len(server.connections) == 2
        # A POST is not idempotent: it is not retried, the user sees what happened.
        with pytest.raises(httpcore2.RemoteProtocolError, match="without sending a response"):
            await pool.request("POST", server.url + "/", content=b"x", extensions=QUICK)
        assert len(server.connections) == 2
        assert pool.connections == []


@pytest.mark.anyio
@pytest.mark.case("F03")
async def test_f03_reset_in_the_middle_of_the_body(raw_server: RawServerFactory) -> None:
    server = raw_server(reset_mid_body(content_length=1000, sent=100))
    async with httpcore2.ConnectionPool() as pool:
        async with pool.stream("GET", server.url + "/", extensions=QUICK) as response:
            with pytest.raises((httpcore2.ReadError, httpcore2.RemoteProtocolError)) as info:
                await response.aread()
            assert info.value.request is response.request
        assert pool.connections == []
    assert len(server.connections) == 1


@pytest.mark.anyio
@pytest.mark.case("F04")
async def test_f04_body_shorter_than_content_length(raw_server: RawServerFactory) -> None:
    server = raw_server(short_body(content_length=100))
    async with httpcore2.ConnectionPool() as pool:
        with pytest.raises(httpcore2.RemoteProtocolError, match="complete message body"):
            await pool.request("GET", server.url + "/", extensions=QUICK)
        assert pool.connections == []


EVIL = build_response(body=b"evil")


@pytest.mark.parametrize(
    ("method", "response", "body"),
    [
        ("GET", build_response(204, b"", content_length=False) + EVIL, b""),
        ("GET", build_response(304, b"", content_length=False) + EVIL, b""),
        ("HEAD", build_response(body=b"bodyevil", content_length=4) + EVIL, b""),
        ("GET", build_response(body=b"ok", content_length=2) + EVIL, b"ok"),
    ],
    ids=["204", "304", "head", "longer-than-content-length"],
)
@pytest.mark.anyio
@pytest.mark.case("F05")
async def test_f05_bytes_after_the_framed_body_are_never_parsed(
    raw_server: RawServerFactory, method: str, response: bytes, body: bytes
) -> None:
    server = raw_server(respond_with(response, OK))
    async with httpcore2.ConnectionPool() as pool:
        first = await pool.request(method, server.url + "/", extensions=QUICK)
        second = await pool.request(method, server.url + "/", extensions=QUICK)
    # The second came over a fresh connection, not from the bytes the first one left.
    assert (first.status, first.content) == (second.status, second.content)
    assert first.content == body
    assert len(server.connections) == 2


@pytest.mark.anyio
@pytest.mark.case("F06")
async def test_f06_close_delimited_body_is_read_to_the_end(raw_server: RawServerFactory) -> None:
    server = raw_server(close_delimited(b"x" * 100_000))
    async with httpcore2.ConnectionPool() as pool:
        response = await pool.request("GET", server.url + "/", extensions=QUICK)
        assert response.content == b"x" * 100_000
        assert pool.connections == []


@pytest.mark.anyio
@pytest.mark.case("F06")
async def test_f06_a_reset_before_the_end_of_a_close_delimited_body_is_an_error(
    raw_server: RawServerFactory,
) -> None:
    def reset_instead_of_closing(conn: RawConnection) -> None:
        conn.recv_request()
        conn.send(build_response(body=b"x" * 1000, content_length=False))
        conn.pause(0.05)  # let the client read the body first: only the end is missing
        conn.reset()

    server = raw_server(reset_instead_of_closing)
    async with httpcore2.ConnectionPool() as pool:
        async with pool.stream("GET", server.url + "/", extensions=QUICK) as response:
            with pytest.raises(httpcore2.ReadError):
                await response.aread()
        assert pool.connections == []


@pytest.mark.parametrize(
    "framing", ["Transfer-Encoding: chunked", "Content-Length: 1000"], ids=["chunked", "length"]
)
@pytest.mark.anyio
@pytest.mark.case("F07")
async def test_f07_head_response_with_chunked_framing_does_not_hang(
    raw_server: RawServerFactory, framing: str
) -> None:
    head = f"HTTP/1.1 200 OK\r\n{framing}\r\n\r\n".encode()
    server = raw_server(respond_with(head, OK))
    async with httpcore2.ConnectionPool() as pool:
        response = await pool.request("HEAD", server.url + "/", extensions=QUICK)
        assert response.content == b""
        response = await pool.request("GET", server.url + "/", extensions=QUICK)
        assert response.content == b"Hello, world!"
    assert len(server.connections) == 1


@pytest.mark.anyio
@pytest.mark.case("F08")
async def test_f08_informational_responses_are_skipped(raw_server: RawServerFactory) -> None:
    server = raw_server(informational(100, 102, 103))
    async with httpcore2.ConnectionPool() as pool:
        response = await pool.request("GET", server.url + "/", extensions=QUICK)
    assert response.status == 200
    assert response.content == b"Hello, world!"


@pytest.mark.case("S25")
@pytest.mark.anyio
async def test_s25_endless_informational_responses(raw_server: RawServerFactory) -> None:
    server = raw_server(endless_continue())
    async with httpcore2.ConnectionPool() as pool:
        started = time.monotonic()
        with pytest.raises(httpcore2.RemoteProtocolError, match="informational"):
            await pool.request("GET", server.url + "/", extensions=QUICK)
        assert time.monotonic() - started < 1.0
        assert pool.connections == []


def upload() -> Iterator[bytes]:
    return (b"x" * 65536 for _ in range(UPLOAD))


@pytest.mark.parametrize("delay", [0.0, 0.5], ids=["at-once", "once-the-upload-is-stuck"])
@pytest.mark.anyio
@pytest.mark.case("F09", "F25")
async def test_f09_a_refusal_of_an_expected_body_stops_the_upload(
    raw_server: RawServerFactory, delay: float
) -> None:
    # The body goes out at once; the server reads none of it, refuses it (at once, or once
    # the socket buffers are full and the client is stuck in a write) and keeps the
    # connection open: the client stops sending and returns the answer.
    def refuse(conn: RawConnection) -> None:
        conn.recv_head()
        conn.pause(delay)
        conn.send(build_response(417, b"no"))
        conn.pause(60)  # until the server stops, reading nothing

    server = raw_server(refuse)
    expect = {"Expect": "100-continue"}
    async with httpcore2.ConnectionPool() as pool:
        response = await pool.request(
            "PUT", server.url + "/", headers=expect, content=upload(), extensions=QUICK
        )
        assert (response.status, response.content) == (417, b"no")
        assert pool.connections == []  # the body was cut short: never reused
    assert b"\r\nExpect: 100-continue\r\n" in server.connections[0].received


@pytest.mark.anyio
@pytest.mark.case("F09")
async def test_f09_a_100_continue_is_skipped_and_the_connection_kept(
    raw_server: RawServerFactory,
) -> None:
    def expect_continue(conn: RawConnection) -> None:
        while head := conn.recv_head():
            conn.send(CONTINUE)
            body = conn.recv_body(head)
            conn.send(build_response(body=b"got %d" % len(body)))

    server = raw_server(expect_continue)
    async with httpcore2.ConnectionPool() as pool:
        for content in (b"small", b"x" * 1_000_000):
            response = await pool.request(
                "POST",
                server.url + "/",
                headers={"Expect": "100-continue"},
                content=content,
                extensions=QUICK,
            )
            assert response.content == b"got %d" % len(content)
    assert len(server.connections) == 1


@pytest.mark.anyio
@pytest.mark.case("F10")
async def test_f10_server_never_answers(raw_server: RawServerFactory) -> None:
    server = raw_server(never_respond())
    async with httpcore2.ConnectionPool() as pool:
        started = time.monotonic()
        with pytest.raises(httpcore2.ReadTimeout):
            await pool.request("GET", server.url + "/", extensions={"timeout": {"read": 0.2}})
        assert 0.2 <= time.monotonic() - started < 1.5
        assert pool.connections == []


@pytest.mark.case("S19")
@pytest.mark.anyio
async def test_s19_chunked_with_content_length_closes_the_connection(
    raw_server: RawServerFactory,
) -> None:
    both = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 50\r\n\r\n"
    server = raw_server(respond_with(both + b"2\r\nhi\r\n0\r\n\r\n", OK))
    async with httpcore2.ConnectionPool() as pool:
        response = await pool.request("GET", server.url + "/", extensions=QUICK)
        assert response.content == b"hi"
        assert pool.connections == []


@pytest.mark.anyio
@pytest.mark.case("F25")
async def test_f25_early_response_while_uploading(raw_server: RawServerFactory) -> None:
    def refuse_upload(conn: RawConnection) -> None:
        conn.recv_head()
        conn.send(build_response(413, b"too large", headers=[("Connection", "close")]))
        conn.close()

    server = raw_server(refuse_upload)
    async with httpcore2.ConnectionPool() as pool:
        response = await pool.request("POST", server.url + "/", content=upload(), extensions=QUICK)
        assert response.status == 413
        assert response.content == b"too large"
        assert pool.connections == []


@pytest.mark.anyio
@pytest.mark.case("F28")
async def test_f28_status_line_without_reason_phrase(raw_server: RawServerFactory) -> None:
    server = raw_server(respond_with(b"HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok"))
    async with httpcore2.ConnectionPool() as pool:
        response = await pool.request("GET", server.url + "/", extensions=QUICK)
    assert response.status == 200
    assert response.reason_phrase == "OK"
    assert response.content == b"ok"


@pytest.mark.parametrize(
    ("head", "reused"),
    [
        (b"HTTP/1.1 200 \r\nContent-Length: 2\r\n", True),  # an empty reason
        (b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nx-empty:\r\n", True),
        (b"HTTP/1.2 200 OK\r\nContent-Length: 2\r\n", True),  # a later minor version
        (b"HTTP/1.1 200 OK\nContent-Length: 2\n", True),  # LF alone ends lines
        (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n", False),
    ],
    ids=["empty-reason", "lowercase-and-empty-headers", "http-1.2", "bare-lf", "http-1.0"],
)
@pytest.mark.anyio
@pytest.mark.case("F28")
async def test_f28_common_oddities_are_tolerated(
    raw_server: RawServerFactory, head: bytes, reused: bool
) -> None:
    ending = b"\n" if head.endswith(b"\n2\n") else b"\r\n"
    server = raw_server(respond_with(head + ending + b"ok", repeat=True))
    async with httpcore2.ConnectionPool() as pool:
        for _ in range(2):
            response = await pool.request("GET", server.url + "/", extensions=QUICK)
            assert (response.status, response.content) == (200, b"ok")
    # An HTTP/1.0 server's keep-alive is not relied on: it may close at any time.
    assert len(server.connections) == (1 if reused else 2)


@pytest.mark.parametrize(
    "status_line",
    [b"ICY 200 OK", b"http/1.1 200 OK", b"HTTP/2 200", b"HTTP/1.1 99 Too Low", b"\x00\xff"],
)
@pytest.mark.anyio
@pytest.mark.case("F28")
async def test_f28_what_is_not_http_is_a_protocol_error(
    raw_server: RawServerFactory, status_line: bytes
) -> None:
    server = raw_server(respond_with(status_line + b"\r\nContent-Length: 2\r\n\r\nok"))
    async with httpcore2.ConnectionPool() as pool:
        request = httpcore2.Request("GET", server.url + "/", extensions=QUICK)
        with pytest.raises(httpcore2.RemoteProtocolError, match="status line") as info:
            await pool.handle_request(request)
        assert info.value.request is request
        assert pool.connections == []


@pytest.mark.case("S23")
@pytest.mark.anyio
async def test_s23_malformed_head_is_a_protocol_error(raw_server: RawServerFactory) -> None:
    server = raw_server(respond_with(b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n"))
    async with httpcore2.ConnectionPool() as pool:
        with pytest.raises(httpcore2.RemoteProtocolError):
            await pool.request("GET", server.url + "/", extensions=QUICK)
        assert pool.connections == []


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(
            lambda url: httpcore2.Request("GET", url, headers={"X": "a\r\nX-Injected: 1"}),
            id="s15-value",
            marks=pytest.mark.case("S15"),
        ),
        pytest.param(
            lambda url: httpcore2.Request("GET", url, headers={"X\r\nY": "1"}),
            id="s15-name",
            marks=pytest.mark.case("S15"),
        ),
        pytest.param(
            lambda url: httpcore2.Request("GET / HTTP/1.1\r\nX: y", url),
            id="s16-method",
            marks=pytest.mark.case("S16"),
        ),
        pytest.param(
            lambda url: httpcore2.Request("GET", url + "/a\r\nX: y"),
            id="s17-url",
            marks=pytest.mark.case("S17"),
        ),
    ],
)
@pytest.mark.anyio
async def test_injection_is_refused_before_anything_is_sent(
    raw_server: RawServerFactory, build: object
) -> None:
    server = raw_server(respond_with(OK))
    with pytest.raises(ValueError, match=r"CR|LF|control|token|Invalid"):
        build(server.url)  # type: ignore[operator]
    assert server.connections == []
