"""The client and adapters at their edges: bad arguments, lifecycle, scripted transports."""

from __future__ import annotations

from typing import Any

import pytest

import httpcore2
from tests.servers.asgi_server import Server


class ScriptedTransport:
    """A transport that answers with prepared responses, in order: any transport will do."""

    def __init__(self, *responses: httpcore2.Response) -> None:
        self.responses = list(responses)
        self.requests: list[httpcore2.Request] = []
        self.closed = False

    async def handle_request(self, request: httpcore2.Request) -> httpcore2.Response:
        self.requests.append(request)
        response = self.responses.pop(0)
        response.request = request
        return response

    async def aclose(self) -> None:
        self.closed = True


def redirect(location: str, body: bytes = b"") -> httpcore2.Response:
    return httpcore2.Response(302, headers={"Location": location}, content=body)


def test_unsupported_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="not usable with transport="):
        httpcore2.Client(proxy="http://127.0.0.1:3128", transport=ScriptedTransport())
    with pytest.raises(ValueError, match="Unknown event hooks"):
        httpcore2.Client(event_hooks={"requests": []})
    with pytest.raises(ValueError, match="max_redirects"):
        httpcore2.RedirectAdapter(ScriptedTransport(), max_redirects=-1)


@pytest.mark.anyio
async def test_client_settings_are_visible() -> None:
    client = httpcore2.Client(
        base_url="http://127.0.0.1:1/api", params={"a": "1"}, timeout=3.0, cookies={"c": "1"}
    )
    assert client.base_url == "http://127.0.0.1:1/api/"
    assert client.params == httpcore2.QueryParams({"a": "1"})
    assert client.timeout == httpcore2.Timeout(3.0)
    assert client.headers["accept"] == "*/*"
    assert client.cookies["c"] == "1"
    assert not client.is_closed
    await client.aclose()
    await client.aclose()  # closing twice is harmless
    assert client.is_closed
    with pytest.raises(RuntimeError, match="closed"):
        async with client:
            pass


@pytest.mark.anyio
async def test_timeouts_per_request() -> None:
    transport = ScriptedTransport(httpcore2.Response(200), httpcore2.Response(200))
    async with httpcore2.Client(transport=transport, timeout=5.0) as client:
        await client.get("http://example.org/", timeout=1.0)
        request = client.build_request(
            "GET", "http://example.org/", extensions={"timeout": {"read": 2.0}}
        )
        await client.send(request)
    assert transport.requests[0].extensions["timeout"]["read"] == 1.0
    assert transport.requests[1].extensions["timeout"] == {"read": 2.0}
    assert transport.closed


@pytest.mark.anyio
async def test_send_leaves_the_callers_request_as_it_was() -> None:
    # request() sends the request it builds as it is; send() must still send a copy.
    transport = ScriptedTransport(httpcore2.Response(200))
    async with httpcore2.Client(transport=transport, cookies={"c": "1"}) as client:
        request = client.build_request("GET", "http://example.org/", extensions={"x": 1})
        headers = list(request.headers)
        await client.send(request, timeout=1.0, follow_redirects=False, auth=("user", "pw"))
    sent = transport.requests[0]
    assert sent is not request
    assert sent.extensions["timeout"]["read"] == 1.0
    assert sent.headers["cookie"] == "c=1"
    assert request.extensions == {"x": 1}
    assert list(request.headers) == headers


@pytest.mark.anyio
async def test_a_subclass_send_sees_the_requests_of_request_and_stream() -> None:
    seen: list[str] = []

    class Recording(httpcore2.Client):
        async def send(self, request: httpcore2.Request, **options: Any) -> httpcore2.Response:
            seen.append(f"{request.method} {options.get('stream', False)}")
            return await super().send(request, **options)

    transport = ScriptedTransport(httpcore2.Response(200), httpcore2.Response(200))
    async with Recording(transport=transport) as client:
        await client.get("http://example.org/")
        async with client.stream("POST", "http://example.org/"):
            pass
    assert seen == ["GET False", "POST True"]
    assert len(transport.requests) == 2


@pytest.mark.anyio
async def test_a_failing_response_hook_closes_the_response() -> None:
    response = httpcore2.Response(200)

    def broken(response: httpcore2.Response) -> None:
        raise ValueError("hook failed")

    hooks = {"response": [broken]}
    transport = ScriptedTransport(response)
    async with httpcore2.Client(transport=transport, event_hooks=hooks) as client:
        with pytest.raises(ValueError, match="hook failed"):
            await client.get("http://example.org/")
    assert response.is_closed


@pytest.mark.case("S30")
@pytest.mark.anyio
async def test_a_large_redirect_body_is_not_drained() -> None:
    big = redirect("/next", body=b"x" * 1_000_000)
    transport = ScriptedTransport(big, httpcore2.Response(200, content=b"done"))
    async with httpcore2.RedirectAdapter(transport) as stack:
        response = await stack.handle_request(httpcore2.Request("GET", "http://example.org/"))
        assert await response.aread() == b"done"
    assert big.is_closed
    assert [str(r.url) for r in transport.requests] == [
        "http://example.org/",
        "http://example.org/next",
    ]


@pytest.mark.anyio
async def test_next_on_a_response_that_is_not_a_redirect(server: Server) -> None:
    async with httpcore2.Client(base_url=server.url, follow_redirects=False) as client:
        response = await client.get("/")
        with pytest.raises(RuntimeError, match="not a redirect"):
            await response.anext()


@pytest.mark.anyio
async def test_next_of_a_streamed_redirect_is_streamed(server: Server) -> None:
    async with httpcore2.Client(base_url=server.url, follow_redirects=False) as client:
        async with client.stream("GET", "/redirect-chain/1") as response:
            following = await response.anext()
        assert not following.is_stream_consumed
        assert await following.aread() == b"done"
        assert following.history == [response]


@pytest.mark.anyio
async def test_many_distinct_urls_keep_resolving_correctly() -> None:
    # Merged URLs are remembered per string, up to a bound; past it they are merged anew.
    count = 600
    transport = ScriptedTransport(*[httpcore2.Response(200) for _ in range(2 * count)])
    async with httpcore2.Client(transport=transport, base_url="http://example.org/v1") as client:
        for _ in range(2):
            for index in range(count):
                await client.get(f"items/{index}")
    urls = [str(request.url) for request in transport.requests]
    assert urls[:2] == ["http://example.org/v1/items/0", "http://example.org/v1/items/1"]
    assert urls[count:] == urls[:count]
