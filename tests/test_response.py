"""The rich Response API: decoded bodies, text, JSON, lines, status helpers, timing."""

from __future__ import annotations

import datetime
import decimal
import gzip
import json
import re
import time
import tracemalloc
import zlib

import pytest

import httpcore2
from httpcore2 import Request, Response
from tests.servers.app import ENCODING_TEXTS, JSON_DOCUMENT, LINES, encoding_text
from tests.servers.asgi_server import Server
from tests.streams import AsyncStream, SyncStream

brotli = pytest.importorskip("brotli")
zstandard = pytest.importorskip("zstandard")

BODY = b"".join(b"%d: caf\xc3\xa9 \xe2\x82\xac\r\n" % i for i in range(5000))
ENCODED = {
    "gzip": gzip.compress(BODY),
    "deflate": zlib.compress(BODY),
    "br": brotli.compress(BODY, quality=5),
    "zstd": zstandard.ZstdCompressor().compress(BODY),
}


def pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def encoded(
    coding: str, stream: type[SyncStream] | type[AsyncStream], size: int = 1000
) -> Response:
    return Response(
        200,
        headers={"Content-Encoding": coding},
        content=stream(pieces(ENCODED[coding], size)),
        request=Request("GET", "http://example.org/"),
    )


# --- decoded bodies, sync -----------------------------------------------------------------


@pytest.mark.parametrize("coding", list(ENCODED))
def test_read_decodes(coding: str) -> None:
    response = encoded(coding, SyncStream)
    assert response.read() == BODY
    assert response.content == BODY
    assert response.is_closed


@pytest.mark.parametrize("coding", list(ENCODED))
def test_iter_stream_decodes_and_iter_raw_does_not(coding: str) -> None:
    assert b"".join(encoded(coding, SyncStream).iter_stream()) == BODY
    assert b"".join(encoded(coding, SyncStream).iter_raw()) == ENCODED[coding]


@pytest.mark.parametrize("chunk_size", [1, 1000, 65536, 10**7])
def test_iter_stream_regroups_decoded_bytes(chunk_size: int) -> None:
    chunks = list(encoded("gzip", SyncStream, size=100).iter_stream(chunk_size))
    assert b"".join(chunks) == BODY
    assert all(len(chunk) == chunk_size for chunk in chunks[:-1])
    assert 0 < len(chunks[-1]) <= chunk_size


def test_iter_raw_regroups_wire_bytes() -> None:
    chunks = list(encoded("gzip", SyncStream, size=100).iter_raw(1000))
    assert b"".join(chunks) == ENCODED["gzip"]
    assert {len(chunk) for chunk in chunks[:-1]} == {1000}


def test_bytes_content_with_a_coding_is_wire_bytes_decoded_on_demand() -> None:
    response = Response(200, headers={"Content-Encoding": "gzip"}, content=ENCODED["gzip"])
    assert b"".join(response.iter_stream(4096)) == BODY
    assert b"".join(response.iter_raw()) == ENCODED["gzip"]
    assert response.content == BODY
    assert response.read() == BODY
    # Bytes are in memory: every way of reading them works again and again.
    assert b"".join(response.iter_stream()) == BODY
    assert b"".join(response.iter_raw()) == ENCODED["gzip"]


def test_after_read_the_raw_bytes_of_a_decoded_stream_are_gone() -> None:
    response = encoded("gzip", SyncStream)
    response.read()
    assert b"".join(response.iter_stream()) == BODY
    # Keeping the wire bytes too would double the memory of every compressed body.
    with pytest.raises(httpcore2.StreamConsumed):
        list(response.iter_raw())


def test_after_read_the_raw_bytes_of_a_plain_stream_are_the_body() -> None:
    response = Response(200, content=SyncStream([b"ab", b"c"]))
    assert response.read() == b"abc"
    assert list(response.iter_raw()) == [b"abc"]


def test_an_unknown_coding_leaves_the_body_as_it_came() -> None:
    response = Response(
        200, headers={"Content-Encoding": "compress"}, content=SyncStream([b"\x1f\x9d..."])
    )
    assert response.read() == b"\x1f\x9d..."
    assert Response(200, headers={"Content-Encoding": "identity"}, content=b"x").content == b"x"


def test_the_coding_is_found_among_other_headers() -> None:
    headers = [("Content-Type", "text/plain"), ("Content-Encoding", "gzip"), ("X-A", "b")]
    response = Response(200, headers=headers, content=SyncStream([ENCODED["gzip"]]))
    assert response.read() == BODY
    response = Response(200, headers=headers[:1], content=SyncStream([ENCODED["gzip"]]))
    assert response.read() == ENCODED["gzip"]


def test_stacked_codings_over_several_lines() -> None:
    body = zstandard.ZstdCompressor().compress(gzip.compress(BODY))
    headers = [("Content-Encoding", "gzip"), ("Content-Encoding", "zstd")]
    response = Response(200, headers=headers, content=SyncStream(pieces(body, 7)))
    assert response.read() == BODY


def test_too_many_codings_fail_the_read_and_close_the_response() -> None:
    stream = SyncStream([b"whatever"])
    request = Request("GET", "http://example.org/")
    headers = [("Content-Encoding", "gzip, gzip")] * 3
    response = Response(200, headers=headers, content=stream, request=request)
    with pytest.raises(httpcore2.DecodingError, match="6 content codings") as info:
        response.read()
    assert info.value.request is request
    assert stream.closes == 1


def test_too_many_codings_fail_an_iteration_and_close_the_response() -> None:
    stream = SyncStream([b"whatever"])
    headers = {"Content-Encoding": "br, br, br, br, br, br"}
    with pytest.raises(httpcore2.DecodingError):
        list(Response(200, headers=headers, content=stream).iter_stream())
    assert stream.closes == 1
    # The wire bytes stay readable: nothing is decoded there.
    response = Response(200, headers=headers, content=SyncStream([b"whatever"]))
    assert list(response.iter_raw()) == [b"whatever"]


def test_corrupt_data_raises_decoding_error_and_closes_the_response() -> None:
    stream = SyncStream([b"not gzip at all"])
    request = Request("GET", "http://example.org/")
    response = Response(200, headers={"Content-Encoding": "gzip"}, content=stream, request=request)
    with pytest.raises(httpcore2.DecodingError) as info:
        response.read()
    assert info.value.request is request
    assert response.is_closed
    assert stream.closes == 1


def test_corrupt_bytes_content_raises_on_access() -> None:
    response = Response(200, headers={"Content-Encoding": "gzip"}, content=b"not gzip")
    with pytest.raises(httpcore2.DecodingError):
        _ = response.content
    with pytest.raises(httpcore2.DecodingError):
        response.read()


def test_a_truncated_body_raises_at_its_end() -> None:
    stream = SyncStream([ENCODED["gzip"][:-20]])
    response = Response(200, headers={"Content-Encoding": "gzip"}, content=stream)
    with pytest.raises(httpcore2.DecodingError, match="ended before"):
        b"".join(response.iter_stream())
    assert stream.closes == 1


def zeros_gzip(size: int) -> bytes:
    compressor = zlib.compressobj(1, zlib.DEFLATED, 31)
    block = bytes(1 << 20)
    return b"".join(compressor.compress(block) for _ in range(size >> 20)) + compressor.flush()


def test_max_decompressed_size_comes_from_the_request() -> None:
    body = zeros_gzip(8 << 20)
    request = Request("GET", "http://example.org/", extensions={"max_decompressed_size": 1 << 20})
    stream = SyncStream(pieces(body, 1024))
    response = Response(200, headers={"Content-Encoding": "gzip"}, content=stream, request=request)
    with pytest.raises(httpcore2.DecodingError, match="max_decompressed_size"):
        response.read()
    assert stream.closes == 1
    # Without the extension the default (1 GiB) applies: the 8 MiB are fine.
    response = Response(
        200,
        headers={"Content-Encoding": "gzip"},
        content=SyncStream([body]),
        request=Request("GET", "http://example.org/"),
    )
    assert len(response.read()) == 8 << 20


def test_reading_a_bomb_into_memory_stops_at_the_ratio() -> None:
    # read() and content (from a stream, or from bytes) hold the decoded body whole: past
    # 16 MiB it may be at most 100 times what came. The message says how to allow more.
    body = zeros_gzip(256 << 20)
    headers = {"Content-Encoding": "gzip"}
    for response in [
        Response(200, headers=headers, content=SyncStream(pieces(body, 65536))),
        Response(200, headers=headers, content=body),
    ]:
        with pytest.raises(httpcore2.DecodingError, match=r"iter_stream.*max_decompressed_size"):
            response.read()


@pytest.mark.anyio
async def test_areading_a_bomb_into_memory_stops_at_the_ratio() -> None:
    body = zeros_gzip(256 << 20)
    stream = AsyncStream(pieces(body, 65536))
    response = Response(200, headers={"Content-Encoding": "gzip"}, content=stream)
    with pytest.raises(httpcore2.DecodingError, match="inflates more than 100-fold"):
        await response.aread()
    assert response.is_closed


def test_streaming_a_bomb_holds_little_memory() -> None:
    body = zeros_gzip(256 << 20)
    response = Response(
        200, headers={"Content-Encoding": "gzip"}, content=SyncStream(pieces(body, 65536))
    )
    total = 0
    tracemalloc.start()
    try:
        for chunk in response.iter_stream(1024):
            total += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == 256 << 20
    assert peak < 4 << 20


# --- decoded bodies, async ----------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("coding", list(ENCODED))
async def test_aread_decodes(coding: str) -> None:
    response = encoded(coding, AsyncStream)
    assert await response.aread() == BODY
    assert response.content == BODY


@pytest.mark.anyio
@pytest.mark.parametrize("coding", list(ENCODED))
async def test_aiter_stream_decodes_and_aiter_raw_does_not(coding: str) -> None:
    decoded = [chunk async for chunk in encoded(coding, AsyncStream).aiter_stream(777)]
    assert b"".join(decoded) == BODY
    assert {len(chunk) for chunk in decoded[:-1]} == {777}
    raw = [chunk async for chunk in encoded(coding, AsyncStream).aiter_raw()]
    assert b"".join(raw) == ENCODED[coding]


@pytest.mark.anyio
async def test_aread_of_corrupt_data_raises_and_closes() -> None:
    stream = AsyncStream([b"not zstd"])
    response = Response(200, headers={"Content-Encoding": "zstd"}, content=stream)
    with pytest.raises(httpcore2.DecodingError):
        await response.aread()
    assert stream.closes == 1


@pytest.mark.anyio
async def test_aread_of_bytes_content_with_a_coding() -> None:
    response = Response(200, headers={"Content-Encoding": "br"}, content=ENCODED["br"])
    assert await response.aread() == BODY
    assert b"".join([chunk async for chunk in response.aiter_stream()]) == BODY


@pytest.mark.anyio
async def test_aiter_raw_after_aread_of_a_decoded_stream_is_consumed() -> None:
    response = encoded("deflate", AsyncStream)
    await response.aread()
    with pytest.raises(httpcore2.StreamConsumed):
        [chunk async for chunk in response.aiter_raw()]


@pytest.mark.anyio
async def test_aiter_raw_after_aread_of_a_plain_stream_is_the_body() -> None:
    response = Response(200, content=AsyncStream([b"ab", b"c"]))
    assert await response.aread() == b"abc"
    assert [chunk async for chunk in response.aiter_raw()] == [b"abc"]


# --- encoding and text --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "encoding"),
    [
        (None, "utf-8"),
        ("application/json", "utf-8"),
        ("text/plain", "utf-8"),
        ("text/plain; charset=ISO-8859-1", "iso-8859-1"),
        ("text/html; charset=utf-16", "utf-16"),
        ("text/html; charset=klingon", "utf-8"),  # a codec Python does not know
    ],
)
def test_encoding(content_type: str | None, encoding: str) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    assert Response(200, headers=headers).encoding == encoding


def test_text_uses_the_charset() -> None:
    response = Response(
        200, headers={"Content-Type": "text/plain; charset=latin-1"}, content=b"\xe9t\xe9"
    )
    assert response.text == "été"


def test_text_defaults_to_utf_8_replaces_errors_and_drops_a_bom() -> None:
    assert Response(200, content=b"caf\xc3\xa9").text == "café"
    assert Response(200, content=b"\xef\xbb\xbfcaf\xc3\xa9").text == "café"
    assert Response(200, content=b"caf\xe9!").text == "caf\ufffd!"


def test_setting_the_encoding_decodes_again() -> None:
    response = Response(200, headers={"Content-Type": "text/plain"}, content=b"caf\xe9")
    assert response.text == "caf\ufffd"
    response.encoding = "latin-1"
    assert response.encoding == "latin-1"
    assert response.text == "café"
    assert list(response.iter_text()) == ["café"]


def test_an_unknown_encoding_is_refused_when_set() -> None:
    response = Response(200, content=b"x")
    with pytest.raises(LookupError):
        response.encoding = "klingon"
    assert response.encoding == "utf-8"


def test_text_of_a_compressed_body() -> None:
    response = encoded("br", SyncStream)
    response.read()
    assert response.text == BODY.decode()


def test_text_needs_a_read_on_a_streaming_response() -> None:
    with pytest.raises(httpcore2.ResponseNotRead):
        _ = Response(200, content=SyncStream([b"x"])).text


# --- json ---------------------------------------------------------------------------------


def test_json() -> None:
    response = Response(
        200, headers={"Content-Type": "application/json"}, content=b'{"a": [1, 2.5]}'
    )
    assert response.json() == {"a": [1, 2.5]}
    assert response.json(parse_float=decimal.Decimal) == {"a": [1, decimal.Decimal("2.5")]}


def test_json_with_a_bom_and_a_charset() -> None:
    assert Response(200, content=b'\xef\xbb\xbf["\xc3\xa9"]').json() == ["é"]
    headers = {"Content-Type": "application/json; charset=latin-1"}
    assert Response(200, headers=headers, content=b'["\xe9"]').json() == ["é"]


def test_json_of_a_compressed_body() -> None:
    data = {"items": list(range(1000))}
    body = gzip.compress(json.dumps(data).encode())
    response = Response(200, headers={"Content-Encoding": "gzip"}, content=body)
    assert response.json() == data


def test_invalid_json_raises_json_decode_error() -> None:
    with pytest.raises(json.JSONDecodeError):
        Response(200, content=b"{nope").json()


# --- iter_text and iter_lines ---------------------------------------------------------------


def test_iter_text_keeps_characters_split_across_chunks() -> None:
    chunks = [b"caf\xc3", b"\xa9 \xe2", b"\x82", b"\xac!"]
    assert list(Response(200, content=SyncStream(chunks)).iter_text()) == ["caf", "é ", "€!"]


def test_iter_text_chunk_size_counts_bytes() -> None:
    response = Response(200, content=SyncStream([b"abcdef", b"gh"]))
    assert list(response.iter_text(3)) == ["abc", "def", "gh"]


def test_iter_text_decodes_a_compressed_body_with_its_charset() -> None:
    response = encoded("gzip", SyncStream, size=5)
    assert "".join(response.iter_text()) == BODY.decode()
    body = gzip.compress("été".encode("latin-1"))
    headers = {"Content-Encoding": "gzip", "Content-Type": "text/plain; charset=latin-1"}
    assert list(Response(200, headers=headers, content=body).iter_text()) == ["été"]


def test_iter_text_of_an_empty_body() -> None:
    assert list(Response(200, content=SyncStream([])).iter_text()) == []
    assert list(Response(200).iter_text()) == []


def test_iter_text_ends_a_cut_character_with_a_replacement() -> None:
    assert list(Response(200, content=SyncStream([b"abc\xc3"])).iter_text(2)) == [
        "ab",
        "c",
        "\ufffd",
    ]


def test_iter_text_with_a_size_and_a_cut_character_at_the_end() -> None:
    response = Response(200, content=SyncStream([b"ab\xe2\x82"]))
    assert list(response.iter_text(3)) == ["ab", "\ufffd"]


def test_iter_lines_ends_a_cut_character_with_a_replacement() -> None:
    response = Response(200, content=SyncStream([b"a\nb\xc3"]))
    assert list(response.iter_lines()) == ["a", "b\ufffd"]


def test_iter_lines_splits_across_chunks() -> None:
    chunks = [b"one\r", b"\ntwo\n\nth", b"ree\rfour\r", b"\n", b"five"]
    lines = ["one", "two", "", "three", "four", "five"]
    assert list(Response(200, content=SyncStream(chunks)).iter_lines()) == lines
    assert list(Response(200, content=b"".join(chunks)).iter_lines()) == lines


def test_iter_lines_of_a_compressed_body() -> None:
    response = encoded("zstd", SyncStream, size=3)
    assert list(response.iter_lines()) == BODY.decode().split("\r\n")[:-1]


def test_iter_lines_with_a_multibyte_character_split_across_chunks() -> None:
    chunks = [b"caf\xc3", b"\xa9\r", b"\n\xe2\x82", b"\xac"]
    assert list(Response(200, content=SyncStream(chunks)).iter_lines()) == ["café", "€"]


def test_text_iterators_consume_and_close_the_stream() -> None:
    stream = SyncStream([b"a\nb"])
    response = Response(200, content=stream)
    lines = response.iter_lines()
    assert next(lines) == "a"
    lines.close()  # leaving early closes the response
    assert stream.closes == 1
    with pytest.raises(httpcore2.StreamConsumed):
        list(response.iter_text())


def test_text_iterators_of_an_async_response_from_sync_code_are_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match=r"aiter_\*\(\)"):
        list(Response(200, content=AsyncStream([b"a"])).iter_lines())


@pytest.mark.anyio
async def test_aiter_text_and_aiter_lines() -> None:
    chunks = [b"caf\xc3", b"\xa9\r", b"\n\xe2\x82", b"\xac\r"]
    text = [t async for t in Response(200, content=AsyncStream(chunks)).aiter_text()]
    assert "".join(text) == "café\r\n€\r"
    lines = [line async for line in Response(200, content=AsyncStream(chunks)).aiter_lines()]
    assert lines == ["café", "€"]
    sized = [t async for t in Response(200, content=AsyncStream([b"abcde"])).aiter_text(2)]
    assert sized == ["ab", "cd", "e"]


@pytest.mark.anyio
async def test_aiter_lines_of_a_compressed_body() -> None:
    response = encoded("br", AsyncStream, size=3)
    lines = [line async for line in response.aiter_lines()]
    assert lines == BODY.decode().split("\r\n")[:-1]


@pytest.mark.anyio
async def test_aiter_lines_left_early_is_finalized_by_aclose() -> None:
    stream = AsyncStream([b"a\n", b"b\n", b"c\n"])
    async with Response(200, content=stream) as response:
        async for line in response.aiter_lines():
            assert line == "a"
            break
    assert response.is_closed
    assert stream.closes == 1
    assert response._live_iterator is None


@pytest.mark.anyio
async def test_aiter_text_of_a_sync_response_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match=r"iter_\*\(\)"):
        [t async for t in Response(200, content=SyncStream([b"a"])).aiter_text()]


# --- status helpers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "headers", "success", "redirect", "error"),
    [
        (100, {}, False, False, False),
        (200, {}, True, False, False),
        (204, {}, True, False, False),
        (299, {}, True, False, False),
        (301, {"Location": "/a"}, False, True, False),
        (302, {"Location": "/a"}, False, True, False),
        (303, {"Location": "/a"}, False, True, False),
        (307, {"Location": "/a"}, False, True, False),
        (308, {"Location": "/a"}, False, True, False),
        (302, {}, False, False, False),  # no Location: nowhere to go
        (300, {"Location": "/a"}, False, False, False),
        (304, {"Location": "/a"}, False, False, False),
        (400, {}, False, False, True),
        (404, {}, False, False, True),
        (500, {}, False, False, True),
        (599, {}, False, False, True),
        (600, {}, False, False, False),
    ],
)
def test_status_properties(
    status: int, headers: dict[str, str], success: bool, redirect: bool, error: bool
) -> None:
    response = Response(status, headers=headers)
    assert (response.is_success, response.is_redirect, response.is_error) == (
        success,
        redirect,
        error,
    )


@pytest.mark.parametrize("status", [100, 200, 204, 301, 304, 399, 600])
def test_raise_for_status_returns_the_response_when_it_is_not_an_error(status: int) -> None:
    response = Response(status, request=Request("GET", "http://example.org/"))
    assert response.raise_for_status() is response


@pytest.mark.parametrize(
    ("status", "extensions", "message"),
    [
        (404, {}, "Client error '404 Not Found' for url 'http://example.org/a?b=1'"),
        (418, {}, "Client error '418 I'm a Teapot' for url 'http://example.org/a?b=1'"),
        (500, {}, "Server error '500 Internal Server Error' for url 'http://example.org/a?b=1'"),
        (
            503,
            {"reason_phrase": b"Busy"},
            "Server error '503 Busy' for url 'http://example.org/a?b=1'",
        ),
        (499, {}, "Client error '499' for url 'http://example.org/a?b=1'"),
    ],
)
def test_raise_for_status_raises_for_4xx_and_5xx(
    status: int, extensions: dict[str, bytes], message: str
) -> None:
    request = Request("GET", "http://example.org/a?b=1")
    response = Response(status, extensions=extensions, request=request)
    with pytest.raises(httpcore2.HTTPStatusError) as info:
        response.raise_for_status()
    assert str(info.value) == message
    assert info.value.request is request
    assert info.value.response is response
    assert isinstance(info.value, httpcore2.HTTPError)


def test_raise_for_status_needs_a_request() -> None:
    with pytest.raises(RuntimeError, match="no request"):
        Response(404).raise_for_status()


def test_raise_for_status_chains() -> None:
    response = Response(200, content=b'{"ok": true}', request=Request("GET", "http://x.org/"))
    assert response.raise_for_status().json() == {"ok": True}


def test_repr_is_unchanged() -> None:
    assert (
        repr(Response(404, content=b"x", headers={"Content-Encoding": "gzip"}))
        == "<Response [404]>"
    )


# --- elapsed --------------------------------------------------------------------------------


def test_elapsed_runs_from_sending_to_closing() -> None:
    response = Response(200, content=SyncStream([b"a"]))
    before = time.perf_counter()
    response._started_at = before
    with pytest.raises(RuntimeError, match="once the response is closed"):
        _ = response.elapsed
    time.sleep(0.01)
    response.read()
    after = time.perf_counter()
    elapsed = response.elapsed
    assert isinstance(elapsed, datetime.timedelta)
    assert datetime.timedelta(seconds=0.01) <= elapsed <= datetime.timedelta(seconds=after - before)
    time.sleep(0.01)
    assert response.elapsed == elapsed  # fixed once closed


def test_elapsed_of_a_response_nobody_timed() -> None:
    response = Response(200, content=SyncStream([b"a"]))
    response.read()
    with pytest.raises(RuntimeError, match="not timed"):
        _ = response.elapsed


@pytest.mark.anyio
async def test_elapsed_after_aclose() -> None:
    response = Response(200, content=AsyncStream([b"a"]))
    response._started_at = time.perf_counter()
    await response.aclose()
    assert response.elapsed >= datetime.timedelta(0)


# --- next / anext ---------------------------------------------------------------------------


def test_next_without_a_redirect_adapter_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="no next request"):
        Response(302, headers={"Location": "/"}).next()


@pytest.mark.anyio
async def test_anext_without_a_redirect_adapter_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="no next request"):
        await Response(302, headers={"Location": "/"}).anext()


def test_next_sends_through_what_the_adapter_left() -> None:
    response = Response(302, headers={"Location": "/"})
    following = Response(200)
    response._next = lambda sent: following if sent is response else None
    assert response.next() is following


@pytest.mark.anyio
async def test_anext_sends_through_what_the_adapter_left() -> None:
    response = Response(302, headers={"Location": "/"})
    following = Response(200)

    async def send_next(sent: Response) -> Response:
        assert sent is response
        return following

    response._next = send_next
    assert await response.anext() is following


# --- against the loopback server --------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "coding"),
    [
        ("/gzip", "gzip"),
        ("/deflate", "deflate"),
        ("/deflate-raw", "deflate-raw"),
        ("/brotli", "br"),
        ("/zstd", "zstd"),
        ("/stacked?codings=gzip,br,zstd", "gzip,br,zstd"),
    ],
)
def test_compressed_responses_from_a_server(server: Server, path: str, coding: str) -> None:
    with httpcore2.SyncConnectionPool() as pool:
        response = pool.request("GET", server.url + path)
        assert response.json() == {"compressed": True, "method": coding}
        with pool.stream("GET", server.url + path) as streamed:
            raw = b"".join(streamed.iter_raw())
        assert raw != response.content


@pytest.mark.anyio
async def test_compressed_responses_from_a_server_async(server: Server) -> None:
    async with httpcore2.ConnectionPool() as pool:
        response = await pool.request("GET", server.url + "/stacked?codings=deflate,zstd,br")
        assert response.json() == {"compressed": True, "method": "deflate,zstd,br"}
        async with pool.stream("GET", server.url + "/zstd") as streamed:
            body = b"".join([chunk async for chunk in streamed.aiter_stream(3)])
        assert json.loads(body) == {"compressed": True, "method": "zstd"}


@pytest.mark.parametrize("coding", ["gzip", "br", "zstd"])
def test_a_bomb_from_a_server_streams_in_bounded_memory(server: Server, coding: str) -> None:
    size = 256 << 20
    with httpcore2.SyncConnectionPool() as pool:
        with pool.stream("GET", f"{server.url}/bomb?size={size}&coding={coding}") as response:
            total = 0
            tracemalloc.start()  # the server thread's allocations count too
            try:
                for chunk in response.iter_stream(1024):
                    total += len(chunk)
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
    assert total == size
    assert peak < 8 << 20


@pytest.mark.anyio
async def test_max_decompressed_size_stops_a_bomb_from_a_server(server: Server) -> None:
    extensions = {"max_decompressed_size": 1 << 20}
    async with httpcore2.ConnectionPool() as pool:
        with pytest.raises(httpcore2.DecodingError, match="max_decompressed_size") as info:
            await pool.request(
                "GET", f"{server.url}/bomb?size={1 << 30}&coding=gzip", extensions=extensions
            )
        assert info.value.request.url == f"{server.url}/bomb?size={1 << 30}&coding=gzip"
        # The connection was closed, not drained: the next request still works.
        response = await pool.request("GET", server.url + "/gzip")
        assert response.json()["compressed"] is True


@pytest.mark.parametrize("charset", ["utf-8", "latin-1", "cp1252", "shift_jis", "utf-16"])
def test_text_in_the_declared_charset(server: Server, charset: str) -> None:
    response = httpcore2.request("GET", f"{server.url}/encoding/{charset}")
    assert response.encoding == charset
    assert response.text == encoding_text(charset)
    with httpcore2.SyncConnectionPool() as pool:
        with pool.stream("GET", f"{server.url}/encoding/{charset}") as streamed:
            assert "".join(streamed.iter_text(1)) == encoding_text(charset)


def test_undeclared_text_is_read_as_utf_8(server: Server) -> None:
    response = httpcore2.request("GET", f"{server.url}/encoding/none")
    assert response.encoding == "utf-8"
    assert response.text == ENCODING_TEXTS[0]
    response = httpcore2.request("GET", f"{server.url}/encoding/latin-1?declare=0")
    response.encoding = "latin-1"
    assert response.text == encoding_text("latin-1")


def test_json_and_lines_from_a_server(server: Server) -> None:
    assert httpcore2.request("GET", server.url + "/json").json() == JSON_DOCUMENT
    with httpcore2.stream("GET", server.url + "/lines") as response:
        assert list(response.iter_lines()) == re.split(r"\r\n|\r|\n", LINES)


@pytest.mark.anyio
async def test_lines_from_a_server_async(server: Server) -> None:
    async with httpcore2.ConnectionPool() as pool:
        async with pool.stream("GET", server.url + "/lines") as response:
            lines = [line async for line in response.aiter_lines()]
    assert lines == re.split(r"\r\n|\r|\n", LINES)


def test_raise_for_status_from_a_server(server: Server) -> None:
    response = httpcore2.request("GET", server.url + "/status/418")
    with pytest.raises(
        httpcore2.HTTPStatusError, match=r"Client error '418 .*' for url '.*/status/418'"
    ):
        response.raise_for_status()
