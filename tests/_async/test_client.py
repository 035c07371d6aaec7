"""The client against the loopback test app: verbs, defaults, bodies, redirects, cookies."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

import httpcore2
from tests.servers.app import LINES
from tests.servers.asgi_server import Server


def other_origin(server: Server) -> str:
    """The same server under another name: a different origin (host differs)."""
    return f"http://localhost:{server.port}"


@pytest.mark.parametrize("method", ["GET", "OPTIONS", "HEAD", "POST", "PUT", "PATCH", "DELETE"])
@pytest.mark.anyio
async def test_every_verb(server: Server, method: str) -> None:
    async with httpcore2.Client(base_url=server.url) as client:
        response = await getattr(client, method.lower())("/anything/verb")
    assert response.status == 200
    if method != "HEAD":
        assert response.json()["method"] == method


@pytest.mark.anyio
async def test_defaults_merge_with_each_request(server: Server) -> None:
    async with httpcore2.Client(
        base_url=server.url + "/anything/v1",
        params={"client": "1", "shared": "client"},
        headers={"X-Default": "yes", "X-Shared": "client"},
    ) as client:
        response = await client.get(
            "items", params={"shared": "request"}, headers={"X-Shared": "request"}
        )
    data = response.json()
    assert data["path"] == "/anything/v1/items"
    assert data["args"] == {"client": ["1"], "shared": ["request"]}
    headers = dict(data["headers"])
    assert headers["x-default"] == "yes"
    assert headers["x-shared"] == "request"
    assert headers["user-agent"].startswith("python-httpcore2/")
    assert "gzip" in headers["accept-encoding"]


@pytest.mark.anyio
async def test_json_form_and_multipart_bodies(server: Server, tmp_path: Path) -> None:
    upload = tmp_path / "report.csv"
    upload.write_bytes(b"a,b\n1,2\n" * 10_000)
    async with httpcore2.Client(base_url=server.url) as client:
        as_json = (await client.post("/anything", json={"name": "widget", "n": 3})).json()
        as_form = (await client.post("/anything", data={"a": "1", "b": ["x", "y"]})).json()
        with upload.open("rb") as file:
            response = await client.post("/anything", data={"kind": "csv"}, files={"report": file})
    assert as_json["json"] == {"name": "widget", "n": 3}
    assert as_form["form"] == {"a": ["1"], "b": ["x", "y"]}
    multipart = response.json()
    (part,) = multipart["files"]
    assert part["name"] == "report"
    assert part["filename"] == "report.csv"
    assert part["sha256"] == hashlib.sha256(upload.read_bytes()).hexdigest()
    assert multipart["form"] == {"kind": ["csv"]}


@pytest.mark.anyio
async def test_stream_keeps_the_body_unread(server: Server) -> None:
    async with httpcore2.Client(base_url=server.url) as client:
        async with client.stream("GET", "/stream/300000") as response:
            assert not response.is_stream_consumed
            size = sum([len(chunk) async for chunk in response.aiter_stream()])
    assert size == 300_000


@pytest.mark.anyio
async def test_send_a_prepared_request(server: Server) -> None:
    async with httpcore2.Client(base_url=server.url, headers={"X-Default": "1"}) as client:
        request = httpcore2.Request("GET", httpcore2.URL("/anything/built", allow_relative=True))
        response = await client.send(client.prepare_request(request))
    data = response.json()
    assert data["path"] == "/anything/built"
    assert ["x-default", "1"] in data["headers"]
    assert ["host", f"127.0.0.1:{server.port}"] in data["headers"]


@pytest.mark.case("S10")
@pytest.mark.parametrize(
    ("status", "method", "body_kept"),
    [
        (301, "GET", False),
        (302, "GET", False),
        (303, "GET", False),
        (307, "POST", True),
        (308, "POST", True),
    ],
)
@pytest.mark.anyio
async def test_redirect_method_and_body_rules(
    server: Server, status: int, method: str, body_kept: bool
) -> None:
    async with httpcore2.Client(base_url=server.url) as client:
        response = await client.post(
            f"/redirect-to?url=/anything/after&status_code={status}", content=b"payload"
        )
    data = response.json()
    assert data["method"] == method
    assert data["body"] == ("payload" if body_kept else "")
    assert [r.status for r in response.history] == [status]
    assert response.url == f"{server.url}/anything/after"


@pytest.mark.anyio
async def test_a_chain_of_redirects_is_kept_in_history(server: Server) -> None:
    async with httpcore2.Client(base_url=server.url) as client:
        response = await client.get("/redirect-chain/3")
    assert response.text == "done"
    assert len(response.history) == 3
    assert str(response.history[0].url) == f"{server.url}/redirect-chain/3"


@pytest.mark.case("S12")
@pytest.mark.anyio
async def test_too_many_redirects(server: Server) -> None:
    async with httpcore2.Client(base_url=server.url, max_redirects=4) as client:
        await client.get("/redirect-loop/reset")
        with pytest.raises(httpcore2.TooManyRedirects):
            await client.get("/redirect-loop")
        count = (await client.get("/redirect-loop/count")).json()
    assert count == 5  # the first request and four redirects, then it stops


@pytest.mark.case("S12")
@pytest.mark.anyio
async def test_not_following_returns_the_redirect_and_next_sends_the_hop(server: Server) -> None:
    async with httpcore2.Client(base_url=server.url, follow_redirects=False) as client:
        response = await client.get("/redirect-chain/2")
        assert response.status == 302
        assert response.is_redirect
        second = await response.anext()
        assert second.status == 302
        third = await second.anext()
        assert third.text == "done"


@pytest.mark.case("S11")
@pytest.mark.anyio
async def test_redirects_to_other_schemes_are_refused(server: Server) -> None:
    async with httpcore2.Client(base_url=server.url) as client:
        with pytest.raises(httpcore2.UnsupportedProtocol):
            await client.get("/redirect-to?url=file:///etc/passwd")


@pytest.mark.case("S01", "S07")
@pytest.mark.anyio
async def test_credentials_never_follow_a_redirect_to_another_origin(server: Server) -> None:
    target = other_origin(server) + "/anything/landed"
    async with httpcore2.Client(base_url=server.url, auth=("user", "secret")) as client:
        response = await client.get(
            "/redirect-to", params={"url": target}, headers={"Cookie": "session=1"}
        )
    received = dict(response.json()["headers"])
    assert response.url == target
    assert "authorization" not in received
    assert "cookie" not in received
    assert response.history[0].request.headers["authorization"].startswith("Basic ")


@pytest.mark.anyio
async def test_basic_auth(server: Server) -> None:
    async with httpcore2.Client(base_url=server.url) as client:
        assert (await client.get("/basic-auth/user/pass", auth=("user", "pass"))).status == 200
        denied = await client.get("/basic-auth/user/pass", auth=("user", "wrong"))
        assert denied.status == 401
        with pytest.raises(httpcore2.HTTPStatusError) as info:
            denied.raise_for_status()
        assert info.value.response is denied


@pytest.mark.case("S49")
@pytest.mark.anyio
async def test_cookies_set_sent_and_deleted(server: Server) -> None:
    async with httpcore2.Client(base_url=server.url) as client:
        response = await client.get("/cookies/set", params={"flavour": "oat"})
        assert response.json() == {"flavour": "oat"}  # set on the 302, sent on the next hop
        assert client.cookies["flavour"] == "oat"
        assert (await client.get("/cookies")).json() == {"flavour": "oat"}
        await client.get("/cookies/delete", params={"flavour": ""})
        assert "flavour" not in client.cookies
        # Cookies of the client are sent where they match; per-request cookies go along.
        client.cookies.set("client", "1", domain="127.0.0.1")
        response = await client.get("/cookies", cookies={"request": "2"})
        assert response.json() == {"client": "1", "request": "2"}


@pytest.mark.case("S46")
@pytest.mark.anyio
async def test_cookies_stay_with_their_origin(server: Server) -> None:
    async with httpcore2.Client(base_url=server.url) as client:
        await client.get("/cookies/set", params={"mine": "1"})
        elsewhere = await client.get(other_origin(server) + "/cookies")
    assert elsewhere.json() == {}


@pytest.mark.parametrize("path", ["/gzip", "/deflate", "/deflate-raw", "/brotli", "/zstd"])
@pytest.mark.anyio
async def test_compressed_responses_are_decoded(server: Server, path: str) -> None:
    async with httpcore2.Client(base_url=server.url) as client:
        response = await client.get(path)
    assert response.json()["compressed"] is True


@pytest.mark.parametrize(("charset", "expected"), [("utf-8", "utf-8"), ("latin-1", "latin-1")])
@pytest.mark.anyio
async def test_text_is_decoded_with_the_charset(
    server: Server, charset: str, expected: str
) -> None:
    async with httpcore2.Client(base_url=server.url) as client:
        response = await client.get(f"/encoding/{charset}")
    assert response.encoding == expected
    assert response.text == response.content.decode(expected)
    assert any(ord(character) > 127 for character in response.text)


@pytest.mark.anyio
async def test_event_hooks(server: Server) -> None:
    seen: list[str] = []

    def on_request(request: httpcore2.Request) -> None:
        seen.append(f"request {request.method}")

    def on_response(response: httpcore2.Response) -> None:
        seen.append(f"response {response.status}")

    hooks: dict[str, Any] = {"request": [on_request], "response": [on_response]}
    async with httpcore2.Client(base_url=server.url, event_hooks=hooks) as client:
        await client.get("/")
    assert seen == ["request GET", "response 200"]


@pytest.mark.anyio
async def test_any_transport_goes_under_the_stack() -> None:
    backend = httpcore2.MockBackend([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"])
    pool = httpcore2.ConnectionPool(network_backend=backend)
    async with httpcore2.Client(transport=pool) as client:
        response = await client.get("http://example.org/")
    assert response.text == "hi"
    assert response.elapsed.total_seconds() >= 0


@pytest.mark.anyio
async def test_a_closed_client_refuses_requests(server: Server) -> None:
    client = httpcore2.Client(base_url=server.url)
    await client.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await client.get("/")


@pytest.mark.anyio
async def test_relative_url_without_base_url() -> None:
    async with httpcore2.Client() as client:
        with pytest.raises(ValueError, match="relative URL"):
            await client.get("/no-base")


@pytest.mark.anyio
async def test_streamed_lines_and_text(server: Server) -> None:
    # `/lines` cuts its body inside multi-byte characters and between CR and LF.
    async with httpcore2.Client(base_url=server.url) as client:
        async with client.stream("GET", "/lines") as response:
            lines = [line async for line in response.aiter_lines()]
        async with client.stream("GET", "/lines") as response:
            text = "".join([piece async for piece in response.aiter_text()])
    assert lines == LINES.splitlines()
    assert text == LINES


@pytest.mark.anyio
async def test_the_cookies_a_response_sets(server: Server) -> None:
    async with httpcore2.Client(base_url=server.url, follow_redirects=False) as client:
        response = await client.get("/cookies/set", params={"a": "1", "b": "2"})
    assert dict(response.cookies) == {"a": "1", "b": "2"}


@pytest.mark.case("S13")
@pytest.mark.parametrize("kind", ["relative", "absolute"])
@pytest.mark.anyio
async def test_relative_and_absolute_locations(server: Server, kind: str) -> None:
    async with httpcore2.Client(base_url=server.url) as client:
        response = await client.get(f"/{kind}-redirect/2")
    assert response.status == 200
    assert len(response.history) == 2
    assert response.url.host == "127.0.0.1"
