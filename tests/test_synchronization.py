"""The waiter primitives' edge cases: hand-overs that race with a timeout."""

from __future__ import annotations

import asyncio

import anyio
import pytest

from httpcore2._synchronization import NoLock, SyncWaiter, Waiter, _expire, yield_on_asyncio


@pytest.mark.anyio
async def test_waiter_without_timeout_gets_the_value() -> None:
    waiter = Waiter()

    async def hand_over() -> None:
        # A task started with start_soon first runs when the test's task waits.
        waiter.set("connection")

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(hand_over)
        await waiter.wait(None)
    assert waiter.value == "connection"


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.anyio
async def test_a_hand_over_after_the_timeout_is_kept() -> None:
    # The pool may hand a connection to a waiter whose timeout has just fired: the
    # value must land (the pool then sees it and uses it) and nothing may raise.
    waiter = Waiter()
    await waiter.wait(0)
    assert waiter.value is None
    waiter.set("connection")
    assert waiter.value == "connection"


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.anyio
async def test_an_expiry_after_the_hand_over_changes_nothing() -> None:
    future = asyncio.get_running_loop().create_future()
    future.set_result(None)
    _expire(future)
    assert future.result() is None


def test_sync_waiter() -> None:
    waiter = SyncWaiter()
    waiter.wait(0)
    assert waiter.value is None
    waiter.set("connection")
    waiter.wait(None)
    assert waiter.value == "connection"


def test_no_lock_is_a_context_manager() -> None:
    with NoLock():
        pass


@pytest.mark.anyio
async def test_yield_on_asyncio_returns_a_cancellation_instead_of_raising_it(
    anyio_backend: str,
) -> None:
    if anyio_backend != "asyncio":
        assert await yield_on_asyncio() is None  # trio: nothing to do
        return
    assert await yield_on_asyncio() is None
    task = asyncio.get_running_loop().create_task(yield_on_asyncio())
    await asyncio.sleep(0)  # the task is now inside its yield
    task.cancel()
    assert isinstance(await task, asyncio.CancelledError)
