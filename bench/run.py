"""Side-by-side benchmark of httpcore2 against its peers over loopback, reported as ratios.

    python bench/run.py [--scenario sync|async|scaling|h2|all] [--requests N]
                        [--concurrency C] [--repeat R] [--json out.json] [--profile [CLIENT]]

Every client warms up before it is timed, each measurement is repeated R times with the
clients interleaved round robin, and every response is checked (status 200, body
`Hello, world!`). See bench/README.md for what each scenario measures and how to read it.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import json
import os
import platform
import pstats
import re
import shlex
import shutil
import site
import statistics
import subprocess
import sys
import sysconfig
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TypeVar

from clients import (
    BY_NAME,
    CLIENTS,
    REFERENCE,
    REPO,
    SRC,
    AsyncGet,
    Client,
    SyncGet,
    import_error,
    unavailable,
    use_working_tree,
    version,
)
from server import BODY, BenchServer, cpu_split, resolve_kind

T = TypeVar("T")
RESULTS = REPO / "bench" / "results"
BACKENDS = ("asyncio", "uvloop", "trio")
SCENARIOS = ("sync", "async", "scaling", "h2")
SCALING_LEVELS = (1, 10, 100)
DEFAULT_REQUESTS = {"sync": 5_000, "async": 10_000, "scaling": 5_000, "h2": 10_000}
PEER = "httpx"  # the second yardstick, present in every scenario
NATIVE = "h2load"  # nghttp2's load generator: the h2 scenario's ceiling, not a peer
H2_TARGET = 2.0  # httpcore2 should be at least this many times faster than httpx and niquests


class BadResponse(Exception):
    pass


class WrongConnections(Exception):
    pass


def sync_loop(get: SyncGet, count: int) -> None:
    for _ in range(count):
        status, body = get()
        if status != 200 or body != BODY:
            raise BadResponse(f"status {status}, body {body[:60]!r}")


async def async_loop(
    get: AsyncGet, count: int, workers: int, spawn: Callable[..., Awaitable[None]]
) -> None:
    """`workers` tasks pull from one shared counter until `count` requests are done."""
    remaining = count

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            status, body = await get()
            if status != 200 or body != BODY:
                raise BadResponse(f"status {status}, body {body[:60]!r}")

    await spawn(worker, workers)


async def spawn_asyncio(worker: Callable[[], Awaitable[None]], count: int) -> None:
    tasks = [asyncio.ensure_future(worker()) for _ in range(count)]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def spawn_trio(worker: Callable[[], Awaitable[None]], count: int) -> None:
    import trio

    async with trio.open_nursery() as nursery:
        for _ in range(count):
            nursery.start_soon(worker)


def run_on(backend: str, main: Callable[[], Awaitable[T]]) -> T:
    if backend == "trio":
        import trio

        return trio.run(main)
    coroutine = main()
    assert asyncio.iscoroutine(coroutine)
    if backend == "uvloop":
        import uvloop

        return uvloop.run(coroutine)
    return asyncio.run(coroutine)


class Stopwatch:
    """Times a block: wall clock, this process's CPU time (every thread) and the server's
    over it, and optionally a profile."""

    def __init__(
        self,
        server_cpu: Callable[[], float | None],
        profiler: cProfile.Profile | None = None,
    ) -> None:
        self._server_cpu = server_cpu
        self._profiler = profiler
        self._cpu: float | None = None
        self._start = 0.0
        self._start_cpu = 0.0
        self.seconds = 0.0
        self.client_cpu = 0.0
        self.server_busy: float | None = None

    def __enter__(self) -> Stopwatch:
        self._cpu = self._server_cpu()
        if self._profiler is not None:
            self._profiler.enable()
        self._start = time.perf_counter()
        self._start_cpu = time.process_time()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.seconds = time.perf_counter() - self._start
        self.client_cpu = time.process_time() - self._start_cpu
        if self._profiler is not None:
            self._profiler.disable()
        cpu = self._server_cpu()
        if cpu is not None and self._cpu is not None:
            self.server_busy = (cpu - self._cpu) / self.seconds


def time_sync(client: Client, url: str, count: int, warmup: int, watch: Stopwatch) -> Stopwatch:
    assert client.sync is not None
    with client.sync(url) as get:
        sync_loop(get, warmup)
        gc.collect()
        with watch:
            sync_loop(get, count)
    return watch


def time_async(
    open_client: Callable[[], AbstractAsyncContextManager[AsyncGet]],
    backend: str,
    count: int,
    workers: int,
    warmup: int,
    watch: Stopwatch,
) -> Stopwatch:
    spawn = spawn_trio if backend == "trio" else spawn_asyncio

    async def main() -> None:
        async with open_client() as get:
            # At least one request per worker, so every connection is open before timing.
            await async_loop(get, max(warmup, workers), workers, spawn)
            gc.collect()
            with watch:
                await async_loop(get, count, workers, spawn)

    run_on(backend, main)
    return watch


def count_connections(server: BenchServer, name: str, run: Callable[[], Stopwatch]) -> Stopwatch:
    """Run `run`, failing it unless it opened exactly one connection to the h2 server."""
    before = server.accepted_connections()
    watch = run()
    # Each count is read over a connection of its own, which the second count includes.
    opened = server.accepted_connections() - before - 1
    if opened != 1:
        raise WrongConnections(f"{name} opened {opened} connections to the server, not 1")
    return watch


def time_h2(
    client: Client,
    backend: str,
    server: BenchServer,
    count: int,
    workers: int,
    warmup: int,
    watch: Stopwatch,
) -> Stopwatch:
    factory = client.h2
    assert factory is not None
    assert server.ca_file is not None
    ca_file = server.ca_file
    return count_connections(
        server,
        client.name,
        lambda: time_async(
            lambda: factory(server.url, ca_file), backend, count, workers, warmup, watch
        ),
    )


def time_h2load(server: BenchServer, count: int, workers: int, watch: Stopwatch) -> Stopwatch:
    """h2load over one connection with `workers` streams; its own clock, not the process's."""
    command = ["h2load", "-c1", f"-m{workers}", f"-n{count}", server.url]

    def run() -> Stopwatch:
        with watch:
            output = subprocess.run(command, capture_output=True, text=True, check=False).stdout
        checks = [
            "Application protocol: h2",
            f" {count} succeeded",
            f"status codes: {count} 2xx",
            f"({count * len(BODY)}) data",  # the body bytes received
        ]
        finished = re.search(r"finished in ([\d.]+)(us|ms|s),", output)
        missing = [check for check in checks if check not in output]
        if missing or finished is None:
            raise BadResponse(f"h2load: expected {missing or 'finished in'}; it said:\n{output}")
        # server_busy stays relative to the whole h2load process (start-up and TLS included).
        watch.seconds = float(finished[1]) / {"us": 1e6, "ms": 1e3, "s": 1.0}[finished[2]]
        return watch

    return count_connections(server, NATIVE, run)


@dataclass
class Case:
    """One client in one configuration, with one timing per round."""

    client: str
    concurrency: int
    requests: int
    measure: Callable[[], Stopwatch]
    seconds: list[float] = field(default_factory=list)
    server_busy: list[float] = field(default_factory=list)
    client_cpu: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def rps(self) -> list[float]:
        return [self.requests / seconds for seconds in self.seconds]

    @property
    def median_rps(self) -> float:
        return statistics.median(self.rps) if self.seconds else float("nan")

    @property
    def median_cpu_per_request(self) -> float:
        """The client's CPU time per request (µs): a busy machine disturbs it far less
        than the wall clock."""
        return statistics.median(self.client_cpu) * 1e6 / self.requests

    @property
    def median_server_busy(self) -> float | None:
        return statistics.median(self.server_busy) if self.server_busy else None


@dataclass
class Group:
    """Cases measured together, interleaved round robin, and reported in one table."""

    scenario: str
    backend: str | None
    title: str
    cases: list[Case]

    def find(self, client: str, concurrency: int | None = None) -> Case | None:
        for case in self.cases:
            if case.client == client and concurrency in (None, case.concurrency):
                return case if case.seconds else None
        return None


def paired_ratio(numerator: Case | None, denominator: Case | None) -> float | None:
    """Median over rounds of the per-round throughput ratio.

    Pairing by round cancels drift that slows every client of a round alike.
    """
    if numerator is None or denominator is None:
        return None
    # A client that failed part-way has fewer rounds than the others.
    ratios = [a / b for a, b in zip(numerator.rps, denominator.rps, strict=False)]
    return statistics.median(ratios) if ratios else None


def run_group(group: Group, repeat: int) -> None:
    for round_ in range(repeat):
        live = [case for case in group.cases if case.error is None]
        if not live:
            return
        shift = round_ % len(live)
        for case in live[shift:] + live[:shift]:
            where = f"{group.scenario} {group.backend or ''}".strip()
            label = f"{where}: round {round_ + 1}/{repeat} {case.client}"
            if group.scenario == "scaling":
                label += f" c={case.concurrency}"
            try:
                watch = case.measure()
            except Exception as exc:
                case.error = f"{type(exc).__name__}: {exc}"
                _progress(f"{label}: FAILED {case.error}")
                traceback.print_exc(file=sys.stderr)
                continue
            case.seconds.append(watch.seconds)
            case.client_cpu.append(watch.client_cpu)
            if watch.server_busy is not None:
                case.server_busy.append(watch.server_busy)
            _progress(f"{label}: {case.requests / watch.seconds:,.0f} req/s")


def _progress(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def _fmt(value: float | None, spec: str = ".2f", suffix: str = "x") -> str:
    return "—" if value is None else f"{value:{spec}}{suffix}"


def _percent(fraction: float | None) -> float | None:
    return None if fraction is None else fraction * 100


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        padded = [
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join("-" * (w + 1) + ":" if i else "-" * (w + 2) for i, w in enumerate(widths))
    return "\n".join([line(header), rule + "|", *(line(row) for row in rows)])


def throughput_table(group: Group) -> str:
    reference = group.find(REFERENCE)
    peer = group.find(PEER)
    header = [
        "client",
        "req/s",
        "µs/req",
        "spread",
        f"client/{REFERENCE}",
        f"{REFERENCE}/client",
        f"client/{PEER}",
        "client CPU µs/req",
        "server CPU",
    ]
    rows = []
    for case in group.cases:
        if case.error is not None or not case.seconds:
            rows.append([case.client, "FAILED", *[""] * (len(header) - 2)])
            continue
        rps = case.rps
        median = case.median_rps
        rows.append(
            [
                case.client,
                f"{median:,.0f}",
                f"{1e6 / median:.1f}",
                f"±{(max(rps) - min(rps)) / median * 50:.1f}%",
                _fmt(paired_ratio(case, reference)),
                _fmt(paired_ratio(reference, case)),
                _fmt(paired_ratio(case, peer)),
                f"{case.median_cpu_per_request:.1f}",
                _fmt(_percent(case.median_server_busy), ".0f", "%"),
            ]
        )
    return _table(header, rows)


def scaling_table(group: Group) -> str:
    levels = sorted({case.concurrency for case in group.cases})
    header = ["client", *(f"µs/req c={level}" for level in levels)]
    header.append(f"cost c={levels[-1]} / c={levels[0]}")
    rows = []
    for client in dict.fromkeys(case.client for case in group.cases):
        cases = [group.find(client, level) for level in levels]
        row = [client]
        row += ["FAILED" if case is None else f"{1e6 / case.median_rps:.1f}" for case in cases]
        first, last = cases[0], cases[-1]
        growth = None if first is None or last is None else first.median_rps / last.median_rps
        row.append(_fmt(growth))
        rows.append(row)
    return _table(header, rows)


def build_groups(
    args: argparse.Namespace,
    servers: dict[str, BenchServer],
    clients: list[Client],
    scenarios: list[str],
) -> list[Group]:
    groups = []
    for scenario in scenarios:
        count = args.requests or DEFAULT_REQUESTS[scenario]
        if scenario == "h2":
            groups += _h2_groups(args, servers["h2"], clients, count)
            continue
        server = servers["http/1.1"]
        if scenario == "sync":
            cases = [
                Case(c.name, 1, count, _sync_measure(c, server, count, args.warmup))
                for c in clients
                if c.sync is not None
            ]
            title = f"sync: {count:,} sequential keep-alive GETs, one persistent client each"
            groups.append(Group("sync", None, title, cases))
        elif scenario == "async":
            for backend in args.backends:
                cases = [
                    Case(
                        c.name,
                        args.concurrency,
                        count,
                        _async_measure(c, backend, server, count, args.concurrency, args),
                    )
                    for c in clients
                    if c.async_ is not None and (backend != "trio" or c.trio)
                ]
                title = (
                    f"async on {backend}: {count:,} GETs, {args.concurrency} workers, "
                    f"pool of {args.pool_size}"
                )
                groups.append(Group("async", backend, title, cases))
        else:
            cases = [
                Case(c.name, level, count, _async_measure(c, "asyncio", server, count, level, args))
                for c in clients
                if c.async_ is not None
                for level in SCALING_LEVELS
            ]
            title = (
                f"scaling on asyncio: {count:,} GETs at concurrency "
                f"{', '.join(map(str, SCALING_LEVELS))}, pool of {args.pool_size}"
            )
            groups.append(Group("scaling", "asyncio", title, cases))
    return groups


def _h2_groups(
    args: argparse.Namespace, server: BenchServer, clients: list[Client], count: int
) -> list[Group]:
    groups = []
    for backend in args.backends:
        cases = [
            Case(c.name, args.concurrency, count, _h2_measure(c, backend, server, count, args))
            for c in clients
            if c.h2 is not None and (backend != "trio" or c.trio)
        ]
        if NATIVE in args.clients:
            cases.append(
                Case(
                    NATIVE,
                    args.concurrency,
                    count,
                    lambda: time_h2load(
                        server, count, args.concurrency, Stopwatch(server.cpu_seconds)
                    ),
                )
            )
        title = (
            f"h2 on {backend}: {count:,} GETs, {args.concurrency} tasks, "
            f"one TLS HTTP/2 connection ({NATIVE}: native, the same on every backend)"
        )
        groups.append(Group("h2", backend, title, cases))
    return groups


def _h2_measure(
    client: Client, backend: str, server: BenchServer, count: int, args: argparse.Namespace
) -> Callable[[], Stopwatch]:
    return lambda: time_h2(
        client,
        backend,
        server,
        count,
        args.concurrency,
        args.warmup,
        Stopwatch(server.cpu_seconds),
    )


def _sync_measure(
    client: Client, server: BenchServer, count: int, warmup: int
) -> Callable[[], Stopwatch]:
    return lambda: time_sync(client, server.url, count, warmup, Stopwatch(server.cpu_seconds))


def _async_measure(
    client: Client,
    backend: str,
    server: BenchServer,
    count: int,
    workers: int,
    args: argparse.Namespace,
) -> Callable[[], Stopwatch]:
    factory = client.async_
    assert factory is not None
    return lambda: time_async(
        lambda: factory(server.url, args.pool_size),
        backend,
        count,
        workers,
        args.warmup,
        Stopwatch(server.cpu_seconds),
    )


def profile(args: argparse.Namespace, server: BenchServer, client: Client) -> None:
    scenario = profiled_scenario(args)
    count = args.requests or DEFAULT_REQUESTS[scenario]
    # CPU time leaves out the waits for the server and for a core on a busy machine.
    profiler = cProfile.Profile(
        time.process_time if args.profile_clock == "cpu" else time.perf_counter
    )
    watch = Stopwatch(lambda: None, profiler)
    backend = args.backends[0]
    where = f"on {backend}, {args.concurrency} workers"
    if scenario == "sync":
        time_sync(client, server.url, count, args.warmup, watch)
        where = "sequential"
    elif scenario == "h2":
        time_h2(client, backend, server, count, args.concurrency, args.warmup, watch)
        where += ", one HTTP/2 connection"
    else:
        factory = client.async_
        assert factory is not None
        url = server.url
        time_async(
            lambda: factory(url, args.pool_size),
            backend,
            count,
            args.concurrency,
            args.warmup,
            watch,
        )
    print(
        f"## profile: {client.name} {scenario}, {count:,} GETs {where}: "
        f"{count / watch.seconds:,.0f} req/s under cProfile (not comparable with unprofiled runs)\n"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = RESULTS / f"profile-{client.name}-{scenario}-{stamp}.pstats"
    report = io.StringIO()
    stats = pstats.Stats(profiler, stream=report)
    stats.dump_stats(path)
    stats.sort_stats("tottime").print_stats(25)
    # Keep the package in each file name (h11/_connection.py), unlike strip_dirs().
    text = report.getvalue()
    roots = {*site.getsitepackages(), sysconfig.get_paths()["stdlib"], str(SRC)}
    for root in sorted(roots, key=len, reverse=True):
        text = text.replace(root + os.sep, "")
    print(text)
    print(f"pstats dump: {path.relative_to(REPO)}  (read it with: python -m pstats {path})")


def takes_part(client: Client, scenario: str) -> bool:
    factories = {"sync": client.sync, "async": client.async_, "h2": client.h2}
    return factories["async" if scenario == "scaling" else scenario] is not None


def profiled_scenario(args: argparse.Namespace) -> str:
    return args.scenario if args.scenario in ("sync", "h2") else "async"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark httpcore2 against its peers over loopback; reports ratios."
    )
    parser.add_argument("--scenario", choices=[*SCENARIOS, "all"], default="all")
    parser.add_argument(
        "--requests",
        type=int,
        default=None,
        metavar="N",
        help="timed requests per measurement "
        "(default: sync 5000, async 10000, scaling 5000, h2 10000)",
    )
    parser.add_argument(
        "--concurrency", type=int, default=100, metavar="C", help="async workers (default 100)"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, metavar="R", help="rounds per client (default 3)"
    )
    parser.add_argument(
        "--warmup", type=int, default=200, help="untimed requests first (default 200)"
    )
    parser.add_argument("--pool-size", type=int, default=100, help="async pool (default 100)")
    names = [*(c.name for c in CLIENTS), NATIVE]
    parser.add_argument(
        "--clients",
        type=lambda text: text.split(","),
        default=names,
        help="comma-separated subset of: " + ", ".join(names),
    )
    parser.add_argument(
        "--backends",
        type=lambda text: text.split(","),
        default=list(BACKENDS),
        help="comma-separated subset of: " + ", ".join(BACKENDS),
    )
    parser.add_argument("--server", choices=["auto", "nginx", "python"], default="auto")
    parser.add_argument("--json", metavar="PATH", help="write the raw numbers here")
    parser.add_argument(
        "--profile",
        nargs="?",
        const=REFERENCE,
        metavar="CLIENT",
        help=f"profile one client (default {REFERENCE}) instead of benchmarking: the async "
        "scenario on the first of --backends, or the sync or h2 one with --scenario sync or h2",
    )
    parser.add_argument(
        "--profile-clock",
        choices=["wall", "cpu"],
        default="wall",
        help="what --profile counts: wall-clock time (waits included) or this process's CPU time",
    )
    args = parser.parse_args(argv)
    for name in args.clients:
        if name not in names:
            parser.error(f"unknown client {name!r}")
    if args.profile:
        if args.profile not in BY_NAME:
            parser.error(f"cannot profile {args.profile!r}: not one of the Python clients")
        scenario = profiled_scenario(args)
        if not takes_part(BY_NAME[args.profile], scenario):
            parser.error(f"{args.profile} does not take part in the {scenario} scenario")
    for backend in args.backends:
        if backend not in BACKENDS:
            parser.error(f"unknown backend {backend!r}")
    if min(args.repeat, args.concurrency, args.pool_size) < 1 or (args.requests or 1) < 1:
        parser.error("--requests, --concurrency, --repeat and --pool-size must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    use_working_tree()
    command = shlex.join(["python", *sys.argv] if argv is None else ["python", *argv])

    skipped: dict[str, str] = {}
    clients = []
    for client in CLIENTS:
        if client.name not in args.clients and client.name != args.profile:
            continue
        reason = unavailable(client)
        if reason is None:
            clients.append(client)
        else:
            skipped[client.name] = reason
    backends = []
    for backend in args.backends:
        reason = import_error(backend) if backend != "asyncio" else None
        if reason is None:
            backends.append(backend)
        else:
            skipped[backend] = reason
    args.backends = backends

    scenarios = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    if args.profile:
        scenarios = [profiled_scenario(args)]
    if "h2" in scenarios:
        needs = ["trustme"] + (["hypercorn"] if resolve_kind(args.server) == "python" else [])
        reason = next(filter(None, map(import_error, needs)), None)
        if reason is not None:
            skipped["h2 scenario"] = reason
            scenarios.remove("h2")
        elif NATIVE in args.clients and not shutil.which(NATIVE):
            skipped[NATIVE] = "not on PATH (apt-get install nghttp2-client)"
    if NATIVE in args.clients and ("h2" not in scenarios or NATIVE in skipped):
        args.clients.remove(NATIVE)
    if not scenarios:
        print(f"nothing to run: {skipped}", file=sys.stderr)
        return 1

    server_cpu, client_cpu = cpu_split()
    with ExitStack() as stack:
        servers = {}
        if scenarios != ["h2"]:
            servers["http/1.1"] = stack.enter_context(BenchServer(args.server, server_cpu))
        if "h2" in scenarios:
            servers["h2"] = stack.enter_context(BenchServer(args.server, server_cpu, h2=True))
        description = "; ".join(server.description for server in servers.values())
        if client_cpu is not None:
            os.sched_setaffinity(0, {client_cpu})
        pinning = (
            f"server on CPU {server_cpu}, client on CPU {client_cpu}"
            if client_cpu is not None
            else "not pinned (fewer than 2 CPUs)"
        )
        print(f"# httpcore2 side-by-side benchmark, {datetime.now():%Y-%m-%d %H:%M:%S}\n")
        print(f"command: {command}")
        print(f"python:  {platform.python_implementation()} {platform.python_version()}")
        for server in servers.values():
            print(f"server:  {server.description} at {server.url}")
        print(f"cpus:    {os.cpu_count()} ({pinning}); load average {_loadavg()}")
        names = [c.module for c in clients if any(takes_part(c, s) for s in scenarios)]
        names += BACKENDS[1:]
        versions = [f"{name} {version(name)}" for name in dict.fromkeys(names)]
        if NATIVE in args.clients:
            versions.append(_h2load_version())
        print("versions: " + ", ".join(versions))
        for name, reason in skipped.items():
            print(f"skipped: {name}: {reason}")
        print(flush=True)

        if args.profile:
            if args.profile in skipped:
                print(f"cannot profile {args.profile}: {skipped[args.profile]}", file=sys.stderr)
                return 1
            server = servers["h2" if scenarios == ["h2"] else "http/1.1"]
            profile(args, server, BY_NAME[args.profile])
            return 0

        groups = build_groups(args, servers, clients, scenarios)
        for group in groups:
            if not group.cases:
                continue
            run_group(group, args.repeat)
            print(f"## {group.title}\n")
            print(scaling_table(group) if group.scenario == "scaling" else throughput_table(group))
            for case in group.cases:
                if case.error is not None:
                    print(f"\n{case.client} failed: {case.error}")
            if group.scenario == "h2":
                print(f"\n{h2_summary(group)}")
                if servers["h2"].kind == "python":
                    print(
                        "Caution: hypercorn, not nginx, served this; it limits the fastest "
                        f"clients, so {REFERENCE}'s ratios are understated and {NATIVE}'s is no "
                        "ceiling."
                    )
            print(flush=True)

    print(f"req/s: median over {args.repeat} rounds, interleaved. Ratios: throughput ratios paired")
    print(f"by round; >1 in '{REFERENCE}/client' means {REFERENCE} is faster.")
    print(f"load average at the end: {_loadavg()}")
    print(f"command: {command}")
    if args.json:
        write_json(args, command, description, pinning, skipped, groups)
        print(f"raw numbers: {args.json}")
    return 1 if any(case.error for group in groups for case in group.cases) else 0


def h2_summary(group: Group) -> str:
    """The h2 scenario's three numbers: httpcore2 against httpx and niquests, h2load's lead."""
    reference = group.find(REFERENCE)
    if reference is None:
        return f"{REFERENCE} did not run: no ratios against it."
    parts = []
    for peer in (PEER, "niquests"):
        ratio = paired_ratio(reference, group.find(peer))
        if ratio is not None:
            verdict = "met" if ratio >= H2_TARGET else "NOT met"
            parts.append(f"{REFERENCE} ÷ {peer} = {ratio:.2f}x (target {H2_TARGET:g}x: {verdict})")
    ceiling = paired_ratio(group.find(NATIVE), reference)
    if ceiling is not None:
        parts.append(f"{NATIVE} ÷ {REFERENCE} = {ceiling:.1f}x")
    return "; ".join(parts) + "."


def _h2load_version() -> str:
    output = subprocess.run([NATIVE, "--version"], capture_output=True, text=True, check=False)
    return output.stdout.strip() or NATIVE


def _loadavg() -> str:
    return " ".join(f"{load:.2f}" for load in os.getloadavg())


def write_json(
    args: argparse.Namespace,
    command: str,
    server: str,
    pinning: str,
    skipped: dict[str, str],
    groups: list[Group],
) -> None:
    results = []
    for group in groups:
        reference, peer = group.find(REFERENCE), group.find(PEER)
        for case in group.cases:
            if group.scenario == "scaling":
                reference = group.find(REFERENCE, case.concurrency)
                peer = group.find(PEER, case.concurrency)
            results.append(
                {
                    "scenario": group.scenario,
                    "backend": group.backend,
                    "client": case.client,
                    "concurrency": case.concurrency,
                    "requests": case.requests,
                    "seconds": case.seconds,
                    "server_cpu_busy": case.server_busy,
                    "client_cpu_seconds": case.client_cpu,
                    "requests_per_second": case.rps,
                    "median_requests_per_second": case.median_rps if case.seconds else None,
                    "us_per_request": 1e6 / case.median_rps if case.seconds else None,
                    f"ratio_vs_{REFERENCE}": paired_ratio(case, reference),
                    f"ratio_vs_{PEER}": paired_ratio(case, peer),
                    "error": case.error,
                }
            )
    document = {
        "command": command,
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "server": server,
        "pinning": pinning,
        "settings": {
            "repeat": args.repeat,
            "warmup": args.warmup,
            "concurrency": args.concurrency,
            "pool_size": args.pool_size,
        },
        "versions": {c.module: version(c.module) for c in CLIENTS}
        | {name: version(name) for name in BACKENDS[1:]},
        "skipped": skipped,
        "results": results,
    }
    with open(args.json, "w") as file:
        json.dump(document, file, indent=2)
        file.write("\n")


if __name__ == "__main__":
    sys.exit(main())
