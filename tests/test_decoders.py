"""Content, text and line decoding, without any I/O (S28, S29)."""

from __future__ import annotations

import gzip
import importlib
import random
import struct
import tracemalloc
import types
import zlib
from collections.abc import Callable, Iterable, Iterator

import pytest

import httpcore2
from httpcore2 import _decoders
from httpcore2._decoders import (
    IN_MEMORY_RATIO_FROM,
    STEP,
    ContentDecoder,
    LineDecoder,
    TextDecoder,
    accept_encoding,
    charset_from_content_type,
    content_decoder,
    decode_text,
)

DEFAULT_MAX_DECOMPRESSED_SIZE = httpcore2.Limits().max_decompressed_size
MAX_IN_MEMORY_RATIO = httpcore2.Limits().max_in_memory_ratio

brotli = pytest.importorskip("brotli")
zstandard = pytest.importorskip("zstandard")

PAYLOAD = b"".join(
    b"line %d: the quick brown fox jumps over the lazy dog\n" % i for i in range(20000)
)
GiB = 1 << 30

# --- helpers ------------------------------------------------------------------------------


def deflate_raw(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


def br(data: bytes) -> bytes:
    compressed: bytes = brotli.compress(data, quality=5)  # the default, 11, is slow
    return compressed


def zstd(data: bytes) -> bytes:
    compressed: bytes = zstandard.ZstdCompressor().compress(data)
    return compressed


ENCODERS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": br,
    "zstd": zstd,
}


def decoder_for(*values: str, request: httpcore2.Request | None = None) -> ContentDecoder:
    headers = httpcore2.Headers([("Content-Encoding", value) for value in values])
    decoder = content_decoder(headers, request=request)
    assert decoder is not None
    return decoder


def pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def decode(decoder: ContentDecoder, chunks: Iterable[bytes]) -> bytes:
    out = [piece for chunk in chunks for piece in decoder.decode(chunk)]
    decoder.flush()
    return b"".join(out)


def zstd_backends() -> list[Callable[[], object]]:
    """Every zstd implementation installed: each must decode the same way."""
    backends: list[Callable[[], object]] = [lambda: _decoders._Zstandard(zstandard)]
    for name in ("compression.zstd", "backports.zstd"):
        module = _decoders._try_import(name)
        if module is not None:
            backends.append(lambda module=module: _decoders._Zstd(module))
    return backends


@pytest.fixture(params=zstd_backends(), ids=lambda make: type(make()).__name__)
def zstd_decoder(request: pytest.FixtureRequest) -> Callable[..., ContentDecoder]:
    def make(max_size: int = DEFAULT_MAX_DECOMPRESSED_SIZE) -> ContentDecoder:
        return ContentDecoder([request.param()], max_size=max_size)

    return make


# --- round trips ------------------------------------------------------------------------------


@pytest.mark.parametrize("coding", list(ENCODERS))
@pytest.mark.parametrize("size", [1, 7, 4096, None])
def test_every_coding_round_trips_whatever_the_chunking(coding: str, size: int | None) -> None:
    body = ENCODERS[coding](PAYLOAD)
    chunks = [body] if size is None else pieces(body, size)
    assert decode(decoder_for(coding), chunks) == PAYLOAD


@pytest.mark.parametrize("size", [1, 2, 3, None])
def test_raw_deflate_is_told_from_zlib_by_its_first_bytes(size: int | None) -> None:
    # RFC 9110 deflate is zlib-wrapped, but some servers send raw deflate.
    for body in (zlib.compress(PAYLOAD), deflate_raw(PAYLOAD)):
        chunks = [body] if size is None else pieces(body, size)
        assert decode(decoder_for("deflate"), [b"", *chunks]) == PAYLOAD


@pytest.mark.parametrize("size", [1, 7, None])
def test_zstd_backends_agree(zstd_decoder: Callable[..., ContentDecoder], size: int | None) -> None:
    # Two frames, the first large enough to take several steps.
    body = zstd(PAYLOAD) + zstd(b"tail")
    chunks = [body] if size is None else pieces(body, size)
    assert decode(zstd_decoder(), [b"", *chunks]) == PAYLOAD + b"tail"


def test_gzip_members_follow_one_another_and_nul_padding_is_skipped() -> None:
    body = gzip.compress(b"one ") + b"\0\0" + gzip.compress(b"two") + b"\0\0\0"
    assert decode(decoder_for("gzip"), [body]) == b"one two"
    assert decode(decoder_for("gzip"), pieces(body, 1)) == b"one two"


def test_x_gzip_is_gzip() -> None:
    assert decode(decoder_for("x-gzip"), [gzip.compress(b"data")]) == b"data"


def test_an_empty_body_with_a_coding_is_empty() -> None:
    # A HEAD, 204 or 304 response may say Content-Encoding and have no body at all.
    for coding in ENCODERS:
        assert decode(decoder_for(coding), []) == b""
        assert decode(decoder_for(coding), [b""]) == b""


def test_stacked_codings_are_undone_last_first() -> None:
    body = br(gzip.compress(PAYLOAD))  # gzip applied first, then br
    assert decode(decoder_for("gzip, br"), pieces(body, 100)) == PAYLOAD
    with pytest.raises(httpcore2.DecodingError):
        decode(decoder_for("br, gzip"), [body])


@pytest.mark.case("S29")
def test_codings_on_several_header_lines_are_one_list() -> None:
    body = zstd(zlib.compress(gzip.compress(PAYLOAD)))
    assert decode(decoder_for("gzip", "deflate", "zstd"), [body]) == PAYLOAD
    assert decode(decoder_for("gzip, deflate", "zstd"), [body]) == PAYLOAD


def test_coding_names_are_case_insensitive_and_identity_is_skipped() -> None:
    body = gzip.compress(PAYLOAD)
    assert decode(decoder_for(" GZip ,identity,,"), [body]) == PAYLOAD
    assert decode(decoder_for("identity", "gzip"), [body]) == PAYLOAD


@pytest.mark.parametrize(
    "values",
    [
        [],
        ["identity"],
        ["", " , "],
        ["compress"],  # a coding we cannot decode: the body stays as it came
        ["gzip, compress"],
        ["compress", "gzip"],
    ],
)
def test_no_decoder_when_there_is_nothing_we_can_undo(values: list[str]) -> None:
    headers = httpcore2.Headers([("Content-Encoding", value) for value in values])
    assert content_decoder(headers) is None


# --- S29: the length of the chain --------------------------------------------------------------


@pytest.mark.case("S29")
def test_five_codings_are_decoded() -> None:
    body = PAYLOAD
    for _ in range(5):
        body = gzip.compress(body)
    assert decode(decoder_for("gzip, gzip", "gzip, gzip", "gzip"), [body]) == PAYLOAD


@pytest.mark.case("S29")
@pytest.mark.parametrize(
    "values",
    [
        ["gzip, gzip", "gzip, gzip", "gzip, gzip"],  # 6 split over 3 lines
        ["gzip"] * 6,
        ["identity, identity, identity, identity, identity, gzip"],
        ["x, y, z, u, v, w, q"],  # counted before the codings are even looked at
    ],
)
def test_more_than_five_codings_are_refused_before_any_decoding(values: list[str]) -> None:
    request = httpcore2.Request("GET", "http://example.org/")
    headers = httpcore2.Headers([("Content-Encoding", value) for value in values])
    with pytest.raises(httpcore2.DecodingError, match="content codings") as info:
        content_decoder(headers, request=request)
    assert info.value.request is request


# --- corrupt and truncated bodies --------------------------------------------------------------


@pytest.mark.parametrize("coding", list(ENCODERS))
def test_corrupt_data_raises_decoding_error_with_the_request(coding: str) -> None:
    request = httpcore2.Request("GET", "http://example.org/")
    decoder = decoder_for(coding, request=request)
    with pytest.raises(httpcore2.DecodingError, match=f"Invalid {coding}") as info:
        decode(decoder, [b"\x1f\x8b this is not compressed at all, not even a little"])
    assert info.value.request is request
    assert info.value.__cause__ is not None


def test_corrupt_zstd_raises_decoding_error(zstd_decoder: Callable[..., ContentDecoder]) -> None:
    with pytest.raises(httpcore2.DecodingError, match="Invalid zstd"):
        decode(zstd_decoder(), [b"garbage, not a frame"])


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br"])
def test_a_truncated_body_raises_at_the_end(coding: str) -> None:
    request = httpcore2.Request("GET", "http://example.org/")
    body = ENCODERS[coding](PAYLOAD)
    decoder = decoder_for(coding, request=request)
    decoded = b"".join(piece for piece in decoder.decode(body[: len(body) // 2]))
    assert PAYLOAD.startswith(decoded)
    with pytest.raises(httpcore2.DecodingError, match="ended before") as info:
        decoder.flush()
    assert info.value.request is request


def test_a_one_byte_deflate_body_is_truncated() -> None:
    decoder = decoder_for("deflate")
    assert list(decoder.decode(b"x")) == []
    with pytest.raises(httpcore2.DecodingError, match="deflate response body ended"):
        decoder.flush()


def test_a_truncated_zstd_body_is_caught_by_the_stdlib_api() -> None:
    module = _decoders._try_import("backports.zstd") or _decoders._try_import("compression.zstd")
    if module is None:
        pytest.skip("zstandard alone cannot tell a truncated frame")
    body = zstd(PAYLOAD)
    decoder = ContentDecoder([_decoders._Zstd(module)], max_size=GiB)
    list(decoder.decode(body[:-10]))
    with pytest.raises(httpcore2.DecodingError, match="zstd response body ended"):
        decoder.flush()


def test_data_after_the_end_of_a_deflate_stream_is_an_error() -> None:
    with pytest.raises(httpcore2.DecodingError, match="after the end"):
        decode(decoder_for("deflate"), [zlib.compress(b"data") + b"junk"])
    with pytest.raises(httpcore2.DecodingError, match="after the end"):
        decode(decoder_for("deflate"), [zlib.compress(b"data"), b"junk"])


def test_junk_after_a_gzip_member_is_an_error() -> None:
    with pytest.raises(httpcore2.DecodingError, match="Invalid gzip"):
        decode(decoder_for("gzip"), [gzip.compress(b"data") + b"junk"])


def test_junk_after_a_br_stream_is_an_error() -> None:
    with pytest.raises(httpcore2.DecodingError, match="Invalid br"):
        decode(decoder_for("br"), [br(b"data") + b"junk"])


# --- S28: bounded steps, bounded totals --------------------------------------------------------


def gzip_of_zeros(size: int) -> bytes:
    """A gzip body of `size` zero bytes (a multiple of 1 MiB), built without compressing it all.

    After the first MiB a compressor's output for each further MiB of zeros is the same
    bytes, so the middle is repeated; the trailer carries the CRC of the whole.
    """
    block = bytes(1 << 20)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    first = compressor.compress(block) + compressor.flush(zlib.Z_SYNC_FLUSH)
    middle = compressor.compress(block) + compressor.flush(zlib.Z_SYNC_FLUSH)
    last = compressor.compress(block) + compressor.flush()
    crc = 0
    for _ in range(size >> 20):
        crc = zlib.crc32(block, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    trailer = struct.pack("<II", crc, size & 0xFFFFFFFF)
    return header + first + middle * ((size >> 20) - 2) + last + trailer


def compress_zeros(coding: str, size: int) -> bytes:
    if coding == "gzip":
        return gzip_of_zeros(size)
    block = bytes(1 << 20)
    if coding == "br":
        compressor = brotli.Compressor(quality=5)
        return b"".join(compressor.process(block) for _ in range(size >> 20)) + compressor.finish()
    compressor = zstandard.ZstdCompressor().compressobj()
    return b"".join(compressor.compress(block) for _ in range(size >> 20)) + compressor.flush()


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    """1 GiB of zeros in each coding, about 1 MiB or much less on the wire."""
    return {coding: compress_zeros(coding, GiB) for coding in ("gzip", "br", "zstd")}


@pytest.mark.case("S28")
@pytest.mark.parametrize("coding", ["gzip", "br", "zstd"])
def test_a_bomb_decodes_in_bounded_memory(bombs: dict[str, bytes], coding: str) -> None:
    body = bombs[coding]
    assert len(body) < 2 << 20
    decoder = decoder_for(coding)
    total = largest = 0
    tracemalloc.start()
    try:
        for chunk in pieces(body, 64 * 1024):
            for piece in decoder.decode(chunk):
                total += len(piece)
                largest = max(largest, len(piece))
        decoder.flush()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == GiB
    assert largest <= 2 * STEP  # brotli may pass the limit by one buffer growth
    assert peak < 4 << 20


@pytest.mark.case("S28")
def test_zstandard_decodes_a_bomb_in_bounded_memory(bombs: dict[str, bytes]) -> None:
    decoder = ContentDecoder([_decoders._Zstandard(zstandard)], max_size=GiB)
    total = 0
    tracemalloc.start()
    try:
        for piece in decoder.decode(bombs["zstd"]):  # all of it at once
            total += len(piece)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == GiB
    assert peak < 4 << 20


@pytest.mark.case("S28")
@pytest.mark.parametrize("coding", list(ENCODERS))
def test_one_chunk_never_yields_much_more_than_a_step(coding: str) -> None:
    body = ENCODERS[coding](bytes(16 << 20))
    sizes = [len(piece) for piece in decoder_for(coding).decode(body)]
    assert sum(sizes) == 16 << 20
    assert max(sizes) <= 2 * STEP


@pytest.mark.case("S28")
@pytest.mark.parametrize("coding", list(ENCODERS))
def test_max_decompressed_size_stops_a_bomb_as_soon_as_it_is_passed(coding: str) -> None:
    limit = 1 << 20
    request = httpcore2.Request(
        "GET", "http://example.org/", extensions={"max_decompressed_size": limit}
    )
    decoder = decoder_for(coding, request=request)
    sizes: list[int] = []
    with pytest.raises(httpcore2.DecodingError, match="max_decompressed_size") as info:
        sizes.extend(len(piece) for piece in decoder.decode(ENCODERS[coding](bytes(64 << 20))))
    assert info.value.request is request
    assert limit - 2 * STEP < sum(sizes) <= limit


def test_a_body_of_exactly_max_decompressed_size_is_fine() -> None:
    request = httpcore2.Request(
        "GET", "http://example.org/", extensions={"max_decompressed_size": len(PAYLOAD)}
    )
    assert decode(decoder_for("gzip", request=request), [gzip.compress(PAYLOAD)]) == PAYLOAD


@pytest.mark.case("S28")
@pytest.mark.parametrize("coding", list(ENCODERS))
def test_a_body_read_into_memory_may_not_inflate_past_the_ratio(coding: str) -> None:
    headers = httpcore2.Headers({"Content-Encoding": coding})
    body = ENCODERS[coding](bytes(64 << 20))
    decoder = content_decoder(headers, in_memory=True)
    assert decoder is not None
    sizes: list[int] = []
    with pytest.raises(httpcore2.DecodingError, match="inflates more than 100-fold"):
        sizes.extend(len(piece) for chunk in pieces(body, 4096) for piece in decoder.decode(chunk))
    assert IN_MEMORY_RATIO_FROM - 2 * STEP < sum(sizes) <= IN_MEMORY_RATIO_FROM
    # Streamed, the same body is fine (it is never held whole).
    assert sum(map(len, decoder_for(coding).decode(body))) == 64 << 20


def test_the_ratio_spares_what_compresses_less() -> None:
    # 20 MiB that compress about 50-fold: past IN_MEMORY_RATIO_FROM, under the ratio.
    rng = random.Random(0)
    data = b"".join(rng.randbytes(16) + bytes(1008) for _ in range(20 << 10))
    body = zlib.compress(data)
    assert len(body) * MAX_IN_MEMORY_RATIO > len(data) > IN_MEMORY_RATIO_FROM
    decoder = content_decoder(httpcore2.Headers({"Content-Encoding": "deflate"}), in_memory=True)
    assert decoder is not None
    assert decode(decoder, pieces(body, 4096)) == data


def test_an_explicit_max_decompressed_size_replaces_the_ratio() -> None:
    headers = httpcore2.Headers({"Content-Encoding": "gzip"})
    request = httpcore2.Request("GET", "http://x/", extensions={"max_decompressed_size": GiB})
    decoder = content_decoder(headers, request=request, in_memory=True)
    assert decoder is not None
    assert sum(map(len, decoder.decode(gzip.compress(bytes(64 << 20))))) == 64 << 20


def test_the_default_bound_is_one_gib() -> None:
    assert decoder_for("gzip")._max_size == DEFAULT_MAX_DECOMPRESSED_SIZE == 1 << 30


# --- what is installed ---------------------------------------------------------------------------


def test_accept_encoding_names_what_is_installed() -> None:
    # brotli and zstandard are installed for the tests.
    assert accept_encoding() == "gzip, deflate, br, zstd"


def test_an_old_brotli_without_bounded_output_counts_as_absent() -> None:
    old = types.SimpleNamespace(Decompressor=type("Decompressor", (), {}))
    assert _decoders._bounded_brotli(old) is None  # type: ignore[arg-type]
    assert _decoders._bounded_brotli(None) is None
    assert _decoders._bounded_brotli(brotli) is brotli


def test_optional_modules_are_imported_when_present() -> None:
    assert _decoders._import_first("httpcore2_no_such_module", "zlib") is zlib
    assert _decoders._import_first("httpcore2_no_such_module") is None


@pytest.fixture
def reload_without(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., types.ModuleType]]:
    """Re-import `_decoders` as if some optional packages were not installed."""
    real_import = importlib.import_module

    def reload(*missing: str) -> types.ModuleType:
        def import_module(name: str) -> types.ModuleType:
            if name.split(".")[0] in missing:
                raise ImportError(name)
            return real_import(name)

        monkeypatch.setattr(importlib, "import_module", import_module)
        return importlib.reload(_decoders)

    yield reload
    monkeypatch.undo()
    importlib.reload(_decoders)


def test_without_optional_packages_only_gzip_and_deflate_are_offered(
    reload_without: Callable[..., types.ModuleType],
) -> None:
    bare = reload_without("brotli", "brotlicffi", "compression", "backports", "zstandard")
    assert bare.accept_encoding() == "gzip, deflate"
    # A br or zstd body is then left as it came.
    for coding in ("br", "zstd"):
        assert bare.content_decoder(httpcore2.Headers({"Content-Encoding": coding})) is None


def test_zstandard_serves_when_the_stdlib_api_is_missing(
    reload_without: Callable[..., types.ModuleType],
) -> None:
    module = reload_without("compression", "backports")
    assert module.accept_encoding() == "gzip, deflate, br, zstd"
    decoder = module.content_decoder(httpcore2.Headers({"Content-Encoding": "zstd"}))
    assert isinstance(decoder._codecs[0], module._Zstandard)
    assert decode(decoder, [zstd(PAYLOAD)]) == PAYLOAD


# --- text --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "charset"),
    [
        (None, None),
        ("", None),
        ("text/plain", None),
        ("text/plain; charset=utf-8", "utf-8"),
        ("text/html;charset=ISO-8859-1", "iso-8859-1"),
        ('text/html; CHARSET="latin-1"', "latin-1"),
        ("application/json; charset = utf-16 ; q=1", "utf-16"),
        ("text/plain; charset=no-such-codec", None),
        ("text/plain; xcharset=latin-1", None),
    ],
)
def test_charset_from_content_type(content_type: str | None, charset: str | None) -> None:
    assert charset_from_content_type(content_type) == charset


@pytest.mark.parametrize(
    ("content", "encoding", "text"),
    [
        (b"caf\xc3\xa9", "utf-8", "café"),
        (b"\xef\xbb\xbfcaf\xc3\xa9", "utf-8", "café"),  # a UTF-8 BOM is not text
        (b"\xef\xbb\xbfcaf\xc3\xa9", "UTF8", "café"),
        (b"caf\xe9", "latin-1", "café"),
        (b"caf\xe9", "utf-8", "caf\ufffd"),  # undecodable bytes are replaced
        (b"\xff\xfec\x00a\x00", "utf-16", "ca"),
        (b"\xfe\xff\x00c\x00a", "utf-16", "ca"),
        (b"\x00c\x00a", "utf-16", "ca"),  # no byte order mark: big-endian (RFC 2781)
        (b"\x00c", "UTF-16", "c"),
        (b"\xff\xfe\x00\x00c\x00\x00\x00", "utf-32", "c"),
        (b"\x00\x00\x00c", "utf-32", "c"),
        (b"", "utf-16", ""),
        (b"ab", "ascii", "ab"),
    ],
)
def test_decode_text(content: bytes, encoding: str, text: str) -> None:
    assert decode_text(content, encoding) == text
    decoder = TextDecoder(encoding)
    assert "".join(decoder.decode(bytes([byte])) for byte in content) + decoder.flush() == text


def test_a_character_split_across_chunks_is_kept_whole() -> None:
    decoder = TextDecoder("utf-8")
    assert decoder.decode(b"caf\xc3") == "caf"
    assert decoder.decode(b"\xa9!") == "é!"
    assert decoder.flush() == ""


def test_a_character_cut_off_at_the_end_is_replaced() -> None:
    decoder = TextDecoder("utf-8")
    assert decoder.decode(b"caf\xc3") == "caf"
    assert decoder.flush() == "\ufffd"


# --- lines -------------------------------------------------------------------------------------


def split(chunks: list[str]) -> list[str]:
    decoder = LineDecoder()
    lines = [line for chunk in chunks for line in decoder.decode(chunk)]
    return lines + decoder.flush()


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        ("", []),
        ("a", ["a"]),
        ("a\n", ["a"]),
        ("a\nb", ["a", "b"]),
        ("a\r\nb\r\n", ["a", "b"]),
        ("a\rb\r", ["a", "b"]),
        ("a\n\nb", ["a", "", "b"]),
        ("\n", [""]),
        ("\r", [""]),
        ("\r\n\r\n", ["", ""]),
        ("a\r\rb", ["a", "", "b"]),
        ("x\n\r", ["x", ""]),
        # Only \n, \r\n and \r break lines, unlike str.splitlines().
        ("a\x0bb\x0cc\x1cd\x85e\u2028f", ["a\x0bb\x0cc\x1cd\x85e\u2028f"]),
    ],
)
def test_lines_whatever_the_chunking(text: str, lines: list[str]) -> None:
    assert split([text]) == lines
    assert split(list(text)) == lines  # one character at a time
    for cut in range(len(text) + 1):
        assert split([text[:cut], text[cut:]]) == lines


def test_crlf_across_chunks_is_one_line_break() -> None:
    decoder = LineDecoder()
    assert decoder.decode("one\r") == []
    assert decoder.decode("\ntwo\r") == ["one"]
    assert decoder.decode("three") == ["two"]
    assert decoder.flush() == ["three"]
    assert decoder.flush() == []


def test_a_long_line_is_gathered_from_many_chunks() -> None:
    decoder = LineDecoder()
    assert [line for _ in range(1000) for line in decoder.decode("x" * 100)] == []
    assert decoder.decode("\n") == ["x" * 100_000]
