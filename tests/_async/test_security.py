"""Security cases over loopback sockets, with the bytes the servers received as evidence.

Raw servers on 127.0.0.1 and 127.0.0.2 (two hosts on loopback) record every request, so each
test asserts what reached the wire: credentials across redirects, the request line and
`Host`, the TLS ClientHello (SNI, ALPN, versions), proxies and `.netrc`. Each test carries
the checklist id it holds (`scripts/cases`).
"""

from __future__ import annotations

import base64
import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from hyperframe.frame import ContinuationFrame, DataFrame, HeadersFrame

import httpcore2
from tests.servers import certs
from tests.servers.h2 import (
    H2Request,
    H2Server,
    H2ServerConnection,
    Script,
    on_first_connection,
    respond_ok,
)
from tests.servers.raw import OK, RawConnection, RawServerFactory, build_response

QUICK = {"timeout": {"connect": 2.0, "read": 2.0, "write": 2.0, "pool": 2.0}}
CREDENTIALS = (b"authorization", b"proxy-authorization", b"cookie")


class Routes:
    """A raw-server handler that answers each request by its path (`table[path]`, 404 if
    absent) for as long as the client keeps the connection, and records the requests."""

    def __init__(self, table: dict[bytes, bytes] | None = None) -> None:
        self.table = {} if table is None else table
        self.requests: list[bytes] = []

    def __call__(self, conn: RawConnection) -> None:
        while request := conn.recv_request():
            self.requests.append(request)
            target = request.split(b" ", 2)[1]
            conn.send(self.table.get(target, build_response(404, b"")))


def redirect(
    location: bytes | str, status: int = 302, body: bytes = b"", fields: bytes = b""
) -> bytes:
    """A redirect to `location` as raw bytes (which may be anything a server sends), with
    more header `fields` (raw lines, each ending in CRLF)."""
    if isinstance(location, str):
        location = location.encode("ascii")
    head = b"HTTP/1.1 %d Redirect\r\nLocation: %s\r\n%s" % (status, location, fields)
    return head + b"Content-Length: %d\r\n\r\n" % len(body) + body


def request_line(request: bytes) -> bytes:
    return request.split(b"\r\n", 1)[0]


def fields(request: bytes) -> list[tuple[bytes, bytes]]:
    """The header fields of a recorded request, names lower-cased, in wire order."""
    head = request.split(b"\r\n\r\n", 1)[0]
    pairs = [line.split(b":", 1) for line in head.split(b"\r\n")[1:]]
    return [(name.lower(), value.strip()) for name, value in pairs]


def names(request: bytes) -> list[bytes]:
    return [name for name, _ in fields(request)]


def field(request: bytes, name: bytes) -> bytes | None:
    values = [value for key, value in fields(request) if key == name]
    assert len(values) <= 1, values
    return values[0] if values else None


def basic(user: str, password: str) -> bytes:
    return b"Basic " + base64.b64encode(f"{user}:{password}".encode())


# --- credentials across redirects (S01-S09) ---------------------------------------------------

USER_CREDENTIALS = [
    ("Authorization", "Bearer first-copy"),
    ("authorization", "Bearer second-copy"),
    ("Proxy-Authorization", "Basic cHJveHk6cHc="),
    ("Cookie", "session=1"),
    ("COOKIE", "other=2"),
]


def client_with(credentials: str, **options: Any) -> httpcore2.Client:
    """A client that sends credentials of its own: `auth=`, or headers the user set."""
    if credentials == "auth":
        return httpcore2.Client(auth=("user", "pass"), timeout=2.0, **options)
    return httpcore2.Client(headers=USER_CREDENTIALS, timeout=2.0, **options)


@pytest.mark.case("S06", "S07", "S08")
@pytest.mark.parametrize("credentials", ["auth", "headers"])
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize(
    "target_host",
    [
        pytest.param("127.0.0.2", id="other-host", marks=pytest.mark.case("S01")),
        pytest.param("127.0.0.1", id="other-port", marks=pytest.mark.case("S02")),
    ],
)
@pytest.mark.anyio
async def test_s01_s02_credentials_never_reach_another_origin(
    raw_server: RawServerFactory, target_host: str, status: int, credentials: str
) -> None:
    target = Routes({b"/landed": OK})
    other = raw_server(target, host=target_host)
    origin = Routes({b"/start": redirect(other.url + "/landed", status)})
    first = raw_server(origin)
    async with client_with(credentials) as client:
        response = await client.get(first.url + "/start")
    assert response.status == 200
    assert response.url == other.url + "/landed"
    # The first origin got them (every copy), the second none of them.
    sent = names(origin.requests[0])
    assert sent.count(b"authorization") == (1 if credentials == "auth" else 2)
    assert not set(CREDENTIALS) & set(names(target.requests[0]))


def h2_redirect(location: str) -> Script:
    """Answer `/start` with a 302 to `location`, anything else with 200."""

    def on_request(conn: H2ServerConnection, request: H2Request) -> None:
        if request.path == b"/start":
            redirect_to = [(b"location", location.encode())]
            conn.respond(request.stream_id, 302, b"", headers=redirect_to)
        else:
            conn.respond(request.stream_id)

    return Script(on_request)


@pytest.mark.case("S01", "S06", "S07", "S08", "S14")
@pytest.mark.parametrize("credentials", ["auth", "headers"])
@pytest.mark.anyio
async def test_s01_s14_over_http2_credentials_stay_behind_and_authority_follows_the_url(
    credentials: str,
) -> None:
    with H2Server(respond_ok(), host="127.0.0.2") as other:
        with H2Server(h2_redirect(other.url + "/landed")) as first:
            async with client_with(credentials, http1=False, http2=True) as client:
                response = await client.get(first.url + "/start", headers={"Host": "custom.test"})
    assert (response.status, response.protocol) == (200, "HTTP/2")
    (start,) = first.connections[0].requests.values()
    (landed,) = other.connections[0].requests.values()
    assert start.header(b":authority") == b"custom.test"
    assert landed.header(b":authority") == f"127.0.0.2:{other.port}".encode()
    sent = [name for name, _ in start.headers]
    assert sent.count(b"authorization") == (1 if credentials == "auth" else 2)
    assert not set(CREDENTIALS) & {name for name, _ in landed.headers}
    assert b"host" not in sent


class SamePortTLSAndPlain(Routes):
    """One port that speaks TLS to a client that starts a handshake (and redirects it to
    `http://` on this very port) and plain HTTP to one that does not (recorded)."""

    def __init__(self) -> None:
        super().__init__({b"/landed": OK})
        self.context = certs.server_ssl_context(alpn_protocols=["http/1.1"])
        self.tls_requests: list[bytes] = []

    def __call__(self, conn: RawConnection) -> None:
        if conn.sock.recv(1, socket.MSG_PEEK) != b"\x16":  # not a TLS handshake record
            super().__call__(conn)
            return
        port = conn.sock.getsockname()[1]
        # A duplicate: the TLS socket takes over the descriptor it wraps.
        with self.context.wrap_socket(conn.sock.dup(), server_side=True) as tls:
            request = b""
            while b"\r\n\r\n" not in request:
                request += tls.recv(65536)
            self.tls_requests.append(request)
            location = f"http://127.0.0.1:{port}/landed"
            tls.sendall(redirect(location, fields=b"Connection: close\r\n"))


@pytest.mark.case("S03")
@pytest.mark.parametrize("credentials", ["auth", "headers"])
@pytest.mark.anyio
async def test_s03_https_to_http_on_the_same_host_and_port_drops_credentials(
    raw_server: RawServerFactory, ca_file: Path, credentials: str
) -> None:
    handler = SamePortTLSAndPlain()
    server = raw_server(handler)
    https_url = server.url.replace("http://", "https://") + "/start"
    async with client_with(credentials, verify=str(ca_file)) as client:
        response = await client.get(https_url)
    assert response.status == 200
    assert response.url == server.url + "/landed"
    assert b"authorization" in names(handler.tls_requests[0])
    assert not set(CREDENTIALS) & set(names(handler.requests[0]))


@pytest.mark.case("S05")
@pytest.mark.parametrize("credentials", ["auth", "headers"])
@pytest.mark.anyio
async def test_s05_credentials_stay_dropped_when_the_chain_comes_back(
    raw_server: RawServerFactory, credentials: str
) -> None:
    # 127.0.0.1 -> 127.0.0.2 -> 127.0.0.1: the hop back was chosen by the other host.
    home = Routes({b"/final": OK})
    first = raw_server(home)
    away = Routes({b"/bounce": redirect(first.url + "/final")})
    second = raw_server(away, host="127.0.0.2")
    home.table[b"/start"] = redirect(second.url + "/bounce")
    async with client_with(credentials) as client:
        response = await client.get(first.url + "/start")
    assert response.url == first.url + "/final"
    start, final = home.requests
    assert not set(CREDENTIALS) & set(names(away.requests[0]))
    if credentials == "headers":
        # What the user set is gone for good...
        assert b"authorization" in names(start)
        assert not set(CREDENTIALS) & set(names(final))
    else:
        # ...while `auth=` is worked out again for each hop, and belongs to this origin.
        assert (
            field(start, b"authorization")
            == field(final, b"authorization")
            == basic("user", "pass")
        )


@pytest.mark.case("S49")
@pytest.mark.anyio
async def test_s49_a_cookie_set_by_a_redirect_follows_the_jar_rules(
    raw_server: RawServerFactory,
) -> None:
    target = Routes({b"/elsewhere": OK})
    other = raw_server(target, host="127.0.0.2")
    origin = Routes(
        {
            b"/start": redirect("/same", fields=b"Set-Cookie: a=1; Path=/\r\n"),
            b"/same": redirect(other.url + "/elsewhere"),
        }
    )
    first = raw_server(origin)
    async with httpcore2.Client(timeout=2.0) as client:
        response = await client.get(first.url + "/start")
        assert client.cookies["a"] == "1"
    assert response.url == other.url + "/elsewhere"
    assert field(origin.requests[1], b"cookie") == b"a=1"
    assert b"cookie" not in names(target.requests[0])


@pytest.mark.case("S47")
@pytest.mark.anyio
async def test_s47_plain_http_neither_gets_nor_replaces_a_secure_cookie(
    raw_server: RawServerFactory, ca_file: Path
) -> None:
    closing = [("Connection", "close")]
    secure = TLSOnce(build_response(headers=[("Set-Cookie", "s=1; Secure"), *closing]))
    https = raw_server(secure)
    plain = Routes({b"/": build_response(headers=[("Set-Cookie", "s=2"), *closing])})
    http = raw_server(plain)  # the same host, 127.0.0.1: cookies do not tell ports apart
    https_url = https.url.replace("http://", "https://") + "/"
    async with httpcore2.Client(verify=str(ca_file), timeout=2.0) as client:
        for url in (https_url, http.url + "/", http.url + "/", https_url):
            assert (await client.get(url)).status == 200
        assert client.cookies["s"] == "1"
    assert [field(request, b"cookie") for request in plain.requests] == [None, None]
    assert [field(request, b"cookie") for request in secure.requests] == [None, b"s=1"]


# --- method and body on redirects (S10) -------------------------------------------------------


@pytest.mark.case("S10")
@pytest.mark.parametrize("status", [301, 302, 303])
@pytest.mark.anyio
async def test_s10_a_post_turned_into_get_carries_no_body_and_no_body_headers(
    raw_server: RawServerFactory, status: int
) -> None:
    routes = Routes({b"/done": OK})
    server = raw_server(routes)
    routes.table[b"/form"] = redirect("/done", status)
    async with httpcore2.Client(timeout=2.0) as client:
        response = await client.post(server.url + "/form", data={"secret": "payload"})
    assert response.status == 200
    post, get = routes.requests
    assert request_line(post) == b"POST /form HTTP/1.1"
    assert post.endswith(b"\r\n\r\nsecret=payload")
    assert request_line(get) == b"GET /done HTTP/1.1"
    assert get.endswith(b"\r\n\r\n")
    assert not {b"content-length", b"content-type", b"transfer-encoding"} & set(names(get))


@pytest.mark.case("S10")
@pytest.mark.parametrize("status", [307, 308])
@pytest.mark.anyio
async def test_s10_a_streamed_body_is_not_replayed_empty(
    raw_server: RawServerFactory, status: int
) -> None:
    routes = Routes({b"/again": OK})
    server = raw_server(routes)
    routes.table[b"/upload"] = redirect("/again", status)

    async def body() -> AsyncIterator[bytes]:
        yield b"streamed"

    async with httpcore2.Client(timeout=2.0) as client:
        with pytest.raises(httpcore2.StreamConsumed):
            await client.post(server.url + "/upload", content=body())
    assert [request_line(request) for request in routes.requests] == [b"POST /upload HTTP/1.1"]


# --- what goes on the request line and in Host (S13, S14, S17, S41, S43, S45) -----------------


@pytest.mark.parametrize(
    ("path", "target"),
    [
        pytest.param(
            "/a%2Fb/%zz/%E2%82%AC/ä/%3F%23%25?q=%2F%zz",
            b"/a%2Fb/%25zz/%E2%82%AC/%C3%A4/%3F%23%25?q=%2F%25zz",
            marks=pytest.mark.case("S43"),
            id="percent",
        ),
        pytest.param(
            "/a b?q=c d&e=\"'<>",
            b"/a%20b?q=c%20d&e=%22%27%3C%3E",
            marks=pytest.mark.case("S17"),
            id="space-quote",
        ),
    ],
)
@pytest.mark.anyio
async def test_s17_s43_the_request_target_is_sent_exactly_encoded(
    raw_server: RawServerFactory, path: str, target: bytes
) -> None:
    routes = Routes()
    server = raw_server(routes)
    async with httpcore2.Client(timeout=2.0) as client:
        await client.get(server.url + path)
    assert request_line(routes.requests[0]) == b"GET " + target + b" HTTP/1.1"


@pytest.mark.case("S13")
@pytest.mark.parametrize(
    ("location", "target"),
    [
        (b"/a b", b"/a%20b"),
        (b"/caf\xc3\xa9?q=\xe2\x82\xac", b"/caf%C3%A9?q=%E2%82%AC"),
        (b"/caf\xe9", b"/caf%E9"),  # not UTF-8: the byte as it came
        (b"next#frag", b"/dir/next"),
        (b"../up/./x", b"/up/x"),
    ],
)
@pytest.mark.anyio
async def test_s13_a_location_is_resolved_and_encoded_before_it_is_sent(
    raw_server: RawServerFactory, location: bytes, target: bytes
) -> None:
    routes = Routes({b"/dir/start": redirect(location)})
    server = raw_server(routes)
    async with httpcore2.Client(timeout=2.0) as client:
        response = await client.get(server.url + "/dir/start")
    assert response.status == 404  # whatever it is, the request went out
    assert request_line(routes.requests[1]) == b"GET " + target + b" HTTP/1.1"


@pytest.mark.case("S13", "S14")
@pytest.mark.anyio
async def test_s13_s14_a_scheme_relative_location_goes_to_its_host_with_its_own_host_header(
    raw_server: RawServerFactory,
) -> None:
    target = Routes({b"/x": OK})
    other = raw_server(target, host="127.0.0.2")
    origin = Routes({b"/start": redirect(f"//127.0.0.2:{other.port}/x")})
    first = raw_server(origin)
    async with httpcore2.Client(timeout=2.0) as client:
        response = await client.get(first.url + "/start", headers={"Host": "custom.test"})
    assert response.status == 200
    # The Host the user set went to the first request only.
    assert field(origin.requests[0], b"host") == b"custom.test"
    assert request_line(target.requests[0]) == b"GET /x HTTP/1.1"
    assert field(target.requests[0], b"host") == f"127.0.0.2:{other.port}".encode()


@pytest.mark.case("S14", "S41")
@pytest.mark.anyio
async def test_s14_s41_userinfo_becomes_basic_auth_and_nothing_else(
    raw_server: RawServerFactory,
) -> None:
    routes = Routes()
    server = raw_server(routes)
    url = f"http://us%40er:p%3As%20s@127.0.0.1:{server.port}/path"
    async with httpcore2.Client(timeout=2.0) as client:
        await client.get(url)
    request = routes.requests[0]
    assert request_line(request) == b"GET /path HTTP/1.1"
    assert field(request, b"host") == f"127.0.0.1:{server.port}".encode()
    assert field(request, b"authorization") == basic("us@er", "p:s s")
    for secret in (b"us%40er", b"us@er", b"p%3A", b"p:s"):
        assert secret not in request


@pytest.mark.case("S41")
@pytest.mark.anyio
async def test_s41_the_password_is_in_no_error_message(unused_port: int) -> None:
    async with httpcore2.Client(timeout=2.0) as client:
        with pytest.raises(httpcore2.ConnectError) as info:
            await client.get(f"http://user:s3cr3t@127.0.0.1:{unused_port}/")
    assert "s3cr3t" not in str(info.value)
    assert "s3cr3t" not in repr(info.value.request)


@pytest.mark.parametrize(
    "host",
    [
        pytest.param("[::1]", marks=pytest.mark.case("S14"), id="ipv6"),
        # Interface 1 is the loopback interface on Linux (glibc takes interface names only
        # with link-local addresses, which loopback lacks).
        pytest.param("[::1%251]", marks=pytest.mark.case("S45"), id="zone-id"),
        pytest.param("[::1%1]", marks=pytest.mark.case("S45"), id="legacy-zone-id"),
    ],
)
@pytest.mark.anyio
async def test_s14_s45_ipv6_host_header_is_bracketed_without_a_zone_id(
    raw_server: RawServerFactory, host: str
) -> None:
    routes = Routes()
    server = raw_server(routes, host="::1")
    async with httpcore2.Client(timeout=2.0) as client:
        await client.get(f"http://{host}:{server.port}/")
    assert field(routes.requests[0], b"host") == f"[::1]:{server.port}".encode()


# --- TLS: the ClientHello, verification, proxies (S31-S36) ------------------------------------


def capture_client_hello(conn: RawConnection) -> None:
    """Read the first TLS record (the ClientHello), then hang up."""
    received = b""
    while len(received) < 5 or len(received) < 5 + int.from_bytes(received[3:5], "big"):
        data = conn.recv()
        if not data:
            return
        received += data


def hello_extensions(record: bytes) -> dict[int, bytes]:
    """The extensions of the ClientHello in `record`, by type (RFC 8446 §4.1.2)."""
    assert (record[0], record[5]) == (22, 1)  # a handshake record holding a ClientHello
    hello = record[9:]
    position = 2 + 32  # legacy_version, random
    position += 1 + hello[position]  # legacy_session_id
    position += 2 + int.from_bytes(hello[position : position + 2], "big")  # cipher_suites
    position += 1 + hello[position]  # legacy_compression_methods
    end = position + 2 + int.from_bytes(hello[position : position + 2], "big")
    position += 2
    extensions = {}
    while position < end:
        kind = int.from_bytes(hello[position : position + 2], "big")
        size = int.from_bytes(hello[position + 2 : position + 4], "big")
        extensions[kind] = hello[position + 4 : position + 4 + size]
        position += 4 + size
    return extensions


def server_name(extensions: dict[int, bytes]) -> bytes | None:
    """The host name of the server_name extension (RFC 6066 §3), None if absent."""
    if 0 not in extensions:
        return None
    data = extensions[0]
    assert data[2] == 0  # host_name
    return data[5 : 5 + int.from_bytes(data[3:5], "big")]


def alpn(extensions: dict[int, bytes]) -> list[bytes]:
    data, names = extensions.get(16, b"\x00\x00"), []
    position = 2
    while position < len(data):
        size = data[position]
        names.append(data[position + 1 : position + 1 + size])
        position += 1 + size
    return names


def supported_versions(extensions: dict[int, bytes]) -> list[int]:
    data = extensions[43]
    return [int.from_bytes(data[i : i + 2], "big") for i in range(1, 1 + data[0], 2)]


async def client_hello(
    raw_server: RawServerFactory, host: str, url_host: str, **options: Any
) -> dict[int, bytes]:
    """The extensions of the ClientHello a pool sends to `https://{url_host}:port/`."""
    server = raw_server(capture_client_hello, host=host)
    async with httpcore2.ConnectionPool(**options) as pool:
        with pytest.raises(httpcore2.NetworkError):
            await pool.request("GET", f"https://{url_host}:{server.port}/", extensions=QUICK)
    return hello_extensions(bytes(server.connections[0].received))


@pytest.mark.case("S33")
@pytest.mark.parametrize(
    ("host", "url_host", "sni"),
    [
        ("127.0.0.1", "localhost", b"localhost"),
        ("127.0.0.1", "LocalHost", b"localhost"),
        ("127.0.0.1", "127.0.0.1", None),  # no SNI for an address (RFC 6066 §3)
        ("::1", "[::1]", None),
    ],
)
@pytest.mark.anyio
async def test_s33_sni_is_the_lower_case_name_and_absent_for_addresses(
    raw_server: RawServerFactory, host: str, url_host: str, sni: bytes | None
) -> None:
    extensions = await client_hello(raw_server, host, url_host)
    assert server_name(extensions) == sni


@pytest.mark.case("S34")
@pytest.mark.parametrize(
    ("http2", "offered"), [(False, [b"http/1.1"]), (True, [b"h2", b"http/1.1"])]
)
@pytest.mark.anyio
async def test_s34_alpn_offers_h2_only_with_http2_and_nothing_below_tls_1_2(
    raw_server: RawServerFactory, http2: bool, offered: list[bytes]
) -> None:
    extensions = await client_hello(raw_server, "127.0.0.1", "localhost", http2=http2)
    assert alpn(extensions) == offered
    assert min(supported_versions(extensions)) == 0x0303  # TLS 1.2


class TLSOnce:
    """A TLS server presenting `leaf` (default: for localhost, 127.0.0.1 and ::1) that answers
    one request per connection with `response`, and records the requests."""

    def __init__(self, response: bytes = OK, leaf: trustme.LeafCert | None = None) -> None:
        self.context = certs.server_ssl_context(leaf, alpn_protocols=["http/1.1"])
        self.response = response
        self.requests: list[bytes] = []

    def __call__(self, conn: RawConnection) -> None:
        try:
            tls = self.context.wrap_socket(conn.sock.dup(), server_side=True)
        except (ssl.SSLError, OSError):  # the client refused the certificate
            return
        with tls:
            request = b""
            while b"\r\n\r\n" not in request and (data := tls.recv(65536)):
                request += data
            self.requests.append(request)
            tls.sendall(self.response)


@pytest.mark.case("S32")
@pytest.mark.parametrize(
    ("host", "url_host", "leaf", "verified"),
    [
        ("127.0.0.1", "localhost", None, True),  # DNS SAN
        ("127.0.0.1", "127.0.0.1", None, True),  # IP SAN
        ("::1", "[::1]", None, True),  # IPv6 SAN, brackets stripped
        ("127.0.0.1", "localhost", "wrong", False),
        ("::1", "[::1]", "wrong", False),
        ("127.0.0.1", "localhost", "cn-only", False),  # the subject CN is never read
    ],
)
@pytest.mark.anyio
async def test_s32_the_certificate_must_name_the_host(
    raw_server: RawServerFactory,
    ca_file: Path,
    host: str,
    url_host: str,
    leaf: str | None,
    verified: bool,
) -> None:
    authority = certs.cert_authority()
    leaves = {
        None: None,
        "wrong": certs.wrong_host_cert(),
        "cn-only": authority.issue_cert(certs.WRONG_IDENTITY, common_name="localhost"),
    }
    server = raw_server(TLSOnce(leaf=leaves[leaf]), host=host)
    url = f"https://{url_host}:{server.port}/"
    async with httpcore2.ConnectionPool(verify=str(ca_file)) as pool:
        if verified:
            assert (await pool.request("GET", url, extensions=QUICK)).status == 200
        else:
            with pytest.raises(httpcore2.ConnectError, match="certificate verify failed"):
                await pool.request("GET", url, extensions=QUICK)


def wrong_name_tls(conn: RawConnection) -> None:
    """A TLS server whose certificate names `wrong.test` only; it reads nothing in clear."""
    context = certs.server_ssl_context(certs.wrong_host_cert())
    try:
        context.wrap_socket(conn.sock.dup(), server_side=True).close()
    except (ssl.SSLError, OSError):  # the client gave up on the certificate
        pass


@pytest.mark.case("S36")
@pytest.mark.anyio
async def test_s36_an_https_proxy_is_verified_like_an_origin(
    raw_server: RawServerFactory, ca_file: Path
) -> None:
    proxy = raw_server(wrong_name_tls)
    proxy_url = proxy.url.replace("http://", "https://user:pass@")
    async with httpcore2.ConnectionPool(proxy=proxy_url, verify=str(ca_file)) as pool:
        for target in ("http://127.0.0.2:1/", "https://127.0.0.2:1/"):
            with pytest.raises(httpcore2.ConnectError, match="certificate verify failed"):
                await pool.request("GET", target, extensions=QUICK)
        assert pool.connections == []
    # Nothing but the handshake went to the proxy: no CONNECT, no credentials in clear.
    for conn in proxy.connections:
        assert b"pass" not in conn.received
        assert b"CONNECT" not in conn.received


@pytest.mark.case("S08", "S35")
@pytest.mark.anyio
async def test_s35_a_proxy_connection_serves_only_the_credentials_it_was_made_with(
    raw_server: RawServerFactory,
) -> None:
    forward = Routes({b"http://127.0.0.2:1/": OK})
    proxy = raw_server(forward)
    alice = httpcore2.Proxy(proxy.url, auth=("alice", "a"))
    bob = httpcore2.Proxy(proxy.url, auth=("bob", "b"))
    anonymous = httpcore2.Proxy(proxy.url)
    async with httpcore2.ConnectionPool() as pool:
        for chosen in (alice, bob, anonymous, alice):
            response = await pool.request(
                "GET", "http://127.0.0.2:1/", extensions={**QUICK, "proxy": chosen}
            )
            assert response.status == 200
    sent = [field(request, b"proxy-authorization") for request in forward.requests]
    assert sent == [basic("alice", "a"), basic("bob", "b"), None, basic("alice", "a")]
    # One connection each: alice's came back for her second request, and only for hers.
    assert len(proxy.connections) == 3
    assert forward.requests[3] in proxy.connections[0].received


# --- the environment: proxies and .netrc (S37-S40) --------------------------------------------


@pytest.mark.case("S37", "S38")
@pytest.mark.parametrize(
    ("variables", "trust_env", "proxied"),
    [
        ({"HTTP_PROXY": "{proxy}"}, True, True),
        ({"HTTP_PROXY": "{proxy}"}, False, False),
        ({"HTTP_PROXY": "{proxy}", "REQUEST_METHOD": "GET"}, True, False),  # httpoxy
        ({"http_proxy": "{proxy}", "REQUEST_METHOD": "GET"}, True, True),
        ({"ALL_PROXY": "{proxy}"}, True, True),
        ({"ALL_PROXY": "{proxy}", "NO_PROXY": "127.0.0.2"}, True, False),
        ({"ALL_PROXY": "{proxy}", "NO_PROXY": "0.0.2"}, True, True),  # label boundary
        ({"http_proxy": "{proxy}", "no_proxy": "127.0.0.0/8"}, True, False),
    ],
)
@pytest.mark.anyio
async def test_s37_s38_the_proxy_the_environment_chooses(
    raw_server: RawServerFactory,
    monkeypatch: pytest.MonkeyPatch,
    variables: dict[str, str],
    trust_env: bool,
    proxied: bool,
) -> None:
    origin_routes = Routes({b"/": OK})
    origin = raw_server(origin_routes, host="127.0.0.2")
    proxy_routes = Routes({f"{origin.url}/".encode(): OK})
    proxy = raw_server(proxy_routes)
    monkeypatch.delenv("REQUEST_METHOD", raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value.format(proxy=proxy.url))
    async with httpcore2.Client(trust_env=trust_env, timeout=2.0) as client:
        assert (await client.get(origin.url + "/")).status == 200
    assert (len(proxy_routes.requests), len(origin_routes.requests)) == (
        (1, 0) if proxied else (0, 1)
    )


@pytest.fixture
def netrc_for_127_0_0_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "netrc"
    path.write_text("machine 127.0.0.2 login netrc-user password netrc-pass\n")
    monkeypatch.setenv("NETRC", str(path))


@pytest.mark.case("S39")
@pytest.mark.usefixtures("netrc_for_127_0_0_2")
@pytest.mark.parametrize(
    ("userinfo", "authorization"),
    [
        ("", None),
        ("127.0.0.2@", basic("127.0.0.2", "")),
        ("127.0.0.2:x@", basic("127.0.0.2", "x")),
    ],
)
@pytest.mark.anyio
async def test_s39_netrc_is_looked_up_by_the_host_the_request_goes_to(
    raw_server: RawServerFactory, userinfo: str, authorization: bytes | None
) -> None:
    routes = Routes()
    server = raw_server(routes)
    async with httpcore2.Client(timeout=2.0) as client:
        await client.get(f"http://{userinfo}127.0.0.1:{server.port}/")
    assert field(routes.requests[0], b"authorization") == authorization


@pytest.mark.case("S39")
@pytest.mark.usefixtures("netrc_for_127_0_0_2")
@pytest.mark.anyio
async def test_s39_netrc_credentials_go_to_their_host_only_along_a_redirect(
    raw_server: RawServerFactory,
) -> None:
    target = Routes()
    other = raw_server(target, host="127.0.0.2")
    origin = Routes({b"/c": OK})
    first = raw_server(origin)
    target.table[b"/b"] = redirect(f"{first.url}/c")
    origin.table[b"/a"] = redirect(f"{other.url}/b")
    async with httpcore2.Client(timeout=2.0) as client:
        response = await client.get(first.url + "/a")
    assert response.url == first.url + "/c"
    assert [field(request, b"authorization") for request in origin.requests] == [None, None]
    assert field(target.requests[0], b"authorization") == basic("netrc-user", "netrc-pass")


# --- response bodies and HTTP/2 header blocks (S26, S30) --------------------------------------


@pytest.mark.case("S30")
@pytest.mark.parametrize(
    ("size", "connections"),
    [
        (100, 1),  # drained, and the connection serves the next hop
        (1 << 20, 2),  # far past the drain cap: closed, and the next hop gets a new one
    ],
)
@pytest.mark.anyio
async def test_s30_a_redirect_body_is_drained_raw_or_its_connection_closed(
    raw_server: RawServerFactory, size: int, connections: int
) -> None:
    # The body claims gzip and is not: decoding it would fail, draining it raw does not.
    routes = Routes({b"/next": OK})
    server = raw_server(routes)
    body = b"\xff" * size
    routes.table[b"/start"] = redirect("/next", body=body, fields=b"Content-Encoding: gzip\r\n")
    async with httpcore2.Client(timeout=2.0) as client:
        response = await client.get(server.url + "/start")
    assert response.status == 200
    assert response.url == server.url + "/next"
    assert len(server.connections) == connections


def continuation_flood(conn: H2ServerConnection, request: H2Request) -> None:
    """Answer with a HEADERS frame that never ends: 10,000 CONTINUATION frames follow."""
    head = HeadersFrame(request.stream_id, data=conn.h2.encoder.encode([(b":status", b"200")]))
    frames = [head.serialize()]
    frames += [ContinuationFrame(request.stream_id).serialize() for _ in range(10_000)]
    conn.send_raw(b"".join(frames))


def raw_response(*fields: tuple[bytes, bytes], body: bytes = b"hello") -> Script:
    """Answer with `fields` HPACK-encoded as they are (h2 would check what it sends), then
    `body`; later connections are answered normally."""

    def on_request(conn: H2ServerConnection, request: H2Request) -> None:
        block = conn.h2.encoder.encode([(b":status", b"200"), *fields])
        head = HeadersFrame(request.stream_id, data=block, flags=["END_HEADERS"])
        data = DataFrame(request.stream_id, data=body, flags=["END_STREAM"])
        conn.send_raw(head.serialize() + data.serialize())

    return on_first_connection(Script(on_request))


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param(
            [(b"content-length", b"5"), (b"content-length", b"6")],
            marks=pytest.mark.case("S20"),
            id="differing-lengths",
        ),
        pytest.param([(b"content-length", b"+5")], marks=pytest.mark.case("S20"), id="plus"),
        pytest.param([(b"content-length", b"3")], marks=pytest.mark.case("S20"), id="longer"),
        pytest.param([(b"transfer-encoding", b"chunked")], marks=pytest.mark.case("S21"), id="te"),
        pytest.param([(b"x", b"a\rb")], marks=pytest.mark.case("S23"), id="cr"),
        pytest.param([(b"x", b"a\x00b")], marks=pytest.mark.case("S23"), id="nul"),
        pytest.param([(b"X-Upper", b"a")], marks=pytest.mark.case("S23"), id="upper-case"),
        pytest.param([(b"x y", b"a")], marks=pytest.mark.case("S23"), id="space-in-name"),
    ],
)
@pytest.mark.anyio
async def test_s20_s21_s23_an_http2_response_head_that_breaks_the_rules_is_refused(
    fields: list[tuple[bytes, bytes]],
) -> None:
    with H2Server(raw_response(*fields)) as server:
        async with httpcore2.ConnectionPool(http1=False, http2=True) as pool:
            with pytest.raises(httpcore2.RemoteProtocolError):
                await pool.request("GET", server.url + "/", extensions=QUICK)
            response = await pool.request("GET", server.url + "/", extensions=QUICK)
            assert response.status == 200


@pytest.mark.case("S26")
@pytest.mark.anyio
async def test_s26_a_continuation_flood_is_a_protocol_error_that_spares_the_pool() -> None:
    with H2Server(on_first_connection(Script(continuation_flood))) as server:
        async with httpcore2.ConnectionPool(http1=False, http2=True) as pool:
            with pytest.raises(httpcore2.RemoteProtocolError, match=r"(?i)continuation"):
                await pool.request("GET", server.url + "/", extensions=QUICK)
            assert pool.connections == []
            response = await pool.request("GET", server.url + "/", extensions=QUICK)
            assert response.status == 200
    assert len(server.connections) == 2
