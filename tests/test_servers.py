"""Self-tests of the loopback test servers, with stdlib clients only (no httpcore2)."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable
from contextlib import closing
from typing import Any

import anyio
import pytest

from tests.servers.app import HELLO, pattern_bytes
from tests.servers.asgi_server import Server
from tests.servers.certs import client_ssl_context
from tests.servers.raw import (
    CONTINUE,
    JOIN_TIMEOUT,
    OK,
    Handler,
    RawConnection,
    RawServer,
    RawServerFactory,
    build_response,
    close_after,
    close_delimited,
    endless_continue,
    informational,
    never_accepting_listener,
    never_respond,
    reset_mid_body,
    respond_with,
    short_body,
)

GET = b"GET / HTTP/1.1\r\nHost: example\r\n\r\n"


def connect(server: Server, timeout: float = 5.0) -> http.client.HTTPConnection:
    if server.ca_file is None:
        return http.client.HTTPConnection(server.host, server.port, timeout=timeout)
    context = ssl.create_default_context(cafile=str(server.ca_file))
    return http.client.HTTPSConnection(server.host, server.port, timeout=timeout, context=context)


def fetch(
    server: Server, path: str, method: str = "GET", body: Any = None
) -> tuple[http.client.HTTPResponse, bytes]:
    with closing(connect(server)) as conn:
        conn.request(method, path, body=body)
        response = conn.getresponse()
        return response, response.read()


@pytest.fixture(params=["server", "tls_server"])
def any_server(request: pytest.FixtureRequest) -> Server:
    server: Server = request.getfixturevalue(request.param)
    return server


def test_hello(any_server: Server) -> None:
    response, body = fetch(any_server, "/")
    assert (response.status, body) == (200, HELLO)
    assert response.getheader("content-type") == "text/plain; charset=utf-8"
    assert any_server.url == f"{any_server.scheme}://127.0.0.1:{any_server.port}"


def test_echo_describes_the_request(any_server: Server) -> None:
    with closing(connect(any_server)) as conn:
        conn.request("PUT", "/echo?a=1&b=%20", body=b"caf\xe9", headers={"X-Custom": "Value"})
        response = conn.getresponse()
        echo = json.loads(response.read())
    assert response.getheader("content-type") == "application/json"
    assert echo["method"] == "PUT"
    assert (echo["path"], echo["raw_path"], echo["query"]) == ("/echo", "/echo", "a=1&b=%20")
    assert ["x-custom", "Value"] in echo["headers"]
    assert echo["headers"][0] == ["host", f"{any_server.host}:{any_server.port}"]
    assert (echo["body"], echo["body_length"]) == ("caf\xe9", 4)
    assert (echo["http_version"], echo["scheme"]) == ("1.1", any_server.scheme)
    assert echo["client"][0] == "127.0.0.1"


def test_echo_client_port_identifies_the_connection(server: Server) -> None:
    with closing(connect(server)) as conn:
        ports = []
        for _ in range(3):
            conn.request("GET", "/echo")
            ports.append(json.loads(conn.getresponse().read())["client"][1])
        assert conn.sock is not None
        assert ports == [conn.sock.getsockname()[1]] * 3


@pytest.mark.parametrize("chunked", ["0", "1"])
def test_stream_is_byte_exact(any_server: Server, chunked: str) -> None:
    response, body = fetch(any_server, f"/stream/1000000?chunk_size=1000&chunked={chunked}")
    assert response.status == 200
    assert body == pattern_bytes(1_000_000)
    if chunked == "0":
        assert response.getheader("content-length") == "1000000"
    else:
        assert response.getheader("transfer-encoding") == "chunked"


def test_pattern_bytes() -> None:
    assert pattern_bytes(3) == b"\x00\x01\x02"
    assert pattern_bytes(3, offset=255) == b"\xff\x00\x01"
    assert pattern_bytes(600)[256:259] == b"\x00\x01\x02"
    assert pattern_bytes(0) == b""


def test_echo_body_streams_large_uploads_without_deadlock(server: Server) -> None:
    # http.client writes the whole body before reading: 16 MB is far more than socket buffers.
    upload = pattern_bytes(16 << 20)
    response, body = fetch(server, "/echo_body", "POST", upload)
    assert body == upload
    assert response.getheader("content-length") == str(len(upload))


def test_echo_body_keeps_chunked_framing(server: Server) -> None:
    response, body = fetch(server, "/echo_body", "POST", iter([b"abc", b"def"]))
    assert body == b"abcdef"
    assert response.getheader("transfer-encoding") == "chunked"


def test_digest(server: Server) -> None:
    _, body = fetch(server, "/digest", "POST", b"abc")
    assert json.loads(body) == {
        "body_length": 3,
        "sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    }


def test_status_and_errors_over_one_connection(server: Server) -> None:
    cases = [
        ("/status/418", "GET", 418, b"418 I'm a Teapot\n"),
        ("/status/599", "GET", 599, b"599 Unknown\n"),
        ("/status/204", "GET", 204, b""),
        ("/status/304", "GET", 304, b""),
        ("/redirect/302?location=/echo", "GET", 302, b"Redirecting to /echo\n"),
        ("/stream/10", "HEAD", 200, b""),
        ("/nowhere", "GET", 404, b"Not Found\n"),
        ("/status", "GET", 404, b"Not Found\n"),
        ("/", "POST", 405, b"Method Not Allowed\n"),
        ("/status/99", "GET", 400, b"99 is not in [200, 599]\n"),
        ("/redirect/300", "GET", 400, b"not a redirect status: 300\n"),
        ("/stream/x", "GET", 400, b"not a whole number: 'x'\n"),
        ("/delay/nan", "GET", 400, b"nan is not in [0.0, 60.0]\n"),
    ]
    with closing(connect(server)) as conn:
        for path, method, status, body in cases:
            conn.request(method, path, body=b"ignored" if method == "POST" else None)
            response = conn.getresponse()
            assert (path, response.status, response.read()) == (path, status, body)


def test_delay(server: Server) -> None:
    started = time.monotonic()
    response, body = fetch(server, "/delay/0.2")
    assert (response.status, body) == (200, HELLO)
    assert time.monotonic() - started >= 0.2


def test_slow_body_stalls_mid_body(server: Server) -> None:
    with closing(connect(server)) as conn:
        conn.request("GET", "/slow_body?delay=2")
        response = conn.getresponse()
        assert response.getheader("content-length") == "13"
        assert response.read(7) == b"Hello, "
        assert conn.sock is not None
        conn.sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            response.read()


def test_many_headers(server: Server) -> None:
    response, _ = fetch(server, "/headers/90")  # http.client refuses more than 100
    extra = [(name, value) for name, value in response.getheaders() if name.startswith("x-h-")]
    assert extra == [(f"x-h-{i}", str(i)) for i in range(90)]


def tls_handshake(
    server: Server, alpn: list[str], server_hostname: str = "localhost"
) -> str | None:
    context = client_ssl_context(alpn_protocols=alpn)
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        with context.wrap_socket(sock, server_hostname=server_hostname) as tls:
            return tls.selected_alpn_protocol()


@pytest.mark.parametrize(
    ("offered", "selected"),
    [(["h2", "http/1.1"], "h2"), (["http/1.1"], "http/1.1"), ([], None)],
)
def test_tls_alpn(tls_server: Server, offered: list[str], selected: str | None) -> None:
    assert tls_handshake(tls_server, offered) == selected


@pytest.mark.parametrize("hostname", ["localhost", "127.0.0.1", "::1"])
def test_tls_server_certificate_names(tls_server: Server, hostname: str) -> None:
    assert tls_handshake(tls_server, ["http/1.1"], server_hostname=hostname) == "http/1.1"


def test_wrong_host_certificate(wrong_host_tls_server: Server) -> None:
    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
        tls_handshake(wrong_host_tls_server, [])
    assert tls_handshake(wrong_host_tls_server, ["h2"], server_hostname="wrong.test") == "h2"


def test_h2c_prior_knowledge(server: Server) -> None:
    preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(preface)
        frame_header = sock.recv(9)
    assert frame_header[3] == 0x04  # the server's SETTINGS frame
    assert frame_header[5:9] == b"\x00\x00\x00\x00"  # on stream 0


def test_server_on_ipv6_starts_and_stops_cleanly(fd_count: Callable[[], int]) -> None:
    threads, fds = threading.active_count(), fd_count()
    with Server(host="::1") as server:
        assert server.url == f"http://[::1]:{server.port}"
        assert fetch(server, "/")[1] == HELLO
    assert threading.active_count() <= threads  # earlier tests' threads may still be ending
    # Not ==: the session servers may close sockets of earlier tests' connections meanwhile.
    assert fd_count() <= fds
    server.stop()  # stopping twice is harmless


# -- raw server ------------------------------------------------------------------------------


def exchange(address: tuple[str, int], data: bytes) -> tuple[bytes, str]:
    """Send `data` and half-close, then read until the server ends: (bytes, "eof" | "reset")."""
    received = b""
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)  # so that a handler holding the connection sees EOF
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            return received, "reset"
    return received, "eof"


def test_build_response() -> None:
    assert OK == b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, world!"
    assert CONTINUE == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert build_response(404, b"", [("A", "b")], reason="Nope", content_length=7) == (
        b"HTTP/1.1 404 Nope\r\nA: b\r\nContent-Length: 7\r\n\r\n"
    )


@pytest.mark.parametrize(
    ("handler", "expected", "ending"),
    [
        pytest.param(respond_with(OK, keep_open=False), OK, "eof", id="respond_with"),
        pytest.param(close_after(1), OK, "eof", id="close_after"),
        pytest.param(
            short_body(100, b"abc"),
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc",
            "eof",
            id="short_body",
        ),
        pytest.param(
            close_delimited(b"body"),
            b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nbody",
            "eof",
            id="close_delimited",
        ),
        pytest.param(
            informational(100, 103),
            CONTINUE + b"HTTP/1.1 103 Early Hints\r\n\r\n" + OK,
            "eof",
            id="informational",
        ),
        pytest.param(
            reset_mid_body(1000, 100),
            b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + pattern_bytes(100),
            "reset",
            id="reset_mid_body",
        ),
        pytest.param(never_respond(), b"", "eof", id="never_respond"),
    ],
)
def test_canned_handlers(
    raw_server: RawServerFactory, handler: Handler, expected: bytes, ending: str
) -> None:
    server = raw_server(handler)
    assert exchange(server.address, GET) == (expected, ending)
    assert [bytes(conn.received) for conn in server.connections] == [GET]


@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        pytest.param(respond_with(OK), OK, id="respond_with"),
        pytest.param(
            informational(), CONTINUE + b"HTTP/1.1 103 Early Hints\r\n\r\n" + OK, id="informational"
        ),
        pytest.param(never_respond(), b"", id="never_respond"),
    ],
)
def test_keep_open_handlers_hold_the_connection(
    raw_server: RawServerFactory, handler: Handler, expected: bytes
) -> None:
    server = raw_server(handler)
    with socket.create_connection(server.address, timeout=5) as sock:
        sock.sendall(GET)
        received = b""
        while len(received) < len(expected):
            received += sock.recv(65536)
        assert received == expected
        sock.settimeout(0.2)
        with pytest.raises(TimeoutError):
            sock.recv(1)


def test_recv_request_frames_pipelined_requests(raw_server: RawServerFactory) -> None:
    requests = [
        b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n",
        b"PUT /b HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi",
        b"GET /c HTTP/1.1\r\n\r\n",
    ]
    seen: list[bytes] = []

    def handler(conn: RawConnection) -> None:
        while request := conn.recv_request():
            seen.append(request)
            conn.send(OK)

    server = raw_server(handler)
    assert exchange(server.address, b"".join(requests)) == (OK * 3, "eof")
    server.stop()
    assert seen == requests


def test_close_after_on_next_request(raw_server: RawServerFactory) -> None:
    server = raw_server(close_after(1, on_next_request=True))
    with socket.create_connection(server.address, timeout=2) as sock:
        sock.sendall(GET)
        assert sock.recv(100) == OK
        sock.sendall(GET)
        assert sock.recv(100) == b""
    server.stop()
    assert server.connections[0].received == GET * 2


def test_endless_continue(raw_server: RawServerFactory) -> None:
    server = raw_server(endless_continue())
    with socket.create_connection(server.address, timeout=2) as sock:
        sock.sendall(GET)
        received = b""
        while len(received) < 1 << 20:
            received += sock.recv(65536)
    whole = len(received) - len(received) % len(CONTINUE)
    assert received[:whole] == CONTINUE * (whole // len(CONTINUE))


def test_raw_server_records_every_connection(raw_server: RawServerFactory) -> None:
    server = raw_server(respond_with(OK, repeat=True), host="::1")
    assert server.url == f"http://[::1]:{server.port}"
    for _ in range(3):
        assert exchange(server.address, GET * 2) == (OK * 2, "eof")
    server.stop()
    assert [bytes(conn.received) for conn in server.connections] == [GET * 2] * 3
    assert all(conn.closed for conn in server.connections)


def test_raw_server_reraises_handler_errors() -> None:
    def handler(conn: RawConnection) -> None:
        raise AssertionError("bad handler")

    with pytest.raises(AssertionError, match="bad handler"):
        with RawServer(handler) as server:
            exchange(server.address, GET)


def test_raw_server_stops_blocked_handlers_without_leaks(fd_count: Callable[[], int]) -> None:
    threads, fds = threading.active_count(), fd_count()
    with RawServer(never_respond()) as server:
        clients = [socket.create_connection(server.address) for _ in range(5)]
        for client in clients:
            client.sendall(GET)
        started = time.monotonic()
    assert time.monotonic() - started < JOIN_TIMEOUT / 2
    for client in clients:
        client.close()
    assert threading.active_count() <= threads  # earlier tests' threads may still be ending
    assert fd_count() <= fds


def test_unused_port_refuses_connections(unused_port: int) -> None:
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", unused_port), timeout=5)


def test_never_accepting_listener_times_out_connects() -> None:
    with never_accepting_listener() as address:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            socket.create_connection(address, timeout=0.5)
        assert 0.4 < time.monotonic() - started < 2


# -- plumbing --------------------------------------------------------------------------------


def test_environment_is_clean() -> None:
    names = {
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
        "NETRC",
    }
    assert not {name for name in os.environ if name.upper() in names}


def running_library() -> str:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return "trio"
    return "asyncio"


@pytest.mark.anyio
async def test_anyio_backends(server: Server, anyio_backend: str) -> None:
    assert running_library() == anyio_backend
    received = b""
    async with await anyio.connect_tcp(server.host, server.port) as stream:
        await stream.send(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        async for chunk in stream:
            received += chunk
    assert received.startswith(b"HTTP/1.1 200 \r\n")
    assert received.endswith(b"\r\n\r\n" + HELLO)
