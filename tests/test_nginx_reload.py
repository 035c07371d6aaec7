"""Requests in flight while nginx reloads, as it does on every deploy.

nginx runs with a master process and `keepalive_requests` set low, so that its worker closes
connections (HTTP/1.1) or sends GOAWAY (HTTP/2) every few requests. A thread sends the master
SIGHUP (`nginx -s reload`) every RELOAD_INTERVAL seconds: each time a new worker takes the
listeners and the old one finishes what it has started, then closes its connections. Meanwhile
CONCURRENCY asyncio tasks, trio tasks or threads share one pool and send GETS idempotent GETs,
then POSTS POSTs with a body, over HTTP/1.1 and over HTTP/2 (TLS, ALPN).

Not one GET may fail: a request the server closed or refused before answering it is sent again.
A POST is not idempotent, so the pool does not retry one that may have reached the server; those
failures are counted and printed (run with `-s` to see them), not asserted away.

HTTP/2 over TLS reconnects at every reload and every KEEPALIVE_REQUESTS requests, so that 2,000
GETs take 10 to 30 s per world there: the suite sends a quarter of the GETs and half the POSTs
over HTTP/2, and all of them with RELOAD_FULL=1 in the environment. A client fast enough to
send them all before MIN_RELOADS reloads sends them again, round after round, so that every
run spans that many reloads:

    RELOAD_FULL=1 .venv/bin/python -m pytest tests/test_nginx_reload.py -s -p no:cacheprovider
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import anyio
import pytest

import httpcore2
from tests.servers.certs import TLSFiles
from tests.servers.peers import Nginx

GETS = 2000
POSTS = 200
FULL = os.environ.get("RELOAD_FULL") == "1"
CONCURRENCY = 50
KEEPALIVE_REQUESTS = 5
RELOAD_INTERVAL = 0.05
MIN_RELOADS = 10
BODY = b"reloaded\n" * 100
UPLOAD = b"x" * 4096
# A refused request is sent again while its pool timeout allows; with 50 requests waiting for
# connections that each serve 5, a slow machine can spend the default 5 s. Latency is not
# what is tested here.
POOL_TIMEOUT = 60.0
EXTENSIONS = {"timeout": {"pool": POOL_TIMEOUT}}
TIME_LIMIT = 120.0  # a hang fails the test instead of the run

Outcome = httpcore2.Response | Exception


@pytest.fixture(scope="module")
def nginx(tmp_path_factory: pytest.TempPathFactory, tls_files: TLSFiles) -> Iterator[Nginx]:
    with Nginx(
        tmp_path_factory.mktemp("nginx"),
        tls_files,
        master_process=True,
        keepalive_requests=KEEPALIVE_REQUESTS,
    ) as server:
        (server.docroot / "file.txt").write_bytes(BODY)
        yield server


class Reloader:
    """Reload `nginx` every RELOAD_INTERVAL seconds from a thread, inside a `with` block."""

    def __init__(self, nginx: Nginx) -> None:
        self.nginx = nginx
        self.count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(RELOAD_INTERVAL):
            self.nginx.reload()
            self.count += 1

    def __enter__(self) -> Reloader:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()


def attempt(pool: httpcore2.SyncConnectionPool, method: str, url: str) -> Outcome:
    content = UPLOAD if method == "POST" else None
    try:
        return pool.request(method, url, content=content, extensions=EXTENSIONS)
    except Exception as exc:  # every failure is counted, whatever its type
        return exc


async def attempt_async(pool: httpcore2.ConnectionPool, method: str, url: str) -> Outcome:
    content = UPLOAD if method == "POST" else None
    try:
        return await pool.request(method, url, content=content, extensions=EXTENSIONS)
    except Exception as exc:  # every failure is counted, whatever its type
        return exc


def run_async(
    backend: str, url: str, options: dict[str, Any], gets: int, posts: int
) -> tuple[list[Outcome], list[Outcome]]:
    async def send_all(pool: httpcore2.ConnectionPool, method: str, count: int) -> list[Outcome]:
        outcomes: list[Outcome] = []

        async def worker(share: range) -> None:
            outcomes.extend([await attempt_async(pool, method, url) for _ in share])

        async with anyio.create_task_group() as group:
            for start in range(CONCURRENCY):
                group.start_soon(worker, range(start, count, CONCURRENCY))
        return outcomes

    async def main() -> tuple[list[Outcome], list[Outcome]]:
        with anyio.fail_after(TIME_LIMIT):
            async with httpcore2.ConnectionPool(**options) as pool:
                return await send_all(pool, "GET", gets), await send_all(pool, "POST", posts)

    return anyio.run(main, backend=backend)


def run_sync(
    url: str, options: dict[str, Any], gets: int, posts: int
) -> tuple[list[Outcome], list[Outcome]]:
    with httpcore2.SyncConnectionPool(**options) as pool:

        def send_all(method: str, count: int) -> list[Outcome]:
            with ThreadPoolExecutor(CONCURRENCY) as executor:
                send = executor.map(
                    lambda _: attempt(pool, method, url), range(count), timeout=TIME_LIMIT
                )
                return list(send)

        return send_all("GET", gets), send_all("POST", posts)


def failures(outcomes: list[Outcome]) -> list[Exception]:
    return [outcome for outcome in outcomes if isinstance(outcome, Exception)]


def kinds(errors: list[Exception]) -> str:
    return ", ".join(sorted({type(error).__name__ for error in errors})) or "-"


def describe(errors: list[Exception]) -> str:
    """The first few errors, the first with its traceback."""
    if not errors:
        return "none"
    shown = "; ".join(repr(error) for error in errors[:5])
    return shown + "\n" + "".join(traceback.format_exception(errors[0]))


@dataclass
class Listener:
    name: str
    protocol: str
    http2: bool


LISTENERS = [
    pytest.param(Listener("http", "HTTP/1.1", http2=False), id="http11"),
    pytest.param(Listener("h2", "HTTP/2", http2=True), id="h2-tls"),
]


@pytest.mark.parametrize("listener", LISTENERS)
@pytest.mark.parametrize("world", ["asyncio", "trio", "sync"])
def test_no_get_fails_while_nginx_reloads(
    nginx: Nginx, tls_files: TLSFiles, world: str, listener: Listener
) -> None:
    url = nginx.url(listener.name) + "/file.txt"
    options: dict[str, Any] = (
        {"http2": True, "verify": str(tls_files.ca_file)} if listener.http2 else {}
    )
    get_count, post_count = (
        (GETS // 4, POSTS // 2) if listener.http2 and not FULL else (GETS, POSTS)
    )
    started = time.monotonic()
    gets: list[Outcome] = []
    posts: list[Outcome] = []
    rounds = 0
    with Reloader(nginx) as reloader:
        while reloader.count < MIN_RELOADS:
            if world == "sync":
                round_gets, round_posts = run_sync(url, options, get_count, post_count)
            else:
                round_gets, round_posts = run_async(world, url, options, get_count, post_count)
            gets += round_gets
            posts += round_posts
            rounds += 1
    elapsed = time.monotonic() - started

    get_errors, post_errors = failures(gets), failures(posts)
    responses = [outcome for outcome in gets if isinstance(outcome, httpcore2.Response)]
    workers = {response.headers["x-worker"] for response in responses}
    print(
        f"\n{world} {listener.protocol}: {len(gets)} GETs, {len(get_errors)} failed "
        f"({kinds(get_errors)}); {len(posts)} POSTs, {len(post_errors)} failed "
        f"({kinds(post_errors)}); "
        f"{reloader.count} reloads, {len(workers)} workers answered, {rounds} rounds, "
        f"{elapsed:.1f} s"
    )
    assert len(gets) == rounds * get_count
    assert len(posts) == rounds * post_count
    assert not get_errors, describe(get_errors)
    assert {(r.status, r.protocol, r.content) for r in responses} == {
        (200, listener.protocol, BODY)
    }
    # The reloads (at least MIN_RELOADS, see the loop) took effect while the GETs were sent.
    assert len(workers) >= 2
