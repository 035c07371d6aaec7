"""Every bound of `Limits`, hit against a real loopback server: at the default, at a smaller
and at a bigger configured value. Past a bound the request fails with the documented error,
which carries the request; up to it the response is fine; and the pool serves the next
request. Also the cookie store's bounds and the redirect limit, through the client."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from hyperframe.frame import ContinuationFrame, HeadersFrame

import httpcore2
from tests.servers.app import HELLO
from tests.servers.h2 import H2Request, H2Server, H2ServerConnection
from tests.servers.raw import (
    CONTINUE,
    OK,
    Handler,
    RawConnection,
    RawServerFactory,
    build_response,
)

DEFAULT = httpcore2.Limits()
QUICK = {"timeout": {"connect": 5.0, "read": 5.0, "write": 5.0, "pool": 5.0}}


# --- responses just at a bound: `n` bytes, fields, responses, codings, frames -------------------


def head_of_size(n: int) -> bytes:
    """A response whose status line and headers take exactly `n` bytes."""
    short = build_response(headers=[("X-Big", "")], body=b"")
    return build_response(headers=[("X-Big", "a" * (n - len(short)))], body=b"")


def head_with_fields(n: int) -> bytes:
    """A response with `n` header fields (Content-Length is one)."""
    return build_response(headers=[(f"X-{i}", "1") for i in range(n - 1)], body=b"")


def informational_responses(n: int) -> bytes:
    return CONTINUE * n + OK


def trailers_of_size(n: int) -> bytes:
    """A chunked response whose trailer section takes exactly `n` bytes."""
    head = build_response(
        body=b"", headers=[("Transfer-Encoding", "chunked")], content_length=False
    )
    value = "t" * (n - len("X-Trailer: \r\n\r\n"))
    return head + b"5\r\nhello\r\n0\r\nX-Trailer: " + value.encode() + b"\r\n\r\n"


def codings(n: int) -> bytes:
    """A body gzipped `n` times, each coding on a `Content-Encoding` line of its own."""
    body = HELLO
    for _ in range(n):
        body = gzip.compress(body)
    return build_response(headers=[("Content-Encoding", "gzip")] * n, body=body)


def h2_informational(conn: H2ServerConnection, stream_id: int, n: int) -> None:
    for _ in range(n):
        conn.h2.send_headers(stream_id, [(b":status", b"100")])
    conn.respond(stream_id)


def h2_fields(conn: H2ServerConnection, stream_id: int, n: int) -> None:
    conn.respond(stream_id, headers=[(f"x-{i}".encode(), b"1") for i in range(n - 1)])


def h2_header_list_of_size(conn: H2ServerConnection, stream_id: int, n: int) -> None:
    """A body-less response head whose header list is `n` bytes as HTTP/2 counts it: each
    field's name and value, plus 32 (`:status` and `x-big`)."""
    value = b"b" * (n - 2 * 32 - len(b":status200x-big"))
    # Literals without Huffman coding: h2 would take seconds to encode 100 KiB with it.
    block = conn.h2.encoder.encode([(b":status", b"200"), (b"x-big", value)], huffman=False)
    frames = [block[i : i + 16384] for i in range(0, len(block), 16384)]
    send_frames(conn, stream_id, frames)


def h2_continuation_frames(conn: H2ServerConnection, stream_id: int, n: int) -> None:
    """A body-less response head in a HEADERS frame and `n` CONTINUATION frames."""
    block = conn.h2.encoder.encode([(b":status", b"200")])
    send_frames(conn, stream_id, [block, *[b""] * n])


def send_frames(conn: H2ServerConnection, stream_id: int, pieces: list[bytes]) -> None:
    """Send a body-less response head: a header block, encoded by the server's own encoder
    (so that later responses on the connection decode), in pieces: a HEADERS frame, then a
    CONTINUATION frame for each further piece."""
    frames = [HeadersFrame(stream_id, data=pieces[0], flags=["END_STREAM"])]
    frames += [ContinuationFrame(stream_id, data=piece) for piece in pieces[1:]]
    frames[-1].flags.add("END_HEADERS")
    conn.send_raw(b"".join(frame.serialize() for frame in frames))


@dataclass(frozen=True)
class Bound:
    field: str  # of `Limits`
    case: str  # the checklist id it holds
    smaller: int
    error: type[httpcore2.HTTPError]
    match: str
    http1: Callable[[int], bytes] | None = None
    http2: Callable[[H2ServerConnection, int, int], None] | None = None
    # Other bounds raised with this one when it is raised, so that only this one is hit.
    raised_with: tuple[str, ...] = ()

    @property
    def default(self) -> int:
        value: int = getattr(DEFAULT, self.field)
        return value

    def __str__(self) -> str:
        return self.field


PROTOCOL = httpcore2.RemoteProtocolError
BOUNDS = [
    Bound("max_head_size", "S24", 1000, PROTOCOL, "max_head_size", http1=head_of_size),
    Bound(
        "max_headers",
        "S24",
        10,
        PROTOCOL,
        "max_headers",
        http1=head_with_fields,
        http2=h2_fields,
        raised_with=("max_header_list_size",),
    ),
    Bound(
        "max_informational",
        "S25",
        2,
        PROTOCOL,
        "max_informational",
        http1=informational_responses,
        http2=h2_informational,
    ),
    Bound("max_trailer_size", "S25", 100, PROTOCOL, "max_trailer_size", http1=trailers_of_size),
    Bound("max_codings", "S29", 1, httpcore2.DecodingError, "max_codings", http1=codings),
    Bound(
        "max_header_list_size",
        "S26",
        1000,
        PROTOCOL,
        "Oversized header.*Limits.max_header_list_size",
        http2=h2_header_list_of_size,
    ),
    Bound(
        "max_continuation_frames", "S26", 3, PROTOCOL, "CONTINUATION", http2=h2_continuation_frames
    ),
]
HTTP1_BOUNDS = [
    pytest.param(b, id=str(b), marks=pytest.mark.case(b.case)) for b in BOUNDS if b.http1
]
HTTP2_BOUNDS = [
    pytest.param(b, id=str(b), marks=pytest.mark.case(b.case)) for b in BOUNDS if b.http2
]
# At the default, at a smaller bound, and at a bigger one: the configured bound, the size of
# a response that must pass and of one that must fail.
SETTINGS = ["default", "smaller", "bigger"]


def bounds_for(bound: Bound, setting: str) -> tuple[httpcore2.Limits, int, int]:
    if setting == "default":
        return DEFAULT, bound.default, bound.default + 1
    if setting == "smaller":
        return httpcore2.Limits(**{bound.field: bound.smaller}), bound.smaller, bound.smaller + 1
    bigger = 2 * bound.default
    raised = {field: 4 * getattr(DEFAULT, field) for field in bound.raised_with}
    # Passes only because the bound was raised; fails just past it.
    return httpcore2.Limits(**{bound.field: bigger}, **raised), bound.default + 1, bigger + 1


def by_path(respond: Callable[[int], bytes]) -> Handler:
    """A keep-alive server: `/n/<n>` is answered with `respond(n)`, anything else with OK."""

    def handler(conn: RawConnection) -> None:
        while request := conn.recv_request():
            path = request.split(b" ", 2)[1]
            conn.send(respond(int(path[3:])) if path.startswith(b"/n/") else OK)

    return handler


def h2_by_path(respond: Callable[[H2ServerConnection, int, int], None]) -> H2Server:
    def on_request(conn: H2ServerConnection, request: H2Request) -> None:
        path = request.path or b""
        if path.startswith(b"/n/"):
            respond(conn, request.stream_id, int(path[3:]))
        else:
            conn.respond(request.stream_id)

    return H2Server(on_request)


async def hit(pool: httpcore2.ConnectionPool, url: str, bound: Bound, at: int, over: int) -> None:
    """Up to the bound the response is fine, past it the request fails, then the pool still
    serves a request."""
    response = await pool.request("GET", f"{url}/n/{at}", extensions=QUICK)
    assert response.status == 200
    with pytest.raises(bound.error, match=bound.match) as info:
        await pool.request("GET", f"{url}/n/{over}", extensions=QUICK)
    assert info.value.request.url == f"{url}/n/{over}"
    response = await pool.request("GET", url + "/", extensions=QUICK)
    assert response.content == HELLO


@pytest.mark.anyio
@pytest.mark.usefixtures("http1_engine")
@pytest.mark.parametrize("setting", SETTINGS)
@pytest.mark.parametrize("bound", HTTP1_BOUNDS)
async def test_http11_limits(raw_server: RawServerFactory, bound: Bound, setting: str) -> None:
    assert bound.http1 is not None
    server = raw_server(by_path(bound.http1))
    limits, at, over = bounds_for(bound, setting)
    async with httpcore2.ConnectionPool(limits=limits) as pool:
        await hit(pool, server.url, bound, at, over)


@pytest.mark.anyio
@pytest.mark.parametrize("setting", SETTINGS)
@pytest.mark.parametrize("bound", HTTP2_BOUNDS)
async def test_http2_limits(bound: Bound, setting: str) -> None:
    assert bound.http2 is not None
    limits, at, over = bounds_for(bound, setting)
    with h2_by_path(bound.http2) as server:
        async with httpcore2.ConnectionPool(http1=False, http2=True, limits=limits) as pool:
            await hit(pool, server.url, bound, at, over)
        # The header list bound is advertised, not only enforced.
        settings = server.connections[0].h2.remote_settings
        assert settings.max_header_list_size == limits.max_header_list_size


@pytest.mark.anyio
@pytest.mark.usefixtures("http1_engine")
@pytest.mark.case("S28")
async def test_s28_decompressed_size_bound_and_the_request_extension_over_it(
    raw_server: RawServerFactory,
) -> None:
    server = raw_server(
        by_path(
            lambda n: build_response(
                headers=[("Content-Encoding", "gzip")], body=gzip.compress(bytes(n))
            )
        )
    )
    async with httpcore2.ConnectionPool(
        limits=httpcore2.Limits(max_decompressed_size=1000)
    ) as pool:
        response = await pool.request("GET", server.url + "/n/1000", extensions=QUICK)
        assert response.content == bytes(1000)
        with pytest.raises(httpcore2.DecodingError, match="max_decompressed_size") as info:
            await pool.request("GET", server.url + "/n/1001", extensions=QUICK)
        assert info.value.request.url == server.url + "/n/1001"
        # The request extension wins over the pool's bound, either way.
        extensions = {**QUICK, "max_decompressed_size": 2000}
        response = await pool.request("GET", server.url + "/n/2000", extensions=extensions)
        assert response.content == bytes(2000)
        extensions = {**QUICK, "max_decompressed_size": 10}
        with pytest.raises(httpcore2.DecodingError, match="max_decompressed_size"):
            await pool.request("GET", server.url + "/n/11", extensions=extensions)
        response = await pool.request("GET", server.url + "/", extensions=QUICK)
        assert response.content == HELLO


@pytest.mark.anyio
@pytest.mark.case("S28")
async def test_s28_in_memory_ratio_bound(raw_server: RawServerFactory) -> None:
    # 17 MiB of zeros gzip about 1,000-fold: past the default ratio of 100 once read whole.
    size = 17 << 20
    server = raw_server(
        by_path(
            lambda n: build_response(
                headers=[("Content-Encoding", "gzip")], body=gzip.compress(bytes(n))
            )
        )
    )
    async with httpcore2.ConnectionPool() as pool:
        with pytest.raises(httpcore2.DecodingError, match="inflates") as info:
            await pool.request("GET", f"{server.url}/n/{size}", extensions=QUICK)
        assert info.value.request.url == f"{server.url}/n/{size}"
    async with httpcore2.ConnectionPool(limits=httpcore2.Limits(max_in_memory_ratio=2000)) as pool:
        response = await pool.request("GET", f"{server.url}/n/{size}", extensions=QUICK)
        assert len(response.content) == size


@pytest.mark.anyio
@pytest.mark.case("S24")
async def test_s24_client_passes_its_limits_to_its_pool(raw_server: RawServerFactory) -> None:
    server = raw_server(by_path(head_with_fields))
    limits = httpcore2.Limits(max_headers=10)
    async with httpcore2.Client(limits=limits, trust_env=False) as client:
        assert (await client.get(server.url + "/n/10")).status == 200
        with pytest.raises(httpcore2.RemoteProtocolError, match="max_headers") as info:
            await client.get(server.url + "/n/11")
        assert info.value.request.url == server.url + "/n/11"
        assert (await client.get(server.url + "/")).text == HELLO.decode()


def test_a_client_with_its_own_transport_takes_no_limits() -> None:
    transport = httpcore2.ConnectionPool()
    with pytest.raises(ValueError, match="limits="):
        httpcore2.Client(transport=transport, limits=httpcore2.Limits())


# --- the cookie store and redirects ---------------------------------------------------------------


def set_cookies(*cookies: str) -> Handler:
    """/set answers with a `Set-Cookie` line per cookie; anything else with OK."""
    response = build_response(headers=[("Set-Cookie", cookie) for cookie in cookies])

    def handler(conn: RawConnection) -> None:
        while request := conn.recv_request():
            conn.send(response if request.startswith(b"GET /set ") else OK)

    return handler


def sent_cookies(conn: RawConnection) -> list[bytes]:
    """The cookies of the last request on `conn`."""
    last = conn.received.rpartition(b"GET ")[2]
    for line in last.split(b"\r\n"):
        if line.lower().startswith(b"cookie: "):
            return line[8:].split(b"; ")
    return []


@pytest.mark.anyio
@pytest.mark.case("S48")
@pytest.mark.parametrize(("stored"), [50, 5, 60], ids=["default", "smaller", "bigger"])
async def test_s48_cookies_per_domain_bound(raw_server: RawServerFactory, stored: int) -> None:
    server = raw_server(set_cookies(*(f"c{i}=v" for i in range(70))))
    jar = httpcore2.Cookies() if stored == 50 else httpcore2.Cookies(max_cookies_per_domain=stored)
    async with httpcore2.Client(cookies=jar, trust_env=False) as client:
        await client.get(server.url + "/set")
        await client.get(server.url + "/")
    # The newest are kept, and only they are sent.
    expected = [f"c{i}=v".encode() for i in range(70 - stored, 70)]
    assert sorted(sent_cookies(server.connections[0])) == sorted(expected)
    assert len(jar) == stored


@pytest.mark.anyio
@pytest.mark.case("S48")
@pytest.mark.parametrize(
    ("max_cookie_size", "kept"),
    [(None, ["small"]), (100, []), (8192, ["small", "big"])],
    ids=["default", "smaller", "bigger"],
)
async def test_s48_cookie_size_bound(
    raw_server: RawServerFactory, max_cookie_size: int | None, kept: list[str]
) -> None:
    # Name and value: 200 octets, then 5,000 (over the default of 4,096).
    server = raw_server(set_cookies("small=" + "s" * 195, "big=" + "b" * 4997))
    jar = (
        httpcore2.Cookies()
        if max_cookie_size is None
        else httpcore2.Cookies(max_cookie_size=max_cookie_size)
    )
    async with httpcore2.Client(cookies=jar, trust_env=False) as client:
        await client.get(server.url + "/set")
    assert sorted(jar) == sorted(kept)


def test_s48_cookie_bounds_are_checked() -> None:
    with pytest.raises(ValueError, match="max_cookies=0"):
        httpcore2.Cookies(max_cookies=0)


@pytest.mark.anyio
@pytest.mark.case("S48")
async def test_s48_cookie_total_bound(raw_server: RawServerFactory) -> None:
    server = raw_server(set_cookies(*(f"c{i}=v" for i in range(10))))
    jar = httpcore2.Cookies(max_cookies=3)
    async with httpcore2.Client(cookies=jar, trust_env=False) as client:
        await client.get(server.url + "/set")
    assert sorted(jar) == ["c7", "c8", "c9"]


def redirect_loop() -> Handler:
    """/loop redirects to itself; anything else is answered with OK."""
    again = build_response(302, b"", [("Location", "/loop")])

    def handler(conn: RawConnection) -> None:
        while request := conn.recv_request():
            conn.send(again if request.startswith(b"GET /loop ") else OK)

    return handler


@pytest.mark.anyio
@pytest.mark.case("S12")
@pytest.mark.parametrize("max_redirects", [None, 3, 30], ids=["default", "smaller", "bigger"])
async def test_s12_redirect_bound(raw_server: RawServerFactory, max_redirects: int | None) -> None:
    server = raw_server(redirect_loop())
    limit = 20 if max_redirects is None else max_redirects
    client = (
        httpcore2.Client(trust_env=False)
        if max_redirects is None
        else httpcore2.Client(trust_env=False, max_redirects=max_redirects)
    )
    async with client:
        with pytest.raises(httpcore2.TooManyRedirects) as info:
            await client.get(server.url + "/loop")
        assert info.value.request.url == server.url + "/loop"
        assert (await client.get(server.url + "/")).status == 200
    requests = b"".join(conn.received for conn in server.connections).count(b"GET /loop ")
    assert requests == limit + 1
