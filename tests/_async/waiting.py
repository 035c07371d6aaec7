"""Waiting, in tests, for something another task, thread or server does: poll a condition
with a deadline, never sleep a guessed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import anyio  # unasync: remove
import pytest

T = TypeVar("T")

# Only a bound on a test that would otherwise hang: a loaded machine may take its time.
TIMEOUT = 10.0
POLL_INTERVAL = 0.005


async def wait_until(condition: Callable[[], T], timeout: float = TIMEOUT) -> T:
    """Poll `condition()` until it returns a true value, and return that value; fail the
    test if `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"Still not true after {timeout} s: {condition!r}")
        await anyio.sleep(POLL_INTERVAL)  # unasync: sync=time.sleep(POLL_INTERVAL)
    return value
