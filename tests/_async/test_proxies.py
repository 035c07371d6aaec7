"""Proxies, against real ones started by the tests: tinyproxy (forwarding, CONNECT, Basic
proxy auth) and pproxy (SOCKS5, and an https proxy for TLS inside TLS). Every test checks the
proxy's own log to know that the traffic went through it."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from pathlib import Path

import anyio.to_thread  # unasync: remove
import pytest

import httpcore2
from tests.servers.asgi_server import Server
from tests.servers.certs import TLSFiles
from tests.servers.proxies import PProxy, TinyProxy
from tests.servers.raw import Handler, RawConnection, RawServerFactory

_marks = itertools.count()


def marker() -> str:
    """A query value no other request uses, to find this request in a proxy's log."""
    return f"mark{next(_marks)}"


@pytest.fixture(scope="module")
def tinyproxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TinyProxy]:
    with TinyProxy(tmp_path_factory.mktemp("tinyproxy"), auth=("user", "pass")) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def socks_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PProxy]:
    with PProxy(tmp_path_factory.mktemp("socks"), "socks5", auth=("user", "pass")) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def https_proxy(tmp_path_factory: pytest.TempPathFactory, tls_files: TLSFiles) -> Iterator[PProxy]:
    directory = tmp_path_factory.mktemp("https-proxy")
    with PProxy(directory, "http", auth=("user", "pass"), tls=tls_files) as proxy:
        yield proxy


def received_headers(response: httpcore2.Response) -> dict[str, str]:
    """The headers the test app's `/echo` received."""
    return dict(response.json()["headers"])


@pytest.mark.case("S08")
@pytest.mark.anyio
async def test_forward_http_through_tinyproxy(server: Server, tinyproxy: TinyProxy) -> None:
    mark = marker()
    async with httpcore2.ConnectionPool(proxy=tinyproxy.url) as pool:
        response = await pool.request("GET", f"{server.url}/echo?{mark}")
    assert response.status == 200
    assert response.request.url == f"{server.url}/echo?{mark}"
    assert "proxy-authorization" not in response.request.headers
    # The proxy took the credentials off; the origin never sees them.
    assert "proxy-authorization" not in received_headers(response)
    tinyproxy.wait_for_log(f"GET {server.url}/echo?{mark} HTTP/1.1")


@pytest.mark.anyio
async def test_tinyproxy_refuses_wrong_credentials(server: Server, tinyproxy: TinyProxy) -> None:
    proxy = httpcore2.Proxy(tinyproxy.url, auth=("user", "wrong"))
    async with httpcore2.ConnectionPool(proxy=proxy) as pool:
        # A forwarding proxy answers for itself...
        response = await pool.request("GET", f"{server.url}/echo")
        assert response.status in (401, 407)


@pytest.mark.anyio
@pytest.mark.case("F27")
async def test_refused_connect_raises_proxy_error_and_closes_the_socket(
    tls_server: Server,
    tinyproxy: TinyProxy,
    ca_file: Path,
) -> None:
    proxy = httpcore2.Proxy(tinyproxy.url.replace("user:pass@", ""))
    async with httpcore2.ConnectionPool(proxy=proxy, verify=str(ca_file)) as pool:
        with pytest.raises(httpcore2.ProxyError) as info:
            await pool.request("GET", tls_server.url + "/")
        assert info.value.status in (401, 407)
        assert info.value.request.url == tls_server.url + "/"
        assert pool.connections == []


@pytest.mark.case("S08")
@pytest.mark.parametrize("http2", [False, True])
@pytest.mark.anyio
async def test_https_through_a_connect_tunnel(
    tls_server: Server, tinyproxy: TinyProxy, ca_file: Path, http2: bool
) -> None:
    mark = marker()
    async with httpcore2.ConnectionPool(
        proxy=tinyproxy.url, verify=str(ca_file), http2=http2
    ) as pool:
        response = await pool.request(
            "GET",
            f"{tls_server.url}/echo?{mark}",
            headers={"Proxy-Authorization": "Basic dXNlcjpwYXNz"},
        )
        again = await pool.request("GET", f"{tls_server.url}/echo?{mark}")
    assert response.status == 200
    assert response.extensions["http_version"] == (b"HTTP/2" if http2 else b"HTTP/1.1")
    received = received_headers(response)
    assert "proxy-authorization" not in received  # never inside the tunnel
    # One tunnel, kept and reused.
    assert response.json()["client"] == again.json()["client"]
    line = tinyproxy.wait_for_log(f"CONNECT 127.0.0.1:{tls_server.port} HTTP/1.1")
    assert tinyproxy.log().count(line.split(": ", 1)[1]) >= 1


@pytest.mark.case("S08", "S36")
@pytest.mark.parametrize("origin", ["http", "https"])
@pytest.mark.anyio
async def test_https_proxy_tls_inside_tls(
    server: Server, tls_server: Server, https_proxy: PProxy, ca_file: Path, origin: str
) -> None:
    target = server if origin == "http" else tls_server
    async with httpcore2.ConnectionPool(proxy=https_proxy.url, verify=str(ca_file)) as pool:
        response = await pool.request("GET", target.url + "/echo")
    assert response.status == 200
    assert response.json()["scheme"] == origin
    assert "proxy-authorization" not in received_headers(response)
    https_proxy.wait_for_log(f"-> 127.0.0.1:{target.port}")


@pytest.mark.anyio
@pytest.mark.case("F27")
async def test_https_proxy_refuses_wrong_credentials(
    tls_server: Server, https_proxy: PProxy, ca_file: Path
) -> None:
    proxy = httpcore2.Proxy(https_proxy.url, auth=("user", "wrong"))
    async with httpcore2.ConnectionPool(proxy=proxy, verify=str(ca_file)) as pool:
        with pytest.raises(httpcore2.ProxyError) as info:
            await pool.request("GET", tls_server.url + "/")
    assert info.value.status == 407


@pytest.mark.parametrize("scheme", ["socks5", "socks5h"])
@pytest.mark.parametrize("origin", ["http", "https"])
@pytest.mark.anyio
async def test_socks5(
    server: Server,
    tls_server: Server,
    socks_proxy: PProxy,
    ca_file: Path,
    scheme: str,
    origin: str,
) -> None:
    target = server if origin == "http" else tls_server
    url = target.url.replace("127.0.0.1", "localhost") + "/echo"
    proxy_url = socks_proxy.url.replace("socks5://", f"{scheme}://")
    async with httpcore2.ConnectionPool(proxy=proxy_url, verify=str(ca_file)) as pool:
        response = await pool.request("GET", url)
    assert response.status == 200
    # socks5 resolves the name here and hands the proxy an address; socks5h hands the name.
    host = "127.0.0.1" if scheme == "socks5" else "localhost"
    socks_proxy.wait_for_log(f"-> {host}:{target.port}")


@pytest.mark.anyio
async def test_socks5_refuses_wrong_credentials(server: Server, socks_proxy: PProxy) -> None:
    proxy = httpcore2.Proxy(socks_proxy.url, auth=("u", "bad"))
    async with httpcore2.ConnectionPool(proxy=proxy) as pool:
        with pytest.raises(httpcore2.ProxyError):
            await pool.request("GET", server.url + "/")
        assert pool.connections == []


@pytest.mark.anyio
async def test_client_proxy_argument(server: Server, tinyproxy: TinyProxy) -> None:
    mark = marker()
    async with httpcore2.Client(proxy=httpcore2.Proxy(tinyproxy.url)) as client:
        assert (await client.get(f"{server.url}/echo?{mark}")).status == 200
    tinyproxy.wait_for_log(f"GET {server.url}/echo?{mark}")
    with pytest.raises(ValueError, match="transport="):
        httpcore2.Client(proxy=tinyproxy.url, transport=httpcore2.ConnectionPool())


@pytest.mark.case("S37", "S38")
@pytest.mark.anyio
async def test_proxy_from_the_environment(
    server: Server, tinyproxy: TinyProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", tinyproxy.url)
    through, direct, off = marker(), marker(), marker()
    async with httpcore2.Client() as client:
        assert (await client.get(f"{server.url}/echo?{through}")).status == 200
    async with httpcore2.Client(trust_env=False) as client:
        assert (await client.get(f"{server.url}/echo?{off}")).status == 200
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    async with httpcore2.Client() as client:
        assert (await client.get(f"{server.url}/echo?{direct}")).status == 200
    tinyproxy.wait_for_log(f"/echo?{through}")
    assert f"/echo?{direct}" not in tinyproxy.log()
    assert f"/echo?{off}" not in tinyproxy.log()


@pytest.mark.case("S08", "S37")
@pytest.mark.anyio
async def test_proxy_and_credentials_are_decided_per_hop(
    server: Server,
    tls_server: Server,
    tinyproxy: TinyProxy,
    ca_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The first hop goes through the proxy; the redirect target is exempt (NO_PROXY), so
    # the second hop goes direct, and must carry no Proxy-Authorization.
    monkeypatch.setenv("HTTP_PROXY", tinyproxy.url)
    monkeypatch.setenv("HTTPS_PROXY", tinyproxy.url)
    monkeypatch.setenv("NO_PROXY", "localhost")
    mark = marker()
    target = tls_server.url.replace("127.0.0.1", "localhost") + "/echo"
    async with httpcore2.Client(verify=str(ca_file)) as client:
        response = await client.get(
            f"{server.url}/redirect-to",
            params={"url": target, "m": mark},
            headers={"Proxy-Authorization": "Basic c2VjcmV0"},
        )
    assert response.status == 200
    assert response.url == target
    assert "proxy-authorization" not in received_headers(response)
    tinyproxy.wait_for_log("/redirect-to?url=")
    assert f"localhost:{tls_server.port}" not in tinyproxy.log()


@pytest.mark.case("S35")
@pytest.mark.anyio
async def test_pool_keys_connections_by_proxy(server: Server, tinyproxy: TinyProxy) -> None:
    proxy = httpcore2.Proxy(tinyproxy.url)
    mark = marker()
    async with httpcore2.ConnectionPool() as pool:
        direct = await pool.request("GET", f"{server.url}/echo?direct-{mark}")
        proxied = await pool.request(
            "GET", f"{server.url}/echo?{mark}", extensions={"proxy": proxy}
        )
        again = await pool.request("GET", f"{server.url}/echo?again-{mark}")
    # The direct connection was kept for the direct request, not used for the proxied one.
    assert direct.json()["client"] == again.json()["client"]
    assert proxied.json()["client"] != direct.json()["client"]
    tinyproxy.wait_for_log(f"/echo?{mark}")
    assert f"direct-{mark}" not in tinyproxy.log()
    assert f"again-{mark}" not in tinyproxy.log()


def test_proxy_model() -> None:
    proxy = httpcore2.Proxy("socks5://u:p@proxy.test", headers={"X-Team": "a"})
    assert str(proxy.url) == "socks5://proxy.test:1080/"
    assert proxy.auth == ("u", "p")
    assert "proxy-authorization" not in proxy.headers  # SOCKS has its own handshake
    assert proxy == httpcore2.Proxy(
        "socks5://proxy.test:1080", auth=("u", "p"), headers=[("X-Team", "a")]
    )
    assert proxy != httpcore2.Proxy("socks5://proxy.test:1080", auth=("u", "p"))
    assert len({proxy, httpcore2.Proxy("socks5://u:p@proxy.test", headers={"X-Team": "a"})}) == 1
    assert repr(httpcore2.Proxy("http://proxy.test")) == "Proxy('http://proxy.test/')"
    with pytest.raises(ValueError, match="Unsupported proxy scheme"):
        httpcore2.Proxy("ftp://proxy.test")


def scripted(*replies: bytes, hung_up: threading.Event | None = None) -> Handler:
    """A fake proxy: answer each read from the client with the next reply; then, with
    `hung_up`, wait for the client to close the connection and set it, else hang up."""

    def handler(conn: RawConnection) -> None:
        for reply in replies:
            if not conn.recv():
                return
            conn.send(reply)
        if hung_up is not None:
            while conn.recv():
                pass
            hung_up.set()

    return handler


@pytest.mark.anyio
async def test_an_unreachable_proxy_is_named_in_the_error(unused_port: int) -> None:
    request = httpcore2.Request("GET", "http://example.test/", extensions={"timeout": 5.0})
    async with httpcore2.ConnectionPool(proxy=f"http://127.0.0.1:{unused_port}") as pool:
        with pytest.raises(httpcore2.ConnectError) as info:
            await pool.handle_request(request)
    assert str(info.value).startswith("Could not use the proxy: Could not connect to 127.0.0.1:")
    assert info.value.request is request


@pytest.mark.anyio
async def test_forward_proxy_failure_names_the_request(raw_server: RawServerFactory) -> None:
    # Reads the request, then hangs up (closing with it unread could reset the connection).
    proxy = raw_server(scripted(b""))
    request = httpcore2.Request("GET", "http://example.test/", extensions={"timeout": 5.0})
    async with httpcore2.ConnectionPool(proxy=proxy.url) as pool:
        with pytest.raises(httpcore2.RemoteProtocolError) as info:
            await pool.handle_request(request)
    assert info.value.request is request


@pytest.mark.parametrize(
    ("reply", "status"),
    [
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 407 Who\r\nContent-Length: 0\r\n\r\n", 407),
        (b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 11\r\n\r\nNo upstream", 502),
        (
            b"HTTP/1.1 407 Who\r\nProxy-Authenticate: Basic\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n5\r\nlogin\r\n0\r\n\r\n",
            407,
        ),
        (b"SSH-2.0-OpenSSH\r\n\r\n", None),
    ],
    ids=["407-after-100", "502-with-body", "407-chunked", "not-http"],
)
@pytest.mark.anyio
@pytest.mark.case("F27")
async def test_connect_answers(
    raw_server: RawServerFactory, reply: bytes, status: int | None
) -> None:
    hung_up = threading.Event()
    proxy = raw_server(scripted(reply, hung_up=hung_up))
    credentials = httpcore2.Proxy(proxy.url, auth=("user", "wrong"))
    async with httpcore2.ConnectionPool(proxy=credentials) as pool:
        with pytest.raises(httpcore2.ProxyError) as info:
            await pool.request("GET", "https://example.test/")
        # The socket was closed at once, not left to the pool (waited for in a thread,
        # so that the event loop can finish closing it).
        wait = anyio.to_thread.run_sync  # unasync: remove
        assert await wait(hung_up.wait, 5.0)  # unasync: sync=assert hung_up.wait(5.0)
    assert info.value.status == status
    # One CONNECT on one connection: a refusal, of the credentials or not, is not tried again.
    (conn,) = proxy.connections
    assert conn.received.startswith(
        b"CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n"
    )
    assert conn.received.count(b"CONNECT") == conn.received.count(b"Proxy-Authorization") == 1


@pytest.mark.parametrize(
    ("replies", "message"),
    [
        ([b"\x05\xff"], "none of the authentication methods"),
        ([b"\x05\x00", b"\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00"], "CONNECTION_REFUSED"),
        ([b"\x05"], "malformed reply"),
    ],
)
@pytest.mark.anyio
async def test_socks5_refusals(
    raw_server: RawServerFactory, replies: list[bytes], message: str
) -> None:
    proxy = raw_server(scripted(*replies))
    async with httpcore2.ConnectionPool(proxy=proxy.url.replace("http", "socks5h")) as pool:
        with pytest.raises(httpcore2.ProxyError, match=message):
            await pool.request("GET", "http://[::1]:8080/")
    # The address goes as an IPv6 address, port 8080.
    assert proxy.connections[0].received.startswith(b"\x05\x01\x00")


@pytest.mark.anyio
async def test_socks5_name_that_does_not_resolve(raw_server: RawServerFactory) -> None:
    proxy = raw_server(scripted())
    async with httpcore2.ConnectionPool(proxy=proxy.url.replace("http", "socks5")) as pool:
        with pytest.raises(httpcore2.ConnectError, match="Could not resolve"):
            await pool.request("GET", "http://name.invalid/")
