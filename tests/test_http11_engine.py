"""Byte vectors every HTTP/1.1 engine must satisfy: requests to bytes, bytes to events.

Every engine in `ENGINES` (h11, the reference, and the fast one) must pass the same vectors
unchanged.
"""

from __future__ import annotations

import h11
import pytest

import httpcore2
from httpcore2._fast_engine import FastEngine
from httpcore2._http11_engine import (
    END_OF_BODY,
    NEED_DATA,
    H11Engine,
    HTTP11Engine,
    ResponseEvent,
    ResponseHead,
)

ENGINES = [pytest.param(H11Engine, id="h11"), pytest.param(FastEngine, id="fast")]
engines = pytest.mark.parametrize("engine_class", ENGINES)


def exchange(
    engine: HTTP11Engine, request: httpcore2.Request, response: list[bytes]
) -> list[ResponseEvent]:
    """Send a bodiless request, feed `response` piece by piece, collect the events."""
    assert not engine.awaiting_response
    engine.request_head(request)
    engine.end_of_body()
    assert engine.awaiting_response
    events: list[ResponseEvent] = []
    pieces = list(response)
    while True:
        event = engine.next_event()
        if event is NEED_DATA:
            engine.receive_data(pieces.pop(0) if pieces else b"")
            continue
        events.append(event)
        if event is END_OF_BODY:
            return events


@engines
@pytest.mark.parametrize(
    "headers",
    [
        [("Accept", "*/*"), ("User-Agent", "httpcore2")],
        [(b"X-Tab", b"a\tb"), (b"X-Obs", b"caf\xc3\xa9")],
        [("Content-Length", "3")],
        [("Transfer-Encoding", "chunked")],
    ],
)
def test_request_head_matches_fully_validated_h11(
    engine_class: type[HTTP11Engine], headers: list[tuple[str, str]]
) -> None:
    # The engine may skip validation our models already did; the bytes must not change.
    request = httpcore2.Request("PUT", "http://example.com/a%20b?q=1&r=%2F", headers=headers)
    validated = h11.Connection(h11.CLIENT).send(
        h11.Request(method="PUT", target=b"/a%20b?q=1&r=%2F", headers=request.headers.raw)
    )
    assert engine_class().request_head(request) == validated


@engines
def test_request_bytes(engine_class: type[HTTP11Engine]) -> None:
    engine = engine_class()
    request = httpcore2.Request("POST", "http://example.com:8080/upload", content=iter([b"x"]))
    assert engine.request_head(request) == (
        b"POST /upload HTTP/1.1\r\nHost: example.com:8080\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    assert engine.body_chunk(b"hello") == b"5\r\nhello\r\n"
    assert engine.end_of_body() == b"0\r\n\r\n"


@engines
def test_declared_length_is_enforced_on_the_body(engine_class: type[HTTP11Engine]) -> None:
    engine = engine_class()
    request = httpcore2.Request(
        "POST", "http://a/", headers={"Content-Length": "2"}, content=iter([])
    )
    engine.request_head(request)
    with pytest.raises(httpcore2.LocalProtocolError):
        engine.body_chunk(b"abc")


HEAD = ResponseHead


@engines
@pytest.mark.parametrize(
    ("method", "response", "events", "reusable"),
    [
        (
            "GET",
            [b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"],
            [HEAD(200, b"OK", b"1.1", [(b"Content-Length", b"5")]), b"hello", END_OF_BODY],
            True,
        ),
        (
            "GET",
            [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", b"3\r\nabc\r\n0\r\n\r\n"],
            [HEAD(200, b"OK", b"1.1", [(b"Transfer-Encoding", b"chunked")]), b"abc", END_OF_BODY],
            True,
        ),
        (
            "GET",
            [b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"],
            [
                HEAD(103, b"Early Hints", b"1.1", [(b"Link", b"</a>")]),
                HEAD(204, b"No Content", b"1.1", []),
                END_OF_BODY,
            ],
            True,
        ),
        (
            "HEAD",
            [b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n"],
            [HEAD(200, b"OK", b"1.1", [(b"Content-Length", b"99")]), END_OF_BODY],
            True,
        ),
        (  # Close-delimited: the body ends at EOF, and the connection with it.
            "GET",
            [b"HTTP/1.1 200 OK\r\n\r\n", b"all of it"],
            [HEAD(200, b"OK", b"1.1", []), b"all of it", END_OF_BODY],
            False,
        ),
        (  # HTTP/1.0 without keep-alive.
            "GET",
            [b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"],
            [HEAD(200, b"OK", b"1.0", [(b"Content-Length", b"2")]), b"ok", END_OF_BODY],
            False,
        ),
        (  # F05: bytes after a bodiless response are never a next response.
            "GET",
            [b"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\n\r\n"],
            [HEAD(204, b"No Content", b"1.1", []), END_OF_BODY],
            False,
        ),
        (  # S19: chunked wins over Content-Length, and the connection is not reused.
            "GET",
            [
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 9\r\n\r\n",
                b"0\r\n\r\n",
            ],
            [
                HEAD(
                    200,
                    b"OK",
                    b"1.1",
                    [(b"Transfer-Encoding", b"chunked"), (b"Content-Length", b"9")],
                ),
                END_OF_BODY,
            ],
            False,
        ),
    ],
    ids=["length", "chunked", "informational", "head", "eof", "http10", "trailing", "te+cl"],
)
def test_response_events(
    engine_class: type[HTTP11Engine],
    method: str,
    response: list[bytes],
    events: list[ResponseEvent],
    reusable: bool,
) -> None:
    engine = engine_class()
    assert exchange(engine, httpcore2.Request(method, "http://a/"), response) == events
    assert not engine.awaiting_response
    assert engine.start_next_exchange() is reusable


@engines
@pytest.mark.parametrize(
    "response",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: a\x00b\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",  # then EOF
        b"garbage\r\n\r\n",
    ],
)
def test_protocol_violations(engine_class: type[HTTP11Engine], response: bytes) -> None:
    with pytest.raises(httpcore2.RemoteProtocolError):
        exchange(engine_class(), httpcore2.Request("GET", "http://a/"), [response])


@engines
def test_a_reused_engine_starts_clean(engine_class: type[HTTP11Engine]) -> None:
    engine = engine_class()
    ok = [b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"]
    for _ in range(3):
        assert exchange(engine, httpcore2.Request("GET", "http://a/"), ok)[1] == b"ok"
        assert engine.start_next_exchange()


def test_markers_name_themselves() -> None:
    assert (repr(NEED_DATA), repr(END_OF_BODY)) == ("NEED_DATA", "END_OF_BODY")
