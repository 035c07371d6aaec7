"""Run callables at once, for tests that need requests in flight together: `together` in an
anyio task group (asyncio or trio), `together_threads` in threads, for the sync twins of the
tests in tests/_async/. Both raise the first failure and give up after `limit` seconds."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

import anyio

LIMIT = 10.0


async def together(*calls: Callable[[], Awaitable[None]], limit: float = LIMIT) -> None:
    with anyio.fail_after(limit):
        async with anyio.create_task_group() as group:
            for call in calls:
                group.start_soon(call)


def together_threads(*calls: Callable[[], None], limit: float = LIMIT) -> None:
    with ThreadPoolExecutor(len(calls)) as executor:
        for future in [executor.submit(call) for call in calls]:
            future.result(limit)
