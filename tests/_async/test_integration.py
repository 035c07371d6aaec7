"""The pool against a real HTTP server (hypercorn) on loopback, over http and https."""

from __future__ import annotations

import hashlib
import json
import socket
import ssl
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

import httpcore2
from httpcore2._async import http11  # unasync: sync=from httpcore2._sync import http11
from tests.servers.app import pattern_bytes
from tests.servers.asgi_server import Server
from tests.servers.raw import never_accepting_listener

# Every test here runs on each HTTP/1.1 engine.
pytestmark = pytest.mark.usefixtures("http1_engine")


def echo(response: httpcore2.Response) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(response.content)
    return data


def header(data: dict[str, Any], name: str) -> list[str]:
    return [value for key, value in data["headers"] if key == name]


@pytest.mark.anyio
async def test_get(server: Server) -> None:
    async with httpcore2.ConnectionPool() as pool:
        response = await pool.request("GET", server.url + "/")
    assert response.status == 200
    assert response.reason_phrase == "OK"
    assert response.protocol == "HTTP/1.1"
    assert response.content == b"Hello, world!"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.extensions["http_version"] == b"HTTP/1.1"


@pytest.mark.anyio
async def test_request_headers_reach_the_server(server: Server) -> None:
    async with httpcore2.ConnectionPool() as pool:
        response = await pool.request(
            "GET",
            server.url + "/echo?a=1",
            headers=[("User-Agent", "httpcore2"), (b"X-Bytes", b"\xe2\x82\xac"), ("X-Rep", "1")],
        )
    data = echo(response)
    assert data["method"] == "GET"
    assert data["query"] == "a=1"
    assert header(data, "host") == [f"127.0.0.1:{server.port}"]
    assert header(data, "user-agent") == ["httpcore2"]
    assert header(data, "x-bytes") == ["\xe2\x82\xac"]  # latin-1 view of the raw bytes
    assert data["body_length"] == 0


@pytest.mark.anyio
async def test_post_bytes_sends_content_length(server: Server) -> None:
    async with httpcore2.ConnectionPool() as pool:
        response = await pool.request("POST", server.url + "/echo", content=b"Hello, world")
    data = echo(response)
    assert data["body"] == "Hello, world"
    assert header(data, "content-length") == ["12"]
    assert header(data, "transfer-encoding") == []


@pytest.mark.anyio
async def test_post_iterator_is_sent_chunked(server: Server) -> None:
    async with httpcore2.ConnectionPool() as pool:
        response = await pool.request(
            "POST", server.url + "/echo", content=iter([b"Hello, ", b"world"])
        )
    data = echo(response)
    assert data["body"] == "Hello, world"
    assert header(data, "transfer-encoding") == ["chunked"]


@pytest.mark.anyio
async def test_post_generator_is_sent_chunked(server: Server) -> None:
    async def body() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b"x" * 100_000

    async with httpcore2.ConnectionPool() as pool:
        response = await pool.request("POST", server.url + "/echo", content=body())
    data = echo(response)
    assert data["body_length"] == 300_000
    assert header(data, "transfer-encoding") == ["chunked"]


@pytest.mark.anyio
async def test_large_file_upload_is_byte_exact(server: Server, tmp_path: Path) -> None:
    payload = pattern_bytes(20 * 1024 * 1024 + 7)
    path = tmp_path / "upload.bin"
    path.write_bytes(payload)
    async with httpcore2.ConnectionPool() as pool:
        with path.open("rb") as file:
            response = await pool.request("POST", server.url + "/digest", content=file)
    assert echo(response) == {
        "body_length": len(payload),
        "sha256": hashlib.sha256(payload).hexdigest(),
    }


@pytest.mark.parametrize("chunked", ["0", "1"])
@pytest.mark.anyio
async def test_large_download_streams_byte_exact(server: Server, chunked: str) -> None:
    size = 32 * 1024 * 1024 + 3
    digest = hashlib.sha256()
    largest = received = 0
    async with httpcore2.ConnectionPool() as pool:
        url = f"{server.url}/stream/{size}?chunked={chunked}"
        async with pool.stream("GET", url) as response:
            async for chunk in response.aiter_stream():
                digest.update(chunk)
                received += len(chunk)
                largest = max(largest, len(chunk))
    assert received == size
    assert digest.hexdigest() == hashlib.sha256(pattern_bytes(size)).hexdigest()
    assert largest <= http11.LARGE_READ_SIZE  # streamed in reads, never held whole


@pytest.mark.anyio
async def test_sequential_requests_share_one_keepalive_connection(server: Server) -> None:
    async with httpcore2.ConnectionPool() as pool:
        clients = {
            tuple(echo(await pool.request("GET", server.url + "/echo"))["client"])
            for _ in range(10)
        }
        assert len(clients) == 1
        assert len(pool.connections) == 1


@pytest.mark.anyio
@pytest.mark.case("F07")
async def test_head_request_reads_no_body(server: Server) -> None:
    async with httpcore2.ConnectionPool() as pool:
        response = await pool.request("HEAD", server.url + "/stream/1000?chunked=0")
        assert response.headers["content-length"] == "1000"
        assert response.content == b""
        response = await pool.request("GET", server.url + "/")
        assert response.content == b"Hello, world!"
        assert len(pool.connections) == 1


@pytest.mark.parametrize(
    ("status", "phrase"), [(201, "Created"), (404, "Not Found"), (503, "Service Unavailable")]
)
@pytest.mark.anyio
async def test_status_codes(server: Server, status: int, phrase: str) -> None:
    async with httpcore2.ConnectionPool() as pool:
        response = await pool.request("GET", f"{server.url}/status/{status}")
    assert response.status == response.status_code == status
    assert response.reason_phrase == phrase


@pytest.mark.anyio
@pytest.mark.case("F10")
async def test_read_timeout_leaves_the_pool_usable(server: Server) -> None:
    async with httpcore2.ConnectionPool() as pool:
        request = httpcore2.Request(
            "GET", server.url + "/delay/2", extensions={"timeout": {"read": 0.1}}
        )
        started = time.monotonic()
        with pytest.raises(httpcore2.ReadTimeout) as info:
            await pool.handle_request(request)
        assert time.monotonic() - started < 1.5
        assert info.value.request is request
        assert pool.connections == []
        response = await pool.request("GET", server.url + "/")
        assert response.content == b"Hello, world!"


@pytest.mark.anyio
@pytest.mark.case("F10")
async def test_read_timeout_in_the_middle_of_a_body(server: Server) -> None:
    async with httpcore2.ConnectionPool() as pool:
        response = await pool.handle_request(
            httpcore2.Request(
                "GET", server.url + "/slow_body?delay=2", extensions={"timeout": {"read": 0.2}}
            )
        )
        with pytest.raises(httpcore2.ReadTimeout):
            await response.aread()
        assert pool.connections == []


@pytest.mark.anyio
@pytest.mark.case("F12")
async def test_connection_refused(unused_port: int) -> None:
    async with httpcore2.ConnectionPool() as pool:
        request = httpcore2.Request("GET", f"http://127.0.0.1:{unused_port}/")
        with pytest.raises(httpcore2.ConnectError) as info:
            await pool.handle_request(request)
        assert info.value.request is request
        assert pool.connections == []


Resolve = Callable[[str, list[str]], None]


@pytest.fixture
def resolve(monkeypatch: pytest.MonkeyPatch) -> Resolve:
    """`resolve(name, addresses)` makes `name` resolve to `addresses`, in that order, on every
    path that resolves (the sync socket module, asyncio's and trio's resolver threads); an
    empty list makes it fail as an unknown name does. Other names resolve as usual."""
    real = socket.getaddrinfo
    names: dict[str, list[str]] = {}

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name not in names:
            return real(host, port, *args, **kwargs)
        if not names[name]:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            entry
            for address in names[name]
            for entry in real(address, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return names.__setitem__


@pytest.mark.anyio
@pytest.mark.case("F12")
async def test_a_name_that_does_not_resolve_is_a_connect_error(resolve: Resolve) -> None:
    resolve("nowhere.test", [])
    async with httpcore2.ConnectionPool() as pool:
        request = httpcore2.Request("GET", "http://nowhere.test/")
        with pytest.raises(httpcore2.ConnectError, match="could not be resolved") as info:
            await pool.handle_request(request)
        assert info.value.request is request
        assert pool.connections == []


@pytest.mark.parametrize("order", ["ipv6-first", "ipv4-first"])
@pytest.mark.anyio
@pytest.mark.case("F26")
async def test_a_name_with_two_addresses_reaches_the_one_that_listens(
    resolve: Resolve, server: Server, ipv6_server: Server, order: str
) -> None:
    # Each server listens on one family only; its port on the other family refuses.
    listening, other = (server, "::1") if order == "ipv6-first" else (ipv6_server, "127.0.0.1")
    addresses = [other, listening.host]
    resolve("dual.test", addresses)
    async with httpcore2.ConnectionPool() as pool:
        for _ in range(2):
            response = await pool.request("GET", f"http://dual.test:{listening.port}/echo")
            assert echo(response)["client"][0] == listening.host
        assert len(pool.connections) == 1


@pytest.mark.anyio
@pytest.mark.case("F26")
async def test_a_name_whose_first_address_never_answers_reaches_the_next(
    resolve: Resolve, server: Server
) -> None:
    # Asynchronously the addresses race (Happy Eyeballs); the sync pool tries them in turn,
    # each with the whole connect timeout.
    with never_accepting_listener("::1", port=server.port):
        resolve("dual.test", ["::1", server.host])
        async with httpcore2.ConnectionPool() as pool:
            response = await pool.request(
                "GET", f"http://dual.test:{server.port}/echo", extensions={"timeout": 1.0}
            )
    assert echo(response)["client"][0] == server.host


@pytest.mark.anyio
@pytest.mark.case("F11")
async def test_connect_timeout_does_not_poison_the_pool(
    never_accepting: tuple[str, int], server: Server
) -> None:
    host, port = never_accepting
    async with httpcore2.ConnectionPool() as pool:
        started = time.monotonic()
        with pytest.raises(httpcore2.ConnectTimeout):
            await pool.request(
                "GET", f"http://{host}:{port}/", extensions={"timeout": {"connect": 0.3}}
            )
        assert time.monotonic() - started < 2.0
        assert pool.connections == []
        response = await pool.request("GET", server.url + "/")
        assert response.status == 200


@pytest.mark.case("S31")
@pytest.mark.anyio
async def test_https_with_the_test_ca(tls_server: Server) -> None:
    async with httpcore2.ConnectionPool(verify=str(tls_server.ca_file)) as pool:
        response = await pool.request("GET", tls_server.url + "/echo")
        stream = response.extensions["network_stream"]
        assert stream.get_extra_info("ssl_object").selected_alpn_protocol() == "http/1.1"
    assert echo(response)["scheme"] == "https"


@pytest.mark.case("S31")
@pytest.mark.anyio
async def test_https_is_verified_by_default(tls_server: Server) -> None:
    async with httpcore2.ConnectionPool() as pool:
        request = httpcore2.Request("GET", tls_server.url + "/")
        with pytest.raises(httpcore2.ConnectError, match="certificate verify failed") as info:
            await pool.handle_request(request)
        assert info.value.request is request
        assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)


@pytest.mark.case("S32")
@pytest.mark.anyio
async def test_https_hostname_mismatch_is_refused(tls_server: Server) -> None:
    async with httpcore2.ConnectionPool(verify=str(tls_server.ca_file)) as pool:
        with pytest.raises(httpcore2.ConnectError, match="certificate verify failed"):
            await pool.request(
                "GET", tls_server.url + "/", extensions={"sni_hostname": "wrong.example"}
            )


@pytest.mark.case("S32")
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
@pytest.mark.anyio
async def test_certificate_for_another_name_is_refused(
    wrong_host_tls_server: Server, host: str
) -> None:
    # S32: the name (or IP literal) in the URL is checked against the certificate, which
    # here is valid, from the trusted CA, but issued for wrong.test only.
    url = f"https://{host}:{wrong_host_tls_server.port}/"
    async with httpcore2.ConnectionPool(verify=str(wrong_host_tls_server.ca_file)) as pool:
        with pytest.raises(httpcore2.ConnectError, match="certificate verify failed"):
            await pool.request("GET", url)
        response = await pool.request("GET", url, extensions={"sni_hostname": "wrong.test"})
        assert response.status == 200


@pytest.mark.anyio
async def test_https_without_verification(tls_server: Server) -> None:
    async with httpcore2.ConnectionPool(verify=False) as pool:
        response = await pool.request("GET", tls_server.url + "/")
    assert response.content == b"Hello, world!"


@pytest.mark.anyio
async def test_https_with_an_explicit_ssl_context(tls_server: Server) -> None:
    context = httpcore2.create_ssl_context(verify=str(tls_server.ca_file))
    async with httpcore2.ConnectionPool(ssl_context=context) as pool:
        for _ in range(3):
            response = await pool.request("GET", tls_server.url + "/")
            assert response.content == b"Hello, world!"
        assert len(pool.connections) == 1


@pytest.mark.anyio
async def test_local_address(server: Server) -> None:
    async with httpcore2.ConnectionPool(local_address="127.0.0.1") as pool:
        response = await pool.request("GET", server.url + "/echo")
    assert echo(response)["client"][0] == "127.0.0.1"


@pytest.mark.anyio
async def test_ipv6_loopback(ipv6_server: Server) -> None:
    async with httpcore2.ConnectionPool() as pool:
        response = await pool.request("GET", ipv6_server.url + "/echo")
    assert header(echo(response), "host") == [f"[::1]:{ipv6_server.port}"]


@pytest.mark.anyio
async def test_trace_reports_real_connection_steps(tls_server: Server) -> None:
    seen: dict[str, dict[str, Any]] = {}
    async with httpcore2.ConnectionPool(verify=str(tls_server.ca_file)) as pool:
        await pool.request(
            "GET",
            tls_server.url + "/",
            extensions={"trace": lambda name, info: seen.setdefault(name, info)},
        )
    assert list(seen)[:4] == [
        "connection.connect_tcp.started",
        "connection.connect_tcp.complete",
        "connection.start_tls.started",
        "connection.start_tls.complete",
    ]
    assert seen["connection.connect_tcp.started"] == {"host": b"127.0.0.1", "port": tls_server.port}
    started = {"server_hostname": "127.0.0.1", "session_offered": False}
    assert seen["connection.start_tls.started"] == started
