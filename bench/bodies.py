"""Large bodies: downloads and uploads, httpcore2 beside its peers, in MB/s and peak RSS.

    python bench/bodies.py [--scenario download|upload|all] [--download-size MiB]
                           [--upload-size MiB] [--repeat R] [--clients a,b,...]
                           [--profile CLIENT:KIND]

Every measurement runs in a child process of its own (pinned to one CPU, the server to
the other), which reports the transfer's seconds and its peak RSS (`VmHWM`). The server is
a small Python process of this file: downloads go out with `socket.sendfile` from a file
on disk, uploads are read with `recv_into` into one buffer and counted, and the answer
gives the count, which the child checks. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SRC = REPO / "src"
MiB = 1 << 20
CHUNK = 64 * 1024
HEAD_END = b"\r\n\r\n"
# `--before PATH`: the httpcore2 source tree that the `@before` rows measure.
BEFORE: dict[str, str] = {}

DOWNLOAD_CLIENTS = [
    "httpcore2-sync",
    "httpcore2-stream",
    "httpcore2-asyncio",
    "httpcore2-trio",
    "pyreqwest",
    "requests",
    "urllib3",
    "pycurl",
    "httpx",
    "aiohttp",
]
UPLOAD_CLIENTS = [
    "httpcore2-sync",
    "httpcore2-asyncio",
    "httpcore2-trio",
    "niquests",
    "httpx",
    "httpx-async",
    "aiohttp",
    "requests",
    "pyreqwest",
]
# "file-length": the file with a Content-Length set by hand (the peers set one for a file).
UPLOAD_KINDS = ["bytes", "file", "file-length", "iterator"]
IMPORTS = {
    "httpcore2": ["httpcore2", "anyio", "trio"],
    "requests": ["requests"],
    "niquests": ["niquests"],
    "urllib3": ["urllib3"],
    "pyreqwest": ["pyreqwest.client"],
    "pycurl": ["pycurl"],
    "httpx": ["httpx"],
    "aiohttp": ["aiohttp"],
}


# --- the server ---------------------------------------------------------------------------


def _serve_connection(conn: socket.socket, download: str) -> None:
    scratch = memoryview(bytearray(MiB))
    pending = bytearray()

    def receive() -> None:
        count = conn.recv_into(scratch)
        if not count:
            raise EOFError
        pending.extend(scratch[:count])

    def discard(remaining: int) -> None:
        taken = min(remaining, len(pending))
        del pending[:taken]
        remaining -= taken
        while remaining:
            count = conn.recv_into(scratch, min(remaining, MiB))
            if not count:
                raise EOFError
            remaining -= count

    def line() -> bytes:
        while (end := pending.find(b"\r\n")) < 0:
            receive()
        text = bytes(pending[:end])
        del pending[: end + 2]
        return text

    try:
        while True:
            while (end := pending.find(HEAD_END)) < 0:
                receive()
            head = bytes(pending[:end]).lower()
            del pending[: end + 4]
            if head.startswith(b"get "):
                size = os.path.getsize(download)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
                with open(download, "rb") as file:
                    conn.sendfile(file)
                continue
            received = 0
            length = re.search(rb"\r\ncontent-length: *(\d+)", head)
            if length is not None:
                received = int(length[1])
                discard(received)
            else:  # chunked
                while size := int(line().split(b";")[0], 16):
                    discard(size)
                    received += size
                    line()
                while line():
                    pass
            answer = str(received).encode()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(answer), answer))
    except (EOFError, OSError):
        pass
    finally:
        conn.close()


def serve(port_file: str, download: str, cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    listener = socket.create_server(("127.0.0.1", 0))
    Path(port_file).write_text(str(listener.getsockname()[1]))
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=_serve_connection, args=(conn, download), daemon=True).start()


# --- the clients (each in a child process) --------------------------------------------------


def _peak() -> int:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


# When the transfer started (wall clock, CPU time): each client marks it once it is set up,
# so that building a client (a TLS context, a runtime) is not counted.
STARTED = [0.0, 0.0]


def mark() -> None:
    STARTED[:] = [time.perf_counter(), time.process_time()]


def _download(client: str, url: str) -> int:
    if client == "httpcore2-sync":
        import httpcore2

        with httpcore2.SyncClient() as c:
            mark()
            with c.stream("GET", url) as r:
                return sum(len(chunk) for chunk in r.iter_raw())
    if client == "httpcore2-stream":
        import httpcore2

        with httpcore2.stream("GET", url) as r:
            return sum(len(chunk) for chunk in r.iter_raw())
    if client in ("httpcore2-asyncio", "httpcore2-trio"):
        import anyio

        import httpcore2

        async def main() -> int:
            total = 0
            async with httpcore2.Client() as c:
                mark()
                async with c.stream("GET", url) as r:
                    async for chunk in r.aiter_raw():
                        total += len(chunk)
            return total

        return anyio.run(main, backend=client.split("-")[1])
    if client == "requests":
        import requests

        with requests.Session() as s:
            mark()
            with s.get(url, stream=True) as r:
                return sum(len(chunk) for chunk in r.iter_content(CHUNK))
    if client == "urllib3":
        import urllib3

        manager = urllib3.PoolManager()
        mark()
        r = manager.request("GET", url, preload_content=False)
        total = sum(len(chunk) for chunk in r.stream(CHUNK))
        r.release_conn()
        return total
    if client == "pyreqwest":
        from pyreqwest.client import SyncClientBuilder

        with SyncClientBuilder().build() as c:
            mark()
            with c.get(url).build_streamed() as r:
                reader = r.body_reader
                total = 0
                while (chunk := reader.read(CHUNK)) is not None:
                    total += len(chunk)
                return total
    if client == "pycurl":
        import pycurl

        counted = [0]

        def write(data: bytes) -> None:
            counted[0] += len(data)

        curl = pycurl.Curl()
        curl.setopt(pycurl.URL, url)
        curl.setopt(pycurl.WRITEFUNCTION, write)
        mark()
        curl.perform()
        curl.close()
        return counted[0]
    if client == "httpx":
        import httpx

        with httpx.Client() as c:
            mark()
            with c.stream("GET", url) as r:
                return sum(len(chunk) for chunk in r.iter_raw(CHUNK))
    if client == "aiohttp":
        import asyncio

        import aiohttp

        async def main_aiohttp() -> int:
            total = 0
            async with aiohttp.ClientSession() as s:
                mark()
                async with s.get(url) as r:
                    async for chunk in r.content.iter_chunked(CHUNK):
                        total += len(chunk)
            return total

        return asyncio.run(main_aiohttp())
    raise SystemExit(f"unknown download client {client}")


def _body(kind: str, size: int, path: str) -> object:
    # Made before the clock starts; the iterator yields slices of one block.
    if kind == "bytes":
        return os.urandom(MiB) * (size // MiB)
    if kind in ("file", "file-length"):
        return open(path, "rb")  # closed with the process
    block = os.urandom(CHUNK)

    def chunks() -> object:
        for _ in range(size // CHUNK):
            yield block

    return chunks


async def _async_chunks(chunks: object) -> object:
    for chunk in chunks:  # type: ignore[attr-defined]
        yield chunk


def _upload(client: str, url: str, kind: str, body: object) -> bytes:
    content = body() if kind == "iterator" else body  # type: ignore[operator]
    if kind == "iterator" and client in ("httpx-async", "aiohttp"):
        content = _async_chunks(content)
    elif kind.startswith("file") and client == "httpx-async":
        raise NotImplementedError("httpx's AsyncClient takes no sync file")
    headers = (
        {"Content-Length": str(os.path.getsize(str(content.name)))}
        if kind == "file-length"
        else None
    )  # type: ignore[attr-defined]
    if client == "httpcore2-sync":
        import httpcore2

        with httpcore2.SyncClient() as c:
            mark()
            return c.post(url, content=content, headers=headers).content  # type: ignore[arg-type]
    if client in ("httpcore2-asyncio", "httpcore2-trio"):
        import anyio

        import httpcore2

        async def main() -> bytes:
            async with httpcore2.Client() as c:
                mark()
                return (await c.post(url, content=content, headers=headers)).content  # type: ignore[arg-type]

        return anyio.run(main, backend=client.split("-")[1])
    if client in ("requests", "niquests"):
        module = __import__(client)
        with module.Session() as s:
            mark()
            return s.post(url, data=content).content  # type: ignore[no-any-return]
    if client == "httpx":
        import httpx

        with httpx.Client() as c:
            mark()
            return c.post(url, content=content).content  # type: ignore[arg-type]
    if client == "httpx-async":
        import asyncio

        import httpx

        async def main_httpx() -> bytes:
            async with httpx.AsyncClient() as c:
                mark()
                return (await c.post(url, content=content)).content  # type: ignore[arg-type]

        return asyncio.run(main_httpx())
    if client == "aiohttp":
        import asyncio

        import aiohttp

        async def main_aiohttp() -> bytes:
            async with aiohttp.ClientSession() as s:
                mark()
                async with s.post(url, data=content) as r:
                    return await r.read()

        return asyncio.run(main_aiohttp())
    if client == "pyreqwest":
        from pyreqwest.client import SyncClientBuilder

        if kind != "bytes":
            raise NotImplementedError("pyreqwest takes bytes or its own stream type")
        with SyncClientBuilder().build() as c:
            mark()
            return bytes(c.post(url).body_bytes(content).build().send().bytes())  # type: ignore[arg-type,attr-defined]
    raise SystemExit(f"unknown upload client {client}")


def child(args: list[str]) -> None:
    mode, client, url, size_text, kind, path, profile = args
    size = int(size_text)
    body = _body(kind, size, path) if mode == "upload" else None
    for module in IMPORTS.get(client.split("-")[0], ()):
        __import__(module)  # before the clock starts
    _reset_peak()
    base = _peak()
    profiler = None
    if profile == "1":
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    mark()
    try:
        if mode == "download":
            got = _download(client, url)
            if got != size:
                raise AssertionError(f"received {got} bytes of {size}")
        else:
            answer = _upload(client, url, kind, body)
            if answer != str(size).encode():
                raise AssertionError(f"the server counted {answer[:40]!r}, not {size}")
    except NotImplementedError as exc:
        print(json.dumps({"skipped": str(exc)}))
        return
    seconds = time.perf_counter() - STARTED[0]
    cpu = time.process_time() - STARTED[1]
    if profiler is not None:
        import pstats

        profiler.disable()
        stats = pstats.Stats(profiler, stream=sys.stderr)
        stats.sort_stats("tottime").print_stats(18)
    print(json.dumps({"seconds": seconds, "cpu": cpu, "peak": _peak(), "base": base}))


# --- the harness ----------------------------------------------------------------------------


def cpus() -> tuple[int | None, int | None]:
    available = sorted(os.sched_getaffinity(0))
    return (available[0], available[1]) if len(available) >= 2 else (None, None)


def with_before(clients: list[str]) -> list[str]:
    """With `--before`, each httpcore2 client twice: this tree's, then the other one's."""
    if not BEFORE:
        return clients
    return [
        row
        for client in clients
        for row in ([client, client + "@before"] if client.startswith("httpcore2") else [client])
    ]


def measure(
    mode: str,
    client: str,
    url: str,
    size: int,
    kind: str,
    path: str,
    cpu: int | None,
    profile: bool,
) -> dict[str, object]:
    client, _, source = client.partition("@")
    command = [sys.executable, __file__, "--child", mode, client, url, str(size), kind, path]
    command.append("1" if profile else "0")
    if cpu is not None:
        command = ["taskset", "-c", str(cpu), *command]
    env = dict(os.environ, PYTHONPATH=BEFORE[source] if source else str(SRC))
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    if profile:
        sys.stderr.write(done.stderr)
    if done.returncode:
        return {"error": (done.stderr.strip().splitlines() or ["?"])[-1]}
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _rates(rows: dict[str, list[dict[str, object]]], size: int, key: str) -> dict[str, list[float]]:
    return {
        name: [size / float(r[key]) / 1e6 for r in results if key in r]  # type: ignore[arg-type]
        for name, results in rows.items()
    }


def _ratio(values: list[float], reference: list[float] | None) -> str:
    # Ratios per round, then their median: a slow round hits both clients alike.
    if not reference or len(reference) != len(values):
        return "-"
    return f"{statistics.median(v / r for v, r in zip(values, reference, strict=True)):.2f}"


def table(title: str, rows: dict[str, list[dict[str, object]]], size: int, ref: str) -> None:
    print(f"\n### {title}\n")
    print(f"| client | MB/s | spread | ÷ {ref} | MB per CPU-second | ÷ {ref} | peak RSS (MiB) |")
    print("|---|--:|--:|--:|--:|--:|--:|")
    speeds = _rates(rows, size, "seconds")
    efficiency = _rates(rows, size, "cpu")
    for name, results in rows.items():
        errors = [r for r in results if "seconds" not in r]
        if errors:
            print(f"| {name} | {errors[0].get('error') or errors[0].get('skipped')} | | | | | |")
            continue
        values = speeds[name]
        median = statistics.median(values)
        spread = (max(values) - min(values)) / 2 / median * 100
        ratio = _ratio(values, speeds.get(ref))
        cpu = statistics.median(efficiency[name])
        cpu_ratio = _ratio(efficiency[name], efficiency.get(ref))
        peak = max(int(r["peak"]) for r in results) / MiB  # type: ignore[call-overload]
        print(
            f"| {name} | {median:,.0f} | {spread:.0f} % | {ratio} | {cpu:,.0f} | {cpu_ratio} "
            f"| {peak:.0f} |"
        )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", choices=["download", "upload", "all"], default="all")
    parser.add_argument("--download-size", type=int, default=1024, help="MiB (1 GiB)")
    parser.add_argument("--upload-size", type=int, default=256, help="MiB")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--clients", default="", help="comma-separated subset")
    parser.add_argument("--kinds", default=",".join(UPLOAD_KINDS))
    parser.add_argument(
        "--profile", default="", help="CLIENT:KIND (upload) or CLIENT (download): one profiled run"
    )
    parser.add_argument(
        "--before", default="", help="another httpcore2 src/ tree: its rows are marked @before"
    )
    args = parser.parse_args()
    wanted = set(filter(None, args.clients.split(",")))
    if args.before:
        BEFORE["before"] = str(Path(args.before).resolve())
    server_cpu, client_cpu = cpus()
    print(
        f"load average before: {os.getloadavg()}; server CPU {server_cpu}, client CPU {client_cpu}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        download = os.path.join(tmp, "download.bin")
        upload = os.path.join(tmp, "upload.bin")
        block = os.urandom(MiB)
        with open(download, "wb") as file:
            for _ in range(args.download_size):
                file.write(block)
        with open(upload, "wb") as file:
            for _ in range(args.upload_size):
                file.write(block)
        port_file = os.path.join(tmp, "port")
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", port_file, download, str(server_cpu)]
        )
        try:
            deadline = time.monotonic() + 10
            while not os.path.exists(port_file) or not Path(port_file).read_text():
                if time.monotonic() > deadline:
                    raise SystemExit("the server did not start")
                time.sleep(0.05)
            url = f"http://127.0.0.1:{Path(port_file).read_text()}/"
            if args.profile:
                client, _, kind = args.profile.partition(":")
                mode = "upload" if kind else "download"
                size = (args.upload_size if kind else args.download_size) * MiB
                print(measure(mode, client, url, size, kind or "-", upload, client_cpu, True))
                return
            if args.scenario in ("download", "all"):
                clients = with_before([c for c in DOWNLOAD_CLIENTS if not wanted or c in wanted])
                size = args.download_size * MiB
                rows: dict[str, list[dict[str, object]]] = {c: [] for c in clients}
                for round_ in range(args.repeat):
                    for client in (
                        clients[round_ % len(clients) :] + clients[: round_ % len(clients)]
                    ):
                        rows[client].append(
                            measure("download", client, url, size, "-", upload, client_cpu, False)
                        )
                table(f"download {args.download_size} MiB", rows, size, "requests")
            if args.scenario in ("upload", "all"):
                clients = with_before([c for c in UPLOAD_CLIENTS if not wanted or c in wanted])
                size = args.upload_size * MiB
                for kind in args.kinds.split(","):
                    rows = {c: [] for c in clients}
                    for round_ in range(args.repeat):
                        order = clients[round_ % len(clients) :] + clients[: round_ % len(clients)]
                        for client in order:
                            rows[client].append(
                                measure(
                                    "upload", client, url, size, kind, upload, client_cpu, False
                                )
                            )
                    table(f"upload {args.upload_size} MiB from {kind}", rows, size, "niquests")
        finally:
            server.kill()
            server.wait()
    print(f"\nload average after: {os.getloadavg()}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(sys.argv[2], sys.argv[3], None if sys.argv[4] == "None" else int(sys.argv[4]))
    else:
        main()
