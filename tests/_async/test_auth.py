"""Auth flows against real servers: httpbin's Basic and Digest endpoints, an RFC 7616 Digest
app for the algorithms httpbin lacks, and a custom token flow."""

from __future__ import annotations

import base64
from collections.abc import Generator, Iterator

import pytest

import httpcore2
from tests.servers.digest import DigestApp
from tests.servers.wsgi import WSGIServer


@pytest.fixture
def httpbin() -> Iterator[WSGIServer]:
    with WSGIServer() as server:
        yield server


def authorizations(server: WSGIServer, path: str) -> list[str | None]:
    """The `Authorization` header of each request for `path`, in order."""
    return [
        headers.get("authorization")
        for _, received, headers in list(server.requests)
        if received == path
    ]


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256", "SHA-512"])
@pytest.mark.parametrize("qop", ["auth", "auth-int"])
@pytest.mark.anyio
async def test_digest_against_httpbin(httpbin: WSGIServer, algorithm: str, qop: str) -> None:
    path = f"/digest-auth/{qop}/user/pass/{algorithm}"
    async with httpcore2.Client(auth=httpcore2.DigestAuth("user", "pass")) as client:
        response = await client.get(httpbin.url + path)
        assert response.status == 200
        assert response.json() == {"authenticated": True, "user": "user"}
        # The challenge is kept: the next request answers it up front, with the next count.
        assert (await client.get(httpbin.url + path)).status == 200
    sent = authorizations(httpbin, path)
    assert len(sent) == 3
    assert sent[0] is None
    assert sent[1] is not None
    assert f"algorithm={algorithm}" in sent[1]
    assert f"qop={qop}" in sent[1]
    assert "nc=00000001" in sent[1]
    assert sent[2] is not None
    assert "nc=00000002" in sent[2]


@pytest.mark.case("S09")
@pytest.mark.anyio
async def test_digest_wrong_password_is_retried_exactly_once(httpbin: WSGIServer) -> None:
    path = "/digest-auth/auth/user/pass/SHA-256/never"
    async with httpcore2.Client() as client:
        response = await client.get(httpbin.url + path, auth=httpcore2.DigestAuth("user", "no"))
    assert response.status == 401
    assert httpbin.count(path) == 2


@pytest.mark.anyio
async def test_digest_stale_nonce_is_answered_again(httpbin: WSGIServer) -> None:
    # httpbin marks the nonce stale after one use (told through a cookie, which the
    # client's jar keeps).
    path = "/digest-auth/auth/user/pass/MD5/1"
    async with httpcore2.Client(auth=httpcore2.DigestAuth("user", "pass")) as client:
        assert (await client.get(httpbin.url + path)).status == 200
        assert (await client.get(httpbin.url + path)).status == 200
    # Challenge, answer; then the answer up front found stale, and answered again.
    assert httpbin.count(path) == 4


@pytest.mark.parametrize(
    "algorithm",
    ["MD5", "MD5-sess", "SHA-256", "SHA-256-sess", "SHA-512-256", "SHA-512-256-sess"],
)
@pytest.mark.parametrize(("qop", "userhash"), [("auth", False), ("auth-int", True)])
@pytest.mark.anyio
async def test_digest_rfc7616_algorithms(algorithm: str, qop: str, userhash: bool) -> None:
    app = DigestApp("Mufasa", "Circle of Life", algorithm=algorithm, qop=qop, userhash=userhash)
    with WSGIServer(app) as server:
        async with httpcore2.Client(
            auth=httpcore2.DigestAuth("Mufasa", "Circle of Life")
        ) as client:
            response = await client.post(server.url + "/doe.json?x=1", content=b"body")
            assert response.status == 200
            assert (await client.put(server.url + "/doe.json", content=b"more")).status == 200
    assert app.answers == 1  # one challenge, then answered up front
    assert len(server.requests) == 3


@pytest.mark.case("S09")
@pytest.mark.anyio
async def test_digest_stale_is_answered_only_once() -> None:
    app = DigestApp("user", "pass", nonce_uses=0)  # every nonce is stale at once
    with WSGIServer(app) as server:
        async with httpcore2.Client(auth=("user", "ignored")) as client:
            auth = httpcore2.DigestAuth("user", "pass")
            response = await client.get(server.url + "/", auth=auth)
    assert response.status == 401
    assert "stale=true" in response.headers["www-authenticate"]
    assert len(server.requests) == 3


@pytest.mark.anyio
async def test_basic_auth_against_httpbin(httpbin: WSGIServer) -> None:
    path = "/basic-auth/user/pässword"
    async with httpcore2.Client(auth=("user", "pässword")) as client:
        assert (await client.get(httpbin.url + path)).status == 200
        wrong = httpcore2.BasicAuth("user", "wrong")
        assert (await client.get(httpbin.url + path, auth=wrong)).status == 401
    assert len(httpbin.requests) == 2  # Basic is sent up front: no challenge round trip


@pytest.mark.case("S41")
@pytest.mark.anyio
async def test_credentials_from_the_url(httpbin: WSGIServer) -> None:
    url = httpbin.url.replace("http://", "http://us%40er:p%3Ass@") + "/basic-auth/us@er/p:ss"
    async with httpcore2.Client() as client:
        response = await client.get(url)
    assert response.status == 200
    assert response.json() == {"authenticated": True, "user": "us@er"}


@pytest.mark.anyio
async def test_request_auth_overrides_the_client_auth(httpbin: WSGIServer) -> None:
    async with httpcore2.Client(auth=("user", "wrong")) as client:
        response = await client.get(httpbin.url + "/basic-auth/user/pass", auth=("user", "pass"))
    assert response.status == 200


@pytest.mark.anyio
async def test_send_leaves_the_request_unchanged(httpbin: WSGIServer) -> None:
    request = httpcore2.Request("GET", httpbin.url + "/basic-auth/user/pass")
    headers = list(request.headers)
    async with httpcore2.Client() as client:
        assert (await client.send(request, auth=("user", "pass"))).status == 200
        # Nothing of the first send sticks: the second goes without credentials.
        assert (await client.send(request)).status == 401
    assert list(request.headers) == headers
    assert request.extensions == {}


@pytest.mark.anyio
async def test_adapter_leaves_the_request_unchanged(httpbin: WSGIServer) -> None:
    path = "/digest-auth/auth/user/pass/MD5"
    request = httpcore2.Request("GET", httpbin.url + path)
    auth = httpcore2.DigestAuth("user", "pass")
    async with httpcore2.AuthAdapter(httpcore2.ConnectionPool(), auth=auth) as adapter:
        response = await adapter.handle_request(request)
        await response.aread()
        assert response.status == 200
    assert "authorization" not in request.headers
    assert "authorization" in response.request.headers


@pytest.mark.case("S09")
@pytest.mark.anyio
async def test_challenge_from_another_origin_is_not_answered(httpbin: WSGIServer) -> None:
    # The credentials belong to the first origin; the redirect target challenges too.
    app = DigestApp("user", "pass")
    with WSGIServer(app) as other:
        async with httpcore2.Client(auth=httpcore2.DigestAuth("user", "pass")) as client:
            response = await client.get(
                httpbin.url + "/redirect-to", params={"url": other.url + "/private"}
            )
    assert response.status == 401
    assert [headers.get("authorization") for _, _, headers in other.requests] == [None]


@pytest.mark.case("S01", "S07", "S08")
@pytest.mark.anyio
async def test_basic_auth_does_not_follow_a_redirect_to_another_origin(
    httpbin: WSGIServer,
) -> None:
    with WSGIServer() as other:
        async with httpcore2.Client(auth=("user", "pass")) as client:
            response = await client.get(
                httpbin.url + "/redirect-to",
                params={"url": other.url + "/headers"},
                headers={"Proxy-Authorization": "Basic c2VjcmV0", "Cookie": "s=1"},
            )
    assert response.status == 200
    received = other.requests[0][2]
    assert "authorization" not in received
    assert "proxy-authorization" not in received
    assert "cookie" not in received
    assert httpbin.requests[-1][2]["authorization"].startswith("Basic ")


# The custom flow of docs/authentication.md, word for word.
class TokenAuth(httpcore2.Auth):
    """Fetches a token once, then sends it as a bearer token."""

    requires_response_body = True  # the flow reads the token response's body

    def __init__(self, token_url: str) -> None:
        self.token_url = token_url
        self.token: str | None = None

    def auth_flow(
        self, request: httpcore2.Request
    ) -> Generator[httpcore2.Request, httpcore2.Response, None]:
        if self.token is None:
            token_response = yield httpcore2.Request("GET", self.token_url)
            self.token = token_response.text
        request.headers["Authorization"] = f"Bearer {self.token}"
        yield request


@pytest.mark.anyio
async def test_custom_two_step_token_flow(httpbin: WSGIServer) -> None:
    # httpbin's /base64/{value} answers the decoded value: here, the token.
    token_url = httpbin.url + "/base64/" + base64.urlsafe_b64encode(b"t0ken").decode()
    auth = TokenAuth(token_url)
    async with httpcore2.Client(auth=auth) as client:
        first = await client.get(httpbin.url + "/bearer")
        second = await client.get(httpbin.url + "/bearer")
    assert first.json() == second.json() == {"authenticated": True, "token": "t0ken"}
    paths = [path for _, path, _ in httpbin.requests[-3:]]
    assert paths == [token_url.removeprefix(httpbin.url), "/bearer", "/bearer"]


class RefusingAuth(httpcore2.Auth):
    def auth_flow(
        self, request: httpcore2.Request
    ) -> Generator[httpcore2.Request, httpcore2.Response, None]:
        response = yield request
        raise PermissionError(f"refused with {response.status}")


@pytest.mark.anyio
async def test_an_error_in_a_flow_closes_the_response(httpbin: WSGIServer) -> None:
    pool = httpcore2.ConnectionPool()
    async with httpcore2.AuthAdapter(pool, auth=RefusingAuth()) as adapter:
        with pytest.raises(PermissionError, match="refused with 401"):
            await adapter.handle_request(
                httpcore2.Request("GET", httpbin.url + "/basic-auth/user/pass")
            )
        assert all(connection.is_idle() for connection in pool.connections)
