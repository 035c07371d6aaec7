"""The soak run: many requests at high concurrency through the full client, a share of them
cancelled at random points and a share stalled into a read timeout, then a check that nothing
leaked (file descriptors) and that the pool has no slot left in use.

`scripts/soak` runs it at full size (20,000 requests at 500 tasks); `tests/test_soak.py` runs
a small version. Each request follows a plan drawn from a seeded random generator:

- `ok`: GET `/` or `/stream/N`, body read to its end and its length checked;
- `cancel`: async, the request runs under a random deadline (0.1 ms to 1 s), so the
  cancellation lands while queued for a connection, connecting, sending, waiting for the head
  or reading the body (or not at all: the request completes); sync (a thread cannot be
  cancelled), the body is abandoned after a random number of chunks;
- `stall`: the server stalls before the head (`/delay/5`) or mid-body (`/slow_body`), and a
  read timeout (0.3 s) cuts the request: `ReadTimeout` is the expected error.

Any other error is counted as unexpected. The server (the test app on hypercorn, HTTP/1.1 and
h2c) runs in a subprocess, `serve()`, so that every file descriptor of this process is the
client's: a server in-process keeps sockets of closed connections for a while.
"""

from __future__ import annotations

import collections
import gc
import random
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import sniffio

import httpcore2
from tests.servers.fds import client_fd_count

__all__ = ["Report", "run_async", "run_sync", "serve"]

STALL_TIMEOUT = 0.3
# Generous: with hundreds of tasks on a few connections a request may queue a while.
TIMEOUT = httpcore2.Timeout(30.0)
EXPECTED_ERRORS = frozenset({"ReadTimeout"})


@contextmanager
def serve() -> Iterator[tuple[str, int]]:
    """Run the test app in a subprocess on loopback; yield its base URL and port."""
    root = Path(__file__).resolve().parent.parent
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.soak"],
        cwd=root,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # hypercorn logs every connection the client drops
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url:
            raise RuntimeError(f"the soak server did not start (exit status {process.wait()})")
        yield url, int(url.rsplit(":", 1)[1])
    finally:
        process.kill()
        process.wait()
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                pipe.close()


def _serve_until_stdin_closes() -> None:
    from tests.servers.asgi_server import Server

    with Server() as server:
        print(server.url, flush=True)
        sys.stdin.read()


@dataclass
class Plan:
    kind: str  # "ok", "cancel" or "stall"
    path: str
    size: int  # the body length for "ok"
    cut: float  # the deadline (async) or the chunks to read (sync) for "cancel"


def plans(count: int, seed: int, cancel_share: float, stall_share: float) -> Iterator[Plan]:
    rng = random.Random(seed)
    for _ in range(count):
        draw = rng.random()
        size = rng.choice([0, 13, 1000, 20_000, 100_000])
        chunked = rng.choice("01")
        if draw < cancel_share:
            path = rng.choice([f"/stream/{size}?chunk_size=4096", "/delay/0.01", "/"])
            # Log-uniform from 0.1 ms to 1 s: at any concurrency some cancellations land while
            # queued for a connection, others while connecting, writing or reading.
            yield Plan("cancel", path, 0, 10 ** rng.uniform(-4, 0))
        elif draw < cancel_share + stall_share:
            path = rng.choice(["/delay/5", "/slow_body?delay=5"])
            yield Plan("stall", path, 0, 0)
        elif size == 13:
            yield Plan("ok", "/", 13, 0)
        else:
            yield Plan("ok", f"/stream/{size}?chunked={chunked}", size, 0)


@dataclass
class Report:
    """What a soak run did and what it left behind."""

    name: str
    requests: int
    ok: int = 0
    cancelled: int = 0
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    examples: dict[str, str] = field(default_factory=dict)  # the first message per error type
    fds_before: int = 0
    fds_after: int = 0
    peak_rss_mib: float = 0.0
    pool: httpcore2.PoolState | None = None  # the pool's state at the end
    seconds: float = 0.0

    def record(self, exc: httpcore2.HTTPError) -> None:
        name = type(exc).__name__
        self.errors[name] += 1
        self.examples.setdefault(name, f"{exc} ({exc.request.method} {exc.request.url.path})")

    @property
    def unexpected(self) -> dict[str, int]:
        return {name: n for name, n in self.errors.items() if name not in EXPECTED_ERRORS}

    @property
    def slots_in_use(self) -> int:
        """Connections in use, requests in flight and requests waiting, at the end."""
        assert self.pool is not None, "the run did not finish"
        in_flight = sum(connection.in_flight for connection in self.pool.connections)
        return self.pool.in_use + in_flight + self.pool.waiting

    def pool_summary(self) -> str:
        if self.pool is None:
            return "not read"
        kinds = collections.Counter(
            f"{connection.state} {connection.http_version}" for connection in self.pool.connections
        )
        connections = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items())) or "none"
        served = sum(connection.requests for connection in self.pool.connections)
        return (
            f"{self.pool.in_use} in use, {self.pool.waiting} waiting; connections: {connections}"
            f" (having carried {served} requests)"
        )

    @property
    def clean(self) -> bool:
        accounted = self.ok + self.cancelled + sum(self.errors.values()) == self.requests
        return (
            accounted
            and not self.unexpected
            and self.fds_after <= self.fds_before
            and self.slots_in_use == 0
        )

    def __str__(self) -> str:
        errors = ", ".join(f"{name} {n}" for name, n in sorted(self.errors.items())) or "none"
        lines = [
            f"{self.name}: {self.requests} requests in {self.seconds:.1f} s "
            f"({self.requests / max(self.seconds, 1e-9):.0f}/s)",
            f"  completed {self.ok}, cancelled {self.cancelled}, errors: {errors}",
            f"  unexpected errors: {self.unexpected or 'none'}",
            *(f"    first {name}: {self.examples[name]}" for name in self.unexpected),
            f"  file descriptors: {self.fds_before} before, {self.fds_after} after",
            f"  peak RSS: {self.peak_rss_mib:.0f} MiB",
            f"  pool at the end: {self.pool_summary()}",
            "  verdict: " + ("clean" if self.clean else "NOT CLEAN"),
        ]
        return "\n".join(lines)


# Closing is not always synchronous (asyncio closes a transport's socket on a later loop
# iteration): the count after a run is polled until it is back or this deadline passes.
FD_SETTLE_TIMEOUT = 5.0


def _fds(port: int) -> int:
    gc.collect()  # sockets already dropped, but not yet collected, are not leaks
    return client_fd_count(port)


async def _fds_settled_async(port: int, before: int) -> int:
    deadline = time.monotonic() + FD_SETTLE_TIMEOUT
    while (count := _fds(port)) > before and time.monotonic() < deadline:
        await anyio.sleep(0.01)
    return count


def _fds_settled(port: int, before: int) -> int:
    deadline = time.monotonic() + FD_SETTLE_TIMEOUT
    while (count := _fds(port)) > before and time.monotonic() < deadline:
        time.sleep(0.01)
    return count


def _finish(
    report: Report, pool: httpcore2.ConnectionPool | httpcore2.SyncConnectionPool, started: float
) -> None:
    report.seconds = time.monotonic() - started
    report.pool = pool.state()


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _pool_options(http2: bool) -> dict[str, Any]:
    return {"http1": not http2, "http2": http2}


async def run_async(
    base_url: str,
    port: int,
    *,
    http2: bool,
    requests: int,
    concurrency: int,
    seed: int = 0,
    cancel_share: float = 0.1,
    stall_share: float = 0.1,
) -> Report:
    """Soak an async `Client` on the running event loop (asyncio or trio)."""
    library = sniffio.current_async_library()
    report = Report(f"{library} tasks, {'HTTP/2' if http2 else 'HTTP/1.1'}", requests)
    todo = plans(requests, seed, cancel_share, stall_share)
    report.fds_before = _fds(port)
    started = time.monotonic()
    pool = httpcore2.ConnectionPool(**_pool_options(http2))
    async with httpcore2.Client(base_url=base_url, transport=pool, timeout=TIMEOUT) as client:

        async def one(plan: Plan) -> None:
            if plan.kind == "cancel":
                with anyio.move_on_after(plan.cut) as scope:
                    async with client.stream("GET", plan.path) as response:
                        await response.aread()
                if scope.cancelled_caught:
                    report.cancelled += 1
                    return
            elif plan.kind == "stall":
                await client.get(plan.path, timeout=httpcore2.Timeout(30.0, read=STALL_TIMEOUT))
            else:
                response = await client.get(plan.path)
                assert len(response.content) == plan.size, (plan, len(response.content))
            report.ok += 1

        async def guarded(plan: Plan) -> None:
            try:
                await one(plan)
            except httpcore2.HTTPError as exc:
                report.record(exc)

        async def worker() -> None:
            for plan in todo:
                await guarded(plan)

        async with anyio.create_task_group() as group:
            for _ in range(concurrency):
                group.start_soon(worker)
        _finish(report, pool, started)
    report.fds_after = await _fds_settled_async(port, report.fds_before)
    report.peak_rss_mib = _peak_rss_mib()
    return report


def run_sync(
    base_url: str,
    port: int,
    *,
    http2: bool,
    requests: int,
    threads: int,
    seed: int = 0,
    cancel_share: float = 0.1,
    stall_share: float = 0.1,
) -> Report:
    """Soak a `SyncClient` from `threads` threads."""
    report = Report(f"sync threads, {'HTTP/2' if http2 else 'HTTP/1.1'}", requests)
    todo = plans(requests, seed, cancel_share, stall_share)
    lock = threading.Lock()
    report.fds_before = _fds(port)
    started = time.monotonic()
    pool = httpcore2.SyncConnectionPool(**_pool_options(http2))
    with httpcore2.SyncClient(base_url=base_url, transport=pool, timeout=TIMEOUT) as client:

        def one(plan: Plan) -> str:
            if plan.kind == "cancel":
                # A thread cannot be cancelled: abandon the body part-way instead.
                with client.stream("GET", plan.path) as response:
                    for index, _ in enumerate(response.iter_raw(4096)):
                        if index >= int(plan.cut * 10):
                            return "cancelled"
                return "ok"
            if plan.kind == "stall":
                client.get(plan.path, timeout=httpcore2.Timeout(30.0, read=STALL_TIMEOUT))
            else:
                response = client.get(plan.path)
                assert len(response.content) == plan.size, (plan, len(response.content))
            return "ok"

        def worker() -> None:
            while True:
                with lock:
                    plan = next(todo, None)
                if plan is None:
                    return
                try:
                    outcome = one(plan)
                except httpcore2.HTTPError as exc:
                    with lock:
                        report.record(exc)
                    continue
                with lock:
                    if outcome == "ok":
                        report.ok += 1
                    else:
                        report.cancelled += 1

        with ThreadPoolExecutor(threads) as executor:
            for future in [executor.submit(worker) for _ in range(threads)]:
                future.result()
        _finish(report, pool, started)
    report.fds_after = _fds_settled(port, report.fds_before)
    report.peak_rss_mib = _peak_rss_mib()
    return report


if __name__ == "__main__":
    _serve_until_stdin_closes()
