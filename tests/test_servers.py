"""Self-tests of the loopback test servers, with stdlib clients only (no httpcore2)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import http.client
import itertools
import json
import os
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable
from contextlib import closing
from typing import Any
from urllib.parse import urlencode, urljoin

import anyio
import pytest

from tests._sync.waiting import wait_until
from tests.servers import app as app_module
from tests.servers.app import (
    ENCODING_TEXTS,
    HELLO,
    JSON_DOCUMENT,
    LINES,
    LINES_CHUNKS,
    App,
    app,
    encoding_text,
    pattern_bytes,
)
from tests.servers.asgi_server import Server
from tests.servers.certs import TLSFiles, client_ssl_context
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
from tests.servers.wsgi_server import GunicornServer

GET = b"GET / HTTP/1.1\r\nHost: example\r\n\r\n"


def connect(server: Server, timeout: float = 5.0) -> http.client.HTTPConnection:
    if server.ca_file is None:
        return http.client.HTTPConnection(server.host, server.port, timeout=timeout)
    context = ssl.create_default_context(cafile=str(server.ca_file))
    return http.client.HTTPSConnection(server.host, server.port, timeout=timeout, context=context)


def fetch(
    server: Server,
    path: str,
    method: str = "GET",
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[http.client.HTTPResponse, bytes]:
    with closing(connect(server)) as conn:
        conn.request(method, path, body=body, headers=headers or {})
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


# -- httpbin-style endpoints -----------------------------------------------------------------


def header_bytes(response: http.client.HTTPResponse, name: str) -> list[bytes]:
    """Every value of a response header, as the bytes sent (http.client decodes them as latin-1)."""
    return [value.encode("latin-1") for key, value in response.getheaders() if key == name]


def test_anything_describes_the_request(any_server: Server) -> None:
    target = "/anything/a%20b/c?x=1&x=2&y=&z=%C3%A9+%2B"
    headers = {"Cookie": "a=1; b=two", "Content-Type": "application/json"}
    response, body = fetch(any_server, target, "PUT", b'{"k": [1, "\xc3\xa9"]}', headers)
    answer = json.loads(body)
    assert (response.status, answer["method"], answer["path"]) == (200, "PUT", "/anything/a b/c")
    assert answer["url"] == f"{any_server.url}{target}"
    assert answer["args"] == {"x": ["1", "2"], "y": [""], "z": ["\xe9 +"]}
    assert answer["cookies"] == {"a": "1", "b": "two"}
    assert answer["json"] == {"k": [1, "\xe9"]}
    assert answer["body"] == '{"k": [1, "\xc3\xa9"]}'  # raw, as latin-1
    assert ["content-type", "application/json"] in answer["headers"]
    assert (answer["form"], answer["files"], answer["parts"]) == ({}, [], [])
    assert answer["multipart_defects"] == []


@pytest.mark.parametrize("body", [b"", b"{", b"\xff", b"a=1"])
def test_anything_json_is_null_unless_the_body_is_json(server: Server, body: bytes) -> None:
    assert json.loads(fetch(server, "/anything", "POST", body)[1])["json"] is None


def test_anything_parses_a_urlencoded_form(server: Server) -> None:
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    _, body = fetch(server, "/anything", "POST", b"a=1&a=2&b=%C3%A9+x&c&&d=%FF", headers)
    assert json.loads(body)["form"] == {
        "a": ["1", "2"],
        "b": ["\xe9 x"],
        "c": [""],
        "d": ["\ufffd"],
    }


def multipart(*parts: tuple[bytes, bytes], end: bytes = b"--bound--\r\n") -> bytes:
    """A multipart body with boundary `bound` from (headers, content) pairs."""
    return b"".join(b"--bound\r\n%s\r\n\r\n%s\r\n" % part for part in parts) + end


MULTIPART_TYPE = {"Content-Type": "multipart/form-data; boundary=bound"}


def test_anything_gives_each_multipart_part_byte_for_byte(server: Server) -> None:
    binary = bytes(range(256)) * 2 + b"\r\n--bound-not\r\n\r"  # ends in a bare CR
    field = b'Content-Disposition: form-data; name="greeting"'
    upload = (
        b'Content-Disposition: form-data; name="upload"; filename="caf\xc3\xa9 \\"q\\".bin"\r\n'
        b"Content-Type: application/octet-stream\r\n"
        b"X-Part: 1"
    )
    rfc2231 = b"Content-Disposition: form-data; name*=utf-8''n%C3%A9; filename*=utf-8''%E2%82%AC"
    body = multipart((field, b"h\xc3\xa9llo"), (upload, binary), (rfc2231, b"\r\n"), (field, b""))
    response, answer_body = fetch(server, "/anything", "POST", body, MULTIPART_TYPE)
    answer = json.loads(answer_body)
    assert (response.status, answer["multipart_defects"]) == (200, [])
    assert answer["form"] == {"greeting": ["h\xe9llo", ""]}
    assert [part["name"] for part in answer["parts"]] == ["greeting", "upload", "n\xe9", "greeting"]
    assert answer["files"] == answer["parts"][1:3]
    first, second = answer["files"]
    assert (first["filename"], second["filename"]) == ('caf\xe9 "q".bin', "\u20ac")
    assert first["content"].encode("latin-1") == binary
    assert (first["length"], first["sha256"]) == (len(binary), hashlib.sha256(binary).hexdigest())
    assert first["content_type"] == "application/octet-stream"
    assert first["headers"] == [
        ["Content-Disposition", 'form-data; name="upload"; filename="caf\xc3\xa9 \\"q\\".bin"'],
        ["Content-Type", "application/octet-stream"],
        ["X-Part", "1"],
    ]
    assert (second["content"], second["length"], second["content_type"]) == ("\r\n", 2, None)


def test_anything_reports_multipart_defects(server: Server) -> None:
    body = multipart((b'Content-Disposition: form-data; name="a"', b"1"), end=b"")
    answer = json.loads(fetch(server, "/anything", "POST", body, MULTIPART_TYPE)[1])
    assert answer["multipart_defects"] == ["CloseBoundaryNotFoundDefect"]
    assert answer["form"] == {"a": ["1"]}


def test_anything_refuses_nested_multipart(server: Server) -> None:
    nested = b"Content-Type: multipart/mixed; boundary=inner"
    body = multipart((nested, b"--inner\r\n\r\nx\r\n--inner--"))
    response, answer = fetch(server, "/anything", "POST", body, MULTIPART_TYPE)
    assert (response.status, answer) == (400, b"nested multipart parts are not supported\n")


def test_redirect_to_sends_the_location_byte_for_byte(server: Server) -> None:
    query = urlencode({"url": "/caf\xe9 x+y?q=1#f", "status_code": "307"})
    response, _ = fetch(server, f"/redirect-to?{query}", "POST", b"ignored")
    assert response.status == 307
    assert header_bytes(response, "location") == ["/caf\xe9 x+y?q=1#f".encode()]


def follow(server: Server, path: str, limit: int = 10) -> tuple[list[tuple[int, str]], bytes]:
    """Follow redirects by hand over one connection: each hop's (status, Location), final body."""
    hops: list[tuple[int, str]] = []
    url = server.url + path
    with closing(connect(server)) as conn:
        for _ in range(limit):
            conn.request("GET", url.removeprefix(server.url))
            response = conn.getresponse()
            body = response.read()
            location = response.getheader("location")
            if location is None:
                return hops, body
            hops.append((response.status, location))
            url = urljoin(url, location)
    return hops, b""


def test_redirect_chain(server: Server) -> None:
    assert follow(server, "/redirect-chain/2?status_code=307") == (
        [(307, "/redirect-chain/1?status_code=307"), (307, "/redirect-chain/0?status_code=307")],
        b"done",
    )


def test_relative_redirect(server: Server) -> None:
    assert follow(server, "/relative-redirect/2") == ([(302, "1"), (302, "0")], b"done")


def test_absolute_redirect(any_server: Server) -> None:
    url = any_server.url
    assert follow(any_server, "/absolute-redirect/2?a=b") == (
        [(302, f"{url}/absolute-redirect/1?a=b"), (302, f"{url}/absolute-redirect/0?a=b")],
        b"done",
    )


def test_redirect_loop_counts_hits_per_app(server: Server, tls_server: Server) -> None:
    fetch(server, "/redirect-loop/reset")
    hops, _ = follow(server, "/redirect-loop?x=1", limit=3)
    assert hops == [(302, "/redirect-loop?x=1")] * 3
    assert fetch(tls_server, "/redirect-loop", "DELETE")[0].status == 302  # the same app
    assert json.loads(fetch(server, "/redirect-loop/count")[1]) == 4
    assert app.loop_hits() == 4
    assert json.loads(fetch(server, "/redirect-loop/reset")[1]) == 4
    assert json.loads(fetch(server, "/redirect-loop/count")[1]) == 0
    assert App().loop_hits() == 0


def test_cookies_set_then_sent_back(server: Server) -> None:
    response, _ = fetch(server, "/cookies/set?a=1&b=two+words")
    assert (response.status, response.getheader("location")) == (302, "/cookies")
    assert header_bytes(response, "set-cookie") == [b"a=1; Path=/", b"b=two words; Path=/"]
    with closing(connect(server)) as conn:
        conn.putrequest("GET", "/cookies")
        conn.putheader("Cookie", "a=1; b=2; a=3; flag")
        conn.putheader("Cookie", "c=\xe9")  # as HTTP/2 sends cookies: one field each
        conn.endheaders()
        answer = json.loads(conn.getresponse().read())
    assert answer == {"a": "1", "b": "2", "c": "\ufffd"}


def test_cookies_set_raw(server: Server) -> None:
    cookies = ["a=1; Max-Age=0", "b=2; Domain=localhost; Path=/x; Secure; Expires=Wed, 21 Oct 2037"]
    query = urlencode([("set", cookie) for cookie in cookies])
    response, body = fetch(server, f"/cookies/set-raw?{query}")
    assert header_bytes(response, "set-cookie") == [cookie.encode() for cookie in cookies]
    assert (response.status, json.loads(body)) == (200, {"set": cookies})
    response, _ = fetch(server, f"/cookies/set-raw?{query}&location=/anything")
    assert (response.status, response.getheader("location")) == (302, "/anything")
    assert len(header_bytes(response, "set-cookie")) == 2


def test_cookies_delete(server: Server) -> None:
    response, _ = fetch(server, "/cookies/delete?a&b")
    assert (response.status, response.getheader("location")) == (302, "/cookies")
    assert header_bytes(response, "set-cookie") == [
        b"a=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/",
        b"b=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/",
    ]


def decompressor(coding: str) -> Callable[[bytes], bytes]:
    if coding == "br":
        brotli = pytest.importorskip("brotli")
        return brotli.decompress  # type: ignore[no-any-return]
    if coding == "zstd":
        zstandard = pytest.importorskip("zstandard")
        # A stream decoder: the frames are written without their content size.
        return lambda data: zstandard.ZstdDecompressor().decompressobj().decompress(data)
    wbits = {"gzip": 31, "deflate": 15, "deflate-raw": -15}[coding]
    return lambda data: zlib.decompress(data, wbits)


@pytest.mark.parametrize(
    ("path", "coding", "token"),
    [
        ("/gzip", "gzip", "gzip"),
        ("/deflate", "deflate", "deflate"),
        ("/deflate-raw", "deflate-raw", "deflate"),
        ("/brotli", "br", "br"),
        ("/zstd", "zstd", "zstd"),
    ],
)
def test_compressed(server: Server, path: str, coding: str, token: str) -> None:
    response, body = fetch(server, path)
    assert (response.status, response.getheader("content-encoding")) == (200, token)
    assert json.loads(decompressor(coding)(body)) == {"compressed": True, "method": coding}


def test_raw_deflate_has_no_zlib_wrapper(server: Server) -> None:
    with pytest.raises(zlib.error):
        zlib.decompress(fetch(server, "/deflate-raw")[1])


def test_stacked_codings_apply_in_order(server: Server) -> None:
    response, body = fetch(server, "/stacked?codings=gzip,%20br")
    assert response.getheader("content-encoding") == "gzip, br"
    document = decompressor("gzip")(decompressor("br")(body))
    assert json.loads(document) == {"compressed": True, "method": "gzip,br"}


def test_a_missing_compression_package_answers_501(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app_module._CODINGS, "br", (b"br", None))
    for path in ["/brotli", "/stacked?codings=gzip,br", "/bomb?coding=br"]:
        response, body = fetch(server, path)
        assert (response.status, body) == (501, b"br needs a package that is not installed\n")


@pytest.mark.parametrize("coding", ["gzip", "deflate-raw", "br", "zstd"])
def test_bomb(server: Server, coding: str) -> None:
    size = 16 << 20
    response, body = fetch(server, f"/bomb?size={size}&coding={coding}")
    assert response.getheader("transfer-encoding") == "chunked"
    assert len(body) < size // 500
    assert decompressor(coding)(body) == bytes(size)


def test_bomb_stops_when_the_client_goes_away(server: Server) -> None:
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(b"GET /bomb?size=4294967296 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
        wait_until(lambda: app_module.STREAMS_SENDING)
    wait_until(lambda: not app_module.STREAMS_SENDING)  # it compresses no more zeros
    assert fetch(server, "/")[1] == HELLO  # and the server's event loop still runs


def test_encoding_text() -> None:
    assert encoding_text("utf-8") == ENCODING_TEXTS[0]
    assert encoding_text("koi8-r") == "Привет, мир: съешь же ещё этих булок"
    assert encoding_text("ascii") == "Hello, world!"
    with pytest.raises(LookupError):
        encoding_text("no-such-charset")


@pytest.mark.parametrize("charset", ["utf-8", "utf-16", "latin-1", "koi8-r", "shift_jis", "ascii"])
def test_encoding(server: Server, charset: str) -> None:
    text = encoding_text(charset)
    assert charset == "ascii" or not text.isascii()
    response, body = fetch(server, f"/encoding/{charset}")
    assert response.getheader("content-type") == f"text/plain; charset={charset}"
    assert body.decode(charset) == text
    response, undeclared = fetch(server, f"/encoding/{charset}?declare=0")
    assert (response.getheader("content-type"), undeclared) == ("text/plain", body)


def test_encoding_none(server: Server) -> None:
    response, body = fetch(server, "/encoding/none")
    assert response.getheader("content-type") == "text/plain"
    assert body == ENCODING_TEXTS[0].encode()


def test_json(server: Server) -> None:
    response, body = fetch(server, "/json")
    assert response.getheader("content-type") == "application/json"
    assert json.loads(body) == JSON_DOCUMENT
    assert "👋".encode() in body  # UTF-8, not \\u escapes


def chunks_on_the_wire(server: Server, path: str) -> list[bytes]:
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        received = b""
        while data := sock.recv(65536):
            received += data
    head, _, rest = received.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower()
    chunks: list[bytes] = []
    while True:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return chunks
        chunks.append(rest[:size])
        rest = rest[size + 2 :]


def test_lines_arrive_in_awkward_chunks(server: Server) -> None:
    assert LINES.splitlines(keepends=True)[:4] == [
        "plain ASCII\n",
        "Grüße aus Köln\r\n",
        "5 € in 日本語\r",
        "after a bare CR\r\n",
    ]
    chunks = chunks_on_the_wire(server, "/lines")
    assert chunks == list(LINES_CHUNKS)
    assert b"".join(chunks) == LINES.encode()
    assert any(a.endswith(b"\r") and b.startswith(b"\n") for a, b in itertools.pairwise(chunks))
    assert b"\xc3" in [chunk[-1:] for chunk in chunks]  # a character split between chunks


def basic(credentials: str) -> str:
    return "Basic " + base64.b64encode(credentials.encode()).decode()


@pytest.mark.parametrize(
    ("path", "authorization", "user"),
    [
        ("/basic-auth/user/pass", basic("user:pass"), "user"),
        ("/basic-auth/user/pass", basic("user:pass").replace("Basic", "bAsIc"), "user"),
        ("/basic-auth/%C3%BCser/p%C3%A4ss", basic("\xfcser:p\xe4ss"), "\xfcser"),
        ("/basic-auth/user/pass", basic("user:wrong"), None),
        ("/basic-auth/user/pass", basic("user:pass").replace("Basic", "Bearer"), None),
        ("/basic-auth/user/pass", "", None),
    ],
)
def test_basic_auth(server: Server, path: str, authorization: str, user: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response, body = fetch(server, path, headers=headers)
    if user is None:
        assert (response.status, body) == (401, b"Unauthorized\n")
        assert response.getheader("www-authenticate") == 'Basic realm="test"'
    else:
        assert (response.status, json.loads(body)) == (200, {"authenticated": True, "user": user})


def test_response_headers(server: Server) -> None:
    query = "X-Test=1&x-test=2&Content-Type=text/x-custom&Set-Cookie=a%3D1%3B%20Path%3D%2F"
    response, body = fetch(server, f"/response-headers?{query}", "POST")
    assert response.getheader("content-type") == "text/x-custom"
    assert header_bytes(response, "x-test") == [b"1", b"2"]
    assert header_bytes(response, "set-cookie") == [b"a=1; Path=/"]
    assert json.loads(body) == {
        "x-test": ["1", "2"],
        "content-type": ["text/x-custom"],
        "set-cookie": ["a=1; Path=/"],
    }


def test_httpbin_errors_over_one_connection(server: Server) -> None:
    cases = [
        ("/redirect-to", "GET", 400, b"url is missing\n"),
        ("/redirect-to?url=/&status_code=200", "GET", 400, b"200 is not in [300, 399]\n"),
        ("/redirect-chain", "GET", 404, b"Not Found\n"),
        ("/redirect-chain/x", "GET", 400, b"not a whole number: 'x'\n"),
        ("/redirect-chain/1001", "GET", 400, b"1001 is not in [0, 1000]\n"),
        ("/redirect-loop/other", "GET", 404, b"Not Found\n"),
        ("/cookies/other", "GET", 404, b"Not Found\n"),
        ("/cookies/set", "POST", 405, b"Method Not Allowed\n"),
        ("/stacked?codings=gzip,nope", "GET", 400, b"unknown coding: 'nope'\n"),
        ("/bomb?size=4294967297", "GET", 400, b"4294967297 is not in [0, 4294967296]\n"),
        ("/bomb?size=10", "HEAD", 200, b""),
        (
            "/encoding/no-such-charset",
            "GET",
            400,
            b"cannot encode in 'no-such-charset': unknown encoding: no-such-charset\n",
        ),
        ("/encoding/utf-8?declare=2", "GET", 400, b"declare must be 0 or 1\n"),
        ("/lines", "HEAD", 200, b""),
        ("/basic-auth/user", "GET", 404, b"Not Found\n"),
        ("/response-headers?Content-Length=1", "GET", 400, b"framing headers cannot be set\n"),
    ]
    with closing(connect(server)) as conn:
        for path, method, status, body in cases:
            conn.request(method, path, body=b"ignored" if method == "POST" else None)
            response = conn.getresponse()
            assert (path, response.status, response.read()) == (path, status, body)


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
        try:
            sock.shutdown(socket.SHUT_WR)  # so that a handler holding the connection sees EOF
        except OSError:  # the server may have reset the connection already
            pass
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
            reset_mid_body(1000, 100, delay=0.2),  # the client reads before the RST
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


# --- gunicorn over TLS -------------------------------------------------------------------


def test_gunicorn_answers_the_digest_of_the_body_over_tls_1_3(tls_files: TLSFiles) -> None:
    body = b"x" * 100_000
    with GunicornServer(tls_files) as server:
        context = ssl.create_default_context(cafile=str(server.ca_file))
        conn = http.client.HTTPSConnection(server.host, server.port, timeout=10, context=context)
        with closing(conn):
            conn.request("POST", "/", body=body)
            assert conn.sock.version() == "TLSv1.3"
            response = conn.getresponse()
            answer = response.read()
    assert response.status == 200
    assert answer == b"%d %s" % (len(body), hashlib.sha256(body).hexdigest().encode())
