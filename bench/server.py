"""A loopback HTTP server for the benchmarks, built so that it is not the bottleneck.

`BenchServer` runs nginx when `nginx` is on PATH, otherwise a small asyncio Protocol server
(on uvloop when installed) in a child process. Either way every request gets the same fixed
response, `200 OK` with the body `Hello, world!`, over keep-alive connections.

`BenchServer(h2=True)` serves HTTP/2 over TLS instead (ALPN `h2`, certificates made by
trustme): nginx again, or hypercorn in a child process when nginx is absent.

```python
with BenchServer() as server:
    print(server.url)  # http://127.0.0.1:PORT/
with BenchServer(h2=True) as server:
    print(server.url, server.ca_file)  # https://127.0.0.1:PORT/ /tmp/.../ca.pem
```

Run `python bench/server.py` (or `--h2`) to serve in the foreground (handy for poking with
curl).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine
from types import TracebackType
from typing import Any, cast

BODY = b"Hello, world!"
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\n" + BODY
BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
MAX_HEAD = 64 * 1024
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

STATUS_PATH = "/_bench/status"
H2_STREAMS = 128  # concurrent streams the h2 servers allow: more than the benchmark's 100

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
    # Since nginx 1.19.7 this also caps the requests on one HTTP/2 connection (it replaced
    # http2_max_requests). The default, 1000, would have nginx send GOAWAY every 1000
    # requests and the HTTP/2 scenario would measure reconnections.
    keepalive_requests 1000000;
{temp_paths}
{server}
}}
"""
NGINX_HTTP1_SERVER = """\
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            return 200 "Hello, world!";
        }}
    }}"""
NGINX_H2_SERVER = """\
    server {{
        listen 127.0.0.1:{port} ssl{listen_http2} backlog=4096;
{http2_directives}
        ssl_certificate {tmp}/server.pem;
        ssl_certificate_key {tmp}/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        location / {{
            return 200 "Hello, world!";
        }}
        # Connections accepted so far: the benchmark checks each client used exactly one.
        location = {status_path} {{
            stub_status;
        }}
    }}"""


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


def fetch(port: int, path: str = "/", ca_file: str | None = None) -> bytes | None:
    """One HTTP/1.1 GET on a fresh connection (TLS when `ca_file` is given); None on failure."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as raw:
            sock = raw
            if ca_file is not None:
                context = ssl.create_default_context(cafile=ca_file)
                sock = context.wrap_socket(raw, server_hostname="127.0.0.1")
            request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
            sock.sendall(request.encode())
            data = b""
            while chunk := sock.recv(4096):
                data += chunk
    except OSError:
        return None
    return data


def probe(port: int, ca_file: str | None = None) -> bool:
    """True once the server answers a GET with the expected body."""
    data = fetch(port, "/", ca_file)
    return data is not None and data.startswith(b"HTTP/1.1 200") and data.endswith(BODY)


def write_certificates(directory: str) -> str:
    """Write a fresh CA and a certificate for 127.0.0.1 into `directory`; return the CA file.

    The server's files are `server.pem` (certificate chain) and `server.key`.
    """
    import trustme

    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    leaf.private_key_pem.write_to_path(os.path.join(directory, "server.key"))
    with open(os.path.join(directory, "server.pem"), "wb") as file:
        for blob in leaf.cert_chain_pems:
            file.write(blob.bytes())
    ca_file = os.path.join(directory, "ca.pem")
    ca.cert_pem.write_to_path(ca_file)
    return ca_file


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


def _run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())


def serve_forever(port: int = 0, cpu: int | None = None) -> None:
    """Run the Python server in this process until SIGTERM or SIGINT."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    _run(lambda: _serve(port))


class _H2App:
    """The ASGI app behind hypercorn: the fixed response, and a connection count.

    The count at STATUS_PATH is laid out like nginx's stub_status, so one parser reads both.
    """

    def __init__(self) -> None:
        self.clients: set[tuple[str, int]] = set()
        self.requests = 0

    async def __call__(
        self,
        scope: dict[str, Any],
        receive: Callable[[], Awaitable[dict[str, Any]]],
        send: Callable[[dict[str, Any]], Awaitable[None]],
    ) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        self.clients.add(tuple(scope["client"]))
        self.requests += 1
        body = BODY
        if scope["path"] == STATUS_PATH:
            count = len(self.clients)
            body = f"server accepts handled requests\n {count} {count} {self.requests} \n".encode()
        headers = [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def serve_h2_forever(port: int, certfile: str, keyfile: str, cpu: int | None = None) -> None:
    """Run hypercorn (HTTP/2 over TLS) in this process until SIGTERM or SIGINT."""
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.certfile = certfile
    config.keyfile = keyfile
    config.backlog = 4096
    config.keep_alive_timeout = 120
    # Hypercorn closes a connection after keep_alive_max_requests (default 1000).
    config.keep_alive_max_requests = 1_000_000
    config.h2_max_concurrent_streams = H2_STREAMS
    config.loglevel = "WARNING"

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await serve(_H2App(), config, shutdown_trigger=stop.wait)

    _run(main)


def resolve_kind(kind: str) -> str:
    """`"nginx"` or `"python"`: `"auto"` picks nginx when it is on PATH."""
    if kind == "auto":
        kind = "nginx" if shutil.which("nginx") else "python"
    if kind not in ("nginx", "python"):
        raise ValueError(f"unknown server kind {kind!r}")
    return kind


class BenchServer:
    """A loopback server in a child process: nginx when available, else a Python server.

    `kind` is `"auto"`, `"nginx"` or `"python"`. With `h2=True` it serves HTTP/2 over TLS
    (ALPN `h2`) with a certificate for 127.0.0.1 that `ca_file` verifies; the Python server
    is then hypercorn. The server is pinned to one CPU when two are available (see
    `cpu_split`); the caller pins itself to the other.
    """

    def __init__(self, kind: str = "auto", cpu: int | None = None, *, h2: bool = False) -> None:
        self.kind = resolve_kind(kind)
        self.cpu = cpu
        self.h2 = h2
        self.port = 0
        self.ca_file: str | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.h2 else 'http'}://127.0.0.1:{self.port}/"

    @property
    def description(self) -> str:
        pinned = f", pinned to CPU {self.cpu}" if self.cpu is not None else ""
        tls = ", HTTP/2 over TLS" if self.h2 else ""
        if self.kind == "nginx":
            version = subprocess.run(
                ["nginx", "-v"], capture_output=True, text=True, check=False
            ).stderr.strip()
            return f"{version.removeprefix('nginx version: ')} (1 worker{tls}){pinned}"
        loop = "uvloop" if _has_module("uvloop") else "asyncio"
        if self.h2:
            return (
                f"hypercorn {_version('hypercorn')} on {loop} (HTTP/2 over TLS; a Python "
                f"server, much slower than nginx: it may be the bottleneck){pinned}"
            )
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

    def accepted_connections(self) -> int:
        """Connections the h2 server has accepted so far, this query's own included."""
        assert self.h2, "only the h2 server counts its connections"
        data = fetch(self.port, STATUS_PATH, self.ca_file) or b""
        match = re.search(rb"\n\s*(\d+) \d+ \d+", data)
        if match is None:
            raise RuntimeError(f"no connection count at {STATUS_PATH}: {data[:200]!r}")
        return int(match.group(1))

    def _pin(self) -> None:
        if self.cpu is not None:
            os.sched_setaffinity(0, {self.cpu})

    def _spawn_and_wait(self, name: str, command: list[str]) -> None:
        """Start `command` pinned, then poll until it answers on self.port."""
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=self._pin,
        )
        deadline = time.monotonic() + 10.0
        while not probe(self.port, self.ca_file):
            if self.process.poll() is not None or time.monotonic() > deadline:
                assert self.process.stderr is not None
                self.process.kill()
                error = self.process.stderr.read().decode(errors="replace")
                self.stop()
                raise RuntimeError(f"{name} did not start:\n{error}")
            time.sleep(0.05)

    def _start_nginx(self, tmp: str) -> None:
        self.port = free_port()
        if self.h2:
            version = _nginx_version()
            directives = []
            if version < (1, 19, 7):  # before keepalive_requests covered HTTP/2 as well
                directives.append("        http2_max_requests 1000000;")
            if version >= (1, 25, 1):  # `listen ... http2` is deprecated from here on
                directives.append("        http2 on;")
            # nginx allows 128 concurrent streams by default (H2_STREAMS).
            server = NGINX_H2_SERVER.format(
                port=self.port,
                tmp=tmp,
                listen_http2="" if version >= (1, 25, 1) else " http2",
                http2_directives="\n".join(directives),
                status_path=STATUS_PATH,
            )
        else:
            server = NGINX_HTTP1_SERVER.format(port=self.port)
        conf = os.path.join(tmp, "nginx.conf")
        with open(conf, "w") as file:
            file.write(NGINX_CONF.format(tmp=tmp, temp_paths=_nginx_temp_paths(tmp), server=server))
        self._spawn_and_wait("nginx", ["nginx", "-p", tmp, "-c", conf, "-e", "stderr"])

    def _start_hypercorn(self, tmp: str) -> None:
        self.port = free_port()
        command = [sys.executable, os.path.abspath(__file__), "--h2", "--port", str(self.port)]
        command += ["--certfile", f"{tmp}/server.pem", "--keyfile", f"{tmp}/server.key"]
        self._spawn_and_wait("hypercorn", command)

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
        if self.kind == "python" and not self.h2:
            self._start_python()
            return self
        self._tmp = tempfile.TemporaryDirectory(prefix=f"bench-{self.kind}-")
        if self.h2:
            self.ca_file = write_certificates(self._tmp.name)
        if self.kind == "nginx":
            self._start_nginx(self._tmp.name)
        else:
            self._start_hypercorn(self._tmp.name)
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


def _nginx_version() -> tuple[int, ...]:
    text = subprocess.run(["nginx", "-v"], capture_output=True, text=True, check=False).stderr
    match = re.search(r"nginx/(\d+(?:\.\d+)*)", text)
    return tuple(int(part) for part in match.group(1).split(".")) if match else (0,)


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


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "(version unknown)"


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
    parser.add_argument("--h2", action="store_true", help="HTTP/2 over TLS with hypercorn")
    parser.add_argument("--certfile", help="with --h2: certificate chain (default: a new one)")
    parser.add_argument("--keyfile", help="with --h2: its private key")
    args = parser.parse_args()
    if not args.h2:
        serve_forever(args.port, args.cpu)
    elif args.certfile and args.keyfile:
        serve_h2_forever(args.port, args.certfile, args.keyfile, args.cpu)
    else:
        with tempfile.TemporaryDirectory(prefix="bench-h2-") as tmp:
            print(f"CA certificate: {write_certificates(tmp)}", flush=True)
            serve_h2_forever(args.port, f"{tmp}/server.pem", f"{tmp}/server.key", args.cpu)


if __name__ == "__main__":
    main()
