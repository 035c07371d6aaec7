"""The `trace` request extension: a callback told of each step of a request.

`trace(name, info)` is called with names such as `connection.connect_tcp.started` or
`http11.receive_response_headers.complete` (the list is in docs/extensions.md). On the async
side the callback may also be a coroutine function: what it returns is awaited.

Hand-written pairs, like `_synchronization.py`: `aemit` / `emit` and `TraceStep` /
`SyncTraceStep`. Callers look the extension up once per request and skip all of this when it
is absent, so a request without `trace` pays nothing.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from types import TracebackType
from typing import Any

__all__ = ["SyncTraceStep", "Trace", "TraceStep", "aemit", "emit"]

Trace = Callable[[str, dict[str, Any]], Any]


async def aemit(trace: Trace, name: str, info: dict[str, Any]) -> None:
    """Report one event; await the callback's result when it is awaitable."""
    result = trace(name, info)
    if inspect.isawaitable(result):
        await result


def emit(trace: Trace, name: str, info: dict[str, Any]) -> None:
    """Report one event."""
    trace(name, info)


class _Step:
    """What both kinds of trace step share: the event names and their info."""

    __slots__ = ("_info", "_name", "_trace", "complete_info")

    def __init__(self, trace: Trace, name: str, info: dict[str, Any]) -> None:
        self._trace = trace
        self._name = name
        self._info = info
        self.complete_info: dict[str, Any] = {}

    def _outcome(self, exc: BaseException | None) -> tuple[str, dict[str, Any]]:
        if exc is None:
            return self._name + ".complete", self.complete_info
        return self._name + ".failed", {"exception": exc}


class TraceStep(_Step):
    """One step as three events: `<name>.started` with `info` on entry, then
    `<name>.complete` with `complete_info` (set it inside the block; empty by default), or
    `<name>.failed` with `{"exception": exc}` when an exception leaves the block."""

    __slots__ = ()

    async def __aenter__(self) -> TraceStep:
        await aemit(self._trace, self._name + ".started", self._info)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await aemit(self._trace, *self._outcome(exc))


class SyncTraceStep(_Step):
    """`TraceStep` for the sync code."""

    __slots__ = ()

    def __enter__(self) -> SyncTraceStep:
        emit(self._trace, self._name + ".started", self._info)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        emit(self._trace, *self._outcome(exc))
