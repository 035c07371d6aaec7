"""Response bodies as a transport of one world only would produce them, for model tests."""

from __future__ import annotations

from collections.abc import Iterator


class SyncStream:
    """A sync transport's body: `__iter__` and `close()`."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.closes = 0

    def __iter__(self) -> Iterator[bytes]:
        yield from self.chunks

    def close(self) -> None:
        self.closes += 1


class AsyncStream:
    """An async transport's body: `__aiter__` and `aclose()`.

    An iterator, not an async generator, like the transports' own: one left unfinished
    would otherwise be finalized by the garbage collector, which trio warns about.
    """

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = list(chunks)
        self.closes = 0

    def __aiter__(self) -> AsyncStream:
        return self

    async def __anext__(self) -> bytes:
        if not self.chunks:
            raise StopAsyncIteration
        return self.chunks.pop(0)

    async def aclose(self) -> None:
        self.closes += 1
