"""Byte vectors every HTTP/1.1 engine must satisfy: requests to bytes, bytes to events.

Every engine in `ENGINES` (h11, the reference, and the fast one) must pass the same vectors
unchanged.
"""

from __future__ import annotations

import dataclasses

import h11
import pytest

import httpcore2
from httpcore2._fast_engine import FastEngine, HTTP1EngineName, check_engine_name, new_engine
from httpcore2._http11_engine import (
    END_OF_BODY,
    SWITCHED_PROTOCOL,
    H11Engine,
    HTTP11Engine,
    RequestFraming,
    ResponseEvent,
    ResponseHead,
    Trailers,
    request_parts,
)

MAX_HEAD_SIZE = httpcore2.Limits().max_head_size
ENGINES = [pytest.param(H11Engine, id="h11"), pytest.param(FastEngine, id="fast")]
engines = pytest.mark.parametrize("engine_class", ENGINES)


def send(engine: HTTP11Engine, request: httpcore2.Request) -> bytes:
    """The request head, from the plain inputs the connection hands the engine."""
    return engine.request_head(*request_parts(request))


def receive(engine: HTTP11Engine, data: bytes) -> list[ResponseEvent]:
    """The batch of events `data` completes; an error in it is raised."""
    events = engine.receive_data(data)
    for event in events:
        if isinstance(event, httpcore2.RemoteProtocolError):
            raise event
    return events


def feed(engine: HTTP11Engine, method: str, response: list[bytes]) -> list[ResponseEvent]:
    """Send a bodiless request, feed `response` piece by piece (then EOF), collect the
    events up to the end of the body or a protocol switch."""
    send(engine, httpcore2.Request(method, "http://a/"))
    engine.end_of_body()
    events: list[ResponseEvent] = []
    for piece in [*response, b""]:
        events += receive(engine, piece)
        if events and (events[-1] is END_OF_BODY or events[-1] is SWITCHED_PROTOCOL):
            break
    return events


def exchange(
    engine: HTTP11Engine, request: httpcore2.Request, response: list[bytes]
) -> list[ResponseEvent]:
    """`feed`, for any request, checking `awaiting_response` before and after sending."""
    assert not engine.awaiting_response
    send(engine, request)
    engine.end_of_body()
    assert engine.awaiting_response
    events: list[ResponseEvent] = []
    for piece in [*response, b""]:
        events += receive(engine, piece)
        if events and events[-1] is END_OF_BODY:
            break
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
    assert send(engine_class(), request) == validated


def test_h11_engine_uses_public_h11_api_and_h11_validates_the_head() -> None:
    # The engine no longer passes h11's private `_parsed=True`: h11 checks the head once
    # more, so a header that got past `Headers` (here by editing its private list) is
    # refused instead of being written to the wire.
    request = httpcore2.Request("GET", "http://example.com/")
    request.headers._items.append((b"X-Bad", b"x-bad", b"a\r\nInjected: yes"))
    with pytest.raises(httpcore2.LocalProtocolError, match="Illegal header value"):
        send(H11Engine(), request)


@engines
def test_request_bytes(engine_class: type[HTTP11Engine]) -> None:
    engine = engine_class()
    request = httpcore2.Request("POST", "http://example.com:8080/upload", content=iter([b"x"]))
    assert send(engine, request) == (
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
    send(engine, request)
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
@pytest.mark.case("F04", "F28")
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
    assert (repr(END_OF_BODY), repr(SWITCHED_PROTOCOL)) == ("END_OF_BODY", "SWITCHED_PROTOCOL")


@engines
@pytest.mark.parametrize(
    ("request_", "response", "status"),
    [
        (
            httpcore2.Request(
                "CONNECT",
                "https://a:443/",
                extensions={"target": b"a:443"},
                headers={"Host": "a:443"},
            ),
            b"HTTP/1.1 200 Connection established\r\n\r\n\x16\x03",
            200,
        ),
        (
            httpcore2.Request(
                "GET", "http://a/", headers={"Upgrade": "ws", "Connection": "Upgrade"}
            ),
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: ws\r\n\r\nframes",
            101,
        ),
    ],
)
def test_protocol_switch(
    engine_class: type[HTTP11Engine], request_: httpcore2.Request, response: bytes, status: int
) -> None:
    # The head, then the switch: what follows is not HTTP/1.1 (never parsed as a body).
    engine = engine_class()
    head = send(engine, request_) + engine.end_of_body()
    assert (
        head.split(b"\r\n")[0]
        == request_.method.encode()
        + b" "
        + (request_.extensions.get("target") or b"/")
        + b" HTTP/1.1"
    )
    event, *rest = receive(engine, response)
    assert type(event) is ResponseHead
    assert event.status == status
    assert rest == [SWITCHED_PROTOCOL]
    assert receive(engine, b"more") == []
    assert not engine.start_next_exchange()


CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


@pytest.mark.case("S19")
@engines
def test_s19_chunked_and_content_length_frame_by_chunked_then_close(
    engine_class: type[HTTP11Engine],
) -> None:
    engine = engine_class()
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\nTransfer-Encoding: chunked\r\n\r\n"
    events = feed(engine, "GET", [head + b"2\r\nhi\r\n0\r\n\r\n"])
    assert events[1:] == [b"hi", END_OF_BODY]
    assert not engine.start_next_exchange()


@pytest.mark.case("S17")
@engines
@pytest.mark.parametrize("target", [b"/ HTTP/1.1\r\nX: y", b"/a\tb", b"/\x7f", b""])
def test_target_extension_is_checked(engine_class: type[HTTP11Engine], target: bytes) -> None:
    request = httpcore2.Request("GET", "http://a/", extensions={"target": target})
    with pytest.raises(httpcore2.LocalProtocolError):
        send(engine_class(), request)


@pytest.mark.case("S20")
@engines
@pytest.mark.parametrize(
    "value",
    [b"+5", b"5, 6", b" 5 x", b"0x5", b"-1", b"", b"9" * 21, b"5,", b"1e3"],
)
def test_s20_malformed_content_length_is_rejected(
    engine_class: type[HTTP11Engine], value: bytes
) -> None:
    response = b"HTTP/1.1 200 OK\r\nContent-Length: " + value + b"\r\n\r\n"
    with pytest.raises(httpcore2.RemoteProtocolError):
        feed(engine_class(), "GET", [response])


@pytest.mark.case("S20")
@engines
@pytest.mark.parametrize(
    ("fields", "surfaced"),
    [
        ([(b"Content-Length", b"2, 2")], [(b"Content-Length", b"2")]),
        (
            [(b"Content-Length", b"2"), (b"X", b"y"), (b"content-length", b"2")],
            [(b"Content-Length", b"2"), (b"X", b"y")],
        ),
        ([(b"Transfer-Encoding", b"Chunked")], [(b"Transfer-Encoding", b"chunked")]),
    ],
)
def test_s20_identical_lengths_fold_and_the_coding_is_lower_cased(
    engine_class: type[HTTP11Engine],
    fields: list[tuple[bytes, bytes]],
    surfaced: list[tuple[bytes, bytes]],
) -> None:
    head = b"HTTP/1.1 200 OK\r\n" + b"".join(b"%s: %s\r\n" % field for field in fields)
    body = b"2\r\nok\r\n0\r\n\r\n" if b"Transfer-Encoding" in head else b"ok"
    events = feed(engine_class(), "GET", [head + b"\r\n" + body])
    assert events == [HEAD(200, b"OK", b"1.1", surfaced), b"ok", END_OF_BODY]


@pytest.mark.case("S21")
@engines
@pytest.mark.parametrize(
    "fields",
    [
        b"Transfer-Encoding: gzip, chunked\r\n",
        b"Transfer-Encoding: chunked, chunked\r\n",
        b"Transfer-Encoding: gzip\r\n",
        b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
        b"Transfer-Encoding: chunked\r\n Transfer-Encoding: gzip\r\n",
        b" Transfer-Encoding: chunked\r\n",
    ],
)
def test_s21_unsupported_transfer_encoding_is_rejected(
    engine_class: type[HTTP11Engine], fields: bytes
) -> None:
    with pytest.raises(httpcore2.RemoteProtocolError):
        feed(engine_class(), "GET", [b"HTTP/1.1 200 OK\r\n" + fields + b"\r\n0\r\n\r\n"])


@pytest.mark.case("S22")
@engines
@pytest.mark.parametrize(
    "body",
    [
        b"5\r\nhelloXX0\r\n\r\n",  # anything but CRLF after the chunk data
        b"5\r\nhello\n0\r\n\r\n",  # LF alone after the chunk data
        b"5\r\nhello\rX",
        b"5\nhello\r\n0\r\n\r\n",  # LF-only chunk-size line
        b"5;a\nb\r\nhello\r\n0\r\n\r\n",  # LF inside a chunk extension
        b"zz\r\nhello\r\n0\r\n\r\n",  # not hex
        b"5 ;a\r\nhello\r\n0\r\n\r\n",
        b"f" * 21 + b"\r\n",  # too many digits
        b"ffffffffffffffffff\r\n",  # more than any body could be (at EOF at the latest)
        b"0\r\nX : y\r\n\r\n",  # a bad trailer
        b"0\r\nContent-Length: x\r\n\r\n",  # bad framing fields, even in trailers
        b"5\r\nhel",  # EOF inside the chunk data
        b"5\r\nhello\r",  # EOF inside the CRLF after it
        b"5",  # EOF inside the chunk-size line
        b"0\r\nX: y\r\n",  # EOF inside the trailers
    ],
)
def test_s22_invalid_chunked_body_is_rejected(
    engine_class: type[HTTP11Engine], body: bytes
) -> None:
    with pytest.raises(httpcore2.RemoteProtocolError):
        feed(engine_class(), "GET", [CHUNKED, body])


@pytest.mark.case("S23")
@engines
@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n",  # bare CR
        b"HTTP/1.1 200 OK\r\nX: a\x00b\r\n\r\n",  # NUL
        b"HTTP/1.1 200 OK\r\nX : a\r\n\r\n",  # space before the colon
        b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n folded: x\r\n\r\n",  # leading whitespace on the first field
        b"HTTP/1.1 200 OK\rX: a\r\n\r\n",
        b"HTTP/1.1 200 O\x00K\r\n\r\n",
        b" HTTP/1.1 200 OK\r\n\r\n",
        b"\r\nHTTP/1.1 200 OK\r\n\r\n",
        b"HTTP/1.1 099 Low\r\n\r\n",
        b"HTTP/1.1 2000 Huh\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\n\r\n",  # no upgrade was asked for
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n",  # EOF before the end of the head
        b"",  # EOF before anything
    ],
)
def test_s23_lenient_header_syntax_is_rejected(
    engine_class: type[HTTP11Engine], head: bytes
) -> None:
    with pytest.raises(httpcore2.RemoteProtocolError):
        feed(engine_class(), "GET", [head])


def endless(engine: HTTP11Engine, first: bytes, piece: bytes, match: str | None = None) -> int:
    """Feed `first`, then `piece` forever, until the engine raises (an error matching
    `match`); the bytes it took."""
    send(engine, httpcore2.Request("GET", "http://a/"))
    engine.end_of_body()
    receive(engine, first)
    fed = 0
    with pytest.raises(httpcore2.RemoteProtocolError, match=match):  # noqa: PT012
        while fed < 10 * MAX_HEAD_SIZE:
            fed += len(piece)
            receive(engine, piece)
    return fed


@pytest.mark.case("S24")
@engines
def test_s24_oversized_head_in_small_pieces_fails_at_the_limit(
    engine_class: type[HTTP11Engine],
) -> None:
    received = endless(engine_class(), b"HTTP/1.1 200 OK\r\nX-Big: ", b"a" * 100)
    assert received <= MAX_HEAD_SIZE + 100


@pytest.mark.case("S24")
@engines
def test_s24_oversized_chunk_size_line_fails_at_the_limit(
    engine_class: type[HTTP11Engine],
) -> None:
    received = endless(engine_class(), CHUNKED + b"5;", b"a" * 100)
    assert received <= MAX_HEAD_SIZE + 100


@pytest.mark.case("S25")
@engines
def test_s25_endless_trailers_fail_at_the_limit(engine_class: type[HTTP11Engine]) -> None:
    received = endless(engine_class(), CHUNKED + b"0\r\n", b"X-Trailer: yes\r\n")
    assert received <= MAX_HEAD_SIZE + 100


@engines
@pytest.mark.case("S24", "S25")
@pytest.mark.parametrize(
    ("first", "piece", "field"),
    [
        (b"HTTP/1.1 200 OK\r\nX-Big: ", b"a" * 10, "max_head_size"),
        (CHUNKED + b"0\r\n", b"X-Trailer: yes\r\n", "max_trailer_size"),
    ],
    ids=["head", "trailers"],
)
def test_s24_s25_configured_sizes_hold_across_small_pieces(
    engine_class: type[FastEngine | H11Engine], first: bytes, piece: bytes, field: str
) -> None:
    engine = engine_class(httpcore2.Limits(max_head_size=500, max_trailer_size=500))
    assert endless(engine, first, piece, match=f"500 bytes.*Limits.{field}") <= 500 + len(piece)


@engines
@pytest.mark.case("S24", "S25")
@pytest.mark.parametrize(
    ("response", "field"),
    [
        (
            b"HTTP/1.1 200 OK\r\nX-A: " + b"a" * 60 + b"\r\nContent-Length: 0\r\n\r\n",
            "max_head_size",
        ),
        (CHUNKED + b"0\r\nX-T: " + b"t" * 60 + b"\r\n\r\n", "max_trailer_size"),
    ],
    ids=["head", "trailers"],
)
def test_s24_s25_a_complete_head_or_trailer_section_is_held_to_its_own_bound(
    engine_class: type[FastEngine | H11Engine], response: bytes, field: str
) -> None:
    # Both arrive whole, in one read, and under the other bound: only their own one applies.
    size = (
        len(response.rpartition(b"\r\n0\r\n")[2]) if field == "max_trailer_size" else len(response)
    )
    limits = httpcore2.Limits(max_head_size=size, max_trailer_size=size)
    assert feed(engine_class(limits), "GET", [response])[-1] is END_OF_BODY
    limits = dataclasses.replace(limits, **{field: size - 1})
    with pytest.raises(httpcore2.RemoteProtocolError, match=f"{size - 1} bytes.*Limits.{field}"):
        feed(engine_class(limits), "GET", [response])


@pytest.mark.case("S25")
@engines
def test_s25_informational_heads_come_one_at_a_time(engine_class: type[HTTP11Engine]) -> None:
    # The connection counts them and gives up (MAX_INFORMATIONAL); the engine hands out
    # each 1xx head as it comes, so an endless stream never builds up in it.
    engine = engine_class()
    send(engine, httpcore2.Request("GET", "http://a/"))
    engine.end_of_body()
    for _ in range(50):
        assert receive(engine, b"HTTP/1.1 100 Continue\r\n\r\n") == [
            HEAD(100, b"Continue", b"1.1", [])
        ]
        assert engine.awaiting_response


@pytest.mark.case("F05")
@engines
@pytest.mark.parametrize(
    ("method", "response"),
    [
        ("GET", b"HTTP/1.1 204 No Content\r\n\r\nX"),
        ("GET", b"HTTP/1.1 304 Not Modified\r\nContent-Length: 3\r\n\r\nabc"),
        ("HEAD", b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"),
        ("GET", b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef"),
        ("GET", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nX"),
    ],
    ids=["204", "304", "head", "longer-than-length", "after-chunked"],
)
@pytest.mark.case("F05")
def test_f05_bytes_after_the_framed_body_prevent_reuse(
    engine_class: type[HTTP11Engine], method: str, response: bytes
) -> None:
    engine = engine_class()
    events = feed(engine, method, [response])
    assert events[-1] is END_OF_BODY
    assert b"".join(event for event in events if type(event) is bytes) in (b"", b"abc")
    assert not engine.start_next_exchange()


@engines
@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ([("Content-Length", "1"), ("Content-Length", "2")], "Content-Length"),
        ([("Content-Length", "1, 2")], "Content-Length"),
        ([("Content-Length", "x")], "Content-Length"),
        ([("Transfer-Encoding", "gzip")], "Transfer-Encoding"),
        ([("Transfer-Encoding", "chunked"), ("Transfer-Encoding", "chunked")], "Transfer"),
        ([("Host", "a"), ("Host", "b")], "Host"),
    ],
)
def test_request_framing_is_checked(
    engine_class: type[HTTP11Engine], headers: list[tuple[str, str]], error: str
) -> None:
    request = httpcore2.Request("POST", "http://a/", headers=headers, content=iter([]))
    with pytest.raises(httpcore2.LocalProtocolError, match=f"(?i){error}"):
        send(engine_class(), request)


@engines
def test_request_head_puts_host_first_and_folds_lengths(engine_class: type[HTTP11Engine]) -> None:
    headers = [("Accept", "*/*"), ("Content-Length", "2"), ("Host", "h"), ("content-length", "2")]
    engine = engine_class()
    request = httpcore2.Request("POST", "http://a/", headers=headers, content=iter([]))
    assert send(engine, request) == (
        b"POST / HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nContent-Length: 2\r\n\r\n"
    )
    assert engine.body_chunk(b"") == b""
    assert engine.body_chunk(b"ok") == b"ok"
    assert engine.end_of_body() == b""


@engines
def test_too_little_body_for_the_declared_length(engine_class: type[HTTP11Engine]) -> None:
    engine = engine_class()
    request = httpcore2.Request("POST", "http://a/", headers={"Content-Length": "2"}, content=b"")
    send(engine, request)
    engine.body_chunk(b"o")
    with pytest.raises(httpcore2.LocalProtocolError, match="Content-Length"):
        engine.end_of_body()


@engines
@pytest.mark.parametrize(
    ("headers", "response"),
    [
        ({"Connection": "close"}, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        ({}, b"HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 0\r\n\r\n"),
    ],
    ids=["request", "response"],
)
def test_connection_close_on_either_side_prevents_reuse(
    engine_class: type[HTTP11Engine], headers: dict[str, str], response: bytes
) -> None:
    engine = engine_class()
    send(engine, httpcore2.Request("GET", "http://a/", headers=headers))
    engine.end_of_body()
    head, *rest = receive(engine, response)
    assert type(head) is ResponseHead
    assert rest == [END_OF_BODY]
    assert not engine.start_next_exchange()


@engines
@pytest.mark.case("F25")
def test_response_before_the_request_body_ends_prevents_reuse(
    engine_class: type[HTTP11Engine],
) -> None:
    engine = engine_class()
    send(engine, httpcore2.Request("POST", "http://a/", content=iter([b"x"])))
    head, *rest = receive(engine, b"HTTP/1.1 413 Too Large\r\nContent-Length: 0\r\n\r\n")
    assert head.status == 413  # type: ignore[union-attr]
    assert rest == [END_OF_BODY]
    assert not engine.start_next_exchange()


@engines
def test_an_engine_that_failed_keeps_failing(engine_class: type[HTTP11Engine]) -> None:
    engine = engine_class()
    with pytest.raises(httpcore2.RemoteProtocolError):
        feed(engine, "GET", [b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"])
    assert not engine.awaiting_response
    with pytest.raises(httpcore2.RemoteProtocolError, match="already failed"):
        engine.receive_data(b"HTTP/1.1 200 OK\r\n\r\n")
    assert not engine.start_next_exchange()


@engines
@pytest.mark.case("F28")
def test_lines_may_end_in_lf_alone(engine_class: type[HTTP11Engine]) -> None:
    # RFC 9112 §2.2 lets a recipient accept LF alone in a head; h11 does, and so must we.
    # Not in chunk-size lines nor after chunk data, where CRLF is required (S22).
    engine = engine_class()
    head = b"HTTP/1.1 200 OK\nConnection: keep-alive\nTransfer-Encoding: chunked\n\n"
    assert feed(engine, "GET", [head + b"2\r\nok\r\n0\r\n\n"]) == [
        HEAD(
            200, b"OK", b"1.1", [(b"Connection", b"keep-alive"), (b"Transfer-Encoding", b"chunked")]
        ),
        b"ok",
        END_OF_BODY,
    ]
    assert engine.start_next_exchange()


@engines
def test_trailers_are_an_event(engine_class: type[HTTP11Engine]) -> None:
    events = feed(engine_class(), "GET", [CHUNKED + b"2\r\nok\r\n0\r\nX-Sum: 1\r\n\r\n"])
    assert events[1:] == [b"ok", Trailers([(b"X-Sum", b"1")]), END_OF_BODY]


@engines
def test_one_receive_gives_every_event_it_completes(engine_class: type[HTTP11Engine]) -> None:
    engine = engine_class()
    send(engine, httpcore2.Request("GET", "http://a/"))
    engine.end_of_body()
    informational = b"HTTP/1.1 103 Early Hints\r\n\r\n"
    assert engine.receive_data(informational + OK) == [
        HEAD(103, b"Early Hints", b"1.1", []),
        HEAD(200, b"OK", b"1.1", [(b"Content-Length", b"2")]),
        b"ok",
        END_OF_BODY,
    ]


@engines
def test_a_batch_ends_with_the_error_after_the_events_before_it(
    engine_class: type[HTTP11Engine],
) -> None:
    # The head stands; the malformed body fails when the connection reaches it.
    engine = engine_class()
    send(engine, httpcore2.Request("GET", "http://a/"))
    engine.end_of_body()
    head, data, error = engine.receive_data(CHUNKED + b"2\r\nok\r\nzz\r\n")
    assert head == HEAD(200, b"OK", b"1.1", [(b"Transfer-Encoding", b"chunked")])
    assert data == b"ok"
    assert isinstance(error, httpcore2.RemoteProtocolError)


@pytest.mark.parametrize(
    ("headers", "content", "framing"),
    [
        ({}, b"", RequestFraming(0, close=False, upgrade=False)),
        ({}, b"abc", RequestFraming(3, close=False, upgrade=False)),
        ({}, iter([b"x"]), RequestFraming(None, close=False, upgrade=False)),
        ({"Connection": "keep-alive, close"}, b"", RequestFraming(0, close=True, upgrade=False)),
        ({"Upgrade": "ws"}, b"", RequestFraming(0, close=False, upgrade=True)),
    ],
)
def test_request_parts_are_plain_and_say_the_framing(
    headers: dict[str, str], content: bytes, framing: RequestFraming
) -> None:
    request = httpcore2.Request("POST", "http://a/x?y", headers=headers, content=content)
    method, target, fields, got = request_parts(request)
    assert (method, target, fields[0], got) == (b"POST", b"/x?y", (b"Host", b"a"), framing)


def test_a_request_without_host_is_refused() -> None:
    request = httpcore2.Request("GET", "http://a/")
    del request.headers["Host"]
    with pytest.raises(httpcore2.LocalProtocolError, match="Host"):
        request_parts(request)


# What only the fast engine does.


def test_fast_engine_hands_out_received_bytes_without_copying_the_rest() -> None:
    # A body that fills a read is that read's bytes object; a large piece of a read is
    # a view of it; a small one, a copy.
    engine = FastEngine()
    send(engine, httpcore2.Request("GET", "http://a/"))
    engine.end_of_body()
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    big = b"a" * 10_000
    _, view, small = engine.receive_data(head + b"2710\r\n" + big + b"\r\n5\r\nsmal")
    assert type(view) is memoryview
    assert view == big
    assert type(small) is bytes
    whole = b"b" * 5000
    assert engine.receive_data(b"l\r\n1388\r\n") == [b"l"]
    assert engine.receive_data(whole)[0] is whole
    assert engine.receive_data(b"\r\n0\r\n\r\n") == [END_OF_BODY]
    assert engine.start_next_exchange()
    assert engine._buffer == b""  # an idle connection holds no received bytes


def test_fast_engine_parses_nothing_when_nothing_is_expected() -> None:
    engine = FastEngine()
    assert exchange(engine, httpcore2.Request("GET", "http://a/"), [OK])[-1] is END_OF_BODY
    assert engine.receive_data(OK) == []
    assert not engine.start_next_exchange()


def test_fast_engine_rejects_a_complete_head_over_the_limit() -> None:
    # h11 checks its limit only while a head is incomplete; the fast engine checks every head.
    head = b"HTTP/1.1 200 OK\r\nX: " + b"a" * MAX_HEAD_SIZE + b"\r\n\r\n"
    with pytest.raises(httpcore2.RemoteProtocolError, match="limit"):
        feed(FastEngine(), "GET", [head])


def test_fast_engine_joins_a_head_received_in_pieces() -> None:
    engine = FastEngine()
    pieces = [b"HTTP/1.1 200 OK\r\n", b"Content-Length: 2\r\n", b"\r", b"\nok"]
    assert feed(engine, "GET", pieces) == [
        HEAD(200, b"OK", b"1.1", [(b"Content-Length", b"2")]),
        b"ok",
        END_OF_BODY,
    ]
    assert engine.start_next_exchange()


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@pytest.mark.parametrize("name", [None, "fast", "h11"])
def test_engines_by_name(name: HTTP1EngineName | None) -> None:
    engine = new_engine(name)
    assert type(engine) is {None: FastEngine, "fast": FastEngine, "h11": H11Engine}[name]
    check_engine_name(name)


def test_unknown_engine_name_is_refused_by_the_pool() -> None:
    with pytest.raises(ValueError, match=r"Unknown HTTP/1\.1 engine 'h12'"):
        httpcore2.ConnectionPool(http1_engine="h12")  # type: ignore[arg-type]
