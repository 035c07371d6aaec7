"""MockTransport and Router: a client's stack over a function instead of a server."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator

import pytest

import httpcore2


def echo(request: httpcore2.Request) -> httpcore2.Response:
    return httpcore2.Response(200, content=request.method.encode() + b" " + request.content)


@pytest.mark.anyio
async def test_the_client_gets_what_the_handler_returns() -> None:
    async with httpcore2.Client(transport=httpcore2.MockTransport(echo)) as client:
        response = await client.post("https://example.org/items", content=b"widget")
    assert response.status == 200
    assert response.content == b"POST widget"
    assert response.request.url == "https://example.org/items"
    assert response.protocol == "HTTP/1.1"


# unasync: remove-begin
@pytest.mark.anyio
async def test_an_async_handler_is_awaited() -> None:
    async def handler(request: httpcore2.Request) -> httpcore2.Response:
        return httpcore2.Response(201, content=request.content)

    async with httpcore2.MockTransport(handler) as transport:
        response = await transport.handle_request(
            httpcore2.Request("PUT", "https://example.org/", content=b"x")
        )
    assert response.status == 201
    assert await response.aread() == b"x"


# unasync: remove-end


@pytest.mark.anyio
async def test_request_bodies_are_read_as_a_server_would() -> None:
    async with httpcore2.MockTransport(echo) as transport:
        url = "https://example.org/"
        request = httpcore2.Request("POST", url, content=iter([b"a", b"b"]))
        response = await transport.handle_request(request)
        assert await response.aread() == b"POST ab"
        # An iterator is sent once; a second send fails, as it does on a real connection.
        with pytest.raises(httpcore2.StreamConsumed):
            await transport.handle_request(request)
        # A seekable file is rewound and sent again.
        request = httpcore2.Request("POST", url, content=io.BytesIO(b"file"))
        for _ in range(2):
            response = await transport.handle_request(request)
            assert await response.aread() == b"POST file"
    async with httpcore2.Client(transport=transport) as client:
        response = await client.post(url, json={"a": 1})
        assert response.content == b'POST {"a":1}'


@pytest.mark.anyio
async def test_streaming_responses_stream() -> None:
    produced: list[bytes] = []

    async def body() -> AsyncIterator[bytes]:
        for chunk in (b"one ", b"two ", b"three"):
            produced.append(chunk)
            yield chunk

    def handler(request: httpcore2.Request) -> httpcore2.Response:
        return httpcore2.Response(200, content=body())

    async with httpcore2.Client(transport=httpcore2.MockTransport(handler)) as client:
        async with client.stream("GET", "https://example.org/") as response:
            assert produced == []  # nothing is read before the caller asks
            chunks = [chunk async for chunk in response.aiter_stream()]
        assert chunks == [b"one ", b"two ", b"three"]
        assert response.is_closed
        response = await client.get("https://example.org/")
        assert response.text == "one two three"


@pytest.mark.anyio
async def test_handler_errors_reach_the_caller_with_their_request() -> None:
    def handler(request: httpcore2.Request) -> httpcore2.Response:
        raise httpcore2.ConnectError("refused")

    async with httpcore2.Client(transport=httpcore2.MockTransport(handler)) as client:
        with pytest.raises(httpcore2.ConnectError) as info:
            await client.get("https://example.org/")
    assert info.value.request.url == "https://example.org/"


@pytest.mark.anyio
async def test_adapters_stack_over_a_mock() -> None:
    def handler(request: httpcore2.Request) -> httpcore2.Response:
        if request.url.path == "/old":
            return httpcore2.Response(301, headers={"Location": "/new"})
        return httpcore2.Response(200, content=b"moved")

    async with httpcore2.RedirectAdapter(httpcore2.MockTransport(handler)) as transport:
        response = await transport.handle_request(
            httpcore2.Request("GET", "https://example.org/old")
        )
    assert await response.aread() == b"moved"
    assert [hop.status for hop in response.history] == [301]


@pytest.mark.anyio
async def test_a_cookie_header_of_ones_own_is_sent_as_given_unless_the_jar_adds_to_it() -> None:
    sent: list[list[tuple[bytes, bytes]]] = []

    def handler(request: httpcore2.Request) -> httpcore2.Response:
        sent.append(request.headers.raw)
        return httpcore2.Response(200)

    headers = {"Cookie": "mine=1", "X-After": "yes"}
    async with httpcore2.Client(transport=httpcore2.MockTransport(handler)) as client:
        client.cookies.set("elsewhere", "1", domain="other.example")
        await client.get("https://example.org/", headers=headers)
        client.cookies.set("here", "2", domain="example.org")
        await client.get("https://example.org/", headers=headers)
    # Nothing from the jar: the request goes as it was built.
    assert sent[0][-2:] == [(b"Cookie", b"mine=1"), (b"X-After", b"yes")]
    # One Cookie header, the user's cookies first.
    assert sent[1][-2:] == [(b"X-After", b"yes"), (b"cookie", b"mine=1; here=2")]


@pytest.mark.anyio
async def test_a_redirect_status_without_a_location_is_the_response() -> None:
    def handler(request: httpcore2.Request) -> httpcore2.Response:
        return httpcore2.Response(302, content=b"nowhere to go")

    async with httpcore2.Client(transport=httpcore2.MockTransport(handler)) as client:
        response = await client.get("https://example.org/")
    assert (response.status, response.content, response.history) == (302, b"nowhere to go", [])


@pytest.mark.anyio
async def test_router_answers_by_method_and_url_and_records_calls() -> None:
    router = httpcore2.Router()
    listing = router.route(
        "GET", "https://api.example.org/users?*", httpcore2.Response(200, content=b"[]")
    )
    created = router.route("post", "/users", lambda request: httpcore2.Response(201))
    by_id = router.route(None, re.compile(r"https://api\.example\.org/users/\d+"), echo)
    assert not listing.called
    async with httpcore2.Client(
        base_url="https://API.example.org:443", transport=httpcore2.MockTransport(router)
    ) as client:
        for page in (1, 2):
            response = await client.get("/users", params={"page": page})
            assert response.content == b"[]"  # a fresh copy of the canned response each time
        assert (await client.post("/users", json={"name": "a"})).status == 201
        assert (await client.delete("/users/7")).content == b"DELETE "
        with pytest.raises(LookupError) as info:
            await client.get("https://user:secret@api.example.org/x")
        assert str(info.value) == "No route matches GET https://api.example.org/x"
        with pytest.raises(LookupError):
            await client.get("/users/seven")
    assert [request.url.params["page"] for request in listing.calls] == ["1", "2"]
    assert created.calls[0].content == b'{"name":"a"}'
    assert by_id.called
    assert len(router.calls) == 6
    assert repr(created) == "<Route POST '/users' calls=1>"
    assert repr(by_id).startswith("<Route * re.compile(")


def test_a_canned_route_response_needs_its_body_in_memory() -> None:
    with pytest.raises(TypeError, match="as bytes"):
        httpcore2.Router().route("GET", "/", httpcore2.Response(200, content=iter([b"x"])))
