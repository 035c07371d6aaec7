"""Bad input to the client: a clear exception, raised before any byte is sent, and never a
secret in a message, a repr or a log line (issue 15). Each test names its point of the issue."""

from __future__ import annotations

import logging
import ssl
from collections.abc import AsyncIterator, Generator
from pathlib import Path
from typing import Any

import pytest

import httpcore2
from tests.servers.asgi_server import Server
from tests.servers.certs import TLSFiles
from tests.servers.raw import OK, RawServer, RawServerFactory, build_response, respond_with

SECRET = "s3cretPW"


def credentials_url(server: Server, path: str) -> str:
    return server.url.replace("://", f"://user:{SECRET}@") + path


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        assert SECRET not in text
        assert "Cookie-" + SECRET not in text


@pytest.mark.case("S41")
@pytest.mark.anyio
async def test_p1_no_secret_in_messages_reprs_or_logs(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    headers = {"Authorization": f"Bearer {SECRET}", "Cookie": f"session=Cookie-{SECRET}"}
    async with httpcore2.Client(headers=headers) as client:
        response = await client.get(credentials_url(server, "/status/401"))
        with pytest.raises(httpcore2.HTTPStatusError) as info:
            response.raise_for_status()
        request = response.request
        texts = [str(info.value), repr(info.value), repr(request), repr(response)]
        texts += [repr(request.headers), str(request.headers), repr(client)]
        texts += [record.getMessage() for record in caplog.records]
        assert_no_secret(*texts)
        masked_url = credentials_url(server, "/status/401").replace(SECRET, "[secure]")
        assert str(info.value).endswith(f"error '401 Unauthorized' for url '{masked_url}'")
        assert repr(request) == f"<Request('GET', '{server.url}/status/401')>".replace(
            "://", "://user:[secure]@"
        )
        assert "(b'Authorization', b'[secure]')" in repr(request.headers)
        assert "(b'Cookie', b'[secure]')" in str(request.headers)


@pytest.mark.case("S12", "S41")
@pytest.mark.anyio
async def test_p1_p12_too_many_redirects_names_the_chain_masked_and_the_way_out(
    server: Server,
) -> None:
    url = credentials_url(server, "/redirect-loop?n=1")
    async with httpcore2.Client(max_redirects=2) as client:
        with pytest.raises(httpcore2.TooManyRedirects) as info:
            await client.get(url)
    message = str(info.value)
    assert_no_secret(message, repr(info.value), repr(info.value.request))
    masked = server.url.replace("://", "://user:[secure]@")
    assert message.startswith(f"Exceeded max_redirects=2: {masked}/redirect-loop?n=1 -> ")
    assert "redirects again" in message
    assert "max_redirects=" in message
    assert "follow_redirects=False" in message


@pytest.mark.anyio
async def test_p2_zero_timeout_is_refused_up_front_naming_the_field(server: Server) -> None:
    with pytest.raises(ValueError, match=r"^Timeout timeout=0 must be a positive number"):
        httpcore2.Client(timeout=0)
    async with httpcore2.Client() as client:
        with pytest.raises(ValueError, match=r"^Timeout read=0 must be a positive number"):
            await client.get(server.url + "/", timeout=httpcore2.Timeout(5, read=0))
        with pytest.raises(ValueError, match=r"^Timeout connect=-1 must be a positive number"):
            await client.get(server.url + "/", timeout={"connect": -1})
    with pytest.raises(TypeError, match=r"^Timeout timeout=True: a timeout is a number"):
        httpcore2.Client(timeout=True)


def text_chunks() -> Generator[Any, None, None]:
    yield "text, not bytes"


async def async_text_chunks() -> AsyncIterator[Any]:
    yield "text, not bytes"


def received_requests(server: RawServer) -> list[bytes]:
    return [bytes(connection.received) for connection in server.connections]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"a": 1}, "content= takes bytes, .* not dict: did you mean json= or data=?"),
        (["text", "more"], "given as a list must hold bytes, not str"),
        ([{"a": 1}], r"given as a list must hold bytes, not dict \(did you mean json=\?\)"),
        (text_chunks, "iterators must yield bytes, not str"),
        (b"ok", None),
    ],
)
@pytest.mark.anyio
async def test_p3_a_body_of_the_wrong_type_fails_before_any_byte_is_sent(
    raw_server: RawServerFactory, content: Any, message: str | None
) -> None:
    server = raw_server(respond_with(OK, repeat=True))
    async with httpcore2.Client(base_url=server.url) as client:
        if message is not None:
            body = content() if callable(content) else content
            with pytest.raises(TypeError, match=message):
                await client.post("/bad", content=body)
        # A good request after the bad one: the connections are accepted in order, so one
        # opened for the bad request would be listed before it.
        await client.post("/ok", content=b"ok")
    [received] = received_requests(server)
    assert received.startswith(b"POST /ok HTTP/1.1\r\n")


@pytest.mark.anyio
async def test_p3_an_async_body_of_the_wrong_type_fails_before_any_byte_is_sent(
    raw_server: RawServerFactory,
) -> None:
    server = raw_server(respond_with(OK, repeat=True))
    async with httpcore2.Client(base_url=server.url) as client:
        # Its first chunk is taken before the head is sent.
        with pytest.raises(TypeError, match="yield bytes, not str"):
            await client.post("/bad", content=async_text_chunks())
        await client.post("/ok", content=b"ok")
    [received] = received_requests(server)
    assert received.startswith(b"POST /ok HTTP/1.1\r\n")


class NotATransport:
    def handle_request(self) -> None: ...


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        # Point 4: wrong types fail when the client is made, not at its first request.
        ({"transport": object()}, TypeError, "^transport= takes a transport .* not object$"),
        ({"transport": NotATransport()}, TypeError, "^transport= takes a transport"),
        ({"pool_limits": {"max_connections": 1}}, TypeError, "^pool_limits= takes a PoolLimits"),
        ({"auth": ("user", None)}, TypeError, "the password must be str or bytes, not NoneType"),
        ({"auth": "user:password"}, TypeError, "^auth= takes a .username, password. tuple"),
        # Point 6.
        ({"cookies": "session=abc"}, TypeError, "^cookies= takes a dict .* not str$"),
        ({"cookies": {"session": 1}}, TypeError, "the value of 'session' is int$"),
        ({"cookies": [("a", "b", "c")]}, TypeError, "takes .name, value. pairs, not tuple$"),
        ({"cookies": [(1, "b")]}, TypeError, "^cookies= names are str, not int$"),
        ({"headers": "Accept: */*"}, TypeError, "^headers= takes a dict or a list .* not str$"),
        ({"headers": [("Accept",)]}, TypeError, "given as a list takes .name, value. pairs"),
        ({"params": 5}, TypeError, "^Query parameters are a dict, .* not int$"),
        ({"params": {"when": object()}}, TypeError, "^The value of 'when' is a object"),
        # Point 9.
        ({"verify": ssl.create_default_context()}, TypeError, "as ssl_context= instead$"),
        ({"verify": None}, TypeError, r"for your own ssl\.SSLContext, use ssl_context=\), not"),
        ({"ssl_context": True}, TypeError, r"^ssl_context= takes an ssl\.SSLContext, not bool$"),
        ({"cert": 1}, TypeError, "^cert= takes the path of a PEM file"),
        ({"cert": ("missing.pem", "key.pem")}, FileNotFoundError, "'missing.pem' does not exist"),
        # Point 13.
        ({"max_redirects": "x"}, TypeError, "^max_redirects= takes an int, not str$"),
        ({"max_redirects": True}, TypeError, "^max_redirects= takes an int, not bool$"),
        ({"max_redirects": -1}, ValueError, "^max_redirects=-1 must not be negative$"),
        (
            {"follow_redirects": "no"},
            TypeError,
            "^follow_redirects= takes True or False, not 'no'$",
        ),
    ],
)
def test_p4_p6_p9_p13_client_arguments_are_checked_when_it_is_made(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        httpcore2.Client(**kwargs)


@pytest.mark.anyio
async def test_p9_verify_takes_a_path(tls_server: Server, tls_files: TLSFiles) -> None:
    cert = (str(tls_files.cert_file), str(tls_files.key_file))
    async with httpcore2.Client(verify=Path(tls_files.ca_file), cert=cert) as client:
        response = await client.get(tls_server.url + "/")
        assert response.status == 200


@pytest.mark.parametrize(
    ("method", "kwargs", "error", "message"),
    [
        (None, {}, TypeError, "^The method must be a str such as 'GET' or 'POST', not NoneType$"),
        ("GET", {"extensions": [1]}, TypeError, r"^extensions= takes a dict .* not list$"),
        ("GET", {"auth": ("user", None)}, TypeError, "the password must be str or bytes"),
        ("GET", {"follow_redirects": "no"}, TypeError, "^follow_redirects= takes True or False"),
        ("GET", {"cookies": "a=b"}, TypeError, "^cookies= takes a dict"),
        ("GET", {"headers": "Accept: */*"}, TypeError, "^headers= takes a dict"),
        ("GET", {"params": 5}, TypeError, "^Query parameters are a dict"),
        ("POST", {"data": {"when": object()}}, TypeError, "^The value of 'when' is a object"),
        ("POST", {"files": "report.csv"}, TypeError, "^files= takes a dict .* not str$"),
        ("POST", {"files": ["report.csv"]}, TypeError, r"takes \(name, file\) pairs, not str$"),
        ("GET", {"timeout": True}, TypeError, "^Timeout timeout=True: a timeout is a number"),
    ],
)
@pytest.mark.anyio
async def test_p4_p6_p13_request_arguments_are_checked_before_sending(
    raw_server: RawServerFactory,
    method: Any,
    kwargs: dict[str, Any],
    error: type[Exception],
    message: str,
) -> None:
    server = raw_server(respond_with(OK, repeat=True))
    async with httpcore2.Client(base_url=server.url) as client:
        with pytest.raises(error, match=message):
            await client.request(method, "/bad", **kwargs)
    assert server.connections == []


@pytest.mark.anyio
async def test_p5_a_relative_url_without_base_url_is_an_invalid_url() -> None:
    async with httpcore2.Client() as client:
        with pytest.raises(httpcore2.InvalidURL, match=r"^Invalid URL '/x': a relative URL needs"):
            await client.get("/x")


@pytest.mark.anyio
async def test_p7_client_repr_shows_base_url_masked_timeout_and_state() -> None:
    client = httpcore2.Client(base_url=f"https://user:{SECRET}@example.org/v1", timeout=3.0)
    shown = "base_url='https://user:[secure]@example.org/v1/', timeout=Timeout(3.0), open"
    assert repr(client) == f"<{type(client).__name__} [{shown}]>"
    await client.aclose()
    assert repr(client).endswith(", closed]>")


@pytest.mark.anyio
async def test_p8_connection_refused_names_host_and_port_in_the_same_words(
    unused_port: int,
) -> None:
    async with httpcore2.Client() as client:
        with pytest.raises(httpcore2.ConnectError) as info:
            await client.get(f"http://127.0.0.1:{unused_port}/")
    assert str(info.value) == f"Could not connect to 127.0.0.1:{unused_port}: Connection refused"


@pytest.mark.anyio
async def test_p12_json_on_a_body_that_is_not_json_says_what_the_response_was(
    server: Server,
) -> None:
    import json

    async with httpcore2.Client() as client:
        response = await client.get(server.url + "/")
    with pytest.raises(json.JSONDecodeError) as info:
        response.json()
    assert str(info.value) == (
        f"Expecting value (the body of a 200 response from {server.url}/, "
        "text/plain; charset=utf-8, is not JSON): line 1 column 1 (char 0)"
    )


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (b"garbage\r\n\r\n", "^The server sent an invalid status line: b'garbage'$"),
        (
            b"HTTP/1.1 200 OK\r\n" + b"X-Filler: " + b"a" * 200 * 1024 + b"\r\n\r\n",
            "^The response head is larger than the limit of 102400 bytes",
        ),
        (
            build_response(headers=[("Content-Length", "x")], content_length=False),
            "Content-Length",
        ),
    ],
)
@pytest.mark.anyio
async def test_p12_malformed_responses_are_reported_in_our_words(
    raw_server: RawServerFactory, answer: bytes, message: str
) -> None:
    server = raw_server(respond_with(answer))
    async with httpcore2.Client() as client:
        with pytest.raises(httpcore2.RemoteProtocolError, match=message):
            await client.get(server.url + "/")
