"""Request body streams: bytes, iterators, async iterators and files."""

from __future__ import annotations

import array
import io
from collections.abc import AsyncGenerator, Iterator
from pathlib import Path

import pytest

from httpcore2 import Request, StreamConsumed
from httpcore2._content import (
    CHUNK_SIZE,
    AsyncByteStream,
    AsyncIteratorStream,
    ByteStream,
    FileStream,
    IteratorStream,
    SyncByteStream,
    encode_request_body,
)


async def agen(*chunks: object) -> AsyncGenerator[object, None]:
    for chunk in chunks:
        yield chunk


def gen(*chunks: object) -> Iterator[object]:
    yield from chunks


async def acollect(stream: AsyncByteStream) -> list[bytes]:
    return [chunk async for chunk in stream]


class Unseekable:
    """A binary file that can only be read forward, like a pipe or a socket file."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self._data.read(size)

    def seekable(self) -> bool:
        return False


class ReadOnly:
    """A file-like object with nothing but `read()`."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self._data.read(size)


class TellFails(Unseekable):
    """Claims to be seekable, but `tell()` fails (some wrapped sockets and pipes do)."""

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        raise OSError("Illegal seek")


# --- ByteStream --------------------------------------------------------------------------


def test_byte_stream_replays_sync() -> None:
    stream = ByteStream(b"hello")
    assert list(stream) == [b"hello"]
    assert list(stream) == [b"hello"]
    assert stream.replayable


@pytest.mark.anyio
async def test_byte_stream_replays_async() -> None:
    stream = ByteStream(b"hello")
    assert await acollect(stream) == [b"hello"]
    assert await acollect(stream) == [b"hello"]
    assert list(stream) == [b"hello"]


@pytest.mark.anyio
async def test_empty_byte_stream_yields_no_chunks() -> None:
    stream = ByteStream(b"")
    assert list(stream) == []
    assert await acollect(stream) == []


def test_byte_stream_repr() -> None:
    assert repr(ByteStream(b"hello")) == "<ByteStream [5 bytes]>"


# --- IteratorStream ----------------------------------------------------------------------


def test_iterator_stream_is_iterable_once() -> None:
    stream = IteratorStream(gen(b"a", b"b"))  # type: ignore[arg-type]
    assert not stream.replayable
    assert list(stream) == [b"a", b"b"]
    with pytest.raises(StreamConsumed, match="cannot be replayed"):
        list(stream)


def test_iterator_stream_of_a_list_is_still_iterable_once() -> None:
    stream = IteratorStream([b"a", b"b"])
    assert list(stream) == [b"a", b"b"]
    with pytest.raises(StreamConsumed):
        list(stream)


@pytest.mark.anyio
async def test_iterator_stream_serves_async_transports_once() -> None:
    stream = IteratorStream([b"a", b"b"])
    assert await acollect(stream) == [b"a", b"b"]
    with pytest.raises(StreamConsumed):
        await acollect(stream)


def test_iterator_stream_accepts_bytes_like_chunks_and_yields_bytes() -> None:
    chunks = list(IteratorStream([bytearray(b"ab"), memoryview(b"cd"), b"ef"]))  # type: ignore[list-item]
    assert chunks == [b"ab", b"cd", b"ef"]
    assert all(type(chunk) is bytes for chunk in chunks)


@pytest.mark.parametrize("chunk", ["text", 1, None, [b"a"]])
def test_iterators_yielding_non_bytes_are_rejected(chunk: object) -> None:
    stream = IteratorStream(gen(b"ok", chunk))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=f"must yield bytes, not {type(chunk).__name__}"):
        list(stream)


# --- AsyncIteratorStream -----------------------------------------------------------------


@pytest.mark.anyio
async def test_async_iterator_stream_is_iterable_once() -> None:
    stream = AsyncIteratorStream(agen(b"a", bytearray(b"b")))  # type: ignore[arg-type]
    assert not stream.replayable
    assert await acollect(stream) == [b"a", b"b"]
    with pytest.raises(StreamConsumed, match=r"aread\(\)"):
        await acollect(stream)


def test_async_iterator_stream_rejects_sync_iteration() -> None:
    stream = AsyncIteratorStream(agen(b"a"))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"async iterator.*async transport"):
        iter(stream)


@pytest.mark.anyio
async def test_async_iterators_yielding_non_bytes_are_rejected() -> None:
    source = agen(b"ok", "text")
    stream = AsyncIteratorStream(source)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must yield bytes, not str"):
        await acollect(stream)
    await source.aclose()


# --- FileStream --------------------------------------------------------------------------


def test_file_stream_reads_64_kib_blocks_not_lines(tmp_path: Path) -> None:
    # A line every 10 bytes: reading line by line would give 15,000 chunks.
    data = b"012345678\n" * 15_000
    path = tmp_path / "body.txt"
    path.write_bytes(data)
    with path.open("rb") as file:
        chunks = list(FileStream(file))
    assert CHUNK_SIZE == 65_536
    assert [len(chunk) for chunk in chunks] == [65_536, 65_536, 150_000 - 2 * 65_536]
    assert b"".join(chunks) == data


def test_seekable_file_rewinds_to_where_it_started_on_replay() -> None:
    file = io.BytesIO(b"skip:body")
    file.seek(5)
    stream = FileStream(file)
    assert stream.replayable
    assert list(stream) == [b"body"]
    assert list(stream) == [b"body"]


@pytest.mark.anyio
async def test_file_stream_serves_async_transports_and_replays() -> None:
    stream = FileStream(io.BytesIO(b"data"))
    assert await acollect(stream) == [b"data"]
    assert await acollect(stream) == [b"data"]


@pytest.mark.parametrize("file_type", [Unseekable, ReadOnly, TellFails])
def test_unseekable_file_is_sent_once(file_type: type[Unseekable]) -> None:
    stream = FileStream(file_type(b"data"))  # type: ignore[arg-type]
    assert not stream.replayable
    assert list(stream) == [b"data"]
    with pytest.raises(StreamConsumed, match="unseekable"):
        list(stream)


def test_empty_file_yields_no_chunks() -> None:
    assert list(FileStream(io.BytesIO())) == []


def test_text_files_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"binary file.*'rb'"):
        FileStream(io.StringIO("text"))  # type: ignore[arg-type]
    path = tmp_path / "body.txt"
    path.write_text("text")
    with path.open() as file, pytest.raises(TypeError, match="binary file"):
        FileStream(file)  # type: ignore[arg-type]


def test_a_file_like_object_returning_str_is_rejected() -> None:
    class StrReader:
        def read(self, size: int = -1) -> str:
            return "text"

    with pytest.raises(TypeError, match="must yield bytes, not str"):
        list(FileStream(StrReader()))  # type: ignore[arg-type]


# --- the stream interfaces ---------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    "stream",
    [
        ByteStream(b""),
        IteratorStream([]),
        AsyncIteratorStream(agen()),  # type: ignore[arg-type]
        FileStream(io.BytesIO()),
    ],
    ids=["bytes", "iterator", "async-iterator", "file"],
)
async def test_every_stream_serves_both_interfaces(stream: ByteStream) -> None:
    assert isinstance(stream, SyncByteStream)
    assert isinstance(stream, AsyncByteStream)
    assert stream.close() is None  # type: ignore[func-returns-value]
    assert await stream.aclose() is None  # type: ignore[func-returns-value]


# --- encode_request_body -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "body"),
    [
        (None, b""),
        (b"raw", b"raw"),
        ("héllo", "héllo".encode()),
    ],
)
def test_known_bodies_become_byte_streams(content: object, body: bytes) -> None:
    stream, data = encode_request_body(content)  # type: ignore[arg-type]
    assert isinstance(stream, ByteStream)
    assert data == body
    assert type(data) is bytes
    assert b"".join(stream) == body


@pytest.mark.parametrize(
    "content",
    [
        bytearray(b"bytearray"),
        memoryview(b"memoryview"),
        memoryview(bytearray(b"a slice of it")[2:]),
        memoryview(array.array("H", [0x6968, 0x2121])),  # two-byte items: 4 bytes
    ],
)
def test_buffer_bodies_are_sent_without_a_copy(content: bytearray | memoryview) -> None:
    # Before, a bytearray or memoryview body was copied into bytes when the request was built.
    expected = bytes(content)
    request = Request("POST", "http://example.org/", content=content)
    assert memoryview(request.stream.content).obj is memoryview(content).obj  # type: ignore[union-attr]
    assert request.headers["content-length"] == str(len(expected))
    assert b"".join(request.stream) == expected  # type: ignore[arg-type]
    assert request.content == expected
    assert type(request.content) is bytes


def test_a_non_contiguous_memoryview_body_is_copied() -> None:
    content = memoryview(b"abcdef")[::2]
    request = Request("POST", "http://example.org/", content=content)
    assert request.stream.content == b"ace"  # type: ignore[union-attr]
    assert request.headers["content-length"] == "3"


def test_streaming_bodies_have_no_known_bytes() -> None:
    file_stream, file_data = encode_request_body(io.BytesIO(b"x"))
    iterator_stream, iterator_data = encode_request_body(gen(b"x"))  # type: ignore[arg-type]
    list_stream, list_data = encode_request_body([b"x"])
    async_stream, async_data = encode_request_body(agen(b"x"))  # type: ignore[arg-type]
    assert isinstance(file_stream, FileStream)
    assert isinstance(iterator_stream, IteratorStream)
    assert isinstance(list_stream, IteratorStream)
    assert isinstance(async_stream, AsyncIteratorStream)
    assert file_data is iterator_data is list_data is async_data is None


@pytest.mark.parametrize("content", [123, 4.5, object(), True])
def test_unknown_content_types_are_rejected(content: object) -> None:
    with pytest.raises(TypeError, match=f"not {type(content).__name__}"):
        encode_request_body(content)  # type: ignore[arg-type]
