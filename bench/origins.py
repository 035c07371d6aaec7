"""Many origins, one pool: req/s and connections opened at 1, 10 and 100 origins, beside aiohttp.

    python bench/origins.py [--origins 1,10,100] [--schemes http,https] [--requests N]
                            [--concurrency C] [--repeat R] [--warmup W]
                            [--clients httpcore2,aiohttp] [--json PATH]

nginx (one worker, pinned to one CPU; this process on another) listens on as many loopback
ports as the largest origin count, in plain HTTP/1.1 and over TLS, and counts the connections it
accepts (`stub_status`, on a port of its own). C tasks send N GETs in total, each task cycling
over the origins (task i's k-th request goes to origin i + k), through one client per
measurement: `httpcore2.ConnectionPool(pool_limits=PoolLimits(C, C))` and aiohttp with
`TCPConnector(limit=C, limit_per_host=0)`. Each client first warms up untimed, then the
connections the server accepts during the timed requests are counted. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import re
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field

from clients import use_working_tree, version
from server import (
    BODY,
    CLOCK_TICKS,
    NGINX_CONF,
    STATUS_PATH,
    _nginx_temp_paths,
    cpu_split,
    fetch,
    probe,
    write_certificates,
)

Get = Callable[[str], Awaitable[tuple[int, bytes]]]
ClientFactory = Callable[[int, ssl.SSLContext], AbstractAsyncContextManager[Get]]
CLIENTS = ("httpcore2", "aiohttp")
REFERENCE = "httpcore2"
PEER = "aiohttp"
# The targets of the issue that added this benchmark (issue 18).
TARGET_VS_ONE_ORIGIN = 0.9
TARGET_CONNECTIONS = 0.02  # connections opened per timed request

NGINX_SERVERS = """\
    server {{
{plain}
        location / {{
            return 200 "Hello, world!";
        }}
    }}
    server {{
{tls}
        ssl_certificate {tmp}/server.pem;
        ssl_certificate_key {tmp}/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        location / {{
            return 200 "Hello, world!";
        }}
    }}
    server {{
        listen 127.0.0.1:{status_port};
        location = {status_path} {{
            stub_status;
        }}
    }}"""


class BadResponse(Exception):
    pass


def distinct_free_ports(count: int) -> list[int]:
    """`count` different free ports on 127.0.0.1 (held together while they are picked)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


class OriginsServer:
    """nginx on `origins` plain ports and `origins` TLS ports, with a connection count."""

    def __init__(self, origins: int, cpu: int | None) -> None:
        self.cpu = cpu
        ports = distinct_free_ports(2 * origins + 1)
        self.plain, self.tls, self.status_port = ports[:origins], ports[origins:-1], ports[-1]
        self.process: subprocess.Popen[bytes] | None = None
        self._tmp = tempfile.TemporaryDirectory(prefix="bench-origins-")
        self.ca_file = write_certificates(self._tmp.name)

    def urls(self, scheme: str, origins: int) -> list[str]:
        ports = self.plain if scheme == "http" else self.tls
        return [f"{scheme}://127.0.0.1:{port}/" for port in ports[:origins]]

    def accepted(self) -> int:
        """Connections accepted so far, this query's own included."""
        data = fetch(self.status_port, STATUS_PATH) or b""
        match = re.search(rb"\n\s*(\d+) \d+ \d+", data)
        if match is None:
            raise RuntimeError(f"no connection count at {STATUS_PATH}: {data[:200]!r}")
        return int(match.group(1))

    def cpu_seconds(self) -> float:
        assert self.process is not None
        with open(f"/proc/{self.process.pid}/stat") as file:
            fields = file.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def __enter__(self) -> OriginsServer:
        tmp = self._tmp.name

        def listen(ports: list[int], extra: str) -> str:
            return "\n".join(f"        listen 127.0.0.1:{p}{extra} backlog=4096;" for p in ports)

        servers = NGINX_SERVERS.format(
            plain=listen(self.plain, ""),
            tls=listen(self.tls, " ssl"),
            tmp=tmp,
            status_port=self.status_port,
            status_path=STATUS_PATH,
        )
        conf = os.path.join(tmp, "nginx.conf")
        with open(conf, "w") as file:
            paths = _nginx_temp_paths(tmp)
            file.write(NGINX_CONF.format(tmp=tmp, temp_paths=paths, server=servers))
        cpu = self.cpu
        self.process = subprocess.Popen(
            ["nginx", "-p", tmp, "-c", conf, "-e", "stderr"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=None if cpu is None else lambda: os.sched_setaffinity(0, {cpu}),
        )
        deadline = time.monotonic() + 10.0
        while not (probe(self.plain[-1]) and probe(self.tls[-1], self.ca_file)):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                assert self.process.stderr is not None
                error = self.process.stderr.read().decode(errors="replace")
                self.__exit__()
                raise RuntimeError(f"nginx did not start:\n{error}")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=5.0)
            assert self.process.stderr is not None
            self.process.stderr.close()
            self.process = None
        self._tmp.cleanup()


@asynccontextmanager
async def httpcore2_client(pool_size: int, context: ssl.SSLContext) -> AsyncIterator[Get]:
    import httpcore2

    limits = httpcore2.PoolLimits(max_connections=pool_size, max_keepalive_connections=pool_size)
    async with httpcore2.ConnectionPool(pool_limits=limits, ssl_context=context) as pool:

        async def get(url: str) -> tuple[int, bytes]:
            response = await pool.request("GET", url)
            return response.status, response.content

        yield get


@asynccontextmanager
async def aiohttp_client(pool_size: int, context: ssl.SSLContext) -> AsyncIterator[Get]:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=pool_size, limit_per_host=0, ssl=context)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def get(url: str) -> tuple[int, bytes]:
            async with session.get(url) as response:
                return response.status, await response.read()

        yield get


FACTORIES: dict[str, ClientFactory] = {"httpcore2": httpcore2_client, "aiohttp": aiohttp_client}


async def cycle(get: Get, urls: list[str], count: int, workers: int) -> None:
    """`workers` tasks send `count` GETs in all; task i's k-th request goes to urls[i + k]."""
    remaining = count

    async def worker(index: int) -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            status, body = await get(urls[index % len(urls)])
            index += 1
            if status != 200 or body != BODY:
                raise BadResponse(f"status {status}, body {body[:60]!r}")

    await asyncio.gather(*(worker(index) for index in range(workers)))


@dataclass
class Case:
    client: str
    scheme: str
    origins: int
    seconds: list[float] = field(default_factory=list)
    opened: list[int] = field(default_factory=list)
    server_busy: list[float] = field(default_factory=list)
    client_cpu: list[float] = field(default_factory=list)  # this process's CPU seconds
    error: str | None = None

    def rps(self, requests: int) -> float:
        return statistics.median(requests / seconds for seconds in self.seconds)


def measure(case: Case, server: OriginsServer, args: argparse.Namespace) -> None:
    context = ssl.create_default_context(cafile=server.ca_file)
    urls = server.urls(case.scheme, case.origins)

    async def main() -> None:
        async with FACTORIES[case.client](args.concurrency, context) as get:
            # Enough requests that every origin has all the connections it will use.
            await cycle(get, urls, max(args.warmup, args.concurrency), args.concurrency)
            gc.collect()
            before, cpu = server.accepted(), server.cpu_seconds()
            client_cpu = time.process_time()
            started = time.perf_counter()
            await cycle(get, urls, args.requests, args.concurrency)
            seconds = time.perf_counter() - started
            case.client_cpu.append(time.process_time() - client_cpu)
            busy = (server.cpu_seconds() - cpu) / seconds
            # Each count is read over a connection of its own, which the second includes.
            case.opened.append(server.accepted() - before - 1)
            case.seconds.append(seconds)
            case.server_busy.append(busy)

    asyncio.run(main())


def report(cases: list[Case], args: argparse.Namespace) -> str:
    lines = []
    for scheme in args.schemes:
        rows = [case for case in cases if case.scheme == scheme]
        lines += [
            "",
            f"{scheme}: {args.requests:,} GETs, {args.concurrency} tasks cycling over the "
            f"origins, pool of {args.concurrency} (median of {args.repeat} rounds)",
            "",
            "| origins | client | req/s | spread | ÷ own 1 origin | ÷ aiohttp "
            "| client CPU µs/req | connections opened | per request | server CPU |",
            "|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|",
        ]
        by_key = {(case.client, case.origins): case for case in rows}
        for case in rows:
            if case.error is not None or not case.seconds:
                lines.append(f"| {case.origins} | {case.client} | FAILED: {case.error} |")
                continue
            rps = case.rps(args.requests)
            rates = [args.requests / seconds for seconds in case.seconds]
            one = by_key.get((case.client, min(args.origins)))
            peer = by_key.get((PEER, case.origins))
            vs_one = rps / one.rps(args.requests) if one and one.seconds else None
            vs_peer = rps / peer.rps(args.requests) if peer and peer.seconds else None
            opened = statistics.median(case.opened)
            lines.append(
                f"| {case.origins} | {case.client} | {rps:,.0f} "
                f"| ±{(max(rates) - min(rates)) / rps * 50:.1f}% "
                f"| {_fmt(vs_one)} | {_fmt(vs_peer)} "
                f"| {statistics.median(case.client_cpu) / args.requests * 1e6:.0f} "
                f"| {opened:,.0f} "
                f"| {opened / args.requests:.2%} "
                f"| {statistics.median(case.server_busy):.0%} |"
            )
        lines += ["", *_verdicts(by_key, args)]
    return "\n".join(lines)


def _verdicts(by_key: dict[tuple[str, int], Case], args: argparse.Namespace) -> list[str]:
    one = by_key.get((REFERENCE, min(args.origins)))
    verdicts = []
    for origins in args.origins:
        case = by_key.get((REFERENCE, origins))
        if origins == min(args.origins) or case is None or not case.seconds or one is None:
            continue
        rps = case.rps(args.requests)
        peer = by_key.get((PEER, origins))
        checks = [f"{rps / one.rps(args.requests):.2f}x own 1-origin (>= {TARGET_VS_ONE_ORIGIN})"]
        met = rps / one.rps(args.requests) >= TARGET_VS_ONE_ORIGIN
        if peer is not None and peer.seconds:
            ratio = rps / peer.rps(args.requests)
            checks.append(f"{ratio:.2f}x aiohttp (>= 1)")
            met = met and ratio >= 1.0
        share = statistics.median(case.opened) / args.requests
        checks.append(f"{share:.2%} connections per request (<= {TARGET_CONNECTIONS:.0%})")
        met = met and share <= TARGET_CONNECTIONS
        verdicts.append(
            f"{REFERENCE} at {origins} origins: {', '.join(checks)}: {'met' if met else 'NOT met'}."
        )
    return verdicts


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}x"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--origins", default="1,10,100", help="comma-separated origin counts")
    parser.add_argument("--schemes", default="http,https", help="http, https or both")
    parser.add_argument("--requests", type=int, default=10_000, help="timed requests per case")
    parser.add_argument("--concurrency", type=int, default=100, help="tasks, and pool size")
    parser.add_argument("--repeat", type=int, default=3, help="rounds, clients interleaved")
    parser.add_argument("--warmup", type=int, default=2_000, help="untimed requests first")
    parser.add_argument("--clients", default=",".join(CLIENTS), help="httpcore2, aiohttp")
    parser.add_argument("--json", help="write every round's numbers here")
    args = parser.parse_args()
    args.origins = sorted(int(value) for value in args.origins.split(","))
    args.schemes = args.schemes.split(",")
    args.clients = args.clients.split(",")
    if shutil.which("nginx") is None:
        sys.exit("origins.py needs nginx on PATH (apt-get install nginx-light)")
    use_working_tree()
    import httpcore2

    server_cpu, client_cpu = cpu_split()
    if client_cpu is not None:
        os.sched_setaffinity(0, {client_cpu})
    cases = [
        Case(client, scheme, origins)
        for scheme in args.schemes
        for origins in args.origins
        for client in args.clients
    ]
    print(
        f"httpcore2 {httpcore2.__version__} from {httpcore2.__file__}; aiohttp "
        f"{version('aiohttp')}; Python {sys.version.split()[0]}; load {os.getloadavg()[0]:.2f}",
        file=sys.stderr,
    )
    with OriginsServer(max(args.origins), server_cpu) as server:
        for round_ in range(args.repeat):
            shift = round_ % len(cases)
            for case in cases[shift:] + cases[:shift]:
                if case.error is not None:
                    continue
                try:
                    measure(case, server, args)
                except Exception as exc:
                    case.error = f"{type(exc).__name__}: {exc}"
                    print(f"  {case}: FAILED {case.error}", file=sys.stderr)
                    continue
                print(
                    f"  round {round_ + 1}/{args.repeat} {case.scheme} {case.origins:>3} origins "
                    f"{case.client}: {args.requests / case.seconds[-1]:,.0f} req/s, "
                    f"{case.opened[-1]} connections opened",
                    file=sys.stderr,
                    flush=True,
                )
    print(report(cases, args))
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")
    if args.json:
        with open(args.json, "w") as file:
            json.dump([case.__dict__ for case in cases], file, indent=1)
    if any(case.error for case in cases):
        sys.exit(1)


if __name__ == "__main__":
    main()
