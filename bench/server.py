"""A loopback HTTP/1.1 server for the benchmarks, built so that it is not the bottleneck.

`BenchServer` runs nginx when `nginx` is on PATH, otherwise a small asyncio Protocol server
(on uvloop when installed) in a child process. Either way every request gets the same fixed
response, `200 OK` with the body `Hello, world!`, over keep-alive connections.

```python
with BenchServer() as server:
    print(server.url)  # http://127.0.0.1:PORT/
```

Run `python bench/server.py` to serve in the foreground (handy for poking with curl).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from types import TracebackType
from typing import cast

BODY = b"Hello, world!"
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\n" + BODY
BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
MAX_HEAD = 64 * 1024
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

NGINX_CONF = """\
daemon off;
master_process off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log stderr warn;
events {{
    worker_connections 4096;
}}
http {{
    access_log off;
    server_tokens off;
    default_type text/plain;
    keepalive_timeout 120s;
    keepalive_requests 1000000;
{temp_paths}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            return 200 "Hello, world!";
        }}
    }}
}}
"""


def cpu_split() -> tuple[int | None, int | None]:
    """Return (server_cpu, client_cpu): two distinct CPUs when at least two are available."""
    if not hasattr(os, "sched_getaffinity"):  # pinning is Linux-only
        return None, None
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None
    return cpus[0], cpus[1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def probe(port: int) -> bool:
    """True once the server answers a GET with the expected body."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := sock.recv(4096):
                data += chunk
    except OSError:
        return False
    return data.startswith(b"HTTP/1.1 200") and data.endswith(BODY)


class _Protocol(asyncio.Protocol):
    """Just enough HTTP/1.1: heads end at CRLFCRLF, bodies by Content-Length, keep-alive.

    Pipelined requests that arrive together are answered together, in order, in one write.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, so cast rather than check.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        buffer = self.buffer
        buffer += data
        out = bytearray()
        close = False
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                close = len(buffer) > MAX_HEAD
                if close:
                    out += BAD_REQUEST
                break
            head = bytes(buffer[:end]).lower()
            length = 0
            match = re.search(rb"\r\ncontent-length:[ \t]*(\d+)", head)
            if match:
                length = int(match.group(1))
            if b"\r\ntransfer-encoding:" in head:
                out += BAD_REQUEST
                close = True
                break
            total = end + 4 + length
            if len(buffer) < total:
                break
            del buffer[:total]
            out += RESPONSE
            if b"\r\nconnection: close" in head:
                close = True
                break
        if out:
            self.transport.write(bytes(out))
        if close:
            self.transport.close()


async def _serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Protocol, "127.0.0.1", port, backlog=4096)
    sockname = server.sockets[0].getsockname()
    print(f"READY {sockname[1]}", flush=True)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()


def serve_forever(port: int = 0, cpu: int | None = None) -> None:
    """Run the Python server in this process until SIGTERM or SIGINT."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    try:
        import uvloop
    except ImportError:
        asyncio.run(_serve(port))
    else:
        uvloop.run(_serve(port))


class BenchServer:
    """A loopback server in a child process: nginx when available, else the Python server.

    `kind` is `"auto"`, `"nginx"` or `"python"`. The server is pinned to one CPU when two
    are available (see `cpu_split`); the caller pins itself to the other.
    """

    def __init__(self, kind: str = "auto", cpu: int | None = None) -> None:
        if kind == "auto":
            kind = "nginx" if shutil.which("nginx") else "python"
        if kind not in ("nginx", "python"):
            raise ValueError(f"unknown server kind {kind!r}")
        self.kind = kind
        self.cpu = cpu
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def description(self) -> str:
        pinned = f", pinned to CPU {self.cpu}" if self.cpu is not None else ""
        if self.kind == "nginx":
            version = subprocess.run(
                ["nginx", "-v"], capture_output=True, text=True, check=False
            ).stderr.strip()
            return f"{version.removeprefix('nginx version: ')} (1 worker){pinned}"
        loop = "uvloop" if _has_module("uvloop") else "asyncio"
        return f"python asyncio.Protocol server on {loop}{pinned}"

    def cpu_seconds(self) -> float | None:
        """CPU time (user + system) the server process has used so far; None off Linux."""
        if self.process is None:
            return None
        try:
            with open(f"/proc/{self.process.pid}/stat") as file:
                fields = file.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        # Fields 14 and 15 of proc_pid_stat(5), counted from after the command name.
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def _pin(self) -> None:
        if self.cpu is not None:
            os.sched_setaffinity(0, {self.cpu})

    def _start_nginx(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="bench-nginx-")
        tmp = self._tmp.name
        self.port = free_port()
        conf = os.path.join(tmp, "nginx.conf")
        with open(conf, "w") as file:
            file.write(
                NGINX_CONF.format(tmp=tmp, port=self.port, temp_paths=_nginx_temp_paths(tmp))
            )
        self.process = subprocess.Popen(
            ["nginx", "-p", tmp, "-c", conf, "-e", "stderr"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=self._pin,
        )
        deadline = time.monotonic() + 10.0
        while not probe(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                assert self.process.stderr is not None
                error = self.process.stderr.read().decode(errors="replace")
                self.stop()
                raise RuntimeError(f"nginx did not start:\n{error}")
            time.sleep(0.05)

    def _start_python(self) -> None:
        command = [sys.executable, os.path.abspath(__file__), "--port", "0"]
        if self.cpu is not None:
            command += ["--cpu", str(self.cpu)]
        self.process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=None
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().decode().strip()
        if not line.startswith("READY "):
            self.stop()
            raise RuntimeError(f"python server did not start (said {line!r})")
        self.port = int(line.split()[1])
        if not probe(self.port):
            self.stop()
            raise RuntimeError("python server started but does not answer")

    def start(self) -> BenchServer:
        if self.kind == "nginx":
            self._start_nginx()
        else:
            self._start_python()
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None:
            for stream in (self.process.stdout, self.process.stderr):
                if stream is not None:
                    stream.close()
        self.process = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> BenchServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _nginx_temp_paths(tmp: str) -> str:
    """Point every compiled-in temp directory into `tmp`, so nginx runs without root."""
    configure = subprocess.run(["nginx", "-V"], capture_output=True, text=True, check=False).stderr
    without = set(re.findall(r"--without-http_(\w+)_module", configure))
    lines = []
    for name in re.findall(r"--http-([\w-]+)-temp-path=", configure):
        directive = name.replace("-", "_")
        if directive not in without:
            lines.append(f"    {directive}_temp_path {tmp}/{directive};")
    return "\n".join(lines)


def _has_module(name: str) -> bool:
    try:
        __import__(name)
    except ImportError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--cpu", type=int, default=None, help="pin the server to this CPU")
    args = parser.parse_args()
    serve_forever(args.port, args.cpu)


if __name__ == "__main__":
    main()
