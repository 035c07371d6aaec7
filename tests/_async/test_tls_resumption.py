"""TLS session resumption: a new connection offers the last session kept for its origin and
TLS settings, against real servers (hypercorn, nginx), and never where the settings differ.

Each request asks for `Connection: close`, so that every request opens a new connection. The
`trace` hook tells whether a session was offered; `tls_session_reused` whether the server
took it.
"""

from __future__ import annotations

import os
import socket
import ssl
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme

import httpcore2
from httpcore2._tls_sessions import TLSSessionCache
from tests.servers import certs
from tests.servers.asgi_server import Server
from tests.servers.certs import TLSFiles
from tests.servers.peers import Nginx
from tests.servers.proxies import TinyProxy
from tests.servers.raw import RawConnection, RawServerFactory, build_response

TLS_VERSIONS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}


@dataclass
class Handshake:
    offered: bool  # whether a session was offered
    reused: bool  # whether the server resumed it
    version: str


@pytest.fixture(scope="module")
def nginx(tmp_path_factory: pytest.TempPathFactory, tls_files: TLSFiles) -> Generator[Nginx]:
    with Nginx(tmp_path_factory.mktemp("nginx"), tls_files) as server:
        (server.docroot / "index.html").write_bytes(b"hello")
        yield server


@pytest.fixture(scope="module")
def tinyproxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TinyProxy]:
    with TinyProxy(tmp_path_factory.mktemp("tinyproxy")) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def client_pem(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("client") / "client.pem"
    certs.cert_authority().issue_cert(
        "client@example.com"
    ).private_key_and_cert_chain_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture(scope="module")
def two_ca_bundle(tmp_path_factory: pytest.TempPathFactory, ca_file: Path) -> str:
    """Another CA bundle that also trusts the test CA."""
    path = tmp_path_factory.mktemp("bundle") / "bundle.pem"
    path.write_bytes(ca_file.read_bytes() + trustme.CA().cert_pem.bytes())
    return str(path)


async def get(pool: httpcore2.ConnectionPool, url: str, **extensions: Any) -> Handshake:
    """GET `url` on a new connection; how its TLS handshake went."""
    seen: dict[str, Any] = {}

    def trace(name: str, info: dict[str, Any]) -> None:
        if name == "connection.start_tls.started":
            seen["offered"] = info["session_offered"]
        elif name == "connection.start_tls.complete":
            seen["reused"] = info["session_reused"]
            seen["version"] = info["stream"].get_extra_info("ssl_object").version()

    response = await pool.request(
        "GET", url, headers={"Connection": "close"}, extensions={"trace": trace, **extensions}
    )
    assert response.status == 200
    assert response.extensions["tls_session_reused"] is seen["reused"]
    return Handshake(seen["offered"], seen["reused"], seen["version"])


def context_up_to(version: str, ca_file: Path) -> ssl.SSLContext:
    context = httpcore2.create_ssl_context(verify=str(ca_file))
    context.maximum_version = TLS_VERSIONS[version]
    return context


def sharing_sessions(*pools: httpcore2.ConnectionPool) -> None:
    """Make `pools` keep their sessions in one cache, as the pools of `httpcore2.request()`
    do: only the key then keeps sessions apart."""
    sessions = TLSSessionCache(10)
    for pool in pools:
        pool._tls_sessions = sessions


@pytest.mark.anyio
@pytest.mark.case("S35")
@pytest.mark.parametrize("version", sorted(TLS_VERSIONS))
async def test_the_next_connection_resumes_the_session(tls_server: Server, version: str) -> None:
    async with httpcore2.ConnectionPool(
        ssl_context=context_up_to(version, tls_server.ca_file)
    ) as pool:
        assert await get(pool, tls_server.url) == Handshake(False, False, version)
        assert await get(pool, tls_server.url) == Handshake(True, True, version)
        assert await get(pool, tls_server.url) == Handshake(True, True, version)


@pytest.mark.anyio
@pytest.mark.case("S35")
@pytest.mark.parametrize("version", sorted(TLS_VERSIONS))
async def test_nginx_resumes_the_session(nginx: Nginx, ca_file: Path, version: str) -> None:
    url = nginx.url("https") + "/"
    async with httpcore2.ConnectionPool(ssl_context=context_up_to(version, ca_file)) as pool:
        assert await get(pool, url) == Handshake(False, False, version)
        assert await get(pool, url) == Handshake(True, True, version)
        assert await get(pool, url) == Handshake(True, True, version)


@pytest.mark.anyio
async def test_a_keep_alive_connection_resumes_nothing(tls_server: Server) -> None:
    async with httpcore2.ConnectionPool(verify=str(tls_server.ca_file)) as pool:
        first = await pool.request("GET", tls_server.url)
        second = await pool.request("GET", tls_server.url)
    assert first.extensions["network_stream"] is second.extensions["network_stream"]
    assert first.extensions["tls_session_reused"] is False
    assert second.extensions["tls_session_reused"] is False


@pytest.mark.anyio
async def test_plain_http_has_no_session(server: Server) -> None:
    async with httpcore2.ConnectionPool() as pool:
        response = await pool.request("GET", server.url)
    assert "tls_session_reused" not in response.extensions


@pytest.mark.anyio
@pytest.mark.case("S35")
@pytest.mark.parametrize("setting", ["verify=False", "another CA bundle", "client cert", "ALPN"])
async def test_no_session_crosses_tls_settings(
    http11_only_tls_server: Server, setting: str, request: pytest.FixtureRequest
) -> None:
    # A server that selects HTTP/1.1 even for a pool that offers h2, so that each request
    # can have a connection of its own.
    tls_server = http11_only_tls_server
    verify = str(tls_server.ca_file)
    first_settings: dict[str, Any] = {"verify": verify}
    if setting == "verify=False":
        first_settings = {"verify": False}
    elif setting == "another CA bundle":
        first_settings = {"verify": request.getfixturevalue("two_ca_bundle")}
    elif setting == "client cert":
        first_settings["cert"] = request.getfixturevalue("client_pem")
    else:
        first_settings["http2"] = True  # the ALPN offer: h2 and http/1.1
    async with (
        httpcore2.ConnectionPool(**first_settings) as first,
        httpcore2.ConnectionPool(verify=verify) as second,
    ):
        sharing_sessions(first, second)
        assert (await get(first, tls_server.url)).offered is False
        assert (await get(first, tls_server.url)).reused is True  # it kept a session
        # Never offered to the pool with other settings, which keeps its own.
        assert await get(second, tls_server.url) == Handshake(False, False, "TLSv1.3")
        assert await get(second, tls_server.url) == Handshake(True, True, "TLSv1.3")
        # And the first pool is offered its own (another pool's would fail: the ssl module
        # refuses a session made with another context).
        assert (await get(first, tls_server.url)).reused is True


@pytest.mark.anyio
@pytest.mark.case("S35")
async def test_no_session_crosses_a_changed_minimum_version(tls_server: Server) -> None:
    context = httpcore2.create_ssl_context(verify=str(tls_server.ca_file))
    async with httpcore2.ConnectionPool(ssl_context=context) as pool:
        await get(pool, tls_server.url)
        assert (await get(pool, tls_server.url)).reused is True
        context.minimum_version = ssl.TLSVersion.TLSv1_3
        assert (await get(pool, tls_server.url)).offered is False


@pytest.mark.anyio
@pytest.mark.case("S35")
async def test_no_session_crosses_server_names(tls_server: Server) -> None:
    # The certificate names both 127.0.0.1 and localhost: no SNI for the former.
    url = f"https://127.0.0.1:{tls_server.port}/"
    async with httpcore2.ConnectionPool(verify=str(tls_server.ca_file)) as pool:
        await get(pool, url)
        assert (await get(pool, url)).reused is True
        assert (await get(pool, url, sni_hostname="localhost")).offered is False
        assert (await get(pool, url, sni_hostname="localhost")).reused is True
        assert (await get(pool, url)).reused is True


@pytest.mark.anyio
@pytest.mark.case("S35")
async def test_no_session_crosses_proxies(tls_server: Server, tinyproxy: TinyProxy) -> None:
    proxied = {"proxy": httpcore2.Proxy(tinyproxy.url)}
    async with httpcore2.ConnectionPool(verify=str(tls_server.ca_file)) as pool:
        await get(pool, tls_server.url, **proxied)
        assert (await get(pool, tls_server.url, **proxied)).reused is True
        assert (await get(pool, tls_server.url, proxy=None)).offered is False
        assert (await get(pool, tls_server.url, proxy=None)).reused is True
        assert (await get(pool, tls_server.url, **proxied)).reused is True


def forgetful_tls(conn: RawConnection) -> None:
    """TLS with a new server context, so new ticket keys, for every connection: a ticket
    from an earlier connection cannot be decrypted, and the server refuses to resume."""
    duplicate = socket.socket(fileno=os.dup(conn.sock.fileno()))
    with certs.server_ssl_context(alpn_protocols=()).wrap_socket(
        duplicate, server_side=True
    ) as tls:
        received = b""
        while b"\r\n\r\n" not in received:
            received += tls.recv(65536)
        tls.sendall(build_response(headers=[("Connection", "close")]))


@pytest.mark.anyio
@pytest.mark.case("S35")
async def test_a_refused_session_falls_back_to_a_full_handshake(
    raw_server: RawServerFactory, ca_file: Path
) -> None:
    server = raw_server(forgetful_tls)
    url = f"https://localhost:{server.address[1]}/"
    async with httpcore2.ConnectionPool(verify=str(ca_file)) as pool:
        assert await get(pool, url) == Handshake(False, False, "TLSv1.3")
        assert await get(pool, url) == Handshake(True, False, "TLSv1.3")
        assert await get(pool, url) == Handshake(True, False, "TLSv1.3")


@pytest.mark.anyio
async def test_a_connection_without_a_pool_keeps_no_session(tls_server: Server) -> None:
    context = httpcore2.create_ssl_context(verify=str(tls_server.ca_file))
    timeout = {"connect": 5.0, "read": 5.0, "write": 5.0, "pool": 5.0}
    for _ in range(2):
        connection = httpcore2.HTTPConnection(ssl_context=context)
        try:
            request = httpcore2.Request("GET", tls_server.url, extensions={"timeout": timeout})
            response = await connection.handle_request(request)
            await response.aread()
        finally:
            await connection.aclose()
        assert response.extensions["tls_session_reused"] is False
