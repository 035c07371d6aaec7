"""Hand-written pairs of primitives for the async source and its sync twin.

The pool changes its state only in code that never awaits. On an event loop such code
is atomic already, so `NoLock` costs nothing; the generated sync pool uses a real
`ThreadLock` instead. A `Waiter` hands one connection (or one slot) from whoever frees
it to exactly one waiting request.

trio is imported only when it runs, and only when a request has to wait.
"""

from __future__ import annotations

import asyncio
import math
import threading
from typing import Any

__all__ = ["NoLock", "SyncWaiter", "ThreadLock", "Waiter", "yield_on_asyncio"]

ThreadLock = threading.Lock


class NoLock:
    """A lock for code that never awaits inside it: the event loop makes it atomic."""

    __slots__ = ()

    def __enter__(self) -> None:
        pass

    def __exit__(self, *args: object) -> None:
        pass


class Waiter:
    """A one-shot hand-over to a waiting task, on asyncio or trio."""

    __slots__ = ("_event", "_future", "value")

    def __init__(self) -> None:
        self.value: Any = None
        self._future: asyncio.Future[None] | None = None
        self._event: Any = None
        try:
            self._future = asyncio.get_running_loop().create_future()
        except RuntimeError:
            import trio

            self._event = trio.Event()

    def set(self, value: Any) -> None:
        """Hand `value` over and wake the waiting task."""
        self.value = value
        if self._future is not None:
            if not self._future.done():
                self._future.set_result(None)
        else:
            self._event.set()

    async def wait(self, timeout: float | None) -> None:
        """Wait for `set()`, or until `timeout` elapsed: then `value` is still `None`."""
        if self._future is not None:
            future = self._future
            timer = None
            if timeout is not None:
                timer = future.get_loop().call_later(timeout, _expire, future)
            try:
                await future
            except asyncio.TimeoutError:
                pass
            finally:
                if timer is not None:
                    timer.cancel()
            return
        import trio

        with trio.move_on_after(math.inf if timeout is None else timeout):
            await self._event.wait()


async def yield_on_asyncio() -> BaseException | None:
    """Give the other ready asyncio tasks one turn of the event loop; nothing on trio.

    For batching: what they queue meanwhile goes out with the caller's write (on trio,
    writes yield by themselves). A cancellation that arrives meanwhile is returned rather
    than raised, so that the caller can first finish what must not be left half-done.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return None
    try:
        await asyncio.sleep(0)
    except asyncio.CancelledError as exc:
        return exc
    return None


def _expire(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_exception(asyncio.TimeoutError())


class SyncWaiter:
    """A one-shot hand-over to a waiting thread."""

    __slots__ = ("_event", "value")

    def __init__(self) -> None:
        self.value: Any = None
        self._event = threading.Event()

    def set(self, value: Any) -> None:
        """Hand `value` over and wake the waiting thread."""
        self.value = value
        self._event.set()

    def wait(self, timeout: float | None) -> None:
        """Wait for `set()`, or until `timeout` elapsed: then `value` is still `None`."""
        self._event.wait(timeout)
