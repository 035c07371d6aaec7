"""Bad input, sans-I/O and across worlds: the models, the body checks, the top-level functions,
and the shared helpers behind the client's messages (issue 15; the client itself is tested in
tests/_async/test_bad_input.py and its sync twin)."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Iterator
from http.cookiejar import CookieJar
from typing import Any

import pytest

import httpcore2
from httpcore2._arguments import check_auth, check_cookies
from httpcore2._content import IteratorStream, aprime_body, encode_request_body, prime_body
from httpcore2._exceptions import connect_error, connect_target
from httpcore2._http11_engine import H11Engine, request_parts
from httpcore2._redirects import redirect_location
from tests.servers.raw import OK, RawServerFactory, respond_with

SECRET = "s3cretPW"


# --- point 1: no secret in reprs and messages ---------------------------------------------


def test_p1_headers_mask_credentials_in_repr_and_str_but_keep_them_for_the_wire() -> None:
    headers = httpcore2.Headers(
        [
            ("Authorization", f"Basic {SECRET}"),
            ("proxy-authorization", SECRET),
            ("Cookie", f"session={SECRET}"),
            ("Set-Cookie", "theme=dark"),
            ("Accept", "*/*"),
        ]
    )
    expected = (
        "[(b'Authorization', b'[secure]'), (b'proxy-authorization', b'[secure]'), "
        "(b'Cookie', b'[secure]'), (b'Set-Cookie', b'theme=dark'), (b'Accept', b'*/*')]"
    )
    assert str(headers) == expected
    assert repr(headers) == f"Headers({expected})"
    assert headers["authorization"] == f"Basic {SECRET}"
    assert headers.raw[0] == (b"Authorization", f"Basic {SECRET}".encode())


def test_p1_p7_request_repr_shows_method_and_masked_url() -> None:
    request = httpcore2.Request("post", f"https://user:{SECRET}@example.org/a?b=1")
    assert repr(request) == "<Request('POST', 'https://user:[secure]@example.org/a?b=1')>"
    assert repr(httpcore2.Request("GET", "http://example.org")) == (
        "<Request('GET', 'http://example.org/')>"
    )


def test_p1_an_invalid_location_is_quoted_with_its_password_masked() -> None:
    request = httpcore2.Request("GET", "http://example.org/")
    response = httpcore2.Response(
        302, headers={"Location": f"http://user:{SECRET}@bad host/"}, request=request
    )
    with pytest.raises(httpcore2.RemoteProtocolError) as info:
        redirect_location(response)
    assert SECRET not in str(info.value)
    assert "'http://user:[secure]@bad host/'" in str(info.value)


# --- points 3, 4, 6: the models and bodies check their arguments --------------------------


def text_chunks() -> Iterator[Any]:
    yield "text"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"a": 1}, r"^content= takes .* not dict: did you mean json= or data=\?$"),
        ([b"ok", "text"], "^Request content given as a list must hold bytes, not str: encode text"),
        ((b"ok", 1), r"given as a tuple must hold bytes, not int \(did you mean json=\?\)"),
        (text_chunks(), "^Request body iterators must yield bytes, not str: encode text"),
        (5, "^Request content must be bytes, str, a binary file or an iterator of bytes"),
    ],
)
def test_p3_request_bodies_of_the_wrong_type_fail_when_the_request_is_built(
    content: Any, message: str
) -> None:
    with pytest.raises(TypeError, match=message):
        httpcore2.Request("POST", "http://example.org/", content=content)


def test_p3_an_iterator_body_keeps_its_first_chunk_and_is_sent_once() -> None:
    def chunks() -> Iterator[bytes]:
        yield b"a"
        yield b""
        yield b"b"

    stream = IteratorStream(chunks())
    assert list(stream) == [b"a", b"", b"b"]
    with pytest.raises(httpcore2.StreamConsumed):
        list(stream)
    assert list(IteratorStream(iter([]))) == []


class AsyncTextChunks:
    """An async iterator without `aclose()`, yielding text."""

    def __aiter__(self) -> AsyncTextChunks:
        return self

    async def __anext__(self) -> Any:
        return "text"


@pytest.mark.anyio
async def test_p3_an_async_body_is_checked_at_its_first_chunk_before_sending() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"a"
        yield b"b"

    stream, _ = encode_request_body(chunks())
    await aprime_body(stream)
    assert [chunk async for chunk in stream] == [b"a", b"b"]
    empty = encode_request_body(AsyncEmpty())[0]
    assert [chunk async for chunk in empty] == []
    await aprime_body(encode_request_body(b"bytes need no priming")[0])
    bad = encode_request_body(AsyncTextChunks())[0]
    with pytest.raises(TypeError, match="yield bytes, not str"):
        await aprime_body(bad)


class AsyncEmpty:
    def __aiter__(self) -> AsyncEmpty:
        return self

    async def __anext__(self) -> bytes:
        raise StopAsyncIteration


async def async_chunks() -> AsyncIterator[bytes]:
    yield b"never sent"


def test_p3_an_async_body_is_refused_by_sync_code_before_anything_is_sent(
    raw_server: RawServerFactory,
) -> None:
    server = raw_server(respond_with(OK, repeat=True))
    body = async_chunks()
    with pytest.raises(TypeError, match=r"^This request body is an async iterator: send it"):
        httpcore2.request("POST", server.url + "/", content=body)
    with pytest.raises(TypeError, match=r"^This request body is an async iterator: send it"):
        with httpcore2.stream("POST", server.url + "/", content=body):
            pass  # pragma: no cover
    with httpcore2.SyncClient() as client:
        with pytest.raises(TypeError, match=r"^This request body is an async iterator: send it"):
            client.post(server.url + "/", content=body)
    assert server.connections == []
    prime_body(encode_request_body(b"bytes are fine")[0])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": None}, "^The method must be a str such as 'GET'"),
        ({"url": None}, "^URL expects str, bytes or URL, not NoneType$"),
        ({"url": ["http://example.org/"]}, "^URL expects str, bytes or URL, not list$"),
        ({"extensions": [1]}, "^extensions= takes a dict"),
        ({"headers": b"Accept: */*"}, "^headers= takes a dict or a list .* not bytes$"),
        ({"headers": 5}, "^headers= takes a dict or a list .* not int$"),
        ({"headers": ["Accept"]}, r"takes \(name, value\) pairs, not str$"),
    ],
)
def test_p4_p6_request_arguments_raise_type_errors_that_name_them(
    kwargs: dict[str, Any], message: str
) -> None:
    arguments = {"method": "GET", "url": "http://example.org/", **kwargs}
    with pytest.raises(TypeError, match=message):
        httpcore2.Request(**arguments)


def test_p6_a_bad_header_value_in_a_list_still_gets_its_own_message() -> None:
    with pytest.raises(ValueError, match="CR, LF, NUL"):
        httpcore2.Headers([("X-A", "b\r\nX-Injected: 1")])
    with pytest.raises(TypeError, match=r"^Header values must be str or bytes, not int"):
        httpcore2.Headers([("X-A", 1)])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (5, "^Query parameters are a dict, .* not int$"),
        (b"a=1", "^Query parameters are a dict, .* not bytes$"),
        ([("a",)], r"^Query parameters given as a list need \(name, value\) pairs, not tuple$"),
        ({"a": b"1"}, "^The value of 'a' is a bytes: values are str, int"),
        ({"a": [1, object()]}, "^The value of 'a' is a object"),
        ([("a", {"b": 1})], "^The value of 'a' is a dict"),
    ],
)
def test_p6_query_params_outside_the_documented_types_raise(params: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        httpcore2.QueryParams(params)


def test_p6_documented_query_params_still_work() -> None:
    params = httpcore2.QueryParams([["a", 1], ("b", None), ("c", True)])
    assert str(params) == "a=1&b=&c=true"
    assert str(httpcore2.QueryParams({"t": (1.5, "x")})) == "t=1.5&t=x"


def test_p4_p6_argument_checks_accept_what_they_document() -> None:
    for auth in [None, ("user", b"password"), httpcore2.BasicAuth("u", "p")]:
        check_auth(auth)
    for cookies in [
        None,
        httpcore2.Cookies(),
        CookieJar(),
        {"a": "b"},
        [("a", "b")],
        (["a", "b"],),
    ]:
        check_cookies(cookies)


# --- points 5, 8: URLs --------------------------------------------------------------------


def test_p5_the_top_level_functions_raise_invalid_url_for_a_relative_url() -> None:
    with pytest.raises(httpcore2.InvalidURL, match="no scheme"):
        httpcore2.request("GET", "/x")
    with pytest.raises(TypeError, match=r"^The method must be a str"):
        httpcore2.request(None, "http://127.0.0.1:1/")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://example.org:65536/", "^Invalid URL: port '65536' is out of range: 0 to 65535$"),
        # A password where a port would be is not echoed.
        (f"http://user:{SECRET}/", r"^Invalid URL: the port is not a number \(a port is 0"),
        ("http://exa$mple.org/", "^Invalid URL: invalid character in the host label 'exa\\$mple'$"),
    ],
)
def test_p8_invalid_url_names_the_bad_part_without_secrets(url: str, message: str) -> None:
    with pytest.raises(httpcore2.InvalidURL, match=message) as info:
        httpcore2.URL(url)
    assert SECRET not in str(info.value)


def test_p8_copy_with_names_the_bad_port() -> None:
    with pytest.raises(httpcore2.InvalidURL, match=r"^Invalid URL: port 70000 is not a number"):
        httpcore2.URL("http://example.org/").copy_with(port=70000)


# --- point 8: connect errors in the same words on every backend ---------------------------


def chained(outer: OSError, cause: OSError) -> OSError:
    outer.__cause__ = cause
    return outer


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (ConnectionRefusedError(111, "Connection refused"), "Connection refused"),
        # asyncio puts its own words in strerror.
        (ConnectionRefusedError(111, "Connect call failed ('::1', 1)"), "Connection refused"),
        # anyio (trio) wraps the attempts.
        (
            chained(OSError("All connection attempts failed"), ConnectionRefusedError(111, "x")),
            "Connection refused",
        ),
        (
            socket.gaierror(-2, "Name or service not known"),
            "the host name could not be resolved (Name or service not known)",
        ),
        (OSError("Multiple exceptions: a, b"), "Multiple exceptions: a, b"),
        (OSError(), "OSError"),
    ],
)
def test_p8_connect_errors_name_the_target_and_the_reason(error: OSError, reason: str) -> None:
    exc = connect_error(connect_target("example.org", 8080), error)
    assert isinstance(exc, httpcore2.ConnectError)
    assert str(exc) == f"Could not connect to example.org:8080: {reason}"


def test_p8_ipv6_targets_are_bracketed() -> None:
    assert connect_target("::1", 443) == "[::1]:443"


# --- point 11: next() and anext() across worlds -------------------------------------------


class Redirecting:
    async def handle_request(self, request: httpcore2.Request) -> httpcore2.Response:
        return httpcore2.Response(302, headers={"Location": "/next"}, request=request)

    async def aclose(self) -> None: ...


class SyncRedirecting:
    def handle_request(self, request: httpcore2.Request) -> httpcore2.Response:
        return httpcore2.Response(302, headers={"Location": "/next"}, request=request)

    def close(self) -> None: ...


def not_followed() -> httpcore2.Request:
    return httpcore2.Request("GET", "http://example.org/", extensions={"follow_redirects": False})


@pytest.mark.anyio
async def test_p11_next_on_an_async_response_raises_a_clear_error() -> None:
    response = await httpcore2.RedirectAdapter(Redirecting()).handle_request(not_followed())
    with pytest.raises(RuntimeError, match=r"^This response comes from an async transport: use aw"):
        response.next()
    assert (await response.anext()).status == 302


@pytest.mark.anyio
async def test_p11_anext_on_a_sync_response_raises_a_clear_error() -> None:
    response = httpcore2.SyncRedirectAdapter(SyncRedirecting()).handle_request(not_followed())
    with pytest.raises(RuntimeError, match=r"^This response comes from a sync transport: use resp"):
        await response.anext()
    assert response.next().status == 302


# --- point 12: json() and TooManyRedirects ------------------------------------------------


def test_p12_json_keeps_its_exception_type_and_says_what_the_response_was() -> None:
    response = httpcore2.Response(502, content=b"<html>", headers={"Content-Type": "text/html"})
    with pytest.raises(json.JSONDecodeError) as info:
        response.json()
    assert info.value.msg == "Expecting value (the body of a 502 response, text/html, is not JSON)"
    assert (info.value.pos, info.value.doc) == (0, "<html>")
    no_type = httpcore2.Response(200, content=b"{")
    with pytest.raises(ValueError, match=r"of a 200 response, no Content-Type, is not JSON"):
        no_type.json()


class RedirectingForever:
    def __init__(self) -> None:
        self.hops = 0

    def handle_request(self, request: httpcore2.Request) -> httpcore2.Response:
        self.hops += 1
        location = f"/hop/{self.hops}"
        return httpcore2.Response(302, headers={"Location": location}, request=request)

    def close(self) -> None: ...


def test_p12_too_many_redirects_shortens_a_long_chain() -> None:
    adapter = httpcore2.SyncRedirectAdapter(RedirectingForever(), max_redirects=10)
    with pytest.raises(httpcore2.TooManyRedirects) as info:
        adapter.handle_request(httpcore2.Request("GET", "http://example.org/"))
    assert str(info.value).startswith(
        "Exceeded max_redirects=10: http://example.org/ -> http://example.org/hop/1 -> "
        "http://example.org/hop/2 -> ... 5 more ... -> http://example.org/hop/8 -> "
        "http://example.org/hop/9 -> http://example.org/hop/10 redirects again. Raise "
        "max_redirects=, or pass follow_redirects=False"
    )


def test_p12_a_long_malformed_line_is_shortened_in_the_message() -> None:
    engine = H11Engine()
    engine.request_head(*request_parts(httpcore2.Request("GET", "http://example.org/")))
    engine.end_of_body()
    (error,) = engine.receive_data(b"HTTP/1.1 200 OK\r\n" + b"Bad header " * 20 + b"\r\n\r\n")
    assert isinstance(error, httpcore2.RemoteProtocolError)
    assert str(error) == (
        "The server sent an invalid header line: b'" + ("Bad header " * 20)[:78] + "..."
    )
