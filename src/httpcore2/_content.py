"""Request and response body streams.

A body is a stream of bytes that a transport iterates, sync (`for`) or async
(`async for`). Bytes and seekable files can be iterated again (a redirect or an auth
retry replays them); iterators cannot, and say so with `StreamConsumed`.
"""

from __future__ import annotations

import io
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Generator,
    Iterable,
    Iterator,
)
from typing import IO, Any, Protocol, Union, runtime_checkable

from ._exceptions import StreamConsumed

__all__ = [
    "AsyncByteStream",
    "AsyncIteratorStream",
    "ByteStream",
    "FileStream",
    "IteratorStream",
    "RequestContent",
    "SyncByteStream",
    "encode_request_body",
]

CHUNK_SIZE = 64 * 1024

RequestContent = Union[bytes, str, Iterable[bytes], AsyncIterable[bytes], IO[bytes]]


@runtime_checkable
class SyncByteStream(Protocol):
    """A body a sync transport can iterate; `close()` releases what it holds."""

    def __iter__(self) -> Iterator[bytes]: ...

    def close(self) -> None: ...


@runtime_checkable
class AsyncByteStream(Protocol):
    """A body an async transport can iterate; `aclose()` releases what it holds."""

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...


class ByteStream:
    """A body held in memory: iterable any number of times, sync and async."""

    __slots__ = ("content",)

    replayable = True

    def __init__(self, content: bytes) -> None:
        self.content = content

    def __iter__(self) -> Generator[bytes, None, None]:
        if self.content:
            yield self.content

    async def __aiter__(self) -> AsyncGenerator[bytes, None]:
        if self.content:
            yield self.content

    def close(self) -> None:
        pass

    async def aclose(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"<ByteStream [{len(self.content)} bytes]>"


class IteratorStream:
    """A body from a sync iterable of bytes; iterable once.

    An async transport iterates it too, calling `next()` from the event loop, so the
    iterator must not block for long.
    """

    __slots__ = ("_consumed", "_iterable")

    replayable = False

    def __init__(self, iterable: Iterable[bytes]) -> None:
        self._iterable = iterable
        self._consumed = False

    def __iter__(self) -> Generator[bytes, None, None]:
        self._start()
        for chunk in self._iterable:
            yield _check_chunk(chunk)

    async def __aiter__(self) -> AsyncGenerator[bytes, None]:
        for chunk in self:
            yield chunk

    def _start(self) -> None:
        if self._consumed:
            raise StreamConsumed(
                "The request body is an iterator that was already sent once and cannot be "
                "replayed; pass bytes, or call request.read() first."
            )
        self._consumed = True

    def close(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


class AsyncIteratorStream:
    """A body from an async iterable of bytes; iterable once, by async transports only."""

    __slots__ = ("_consumed", "_iterable")

    replayable = False

    def __init__(self, iterable: AsyncIterable[bytes]) -> None:
        self._iterable = iterable
        self._consumed = False

    def __iter__(self) -> Generator[bytes, None, None]:
        raise TypeError(
            "This request body is an async iterator: send it with an async transport "
            "(Client, ConnectionPool), not a sync one."
        )

    async def __aiter__(self) -> AsyncGenerator[bytes, None]:
        if self._consumed:
            raise StreamConsumed(
                "The request body is an async iterator that was already sent once and cannot "
                "be replayed; pass bytes, or call await request.aread() first."
            )
        self._consumed = True
        async for chunk in self._iterable:
            yield _check_chunk(chunk)

    def close(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


class FileStream:
    """A body from a binary file object, read in 64 KiB blocks, never line by line.

    A seekable file is rewound to where it started each time the body is sent again.
    """

    __slots__ = ("_consumed", "_file", "_start")

    def __init__(self, file: IO[bytes]) -> None:
        if isinstance(file, io.TextIOBase):
            raise TypeError("Request bodies from files need a binary file: open it with 'rb'.")
        self._file = file
        self._consumed = False
        self._start = _tell(file)

    @property
    def replayable(self) -> bool:
        return self._start is not None

    def __iter__(self) -> Generator[bytes, None, None]:
        if self._consumed:
            if self._start is None:
                raise StreamConsumed("The request body is an unseekable file already sent once.")
            self._file.seek(self._start)
        self._consumed = True
        read = self._file.read
        while chunk := read(CHUNK_SIZE):
            yield _check_chunk(chunk)

    async def __aiter__(self) -> AsyncGenerator[bytes, None]:
        for chunk in self:
            yield chunk

    def close(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


def _tell(file: IO[bytes]) -> int | None:
    try:
        return file.tell() if file.seekable() else None
    except (AttributeError, OSError):
        return None


def _check_chunk(chunk: Any) -> bytes:
    if isinstance(chunk, (bytes, bytearray, memoryview)):
        return bytes(chunk)
    raise TypeError(f"Request body iterators must yield bytes, not {type(chunk).__name__}.")


RequestStream = Union[ByteStream, IteratorStream, AsyncIteratorStream, FileStream]


def encode_request_body(content: RequestContent | None) -> tuple[RequestStream, bytes | None]:
    """Turn request content into a stream, plus the bytes when the whole body is known."""
    if content is None:
        return ByteStream(b""), b""
    if isinstance(content, bytes):
        return ByteStream(content), content
    if isinstance(content, str):
        data = content.encode("utf-8")
        return ByteStream(data), data
    if isinstance(content, (bytearray, memoryview)):
        data = bytes(content)
        return ByteStream(data), data
    if hasattr(content, "read"):
        return FileStream(content), None  # type: ignore[arg-type]
    if isinstance(content, AsyncIterable):
        return AsyncIteratorStream(content), None
    if isinstance(content, Iterable):
        return IteratorStream(content), None
    raise TypeError(
        f"Request content must be bytes, str, a binary file or an iterator of bytes, "
        f"not {type(content).__name__}."
    )
