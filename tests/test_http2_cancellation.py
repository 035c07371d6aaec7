"""Cancelling tasks on one HTTP/2 connection, on asyncio and trio: whatever task is cancelled,
and whenever, the other streams go on, and none waits forever.

No read timeout anywhere here: a stream left waiting with nobody reading would wait forever,
so each test is bounded by `anyio.fail_after` instead.
"""

from __future__ import annotations

import asyncio
import contextvars
import random
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest

import httpcore2
from httpcore2._async import http2
from tests._async.waiting import wait_until
from tests.servers.app import HELLO, pattern_bytes
from tests.servers.h2 import (
    H2Request,
    H2Server,
    H2ServerConnection,
    Script,
    hold_until_reset,
    slow_body,
)

pytestmark = pytest.mark.anyio

NO_READ_TIMEOUT = {"timeout": {"connect": 5.0, "read": None, "write": 5.0, "pool": 5.0}}
BODY_SIZE = 32 * 1024


def h2c_pool() -> httpcore2.ConnectionPool:
    return httpcore2.ConnectionPool(http1=False, http2=True)


class Tasks:
    """Tasks that a test cancels from outside at any moment: with `Task.cancel()` on asyncio
    (a bare cancellation, as `asyncio.timeout()` and `asyncio.TaskGroup` deliver it; anyio's
    cancel scopes wait until a woken task has run), with a cancel scope on trio.

    `start(body)` runs `body(cancel)` and returns `cancel`; `wait()` waits for them all.
    """

    def __init__(self, backend: str, group: anyio.abc.TaskGroup) -> None:
        self.backend = backend
        self.group = group
        self.cancelled: set[Callable[[], object]] = set()
        self._asyncio_tasks: list[asyncio.Task[None]] = []

    def start(
        self, body: Callable[[Callable[[], object]], Awaitable[None]]
    ) -> Callable[[], object]:
        if self.backend == "asyncio":
            holder: list[Callable[[], object]] = []

            async def run() -> None:
                await body(holder[0])

            task = asyncio.get_running_loop().create_task(run())
            holder.append(task.cancel)
            self._asyncio_tasks.append(task)
            return task.cancel
        scope = anyio.CancelScope()

        async def run_in_scope() -> None:
            with scope:
                await body(scope.cancel)

        self.group.start_soon(run_in_scope)
        return scope.cancel

    def cancel(self, cancel: Callable[[], object]) -> None:
        self.cancelled.add(cancel)
        cancel()

    async def wait(self) -> None:
        if self._asyncio_tasks:
            await asyncio.wait(self._asyncio_tasks)
            for task in self._asyncio_tasks:
                if not task.cancelled():
                    task.result()


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.case("F14", "F15")
async def test_cancelling_tasks_at_random_moments_never_strands_the_others(
    seed: int, anyio_backend: str
) -> None:
    # 40 streams read slow bodies (1 KiB every 2 ms) while 15 of the tasks are cancelled at
    # random moments: waiting for the head, reading, writing for all, or just handed the
    # reading. (On trio this used to fail the whole connection whenever the cancelled task
    # was writing; the hand-off is pinned down by the next test.)
    rng = random.Random(seed)
    expected = pattern_bytes(BODY_SIZE)
    bodies: dict[int, bytes] = {}
    with H2Server(slow_body(BODY_SIZE, chunk=1024, delay=0.002)) as server:
        async with h2c_pool() as pool:
            with anyio.fail_after(30):
                async with anyio.create_task_group() as group:
                    tasks = Tasks(anyio_backend, group)

                    def one(index: int) -> Callable[[Callable[[], object]], Awaitable[None]]:
                        async def body(cancel: Callable[[], object]) -> None:
                            async with pool.stream(
                                "GET", server.url + f"/{index}", extensions=dict(NO_READ_TIMEOUT)
                            ) as response:
                                bodies[index] = await response.aread()

                        return body

                    cancels = [tasks.start(one(index)) for index in range(40)]
                    for index in rng.sample(range(40), 15):
                        await anyio.sleep(rng.uniform(0.0, 0.01))
                        tasks.cancel(cancels[index])
                    await tasks.wait()
            survivors = [i for i, cancel in enumerate(cancels) if cancel not in tasks.cancelled]
            assert len(survivors) == 25
            assert all(bodies[index] == expected for index in survivors)
            # The connection survived every cancellation.
            response = await pool.request("GET", server.url + "/after")
            assert response.content == expected
    # One connection carried every request (a task cancelled while it opened the connection
    # may have left an unused one behind).
    assert [conn for conn in server.connections if conn.requests] == server.connections[-1:]


# How to cancel the task running in the current context.
_CANCEL: contextvars.ContextVar[Callable[[], object]] = contextvars.ContextVar("cancel")


@pytest.mark.case("F14", "F15")
async def test_a_task_cancelled_just_after_it_was_handed_the_reading_passes_it_on(
    monkeypatch: pytest.MonkeyPatch, anyio_backend: str
) -> None:
    # The reader receives the whole response to its own request, stops reading and wakes
    # the oldest waiting stream to take over; that stream's task is cancelled before it
    # runs. The last stream must still be woken to read its own response.
    by_stream: dict[int, Callable[[], object]] = {}
    cancels: dict[str, Callable[[], object]] = {}
    victims: list[int] = []
    wait = http2.HTTP2Connection._wait
    stop_reading = http2.HTTP2Connection._stop_reading

    async def recording_wait(self: http2.HTTP2Connection, stream: Any, *args: Any) -> None:
        by_stream.setdefault(stream.id, _CANCEL.get())
        await wait(self, stream, *args)

    def cancelling_stop_reading(self: http2.HTTP2Connection) -> None:
        waiting = set(self._waiters)
        stop_reading(self)
        first = next((id for id, cancel in by_stream.items() if cancel == cancels["first"]), 0)
        if victims or first not in self._streams or not self._streams[first].ended:
            return
        for stream_id in waiting - set(self._waiters):
            victims.append(stream_id)
            by_stream[stream_id]()

    monkeypatch.setattr(http2.HTTP2Connection, "_wait", recording_wait)
    monkeypatch.setattr(http2.HTTP2Connection, "_stop_reading", cancelling_stop_reading)

    def on_request(conn: H2ServerConnection, request: H2Request) -> None:
        # Once all three are in: /first at once, the others a little later, so that the
        # reader's read carries its own response only.
        if len(conn.requests) == 3:
            conn.respond(conn.stream_id(b"/first"))
            for path in (b"/victim", b"/last"):
                conn.call_later(0.05, lambda path=path: conn.respond(conn.stream_id(path)))

    bodies: dict[str, bytes] = {}
    with H2Server(Script(on_request)) as server:
        async with h2c_pool() as pool:
            with anyio.fail_after(10):
                async with anyio.create_task_group() as group:
                    tasks = Tasks(anyio_backend, group)

                    def one(name: str) -> Callable[[Callable[[], object]], Awaitable[None]]:
                        async def body(cancel: Callable[[], object]) -> None:
                            _CANCEL.set(cancel)
                            response = await pool.request(
                                "GET", server.url + "/" + name, extensions=dict(NO_READ_TIMEOUT)
                            )
                            bodies[name] = response.content

                        return body

                    # Each starts once the server has the one before: the first request's
                    # task is the one reading, the others wait in this order.
                    for count, name in enumerate(["first", "victim", "last"], 1):
                        cancels[name] = tasks.start(one(name))
                        await wait_until(
                            lambda count=count: (
                                bool(server.connections)
                                and len(server.connections[0].requests) == count
                            )
                        )
                    await tasks.wait()
    assert [by_stream[stream_id] for stream_id in victims] == [cancels["victim"]]
    assert bodies == {"first": HELLO, "last": HELLO}


class GatedStream(httpcore2.NetworkStream):
    """A network stream whose next write, once armed, sends half of its bytes, then waits
    for `gate` before the rest: a cancellation there leaves half a frame on the wire."""

    def __init__(self, stream: httpcore2.NetworkStream) -> None:
        self.stream = stream
        self.armed = False
        self.in_write = anyio.Event()
        self.gate = anyio.Event()

    async def write(self, data: bytes, timeout: float | None = None) -> None:
        if not self.armed:
            return await self.stream.write(data, timeout)
        self.armed = False
        half = len(data) // 2
        await self.stream.write(data[:half], timeout)
        self.in_write.set()
        await self.gate.wait()
        await self.stream.write(data[half:], timeout)

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self.stream.read(max_bytes, timeout)

    async def aclose(self) -> None:
        await self.stream.aclose()

    def get_extra_info(self, info: str) -> Any:
        return self.stream.get_extra_info(info)

    def is_readable(self) -> bool:
        return self.stream.is_readable()


class GatedBackend(httpcore2.AutoBackend):
    def __init__(self) -> None:
        super().__init__()
        self.streams: list[GatedStream] = []

    async def connect_tcp(self, *args: Any, **kwargs: Any) -> httpcore2.NetworkStream:
        stream = GatedStream(await super().connect_tcp(*args, **kwargs))
        self.streams.append(stream)
        return stream


@pytest.mark.case("F14", "F15")
async def test_a_writer_cancelled_mid_write_takes_no_other_stream_down() -> None:
    # /hold waits for its answer; /victim's task writes its request, is cancelled half-way
    # through the write. The write is finished all the same: /hold is answered on the same
    # connection (the server answers it once /victim is reset), and nothing is retried.
    # (A POST, so that a failure could not hide behind the retry of an idempotent request.)
    backend = GatedBackend()
    bodies: dict[str, bytes] = {}
    with H2Server(hold_until_reset(b"/victim")) as server:
        async with (
            httpcore2.ConnectionPool(http1=False, http2=True, network_backend=backend) as pool,
            anyio.create_task_group() as tasks,
        ):

            async def hold() -> None:
                response = await pool.request("POST", server.url + "/hold", content=b"x")
                bodies["hold"] = response.content

            scope = anyio.CancelScope()

            async def victim() -> None:
                with scope:
                    await pool.request("GET", server.url + "/victim")

            with anyio.fail_after(10):
                tasks.start_soon(hold)
                await wait_until(
                    lambda: bool(server.connections) and len(server.connections[0].requests) == 1
                )
                (stream,) = backend.streams
                stream.armed = True
                tasks.start_soon(victim)
                await stream.in_write.wait()
                scope.cancel()
                await anyio.sleep(0)
                stream.gate.set()
                # The reset of /victim goes out with the connection's next write.
                await wait_until(lambda: scope.cancelled_caught)
                bodies["after"] = (await pool.request("GET", server.url + "/after")).content
    assert bodies == {"hold": HELLO, "after": HELLO}
    assert len(server.connections) == 1
