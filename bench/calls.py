"""Function calls per request: a count, which does not move with the machine's load.

    python bench/calls.py [--path pool|client] [--world sync|asyncio|trio] [--requests N] [--top K]

Sends GETs to a raw-socket server in a thread (it answers every request head with one small
response) and counts, with `sys.setprofile` on the calling thread only, the Python functions
and the C functions called per request after a warm-up, one request at a time. On asyncio and
trio the event loop's own calls are counted too: they are part of what a request costs there.
`--top` lists the functions called most.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import socket
import sys
import threading
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import Any

from clients import use_working_tree

RESPONSE = (
    b"HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Sun, 06 Dec 2026 10:00:00 GMT\r\n"
    b"Content-Type: text/plain\r\nContent-Length: 13\r\nConnection: keep-alive\r\n\r\n"
    b"Hello, world!"
)
WARMUP = 50


def serve(listener: socket.socket) -> None:
    """Answer every request head on every connection, each in a thread of its own."""
    while True:
        connection, _ = listener.accept()
        threading.Thread(target=answer, args=(connection,), daemon=True).start()


def answer(connection: socket.socket) -> None:
    received = b""
    while data := connection.recv(65536):
        received += data
        while b"\r\n\r\n" in received:
            _, _, received = received.partition(b"\r\n\r\n")
            connection.sendall(RESPONSE)


class Counter:
    """Python and C calls seen by a profile hook, by function."""

    def __init__(self) -> None:
        self.python: collections.Counter[str] = collections.Counter()
        self.c: collections.Counter[str] = collections.Counter()

    def __call__(self, frame: FrameType, event: str, arg: Any) -> None:
        if event == "call":
            code = frame.f_code
            name = code.co_filename.rsplit("/", 2)
            self.python[f"{'/'.join(name[-2:])}:{code.co_firstlineno} {code.co_name}"] += 1
        elif event == "c_call":
            self.c[getattr(arg, "__qualname__", repr(arg))] += 1


def count_sync(get: Callable[[], Any], requests: int, counter: Counter) -> None:
    for _ in range(WARMUP):
        get()
    sys.setprofile(counter)
    try:
        for _ in range(requests):
            get()
    finally:
        sys.setprofile(None)


async def count_async(get: Callable[[], Awaitable[Any]], requests: int, counter: Counter) -> None:
    for _ in range(WARMUP):
        await get()
    sys.setprofile(counter)
    try:
        for _ in range(requests):
            await get()
    finally:
        sys.setprofile(None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--path", choices=("pool", "client"), default="client")
    parser.add_argument("--world", choices=("sync", "asyncio", "trio"), default="sync")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--top", type=int, default=0)
    options = parser.parse_args()
    use_working_tree()
    import httpcore2

    listener = socket.create_server(("127.0.0.1", 0))
    threading.Thread(target=serve, args=(listener,), daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/"
    counter = Counter()
    if options.world == "sync":
        if options.path == "pool":
            with httpcore2.SyncConnectionPool() as pool:
                count_sync(lambda: pool.request("GET", url), options.requests, counter)
        else:
            with httpcore2.SyncClient() as client:
                count_sync(lambda: client.get(url), options.requests, counter)
    else:

        async def run() -> None:
            if options.path == "pool":
                async with httpcore2.ConnectionPool() as pool:
                    await count_async(lambda: pool.request("GET", url), options.requests, counter)
            else:
                async with httpcore2.Client() as client:
                    await count_async(lambda: client.get(url), options.requests, counter)

        if options.world == "asyncio":
            asyncio.run(run())
        else:
            import trio

            trio.run(run)
    per = options.requests
    print(
        f"{options.world} {options.path}: {sum(counter.python.values()) / per:.1f} Python calls, "
        f"{sum(counter.c.values()) / per:.1f} C calls per request"
    )
    for name, calls in (counter.python + counter.c).most_common(options.top):
        print(f"{calls / per:6.1f}  {name}")


if __name__ == "__main__":
    main()
