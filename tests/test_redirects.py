"""The redirect policy, without any I/O: `Location` resolution, method, body, headers."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Iterator

import pytest

from httpcore2._exceptions import RemoteProtocolError, StreamConsumed, UnsupportedProtocol
from httpcore2._models import Headers, Request, Response
from httpcore2._redirects import REDIRECT_STATUSES, build_redirect_request, redirect_location
from httpcore2._urls import URL

CREDENTIALS = (b"authorization", b"proxy-authorization", b"cookie")


def redirect(status: int, location: bytes | None, url: str = "http://a.test/x/y?q=1") -> Response:
    # From the wire, as a lenient transport could deliver it: not validated again.
    headers = Headers._from_wire([] if location is None else [(b"Location", location)])
    return Response(status, headers=headers, request=Request("GET", url))


def follow(request: Request, status: int, location: str, *, stripped: bool = False) -> Request:
    response = Response(status, headers=[(b"Location", location.encode())], request=request)
    url = redirect_location(response)
    assert url is not None
    next_request, _ = build_redirect_request(request, response, url, stripped=stripped)
    return next_request


def body(request: Request) -> bytes:
    return b"".join(request.stream)


def chunks() -> Iterator[bytes]:
    yield b"streamed"


# --- redirect_location: which responses redirect ------------------------------------------


def test_redirect_statuses() -> None:
    assert frozenset({301, 302, 303, 307, 308}) == REDIRECT_STATUSES


@pytest.mark.parametrize("status", sorted(REDIRECT_STATUSES))
def test_each_redirect_status_is_followed(status: int) -> None:
    assert redirect_location(redirect(status, b"/next")) == "http://a.test/next"


@pytest.mark.parametrize("status", [200, 201, 300, 304, 305, 306, 404])
def test_other_statuses_are_not_redirects(status: int) -> None:
    assert redirect_location(redirect(status, b"/next")) is None


def test_a_redirect_status_without_location_is_not_followed() -> None:
    assert redirect_location(redirect(302, None)) is None


def test_repeated_identical_locations_are_one_location() -> None:
    response = Response(
        302,
        headers=[(b"Location", b"/next"), (b"location", b"/next")],
        request=Request("GET", "http://a.test/"),
    )
    assert redirect_location(response) == "http://a.test/next"


@pytest.mark.case("S13")
def test_conflicting_locations_are_refused() -> None:
    request = Request("GET", "http://a.test/")
    response = Response(
        302, headers=[(b"Location", b"/one"), (b"Location", b"//evil.test/")], request=request
    )
    with pytest.raises(RemoteProtocolError, match="several different Location") as info:
        redirect_location(response)
    assert info.value.request is request


# --- redirect_location: resolving the reference (RFC 3986 §5) -----------------------------


@pytest.mark.case("S13")
@pytest.mark.parametrize(
    ("location", "expected"),
    [
        (b"https://b.test/path?z=9", "https://b.test/path?z=9"),
        (b"HTTP://B.TEST:80/", "http://b.test/"),
        (b"/abs", "http://a.test/abs"),
        (b"rel", "http://a.test/x/rel"),
        (b"../up", "http://a.test/up"),
        (b"./", "http://a.test/x/"),
        (b"?n=2", "http://a.test/x/y?n=2"),
        (b"//b.test/s", "http://b.test/s"),
        (b"//127.0.0.2:8080/s", "http://127.0.0.2:8080/s"),
        (b"//[::1]:8080", "http://[::1]:8080/"),
        (b"http:g", "http://a.test/x/g"),
        (b"", "http://a.test/x/y?q=1"),
        (b"/a/../b/./c", "http://a.test/b/c"),
    ],
)
def test_location_is_resolved_against_the_request_url(location: bytes, expected: str) -> None:
    assert str(redirect_location(redirect(302, location))) == expected


@pytest.mark.case("S13")
@pytest.mark.parametrize(
    ("location", "expected"),
    [
        (b"/a b", "http://a.test/a%20b"),
        (b"  /padded \t", "http://a.test/padded"),
        (b"/caf\xc3\xa9?q=\xe2\x82\xac", "http://a.test/caf%C3%A9?q=%E2%82%AC"),
        (b"//b\xc3\xbccher.example/", "http://xn--bcher-kva.example/"),
        # Not UTF-8: each byte is percent-encoded as the server sent it.
        (b"/caf\xe9", "http://a.test/caf%E9"),
        (b"/%41%2F", "http://a.test/%41%2F"),
        (b"/\x7f", "http://a.test/%7F"),
    ],
)
def test_location_bytes_are_percent_encoded(location: bytes, expected: str) -> None:
    assert str(redirect_location(redirect(302, location))) == expected


@pytest.mark.case("S13")
@pytest.mark.parametrize(
    ("url", "location", "expected"),
    [
        ("http://a.test/x#frag", b"/next", "http://a.test/next#frag"),
        ("http://a.test/x#frag", b"/next#own", "http://a.test/next#own"),
        ("http://a.test/x#frag", b"https://b.test/", "https://b.test/#frag"),
        ("http://a.test/x", b"/next", "http://a.test/next"),
        ("http://a.test/x", b"/next#own", "http://a.test/next#own"),
    ],
)
def test_the_fragment_carries_over_when_the_location_has_none(
    url: str, location: bytes, expected: str
) -> None:
    assert str(redirect_location(redirect(301, location, url))) == expected


@pytest.mark.case("S13")
@pytest.mark.parametrize(
    ("location", "reason"),
    [
        (b"/a\x00b", "control character"),
        (b"/a\tb", "control character"),
        (b"/a\x1bb", "control character"),
        (b"http://b.test:99999/", "port"),
        (b"https:no-host", "no host"),
        (b"//b test/", "host"),
        (b"//b.test\\evil.test/", "backslash"),
        (b"//\xe9.test/", "host"),
    ],
)
def test_an_invalid_location_is_a_protocol_error(location: bytes, reason: str) -> None:
    response = redirect(302, location)
    with pytest.raises(RemoteProtocolError, match=f"invalid Location.*{reason}") as info:
        redirect_location(response)
    assert info.value.request is response.request


@pytest.mark.case("S11")
@pytest.mark.parametrize(
    "location",
    [
        b"file:///etc/passwd",
        b"FILE:///etc/passwd",
        b"ftp://b.test/file",
        b"ftp:",
        b"data:text/html,<script>alert(1)</script>",
        b"javascript:alert(1)",
        b"gopher://b.test/",
        b"myapp://callback?code=1",
        b"ws://b.test/",
    ],
)
def test_only_http_and_https_targets_are_followed(location: bytes) -> None:
    response = redirect(302, location)
    with pytest.raises(UnsupportedProtocol, match="only http and https") as info:
        redirect_location(response)
    assert info.value.request is response.request


@pytest.mark.case("S11")
def test_a_relative_location_keeps_the_scheme_it_is_resolved_against() -> None:
    with pytest.raises(UnsupportedProtocol, match="'ftp'"):
        redirect_location(redirect(302, b"/next", "ftp://a.test/x"))


# --- build_redirect_request: method and body (RFC 9110 §15.4, S10) ------------------------

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def expected_method(status: int, method: str) -> str:
    if status == 303 and method != "HEAD":
        return "GET"
    if status in (301, 302) and method == "POST":
        return "GET"
    return method


@pytest.mark.case("S10")
@pytest.mark.parametrize("status", sorted(REDIRECT_STATUSES))
@pytest.mark.parametrize("method", METHODS)
def test_method_and_body_per_status(status: int, method: str) -> None:
    request = Request(
        method,
        "http://a.test/form",
        headers={"Content-Type": "text/plain", "X-Custom": "1"},
        content=b"data",
    )
    next_request = follow(request, status, "/done")
    assert next_request.method == expected_method(status, method)
    assert next_request.url == "http://a.test/done"
    assert next_request.headers["x-custom"] == "1"
    if next_request.method == "GET" and (method != "GET" or status == 303):
        assert body(next_request) == b""
        assert next_request.content == b""
        for name in ("content-length", "content-type", "transfer-encoding"):
            assert name not in next_request.headers
    else:
        assert body(next_request) == b"data"
        assert next_request.content == b"data"
        assert next_request.headers["content-length"] == "4"
        assert next_request.headers["content-type"] == "text/plain"


@pytest.mark.case("S10")
@pytest.mark.parametrize("status", [301, 302, 303])
def test_a_streamed_post_turned_into_get_needs_no_replay(status: int) -> None:
    request = Request("POST", "http://a.test/upload", content=chunks())
    next_request = follow(request, status, "/done")
    assert next_request.method == "GET"
    assert body(next_request) == b""
    assert list(next_request.headers) == [(b"Host", b"a.test")]


@pytest.mark.case("S10")
@pytest.mark.parametrize("status", [307, 308])
def test_a_streamed_body_that_cannot_be_replayed_raises(status: int) -> None:
    request = Request("POST", "http://a.test/upload", content=chunks())
    assert body(request) == b"streamed"  # sent on the first hop
    with pytest.raises(StreamConsumed, match=f"follow the {status} redirect.*request.read"):
        follow(request, status, "/again")


@pytest.mark.case("S10")
def test_an_async_streamed_body_that_cannot_be_replayed_raises() -> None:
    async def async_chunks() -> AsyncIterator[bytes]:
        yield b"streamed"

    request = Request("PUT", "http://a.test/upload", content=async_chunks())
    with pytest.raises(StreamConsumed, match="aread"):
        follow(request, 307, "/again")


@pytest.mark.case("S10")
def test_an_unseekable_file_cannot_be_replayed() -> None:
    class Pipe(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
            return 0

    request = Request("POST", "http://a.test/upload", content=Pipe())
    with pytest.raises(StreamConsumed):
        follow(request, 308, "/again")


def test_a_streamed_body_read_into_memory_is_replayed() -> None:
    request = Request("POST", "http://a.test/upload", content=chunks())
    request.read()
    next_request = follow(request, 307, "/again")
    assert next_request.method == "POST"
    assert body(next_request) == b"streamed"
    assert next_request.headers["transfer-encoding"] == "chunked"


def test_a_seekable_file_is_replayed_from_where_it_started() -> None:
    file = io.BytesIO(b"skip:file body")
    file.seek(5)
    request = Request("PUT", "http://a.test/upload", content=file)
    assert body(request) == b"file body"  # sent on the first hop
    next_request = follow(request, 308, "/again")
    assert next_request.method == "PUT"
    assert body(next_request) == b"file body"
    assert next_request.headers["transfer-encoding"] == "chunked"


def test_a_bodyless_request_stays_bodyless() -> None:
    next_request = follow(Request("GET", "http://a.test/"), 307, "/again")
    assert list(next_request.headers) == [(b"Host", b"a.test")]
    assert body(next_request) == b""


# --- build_redirect_request: Host (S14) ---------------------------------------------------


@pytest.mark.case("S14")
@pytest.mark.parametrize(
    ("location", "host"),
    [
        ("/same-origin", b"a.test"),
        ("http://b.test:8080/", b"b.test:8080"),
        ("https://b.test:443/", b"b.test"),
        ("http://[::1]:8080/", b"[::1]:8080"),
        ("http://user:pw@127.0.0.1/", b"127.0.0.1"),
    ],
)
def test_host_is_computed_from_the_new_url_on_every_hop(location: str, host: bytes) -> None:
    request = Request("GET", "http://a.test/", headers=[("Host", "custom.test"), ("X-A", "1")])
    next_request = follow(request, 302, location)
    assert next_request.headers.raw == [(b"Host", host), (b"X-A", b"1")]


# --- build_redirect_request: credentials across origins (S01-S07) ------------------------


def with_credentials(url: str) -> Request:
    return Request(
        "GET",
        url,
        headers=[
            ("Authorization", "Bearer secret"),
            ("Proxy-Authorization", "Basic cHJveHk6cHc="),
            ("Cookie", "session=1"),
            ("Accept", "*/*"),
        ],
    )


@pytest.mark.case("S07", "S08")
@pytest.mark.parametrize(
    ("url", "location", "strip"),
    [
        # Same origin: kept.
        pytest.param(
            "http://a.test/x", "/y", False, marks=pytest.mark.case("S01", "S02", "S03", "S04")
        ),
        pytest.param(
            "http://a.test/x",
            "http://A.TEST:80/y",
            False,
            marks=pytest.mark.case("S01", "S02", "S03", "S04"),
        ),
        pytest.param(
            "https://a.test:8443/x",
            "//a.test:8443/y",
            False,
            marks=pytest.mark.case("S01", "S02", "S03", "S04"),
        ),
        # S01: another host.
        pytest.param("http://a.test/", "http://b.test/", True, marks=pytest.mark.case("S01")),
        pytest.param("http://a.test/", "http://www.a.test/", True, marks=pytest.mark.case("S01")),
        pytest.param("http://127.0.0.1/", "http://127.0.0.2/", True, marks=pytest.mark.case("S01")),
        pytest.param("http://127.0.0.1/", "http://localhost/", True, marks=pytest.mark.case("S01")),
        pytest.param("http://a.test/", "//b.test/", True, marks=pytest.mark.case("S01")),
        # S02: same host, another port.
        pytest.param(
            "http://127.0.0.1:8000/", "http://127.0.0.1:8001/", True, marks=pytest.mark.case("S02")
        ),
        pytest.param(
            "https://a.test/", "https://a.test:8443/", True, marks=pytest.mark.case("S02")
        ),
        # S03: https -> http, also on the same explicit port.
        pytest.param("https://a.test/", "http://a.test/", True, marks=pytest.mark.case("S03")),
        pytest.param(
            "https://a.test:8443/", "http://a.test:8443/", True, marks=pytest.mark.case("S03")
        ),
        pytest.param(
            "https://a.test:443/", "http://a.test:443/", True, marks=pytest.mark.case("S03")
        ),
        # S04: http -> https on the same host keeps them only from port 80 to port 443.
        pytest.param("http://a.test/", "https://a.test/", False, marks=pytest.mark.case("S04")),
        pytest.param(
            "http://a.test:80/x", "https://a.test:443/y", False, marks=pytest.mark.case("S04")
        ),
        pytest.param(
            "http://a.test:8080/", "https://a.test:8443/", True, marks=pytest.mark.case("S04")
        ),
        pytest.param("http://a.test/", "https://a.test:8443/", True, marks=pytest.mark.case("S04")),
        pytest.param("http://a.test:8080/", "https://a.test/", True, marks=pytest.mark.case("S04")),
        pytest.param(
            "http://a.test:443/", "https://a.test:443/", True, marks=pytest.mark.case("S04")
        ),
        pytest.param("http://a.test/", "https://b.test/", True, marks=pytest.mark.case("S04")),
    ],
)
def test_credentials_are_dropped_when_the_origin_changes(
    url: str, location: str, strip: bool
) -> None:
    request = with_credentials(url)
    response = Response(302, headers=[(b"Location", location.encode())], request=request)
    target = redirect_location(response)
    assert target is not None
    next_request, stripped = build_redirect_request(request, response, target, stripped=False)
    assert stripped is strip
    names = [name.lower() for name, _ in next_request.headers]
    for name in CREDENTIALS:
        assert (name in names) is not strip
    assert next_request.headers["accept"] == "*/*"


@pytest.mark.case("S06", "S07", "S08")
def test_every_copy_of_a_credential_header_is_dropped() -> None:
    request = Request(
        "GET",
        "http://a.test/",
        headers=[
            ("Authorization", "Basic one"),
            ("authorization", "Basic two"),
            ("Cookie", "a=1"),
            ("COOKIE", "b=2"),
            ("Proxy-Authorization", "x"),
            ("proxy-authorization", "y"),
        ],
    )
    next_request = follow(request, 307, "http://b.test/")
    assert list(next_request.headers) == [(b"Host", b"b.test")]


@pytest.mark.case("S05")
def test_stripping_is_sticky_for_the_rest_of_the_chain() -> None:
    first = with_credentials("http://127.0.0.1/")
    response = Response(302, headers=[(b"Location", b"http://127.0.0.2/")], request=first)
    second, stripped = build_redirect_request(
        first, response, URL("http://127.0.0.2/"), stripped=False
    )
    assert stripped
    # Whatever puts a credential back on the way (a hook, a layer below), the hop back to
    # the first origin does not carry it.
    second.headers["Authorization"] = "Bearer re-added"
    response = Response(302, headers=[(b"Location", b"http://127.0.0.1/")], request=second)
    third, stripped = build_redirect_request(
        second, response, URL("http://127.0.0.1/"), stripped=stripped
    )
    assert stripped
    assert "authorization" not in third.headers


@pytest.mark.case("S04", "S05")
def test_a_stripped_chain_strips_on_same_origin_hops_and_upgrades() -> None:
    for location in ("/same", "https://a.test/"):
        next_request = follow(with_credentials("http://a.test/"), 302, location, stripped=True)
        assert [name for name, _ in next_request.headers] == [b"Host", b"Accept"]


# --- build_redirect_request: extensions ---------------------------------------------------


def test_extensions_carry_over_in_a_new_dict() -> None:
    def trace(event: str, info: dict[str, object]) -> None:
        pass  # pragma: no cover

    extensions = {"timeout": {"read": 1.0}, "trace": trace, "sni_hostname": "sni.test"}
    request = Request("GET", "http://a.test/", extensions=extensions)
    next_request = follow(request, 302, "https://a.test:8443/")
    assert next_request.extensions == extensions
    next_request.extensions["timeout"] = {"read": 2.0}
    assert request.extensions["timeout"] == {"read": 1.0}


def test_sni_hostname_is_dropped_when_the_host_changes() -> None:
    extensions = {"timeout": {"read": 1.0}, "sni_hostname": "sni.test"}
    request = Request("GET", "https://a.test/", extensions=extensions)
    next_request = follow(request, 302, "https://b.test/")
    assert next_request.extensions == {"timeout": {"read": 1.0}}
    assert request.extensions == extensions
