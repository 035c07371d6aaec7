"""HTTP/2 through the pool, one request at a time: hypercorn over TLS (ALPN `h2`) and over h2c,
and the scripted h2 server (`tests/servers/h2.py`) for what hypercorn cannot be made to do."""

from __future__ import annotations

import hashlib
import io
import os
import re
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import pytest
from h2.errors import ErrorCodes
from h2.settings import SettingCodes

import httpcore2
from httpcore2._async import http2  # unasync: sync=from httpcore2._sync import http2
from tests._async.test_integration import echo, header
from tests._async.waiting import (  # unasync: sync=from tests._sync.waiting import (
    wait_until,
)
from tests.servers.app import HELLO, pattern_bytes
from tests.servers.asgi_server import Server
from tests.servers.h2 import (
    H2Request,
    H2Server,
    H2ServerConnection,
    Script,
    bad_frame,
    close_abruptly_after,
    close_mid_body,
    goaway_after,
    on_first_connection,
    reset_stream,
    respond_ok,
    send_push_promise,
    slow_body,
    trailers,
)
from tests.servers.raw import RawConnection, RawServer

MIB = 1 << 20


def h2c_pool() -> httpcore2.ConnectionPool:
    """A pool that speaks HTTP/2 by prior knowledge on http:// URLs."""
    return httpcore2.ConnectionPool(http1=False, http2=True)


@pytest.fixture(params=["tls", "h2c"])
def h2_origin(
    request: pytest.FixtureRequest, server: Server, tls_server: Server
) -> tuple[str, dict[str, Any]]:
    """hypercorn's URL, and the pool options that make it speak HTTP/2 there."""
    if request.param == "tls":
        return tls_server.url, {"http2": True, "verify": str(tls_server.ca_file)}
    return server.url, {"http1": False, "http2": True}


# -- negotiation -----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_get_over_http2(h2_origin: tuple[str, dict[str, Any]]) -> None:
    url, options = h2_origin
    async with httpcore2.ConnectionPool(**options) as pool:
        response = await pool.request("GET", url + "/echo")
        (connection,) = pool.state().connections
        assert connection.http_version == "HTTP/2"
        ssl_object = response.extensions["network_stream"].get_extra_info("ssl_object")
        alpn = None if ssl_object is None else ssl_object.selected_alpn_protocol()
    assert response.status == 200
    assert response.protocol == "HTTP/2"
    assert response.extensions["http_version"] == b"HTTP/2"
    assert response.extensions["stream_id"] == 1
    assert echo(response)["http_version"] == "2"
    assert alpn == ("h2" if url.startswith("https") else None)


@pytest.mark.anyio
async def test_sequential_requests_are_streams_of_one_connection(
    h2_origin: tuple[str, dict[str, Any]],
) -> None:
    url, options = h2_origin
    connects: list[str] = []
    trace = {"trace": lambda name, info: connects.append(name)}
    async with httpcore2.ConnectionPool(**options) as pool:
        responses = [await pool.request("GET", url + "/echo", extensions=trace) for _ in range(5)]
    assert [response.extensions["stream_id"] for response in responses] == [1, 3, 5, 7, 9]
    assert len({tuple(echo(response)["client"]) for response in responses}) == 1
    assert connects.count("connection.connect_tcp.started") == 1


@pytest.mark.anyio
async def test_cleartext_stays_http11_when_http1_is_allowed(server: Server) -> None:
    async with httpcore2.ConnectionPool(http2=True) as pool:
        response = await pool.request("GET", server.url + "/echo")
    assert response.protocol == "HTTP/1.1"
    assert echo(response)["http_version"] == "1.1"
    assert header(echo(response), "upgrade") == []


@pytest.mark.anyio
async def test_alpn_falls_back_to_http11(http11_only_tls_server: Server) -> None:
    url = http11_only_tls_server.url
    async with httpcore2.ConnectionPool(
        http2=True, verify=str(http11_only_tls_server.ca_file)
    ) as pool:
        first = await pool.request("GET", url + "/echo")
        second = await pool.request("GET", url + "/echo")
        (connection,) = pool.state().connections
        assert connection.http_version == "HTTP/1.1"
        ssl_object = first.extensions["network_stream"].get_extra_info("ssl_object")
        assert ssl_object.selected_alpn_protocol() == "http/1.1"
    assert [first.protocol, second.protocol] == ["HTTP/1.1", "HTTP/1.1"]


@pytest.mark.anyio
async def test_a_user_ssl_context_offers_what_its_owner_set(tls_server: Server) -> None:
    context = ssl.create_default_context(cafile=str(tls_server.ca_file))
    async with httpcore2.ConnectionPool(http2=True, ssl_context=context) as pool:
        response = await pool.request("GET", tls_server.url + "/")
    assert response.protocol == "HTTP/1.1"  # the pool never changes a context it is given
    context.set_alpn_protocols(["h2", "http/1.1"])
    async with httpcore2.ConnectionPool(http2=True, ssl_context=context) as pool:
        response = await pool.request("GET", tls_server.url + "/")
    assert response.protocol == "HTTP/2"
    assert response.content == HELLO


def test_neither_http1_nor_http2_is_refused() -> None:
    with pytest.raises(ValueError, match="http1 and http2"):
        httpcore2.ConnectionPool(http1=False, http2=False)
    with pytest.raises(ValueError, match="http1 and http2"):
        httpcore2.Client(http1=False, http2=False)


# -- requests and responses ------------------------------------------------------------------


@pytest.mark.case("S14")
@pytest.mark.anyio
async def test_request_headers_on_the_wire() -> None:
    with H2Server(respond_ok()) as server:
        async with h2c_pool() as pool:
            await pool.request(
                "GET",
                server.url + "/path?q=1",
                headers=[
                    ("X-Custom", "Value"),
                    ("Connection", "keep-alive"),
                    ("Keep-Alive", "timeout=5"),
                    ("Proxy-Connection", "keep-alive"),
                    ("Upgrade", "h2c"),
                ],
            )
            await pool.request("GET", server.url + "/", headers={"Host": "example.test:8080"})
    first, second = server.connections[0].requests.values()
    pseudo = [(name, value) for name, value in first.headers if name.startswith(b":")]
    assert first.headers[: len(pseudo)] == pseudo
    assert dict(pseudo) == {
        b":method": b"GET",
        b":scheme": b"http",
        b":authority": f"127.0.0.1:{server.port}".encode(),
        b":path": b"/path?q=1",
    }
    names = [name for name, _ in first.headers]
    assert first.header(b"x-custom") == b"Value"
    for dropped in (b"host", b"connection", b"keep-alive", b"proxy-connection", b"upgrade"):
        assert dropped not in names
    assert second.header(b":authority") == b"example.test:8080"
    assert b"host" not in [name for name, _ in second.headers]


@pytest.mark.anyio
@pytest.mark.case("F07")
async def test_head_and_status_codes(h2_origin: tuple[str, dict[str, Any]]) -> None:
    url, options = h2_origin
    async with httpcore2.ConnectionPool(**options) as pool:
        head = await pool.request("HEAD", url + "/stream/1000?chunked=0")
        missing = await pool.request("GET", url + "/status/404")
        empty = await pool.request("GET", url + "/status/204")
        after = await pool.request("GET", url + "/")
        assert len(pool.connections) == 1
    assert head.headers["content-length"] == "1000"
    assert head.content == b""
    assert (missing.status, missing.reason_phrase) == (404, "Not Found")
    assert (empty.status, empty.content) == (204, b"")
    assert after.content == HELLO


@pytest.mark.case("S26")
@pytest.mark.anyio
async def test_an_oversized_response_header_block_is_refused(server: Server) -> None:
    async with h2c_pool() as pool:
        assert len((await pool.request("GET", server.url + "/headers/100")).headers) > 100
        with pytest.raises(httpcore2.RemoteProtocolError, match="header"):
            await pool.request("GET", server.url + "/headers/5000")  # about 230 KB of them
        assert (await pool.request("GET", server.url + "/")).content == HELLO


@pytest.mark.anyio
async def test_uploads_from_bytes_and_iterators(server: Server) -> None:
    async def generated() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b"y" * 100_000

    async with h2c_pool() as pool:
        from_bytes = echo(await pool.request("POST", server.url + "/echo", content=b"Hello"))
        from_iterator = echo(
            await pool.request("POST", server.url + "/echo", content=iter([b"a", b"b", b"c"]))
        )
        from_generator = echo(await pool.request("PUT", server.url + "/echo", content=generated()))
    assert (from_bytes["body"], header(from_bytes, "content-length")) == ("Hello", ["5"])
    assert from_iterator["body"] == "abc"
    assert from_generator["body_length"] == 300_000
    for data in (from_bytes, from_iterator, from_generator):
        assert data["http_version"] == "2"
        assert header(data, "transfer-encoding") == []


@pytest.mark.anyio
async def test_a_regular_file_is_uploaded_with_its_length_over_http2_only(
    server: Server, tmp_path: Path
) -> None:
    # Some servers (lighttpd) answer 411 to an HTTP/2 upload without a length. HTTP/1.1 keeps
    # sending a file chunked; a pipe has no length to send.
    path = tmp_path / "upload.bin"
    path.write_bytes(pattern_bytes(100_000))
    read_end, write_end = os.pipe()
    os.write(write_end, b"piped")
    os.close(write_end)
    async with h2c_pool() as pool, httpcore2.ConnectionPool() as http11_pool:
        with path.open("rb") as file:
            file.seek(1000)  # the length counts from where the file stands
            over_h2 = echo(await pool.request("POST", server.url + "/echo", content=file))
            file.seek(1000)
            over_h11 = echo(await http11_pool.request("POST", server.url + "/echo", content=file))
        with os.fdopen(read_end, "rb") as pipe:
            piped = echo(await pool.request("POST", server.url + "/echo", content=pipe))
        # Neither a device nor a file object without a descriptor is a regular file.
        with open(os.devnull, "rb") as device:
            from_device = echo(await pool.request("POST", server.url + "/echo", content=device))
        in_memory = echo(
            await pool.request("POST", server.url + "/echo", content=io.BytesIO(b"in memory"))
        )
    assert over_h2["http_version"] == "2"
    assert header(over_h2, "content-length") == ["99000"]
    assert over_h2["body_length"] == 99_000
    assert over_h11["http_version"] == "1.1"
    assert header(over_h11, "content-length") == []
    assert header(over_h11, "transfer-encoding") == ["chunked"]
    assert over_h11["body_length"] == 99_000
    assert [
        (data["body"], header(data, "content-length")) for data in (piped, from_device, in_memory)
    ] == [("piped", []), ("", []), ("in memory", [])]


@pytest.mark.anyio
@pytest.mark.case("F22")
async def test_64_mib_file_upload_is_byte_exact(server: Server, tmp_path: Path) -> None:
    payload = pattern_bytes(64 * MIB + 7)
    path = tmp_path / "upload.bin"
    path.write_bytes(payload)
    async with h2c_pool() as pool:
        with path.open("rb") as file:
            response = await pool.request("POST", server.url + "/digest", content=file)
    assert response.protocol == "HTTP/2"
    assert echo(response) == {
        "body_length": len(payload),
        "sha256": hashlib.sha256(payload).hexdigest(),
    }


@pytest.mark.anyio
@pytest.mark.case("F22")
async def test_64_mib_download_is_byte_exact(tls_server: Server) -> None:
    size = 64 * MIB + 3
    digest = hashlib.sha256()
    received = 0
    async with httpcore2.ConnectionPool(http2=True, verify=str(tls_server.ca_file)) as pool:
        async with pool.stream("GET", f"{tls_server.url}/stream/{size}") as response:
            assert response.protocol == "HTTP/2"
            async for chunk in response.aiter_stream():
                digest.update(chunk)
                received += len(chunk)
    assert received == size
    assert digest.hexdigest() == hashlib.sha256(pattern_bytes(size)).hexdigest()


@pytest.mark.anyio
async def test_trailers_are_in_the_extensions_once_the_body_is_read() -> None:
    fields = ((b"x-checksum", b"c0ffee"), (b"x-count", b"2"))
    with H2Server(trailers(fields, body=b"data")) as server:
        async with h2c_pool() as pool:
            async with pool.stream("GET", server.url + "/") as response:
                assert "trailers" not in response.extensions
                assert await response.aread() == b"data"
                assert response.extensions["trailers"] == list(fields)
                assert response.extensions["trailers"]["X-Checksum"] == "c0ffee"
            assert response.headers["trailer"] == "x-checksum, x-count"
    with H2Server(respond_ok()) as server:
        async with h2c_pool() as pool:
            response = await pool.request("GET", server.url + "/")
    assert "trailers" not in response.extensions


# -- flow control ----------------------------------------------------------------------------


def send_window(conn: H2ServerConnection, stream_id: int) -> int | None:
    """How much the server may send on the stream now; None once it has sent it all."""
    try:
        window: int = conn.h2.local_flow_control_window(stream_id)
    except h2.exceptions.NoSuchStreamError:
        return None
    return window


def credit(conn: H2ServerConnection, stream_id: int) -> int:
    """Window increments the client sent for `stream_id` (0: the connection)."""
    return sum(
        event.delta or 0
        for event in list(conn.events)
        if isinstance(event, h2.events.WindowUpdated) and event.stream_id == stream_id
    )


@pytest.mark.anyio
@pytest.mark.case("F22")
async def test_an_unread_stream_holds_at_most_one_stream_window() -> None:
    size = 2 * http2.STREAM_WINDOW
    with H2Server(slow_body(size)) as server:
        async with h2c_pool() as pool:
            async with pool.stream("GET", server.url + "/") as unread:
                # Reading another stream reads the connection: the unread one's data arrives too.
                other = await pool.request("GET", server.url + "/")
                conn = server.connections[0]
                stream_id = unread.extensions["stream_id"]
                await wait_until(lambda: send_window(conn, stream_id) in (0, None))
                # What the server could send is what the client allowed: its initial window,
                # plus what it gave back, which is nothing as long as nothing is read.
                assert conn.h2.remote_settings.initial_window_size == http2.STREAM_WINDOW
                assert credit(conn, stream_id) == 0
                assert send_window(conn, stream_id) == 0
                body = await unread.aread()
    assert body == other.content == pattern_bytes(size)


@pytest.mark.anyio
@pytest.mark.case("F22")
async def test_slow_readers_hold_at_most_the_connection_window() -> None:
    # Nine unread bodies of one stream window each: 18 MiB, more than the connection's 16 MiB.
    streams = http2.CONNECTION_WINDOW // http2.STREAM_WINDOW + 1
    size = http2.STREAM_WINDOW
    with H2Server(slow_body(size)) as server:
        async with h2c_pool() as pool:
            responses = [
                await pool.handle_request(httpcore2.Request("GET", server.url + "/"))
                for _ in range(streams)
            ]
            conn = server.connections[0]
            stream_ids = [response.extensions["stream_id"] for response in responses]
            await wait_until(
                lambda: (
                    conn.h2.outbound_flow_control_window == 0
                    or all(send_window(conn, stream_id) is None for stream_id in stream_ids)
                )
            )
            # RFC 9113: a connection window starts at 65,535 bytes and grows by WINDOW_UPDATE.
            assert 65535 + credit(conn, 0) <= http2.CONNECTION_WINDOW
            bodies = [await response.aread() for response in responses]
    assert bodies == [pattern_bytes(size)] * streams


# -- stream limits ---------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.case("F13", "F21")
async def test_pool_timeout_when_no_stream_frees_in_time() -> None:
    # One stream at a time, and a body larger than a stream window: the stream stays open
    # until the body is read.
    body = pattern_bytes(http2.STREAM_WINDOW + MIB)
    script = Script(
        lambda conn, request: conn.respond(request.stream_id, body=body),
        {SettingCodes.MAX_CONCURRENT_STREAMS: 1},
    )
    with H2Server(script) as server:
        async with h2c_pool() as pool:
            async with pool.stream("GET", server.url + "/") as held:
                request = httpcore2.Request(
                    "GET", server.url + "/", extensions={"timeout": {"pool": 0.1}}
                )
                with pytest.raises(httpcore2.PoolTimeout) as info:
                    await pool.handle_request(request)
                assert info.value.request is request
                assert await held.aread() == body
            response = await pool.request("GET", server.url + "/")
            assert response.content == body
    assert len(server.connections) == 1
    assert server.connections[0].protocol_error is None


@pytest.mark.anyio
async def test_stream_ids_roll_over_to_a_new_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http2, "MAX_STREAM_ID", 7)
    with H2Server(respond_ok()) as server:
        async with h2c_pool() as pool:
            for _ in range(10):
                assert (await pool.request("GET", server.url + "/")).content == HELLO
    assert [list(conn.requests) for conn in server.connections] == [
        [1, 3, 5, 7],
        [1, 3, 5, 7],
        [1, 3],
    ]


# -- server faults ---------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.case("F20")
async def test_rst_stream_fails_that_request_only() -> None:
    script = reset_stream(lambda request: request.path == b"/reset", ErrorCodes.INTERNAL_ERROR)
    with H2Server(script) as server:
        async with h2c_pool() as pool:
            assert (await pool.request("GET", server.url + "/")).status == 200
            request = httpcore2.Request("GET", server.url + "/reset")
            with pytest.raises(httpcore2.RemoteProtocolError) as info:
                await pool.handle_request(request)
            assert info.value.request is request
            message = str(info.value)
            assert re.search(r"\b3\b", message), message  # the stream id
            assert re.search(r"INTERNAL_ERROR|\b2\b", message), message  # the error code
            assert (await pool.request("GET", server.url + "/")).status == 200
    assert len(server.connections) == 1
    assert list(server.connections[0].requests) == [1, 3, 5]


def refuse_first() -> Script:
    """Refuse the first request (on any connection); answer the others with their own body."""
    refused: list[int] = []

    def on_request(conn: H2ServerConnection, request: H2Request) -> None:
        if refused:
            conn.respond(request.stream_id, body=bytes(request.body))
        else:
            refused.append(request.stream_id)
            conn.h2.reset_stream(request.stream_id, ErrorCodes.REFUSED_STREAM)

    return Script(on_request)


@pytest.mark.anyio
@pytest.mark.case("F20")
async def test_a_refused_stream_is_retried_whatever_the_method() -> None:
    with H2Server(refuse_first()) as server:
        async with h2c_pool() as pool:
            response = await pool.request("POST", server.url + "/", content=b"once")
    assert (response.status, response.content) == (200, b"once")
    requests = [request for conn in server.connections for request in conn.requests.values()]
    assert [(request.method, bytes(request.body)) for request in requests] == [
        (b"POST", b"once"),
        (b"POST", b"once"),
    ]


@pytest.mark.anyio
@pytest.mark.case("F13", "F20")
async def test_a_stream_refused_every_time_is_retried_until_the_pool_timeout() -> None:
    quick = {"timeout": {"pool": 0.2}}
    with H2Server(reset_stream(lambda request: True, ErrorCodes.REFUSED_STREAM)) as server:
        async with h2c_pool() as pool:
            started = time.monotonic()
            with pytest.raises(httpcore2.RemoteProtocolError, match="refused stream"):
                await pool.request("GET", server.url + "/", extensions=quick)
            gave_up_at = time.monotonic()
    # Sent again and again on its one connection until the budget ran out (how many times
    # depends on the machine's speed).
    assert gave_up_at >= started + 0.2
    assert len(server.connections) == 1
    assert len(server.connections[0].requests) > 1


@pytest.mark.anyio
@pytest.mark.case("F20")
async def test_a_refused_stream_with_a_one_shot_body_is_not_retried() -> None:
    async def one_shot() -> AsyncIterator[bytes]:
        yield b"gone once sent"

    with H2Server(refuse_first()) as server:
        async with h2c_pool() as pool:
            with pytest.raises(httpcore2.RemoteProtocolError):
                await pool.request("POST", server.url + "/", content=one_shot())
            assert (await pool.request("GET", server.url + "/")).status == 200
    assert sum(len(conn.requests) for conn in server.connections) == 2


@pytest.mark.anyio
@pytest.mark.case("F19", "F23")
async def test_goaway_sends_the_next_request_to_a_new_connection() -> None:
    with H2Server(goaway_after(1)) as server:
        async with h2c_pool() as pool:
            for _ in range(3):
                assert (await pool.request("GET", server.url + "/")).content == HELLO
    assert [conn.responses for conn in server.connections] == [1, 1, 1]


@pytest.mark.parametrize("reset", [False, True], ids=["fin", "rst"])
@pytest.mark.anyio
@pytest.mark.case("F23")
async def test_a_connection_closed_after_a_response_is_replaced(reset: bool) -> None:
    with H2Server(close_abruptly_after(1, reset=reset)) as server:
        async with h2c_pool() as pool:
            for _ in range(3):
                assert (await pool.request("GET", server.url + "/")).content == HELLO
    assert len(server.connections) == 3


@pytest.mark.parametrize("reset", [False, True], ids=["fin", "rst"])
@pytest.mark.anyio
@pytest.mark.case("F03", "F23")
async def test_a_connection_dropped_mid_body(reset: bool) -> None:
    with H2Server(close_mid_body(reset=reset)) as server:
        async with h2c_pool() as pool:
            with pytest.raises((httpcore2.RemoteProtocolError, httpcore2.ReadError)):
                async with pool.stream("GET", server.url + "/") as response:
                    await response.aread()
            assert pool.connections == []
            assert (await pool.request("GET", server.url + "/")).content == HELLO
    assert len(server.connections) == 2


@pytest.mark.anyio
@pytest.mark.case("F23")
async def test_a_bad_frame_is_a_protocol_error_and_closes_the_connection() -> None:
    with H2Server(on_first_connection(bad_frame())) as server:
        async with h2c_pool() as pool:
            with pytest.raises(httpcore2.RemoteProtocolError):
                await pool.request("GET", server.url + "/")
            assert pool.connections == []
            assert (await pool.request("GET", server.url + "/")).content == HELLO
    assert len(server.connections) == 2


@pytest.mark.case("S27")
@pytest.mark.anyio
async def test_server_push_is_refused() -> None:
    with H2Server(on_first_connection(send_push_promise())) as server:
        async with h2c_pool() as pool:
            with pytest.raises(httpcore2.RemoteProtocolError):
                await pool.request("GET", server.url + "/")
            assert (await pool.request("GET", server.url + "/")).content == HELLO
    assert [conn.h2.remote_settings.enable_push for conn in server.connections] == [0, 0]
    assert len(server.connections) == 2


# -- the client ------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_client_over_http2(tls_server: Server) -> None:
    async with httpcore2.Client(
        base_url=tls_server.url, verify=str(tls_server.ca_file), http2=True
    ) as client:
        redirected = await client.get("/redirect-chain/3")
        cookies = await client.get("/cookies/set?flavour=oatmeal")
        posted = await client.post("/anything", json={"n": 1})
    assert redirected.protocol == "HTTP/2"
    assert redirected.text == "done"
    assert [hop.protocol for hop in redirected.history] == ["HTTP/2"] * 3
    assert cookies.json() == {"flavour": "oatmeal"}
    assert client.cookies.get("flavour") == "oatmeal"
    assert posted.json()["json"] == {"n": 1}
    assert posted.json()["http_version"] == "2"


def answer_once_then_go_silent(conn: RawConnection) -> None:
    """HTTP/2 by hand: on the first connection, answer one request, then read everything and
    answer nothing (a connection that died without a word); later connections answer all."""
    server = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    server.initiate_connection()
    conn.send(server.data_to_send())
    answered = 0
    while data := conn.recv():
        if conn.index == 0 and answered:
            continue
        for event in server.receive_data(data):
            if isinstance(event, h2.events.RequestReceived):
                server.send_headers(event.stream_id, [(b":status", b"200")])
                server.send_data(event.stream_id, HELLO, end_stream=True)
                answered += 1
        conn.send(server.data_to_send())


@pytest.mark.anyio
@pytest.mark.case("F23")
async def test_a_long_idle_connection_that_answers_a_ping_is_reused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(http2, "PING_AFTER_IDLE", 0.0)
    with H2Server(respond_ok()) as server:
        async with h2c_pool() as pool:
            for _ in range(2):
                assert (await pool.request("GET", server.url + "/")).content == HELLO
    assert len(server.connections) == 1
    pings = [e for e in server.connections[0].events if isinstance(e, h2.events.PingReceived)]
    assert [ping.ping_data for ping in pings] == [b"liveness"]


@pytest.mark.anyio
@pytest.mark.case("F23")
async def test_a_long_idle_connection_that_ignores_a_ping_is_replaced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(http2, "PING_AFTER_IDLE", 0.0)
    monkeypatch.setattr(http2, "PING_TIMEOUT", 0.2)
    with RawServer(answer_once_then_go_silent) as server:
        async with h2c_pool() as pool:
            for _ in range(2):
                response = await pool.request("POST", server.url + "/", content=b"not idempotent")
                assert response.content == HELLO
            assert len(pool.connections) == 1
    assert len(server.connections) == 2
