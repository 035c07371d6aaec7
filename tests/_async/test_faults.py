"""Misbehaving servers, on raw sockets: each case of RELIABILITY.md by its id."""

from __future__ import annotations

import time

import pytest

import httpcore2
from tests.servers.raw import (
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


@pytest.mark.anyio
@pytest.mark.case("F05")
async def test_f05_bytes_after_a_bodiless_response_are_never_parsed(
    raw_server: RawServerFactory,
) -> None:
    smuggled = build_response(204, b"", content_length=False) + build_response(body=b"evil")
    server = raw_server(respond_with(smuggled, OK))
    async with httpcore2.ConnectionPool() as pool:
        first = await pool.request("GET", server.url + "/", extensions=QUICK)
        second = await pool.request("GET", server.url + "/", extensions=QUICK)
    assert first.status == 204
    assert second.status == 204  # A fresh connection, not the smuggled response.
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
@pytest.mark.case("F07")
async def test_f07_head_response_with_chunked_framing_does_not_hang(
    raw_server: RawServerFactory,
) -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
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


@pytest.mark.anyio
async def test_s25_endless_informational_responses(raw_server: RawServerFactory) -> None:
    server = raw_server(endless_continue())
    async with httpcore2.ConnectionPool() as pool:
        started = time.monotonic()
        with pytest.raises(httpcore2.RemoteProtocolError, match="informational"):
            await pool.request("GET", server.url + "/", extensions=QUICK)
        assert time.monotonic() - started < 1.0
        assert pool.connections == []


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
    body = (b"x" * 65536 for _ in range(200))  # 13 MB, more than the socket buffers
    async with httpcore2.ConnectionPool() as pool:
        response = await pool.request("POST", server.url + "/", content=body, extensions=QUICK)
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
        lambda url: httpcore2.Request("GET", url, headers={"X": "a\r\nX-Injected: 1"}),
        lambda url: httpcore2.Request("GET", url, headers={"X\r\nY": "1"}),
        lambda url: httpcore2.Request("GET / HTTP/1.1\r\nX: y", url),
        lambda url: httpcore2.Request("GET", url + "/a\r\nX: y"),
    ],
    ids=["s15-value", "s15-name", "s16-method", "s17-url"],
)
@pytest.mark.anyio
async def test_injection_is_refused_before_anything_is_sent(
    raw_server: RawServerFactory, build: object
) -> None:
    server = raw_server(respond_with(OK))
    with pytest.raises(ValueError, match=r"CR|LF|control|token|Invalid"):
        build(server.url)  # type: ignore[operator]
    assert server.connections == []
