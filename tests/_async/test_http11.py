"""The HTTP/1.1 connection state machine, on a scripted network stream."""

from __future__ import annotations

import h11
import pytest

import httpcore2

MAX_INFORMATIONAL = httpcore2.Limits().max_informational
MAX_HEAD_SIZE = httpcore2.Limits().max_head_size

# Every test here runs on each HTTP/1.1 engine.
pytestmark = pytest.mark.usefixtures("http1_engine")

TIMEOUTS = {"connect": 1.0, "read": 1.0, "write": 1.0, "pool": 1.0}
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, world!"


def make_request(
    method: str = "GET", url: str = "http://example.com/", **kwargs: object
) -> httpcore2.Request:
    return httpcore2.Request(method, url, extensions={"timeout": TIMEOUTS}, **kwargs)  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_get_writes_request_and_reads_response() -> None:
    stream = httpcore2.MockStream([OK])
    connection = httpcore2.HTTP11Connection(stream)
    response = await connection.handle_request(make_request(headers={"Accept": "*/*"}))
    assert response.status == 200
    assert response.protocol == "HTTP/1.1"
    assert response.reason_phrase == "OK"
    assert response.headers == [(b"Content-Length", b"13")]
    assert await response.aread() == b"Hello, world!"
    assert b"".join(stream.written) == b"GET / HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n"
    assert connection.is_idle()
    assert not connection.is_closed()


@pytest.mark.anyio
async def test_body_pieces_are_bytes_and_trailers_are_skipped() -> None:
    # The fast engine hands out a large piece of a read as a view of it, and a trailer
    # section as an event of its own; whoever reads the stream gets bytes, and the body.
    body = bytes(range(256)) * 64
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    framed = head + b"4000\r\n" + body + b"\r\n2\r\nok\r\n0\r\nX-Sum: 1\r\n\r\n"
    connection = httpcore2.HTTP11Connection(httpcore2.MockStream([framed]))
    response = await connection.handle_request(make_request())
    chunks = [chunk async for chunk in response.aiter_raw()]
    assert {type(chunk) for chunk in chunks} == {bytes}
    assert b"".join(chunks) == body + b"ok"
    assert connection.is_idle()


@pytest.mark.anyio
async def test_a_response_closed_unread_closes_the_connection_though_it_came_whole() -> None:
    # Its body came in the read of its head: the events left are dropped with the
    # connection, never handed to a next request.
    second = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond"
    connection = httpcore2.HTTP11Connection(httpcore2.MockStream([OK, second]))
    response = await connection.handle_request(make_request())
    await response.aclose()
    assert connection.is_closed()


@pytest.mark.anyio
async def test_a_response_closed_before_its_body_arrived_closes_the_connection() -> None:
    stream = httpcore2.MockStream([OK[:-5], OK[-5:]])
    connection = httpcore2.HTTP11Connection(stream)
    response = await connection.handle_request(make_request())
    await response.aclose()
    assert connection.is_closed()


@pytest.mark.anyio
async def test_keep_alive_serves_requests_in_turn() -> None:
    stream = httpcore2.MockStream([OK, OK])
    connection = httpcore2.HTTP11Connection(stream)
    for _ in range(2):
        response = await connection.handle_request(make_request())
        assert await response.aread() == b"Hello, world!"
    assert connection.is_idle()
    assert repr(connection) == "<HTTP11Connection [idle, requests: 2]>"


@pytest.mark.anyio
async def test_request_on_busy_connection_is_refused() -> None:
    connection = httpcore2.HTTP11Connection(httpcore2.MockStream([OK]))
    response = await connection.handle_request(make_request())
    with pytest.raises(RuntimeError, match="active"):
        await connection.handle_request(make_request())
    await response.aclose()


@pytest.mark.anyio
async def test_bytes_body_is_sent_with_content_length() -> None:
    stream = httpcore2.MockStream([OK])
    connection = httpcore2.HTTP11Connection(stream)
    response = await connection.handle_request(make_request("POST", content=b"abc"))
    await response.aread()
    assert b"".join(stream.written) == (
        b"POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\n\r\nabc"
    )


@pytest.mark.anyio
async def test_iterator_body_is_sent_chunked() -> None:
    stream = httpcore2.MockStream([OK])
    connection = httpcore2.HTTP11Connection(stream)
    response = await connection.handle_request(make_request("POST", content=iter([b"ab", b"cde"])))
    await response.aread()
    assert b"".join(stream.written) == (
        b"POST / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n"
    )


@pytest.mark.anyio
async def test_connection_close_response_closes_connection() -> None:
    stream = httpcore2.MockStream(
        [b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi"]
    )
    connection = httpcore2.HTTP11Connection(stream)
    response = await connection.handle_request(make_request())
    assert await response.aread() == b"hi"
    assert connection.is_closed()
    assert stream.closed


@pytest.mark.anyio
@pytest.mark.case("F06")
async def test_close_delimited_body_is_read_to_eof_and_not_reused() -> None:
    stream = httpcore2.MockStream([b"HTTP/1.1 200 OK\r\n\r\n", b"part one, ", b"part two"])
    connection = httpcore2.HTTP11Connection(stream)
    response = await connection.handle_request(make_request())
    assert await response.aread() == b"part one, part two"
    assert connection.is_closed()


@pytest.mark.anyio
@pytest.mark.case("F06", "F28")
async def test_http10_response_is_not_reused() -> None:
    stream = httpcore2.MockStream([b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi"])
    connection = httpcore2.HTTP11Connection(stream)
    response = await connection.handle_request(make_request())
    assert response.protocol == "HTTP/1.0"
    assert await response.aread() == b"hi"
    assert connection.is_closed()


@pytest.mark.anyio
@pytest.mark.case("F08")
async def test_informational_responses_are_skipped() -> None:
    stream = httpcore2.MockStream(
        [b"HTTP/1.1 100 Continue\r\n\r\n", b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", OK]
    )
    connection = httpcore2.HTTP11Connection(stream)
    response = await connection.handle_request(make_request())
    assert response.status == 200
    assert await response.aread() == b"Hello, world!"
    assert connection.is_idle()


@pytest.mark.case("S25")
@pytest.mark.anyio
async def test_endless_informational_responses_are_an_error() -> None:
    stream = httpcore2.MockStream([b"HTTP/1.1 100 Continue\r\n\r\n"] * (MAX_INFORMATIONAL + 5))
    connection = httpcore2.HTTP11Connection(stream)
    request = make_request()
    with pytest.raises(httpcore2.RemoteProtocolError, match="informational") as info:
        await connection.handle_request(request)
    assert info.value.request is request
    assert connection.is_closed()


@pytest.mark.anyio
@pytest.mark.case("F07")
async def test_head_response_has_no_body_and_keeps_connection() -> None:
    stream = httpcore2.MockStream([b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", OK])
    connection = httpcore2.HTTP11Connection(stream)
    response = await connection.handle_request(make_request("HEAD"))
    assert await response.aread() == b""
    assert connection.is_idle()
    response = await connection.handle_request(make_request())
    assert await response.aread() == b"Hello, world!"


@pytest.mark.anyio
@pytest.mark.case("F17")
async def test_closing_a_partly_read_response_closes_the_connection() -> None:
    reads = [b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345", b"67890"]
    stream = httpcore2.MockStream(reads)
    connection = httpcore2.HTTP11Connection(stream)
    response = await connection.handle_request(make_request())
    async for chunk in response.aiter_raw():
        assert chunk == b"12345"
        break
    await response.aclose()
    assert connection.is_closed()


@pytest.mark.anyio
@pytest.mark.case("F04")
async def test_short_body_is_an_error_not_a_truncated_response() -> None:
    stream = httpcore2.MockStream([b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345"])
    connection = httpcore2.HTTP11Connection(stream)
    request = make_request()
    response = await connection.handle_request(request)
    with pytest.raises(httpcore2.RemoteProtocolError, match="complete message body") as info:
        await response.aread()
    assert info.value.request is request
    assert connection.is_closed()


@pytest.mark.anyio
@pytest.mark.case("F01")
async def test_server_disconnect_before_response() -> None:
    connection = httpcore2.HTTP11Connection(httpcore2.MockStream([]))
    with pytest.raises(httpcore2.RemoteProtocolError, match="without sending a response"):
        await connection.handle_request(make_request())
    assert not connection.response_started
    assert connection.is_closed()


@pytest.mark.anyio
@pytest.mark.case("F05")
async def test_bytes_after_the_body_are_never_parsed_as_a_response() -> None:
    smuggled = b"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil"
    stream = httpcore2.MockStream([smuggled])
    connection = httpcore2.HTTP11Connection(stream)
    response = await connection.handle_request(make_request())
    assert response.status == 204
    assert await response.aread() == b""
    assert connection.is_closed()


@pytest.mark.case("S20", "S21", "S23")
@pytest.mark.parametrize(
    "head",
    [
        # S20: malformed or conflicting Content-Length.
        b"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 0x5\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: " + b"9" * 30 + b"\r\n\r\n",
        # S21: transfer codings other than a single chunked.
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        # S23: lenient header syntax.
        b"HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX : a\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: a\x00b\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n folded: x\r\n\r\n",
        # Not HTTP at all.
        b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
        b"HTTP/1.1 2000 Huh\r\n\r\n",
    ],
)
@pytest.mark.anyio
@pytest.mark.case("F28")
async def test_malformed_response_heads_are_rejected(head: bytes, http1_engine: str) -> None:
    connection = httpcore2.HTTP11Connection(httpcore2.MockStream([head]))
    request = make_request()
    with pytest.raises(httpcore2.RemoteProtocolError) as info:
        await connection.handle_request(request)
    assert info.value.request is request
    if http1_engine == "h11":
        assert isinstance(info.value.__cause__, h11.RemoteProtocolError)
    assert connection.is_closed()


@pytest.mark.case("S22")
@pytest.mark.parametrize(
    "body",
    [
        b"5\r\nhelloXX0\r\n\r\n",  # S22: anything but CRLF after the chunk data.
        b"ffffffffffffffffff\r\n",  # S22: overflowing chunk size.
        b"zz\r\nhello\r\n0\r\n\r\n",  # non-hex chunk size.
    ],
)
@pytest.mark.anyio
async def test_invalid_chunked_bodies_are_rejected(body: bytes) -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    connection = httpcore2.HTTP11Connection(httpcore2.MockStream([head, body]))
    response = await connection.handle_request(make_request())
    with pytest.raises(httpcore2.RemoteProtocolError):
        await response.aread()
    assert connection.is_closed()


@pytest.mark.case("S24")
@pytest.mark.anyio
async def test_oversized_response_head_is_rejected() -> None:
    # S24: sent in small pieces, the limit still covers the whole head.
    pieces = [b"HTTP/1.1 200 OK\r\nX-Big: "] + [b"a" * 1000] * (MAX_HEAD_SIZE // 1000 + 10)
    connection = httpcore2.HTTP11Connection(httpcore2.MockStream(pieces))
    with pytest.raises(httpcore2.RemoteProtocolError, match=r"too long|large|incomplete"):
        await connection.handle_request(make_request())


@pytest.mark.anyio
async def test_large_but_legal_head_is_accepted() -> None:
    cookie = b"Set-Cookie: " + b"c" * 60_000 + b"\r\n"
    head = b"HTTP/1.1 200 OK\r\n" + cookie + b"Content-Length: 0\r\n\r\n"
    stream = httpcore2.MockStream([head])
    response = await httpcore2.HTTP11Connection(stream).handle_request(make_request())
    assert len(response.headers["set-cookie"]) == 60_000


class DeadStream(httpcore2.MockStream):
    """Every write fails, and nothing (not even EOF) is there to read."""

    async def write(self, data: bytes, timeout: float | None = None) -> None:
        raise httpcore2.WriteError("Connection reset by peer")

    def is_readable(self) -> bool:
        return False


@pytest.mark.anyio
async def test_write_failure_surfaces_as_write_error_with_request() -> None:
    connection = httpcore2.HTTP11Connection(DeadStream([OK]))
    request = make_request()
    with pytest.raises(httpcore2.WriteError) as info:
        await connection.handle_request(request)
    assert info.value.request is request


@pytest.mark.anyio
async def test_idle_connection_expires_after_keepalive() -> None:
    stream = httpcore2.MockStream([OK])
    connection = httpcore2.HTTP11Connection(stream, keepalive_expiry=5.0)
    response = await connection.handle_request(make_request())
    assert not connection.has_expired(connection.idle_since)
    await response.aread()
    assert not connection.has_expired(connection.idle_since + 4.99)
    # Not `+ 5.0` exactly: `(t + 5.0) - t` can come out a hair under 5.0 in floating point.
    assert connection.has_expired(connection.idle_since + 5.01)


@pytest.mark.anyio
@pytest.mark.case("F01")
async def test_idle_connection_closed_by_server_has_expired() -> None:
    stream = httpcore2.MockStream([OK])
    connection = httpcore2.HTTP11Connection(stream)
    response = await connection.handle_request(make_request())
    await response.aread()
    assert not connection.has_expired(connection.idle_since)
    await stream.aclose()  # The mock reports a closed stream as readable (EOF waiting).
    assert connection.has_expired(connection.idle_since)


@pytest.mark.parametrize(
    ("declared", "body"),
    [("5", [b"abc"]), ("2", [b"abc"])],
    ids=["too-little", "too-much"],
)
@pytest.mark.anyio
async def test_body_that_does_not_match_its_content_length(
    declared: str, body: list[bytes]
) -> None:
    stream = httpcore2.MockStream([OK])
    connection = httpcore2.HTTP11Connection(stream)
    request = make_request("POST", content=iter(body), headers={"Content-Length": declared})
    with pytest.raises(httpcore2.LocalProtocolError, match="Content-Length") as info:
        await connection.handle_request(request)
    assert info.value.request is request
    assert connection.is_closed()


class BrokenPipeStream(httpcore2.MockStream):
    """Accepts the request head, then fails every write, with nothing to read."""

    async def write(self, data: bytes, timeout: float | None = None) -> None:
        if self.written:
            raise httpcore2.WriteError("Broken pipe")
        self.written.append(data)

    def is_readable(self) -> bool:
        return False


@pytest.mark.anyio
async def test_write_error_without_an_early_response_is_raised() -> None:
    connection = httpcore2.HTTP11Connection(BrokenPipeStream([]))
    with pytest.raises(httpcore2.WriteError, match="Broken pipe"):
        await connection.handle_request(make_request("POST", content=iter([b"data"])))
    assert connection.is_closed()


@pytest.mark.anyio
async def test_mock_stream_splits_reads_and_reports_tls() -> None:
    backend = httpcore2.MockBackend([b"abcdef"], alpn_protocol="http/1.1")
    stream = await backend.connect_tcp("example.com", 443)
    assert stream.get_extra_info("ssl_object") is None
    tls = await stream.start_tls(httpcore2.create_ssl_context(), "example.com", 1.0)
    assert tls.get_extra_info("ssl_object").selected_alpn_protocol() == "http/1.1"
    assert tls.get_extra_info("client_addr") is None
    assert await tls.read(4) == b"abcd"
    assert await tls.read(4) == b"ef"
    assert await tls.read(4) == b""
    await backend.sleep(1.0)
    await tls.aclose()
    with pytest.raises(httpcore2.ReadError):
        await tls.read(4)
    with pytest.raises(httpcore2.WriteError):
        await tls.write(b"more")


@pytest.mark.anyio
async def test_body_iterator_yielding_text_is_refused_and_closes_the_connection() -> None:
    connection = httpcore2.HTTP11Connection(httpcore2.MockStream([OK]))
    # The first chunk is checked when the request is built; a later one only when sent.
    request = make_request("POST", content=iter([b"first", "not bytes"]))
    with pytest.raises(TypeError, match="must yield bytes, not str"):
        await connection.handle_request(request)
    assert connection.is_closed()


class FailingReadStream(httpcore2.MockStream):
    """Delivers the response head, then its read fails with an unexpected error."""

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if not self.written or self._reads:
            return await super().read(max_bytes, timeout)
        raise RuntimeError("disk on fire")


@pytest.mark.anyio
async def test_unexpected_error_while_reading_the_body_closes_the_connection() -> None:
    stream = FailingReadStream([b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"])
    connection = httpcore2.HTTP11Connection(stream)
    response = await connection.handle_request(make_request())
    with pytest.raises(RuntimeError, match="disk on fire"):
        await response.aread()
    assert connection.is_closed()


@pytest.mark.anyio
async def test_body_stream_stays_exhausted() -> None:
    connection = httpcore2.HTTP11Connection(httpcore2.MockStream([OK]))
    response = await connection.handle_request(make_request())
    body = response.stream
    assert [chunk async for chunk in body] == [b"Hello, world!"]  # type: ignore[union-attr]
    assert [chunk async for chunk in body] == []  # type: ignore[union-attr]


class EarlyAnswerStream(httpcore2.MockStream):
    """The server answers 413 and stops reading after the head: body writes fail."""

    async def write(self, data: bytes, timeout: float | None = None) -> None:
        if self.written:
            raise httpcore2.WriteError("Broken pipe")
        self.written.append(data)

    def is_readable(self) -> bool:
        return bool(self.written)


@pytest.mark.anyio
@pytest.mark.case("F25")
async def test_early_answer_is_read_after_a_failed_write() -> None:
    answer = b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n"
    connection = httpcore2.HTTP11Connection(EarlyAnswerStream([answer]))
    body = [b"x" * 1000] * 3
    response = await connection.handle_request(make_request("PUT", content=iter(body)))
    assert response.status == 413
    await response.aread()
    assert connection.is_closed()


@pytest.mark.anyio
async def test_iterator_body_with_its_own_content_length_is_not_chunked() -> None:
    stream = httpcore2.MockStream([OK])
    connection = httpcore2.HTTP11Connection(stream)
    request = make_request("PUT", content=iter([b"ab", b"c"]), headers={"Content-Length": "3"})
    response = await connection.handle_request(request)
    await response.aread()
    assert b"".join(stream.written).endswith(b"Content-Length: 3\r\n\r\nabc")


@pytest.mark.anyio
async def test_switching_protocols_ends_the_exchange() -> None:
    # h11 pauses after a 101: the response is the answer, and the connection is not reused.
    stream = httpcore2.MockStream([b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: ws\r\n\r\n"])
    connection = httpcore2.HTTP11Connection(stream)
    request = make_request(headers={"Upgrade": "ws", "Connection": "Upgrade"})
    response = await connection.handle_request(request)
    assert response.status == 101
    assert response.extensions["network_stream"] is stream
    assert await response.aread() == b""
    assert connection.is_closed()
