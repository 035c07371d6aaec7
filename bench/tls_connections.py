"""A new TLS connection per request: connections/s with and without TLS session resumption.

    python bench/tls_connections.py [--requests N] [--repeat R] [--warmup W]
                                    [--clients a,b,...] [--json PATH]

nginx (one worker, pinned to one CPU; this process on another) serves HTTP/1.1 over TLS 1.3
(session tickets on, a session cache too) with a certificate for 127.0.0.1 from a throwaway
trustme CA. Every request asks for `Connection: close`, so each one is a TCP connect, a TLS
handshake, one GET and a close. The requests go one after another (no concurrency), through
one client per measurement that verifies the certificate against that CA. Clients take turns
within each round; the table gives medians of the rounds and ratios to pyreqwest and aiohttp
measured in the same run. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

from clients import use_working_tree, version
from server import (
    BODY,
    NGINX_CONF,
    _nginx_temp_paths,
    cpu_split,
    free_port,
    probe,
    write_certificates,
)

NGINX_SERVER = """\
    server {{
        listen 127.0.0.1:{port} ssl backlog=4096;
        ssl_certificate {tmp}/server.pem;
        ssl_certificate_key {tmp}/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_tickets on;
        ssl_session_cache shared:bench:10m;
        location / {{
            return 200 "Hello, world!";
        }}
    }}"""
HEADERS = {"Connection": "close"}

SyncGet = Callable[[], None]
AsyncGet = Callable[[], Awaitable[None]]


class TLSServer:
    """nginx over TLS on one port, in a child process pinned to `cpu`."""

    def __init__(self, cpu: int | None) -> None:
        self.cpu = cpu
        self.port = free_port()
        self._tmp = tempfile.TemporaryDirectory(prefix="bench-tls-")
        self.ca_file = write_certificates(self._tmp.name)
        self.url = f"https://127.0.0.1:{self.port}/"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> TLSServer:
        tmp = self._tmp.name
        server = NGINX_SERVER.format(port=self.port, tmp=tmp)
        conf = os.path.join(tmp, "nginx.conf")
        with open(conf, "w") as file:
            file.write(NGINX_CONF.format(tmp=tmp, temp_paths=_nginx_temp_paths(tmp), server=server))
        cpu = self.cpu
        self.process = subprocess.Popen(
            ["nginx", "-p", tmp, "-c", conf, "-e", "stderr"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=None if cpu is None else (lambda: os.sched_setaffinity(0, {cpu})),
        )
        deadline = time.monotonic() + 10.0
        while not probe(self.port, self.ca_file):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError("nginx did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=5.0)
            self.process = None
        self._tmp.cleanup()


def check(status: int, body: bytes) -> None:
    if status != 200 or body != BODY:
        raise RuntimeError(f"unexpected response: {status} {body[:100]!r}")


# Sync clients: a context manager yielding one GET of a new connection, and a check at the end.


@contextmanager
def httpcore2_sync(url: str, ca_file: str, resume: bool) -> Iterator[SyncGet]:
    import httpcore2

    with httpcore2.SyncConnectionPool(verify=ca_file) as pool:
        if not resume:
            pool._tls_sessions = None  # what every pool did before it kept sessions
        last: list[Any] = [None]

        def get() -> None:
            response = pool.request("GET", url, headers=HEADERS)
            check(response.status, response.content)
            last[0] = response

        yield get
        assert last[0].extensions["tls_session_reused"] is resume


@contextmanager
def pyreqwest_sync(url: str, ca_file: str) -> Iterator[SyncGet]:
    from pyreqwest.client import SyncClientBuilder

    with open(ca_file, "rb") as file:
        ca = file.read()
    with SyncClientBuilder().add_root_certificate_pem(ca).build() as client:

        def get() -> None:
            response = client.get(url).headers(HEADERS).build().send()
            check(response.status, bytes(response.bytes()))

        yield get


@contextmanager
def requests_sync(url: str, ca_file: str) -> Iterator[SyncGet]:
    import requests

    with requests.Session() as session:
        session.trust_env = False  # REQUESTS_CA_BUNDLE would replace `verify`
        session.verify = ca_file

        def get() -> None:
            response = session.get(url, headers=HEADERS)
            check(response.status_code, response.content)

        yield get


@contextmanager
def httpx_sync(url: str, ca_file: str) -> Iterator[SyncGet]:
    import httpx

    with httpx.Client(verify=ssl.create_default_context(cafile=ca_file)) as client:

        def get() -> None:
            response = client.get(url, headers=HEADERS)
            check(response.status_code, response.content)

        yield get


# Async clients, on asyncio.


@asynccontextmanager
async def httpcore2_async(url: str, ca_file: str, resume: bool) -> AsyncIterator[AsyncGet]:
    import httpcore2

    async with httpcore2.ConnectionPool(verify=ca_file) as pool:
        if not resume:
            pool._tls_sessions = None
        last: list[Any] = [None]

        async def get() -> None:
            response = await pool.request("GET", url, headers=HEADERS)
            check(response.status, response.content)
            last[0] = response

        yield get
        assert last[0].extensions["tls_session_reused"] is resume


@asynccontextmanager
async def pyreqwest_async(url: str, ca_file: str) -> AsyncIterator[AsyncGet]:
    from pyreqwest.client import ClientBuilder

    with open(ca_file, "rb") as file:
        ca = file.read()
    async with ClientBuilder().add_root_certificate_pem(ca).build() as client:

        async def get() -> None:
            response = await client.get(url).headers(HEADERS).build().send()
            check(response.status, bytes(await response.bytes()))

        yield get


@asynccontextmanager
async def aiohttp_async(url: str, ca_file: str) -> AsyncIterator[AsyncGet]:
    import aiohttp

    context = ssl.create_default_context(cafile=ca_file)
    connector = aiohttp.TCPConnector(ssl=context, force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def get() -> None:
            async with session.get(url, headers=HEADERS) as response:
                check(response.status, await response.read())

        yield get


@asynccontextmanager
async def httpx_async(url: str, ca_file: str) -> AsyncIterator[AsyncGet]:
    import httpx

    async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=ca_file)) as client:

        async def get() -> None:
            response = await client.get(url, headers=HEADERS)
            check(response.status_code, response.content)

        yield get


@dataclass(frozen=True)
class Client:
    name: str
    module: str
    sync: Callable[[str, str], Any] | None = None
    async_: Callable[[str, str], Any] | None = None


def _resuming(factory: Callable[..., Any], resume: bool) -> Callable[[str, str], Any]:
    return lambda url, ca_file: factory(url, ca_file, resume)


CLIENTS = [
    Client(
        "httpcore2", "httpcore2", _resuming(httpcore2_sync, True), _resuming(httpcore2_async, True)
    ),
    Client(
        "httpcore2-no-resume",
        "httpcore2",
        _resuming(httpcore2_sync, False),
        _resuming(httpcore2_async, False),
    ),
    Client("pyreqwest", "pyreqwest", pyreqwest_sync, pyreqwest_async),
    Client("httpx", "httpx", httpx_sync, httpx_async),
    Client("requests", "requests", requests_sync),
    Client("aiohttp", "aiohttp", async_=aiohttp_async),
]


def measure_sync(
    client: Client, url: str, ca_file: str, requests: int, warmup: int
) -> tuple[float, float]:
    assert client.sync is not None
    with client.sync(url, ca_file) as get:
        for _ in range(warmup):
            get()
        start, cpu = time.perf_counter(), time.process_time()
        for _ in range(requests):
            get()
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    return requests / elapsed, cpu / requests * 1e6


def measure_async(
    client: Client, url: str, ca_file: str, requests: int, warmup: int
) -> tuple[float, float]:
    assert client.async_ is not None

    async def main() -> tuple[float, float]:
        async with client.async_(url, ca_file) as get:
            for _ in range(warmup):
                await get()
            start, cpu = time.perf_counter(), time.process_time()
            for _ in range(requests):
                await get()
            elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
            return requests / elapsed, cpu / requests * 1e6

    return asyncio.run(main())


def print_table(
    mode: str, rates: dict[str, list[float]], cpus: dict[str, list[float]], repeat: int
) -> None:
    """Medians, and ratios to the peers of the same run: in connections/s (higher is
    better) and in this process's CPU time per connection (a ratio above 1: less CPU)."""
    medians = {name: statistics.median(values) for name, values in rates.items()}
    cpu = {name: statistics.median(values) for name, values in cpus.items()}
    peers = [name for name in ("pyreqwest", "aiohttp") if name in medians]
    print(f"\n{mode}: a new TLS connection per request, medians of {repeat} rounds")
    print(
        "| client | conn/s | "
        + " | ".join(f"vs {peer}" for peer in peers)
        + " | client CPU µs/conn | "
        + " | ".join(f"CPU vs {peer}" for peer in peers)
        + " |"
    )
    print("|---|--:|" + "--:|" * len(peers) + "--:|" + "--:|" * len(peers))
    for name, median in sorted(medians.items(), key=lambda item: -item[1]):
        ratios = " | ".join(f"{median / medians[peer]:.2f}x" for peer in peers)
        cpu_ratios = " | ".join(f"{cpu[peer] / cpu[name]:.2f}x" for peer in peers)
        print(f"| {name} | {median:,.0f} | {ratios} | {cpu[name]:,.0f} | {cpu_ratios} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--clients", default=",".join(client.name for client in CLIENTS))
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args()
    use_working_tree()
    wanted = args.clients.split(",")
    clients = [client for client in CLIENTS if client.name in wanted]
    server_cpu, client_cpu = cpu_split()
    if client_cpu is not None:
        os.sched_setaffinity(0, {client_cpu})
    results: dict[str, dict[str, list[float]]] = {"sync": {}, "asyncio": {}}
    cpu_results: dict[str, dict[str, list[float]]] = {"sync": {}, "asyncio": {}}
    with TLSServer(server_cpu) as server:
        print(
            f"nginx over TLS at {server.url}; Python {sys.version.split()[0]}; "
            f"load average {os.getloadavg()[0]:.2f}"
        )
        modules = dict.fromkeys(client.module for client in clients)
        print(", ".join(f"{module} {version(module)}" for module in modules))
        for round in range(args.repeat):
            for client in clients:
                for mode, factory, measure in (
                    ("sync", client.sync, measure_sync),
                    ("asyncio", client.async_, measure_async),
                ):
                    if factory is None:
                        continue
                    rate, cpu = measure(
                        client, server.url, server.ca_file, args.requests, args.warmup
                    )
                    results[mode].setdefault(client.name, []).append(rate)
                    cpu_results[mode].setdefault(client.name, []).append(cpu)
                    print(
                        f"  round {round + 1} {mode:7} {client.name:20} {rate:8.0f} conn/s"
                        f" {cpu:8.0f} µs CPU/conn",
                        flush=True,
                    )
    for mode, rates in results.items():
        if rates:
            print_table(mode, rates, cpu_results[mode], args.repeat)
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")
    if args.json:
        with open(args.json, "w") as file:
            json.dump({"conn_per_s": results, "cpu_us_per_conn": cpu_results}, file, indent=2)


if __name__ == "__main__":
    main()
