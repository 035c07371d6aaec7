"""HTTP servers that are not built on h2 or h11, for interoperability tests: nginx and nghttpd.

Each is started on loopback in a temporary directory of its own (config, pid file, logs, temp
paths), serving the files of `docroot`, and stopped on exit:

- `Nginx(directory)` listens on four ports: `h2` (TLS, ALPN h2 and http/1.1), `h2c` (HTTP/2
  by prior knowledge), `http` (HTTP/1.1) and `https` (TLS, HTTP/1.1 only). `PUT /upload/NAME`
  stores the body as `uploads/NAME` (WebDAV), `/trailers/...` adds the trailer
  `X-Checksum: abc`, and every response carries `X-Connection`, nginx's connection number,
  and `X-Worker`, the pid of the worker process that answered. With `master_process=True` a
  master process runs its worker, and `reload()` does what `nginx -s reload` does: a new
  worker takes the listeners, the old one finishes its requests and closes its connections.
- `Nghttpd(directory, tls=...)` serves HTTP/2 only (ALPN h2, or prior knowledge without TLS),
  echoes the body of a POST or PUT, and adds the trailer `X-Checksum: abc` to every body.

`find_binary()` locates the executable; when it is missing a test is skipped, except under
CI (`CI` set), where it fails: `.ci/run` installs both.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

import pytest

from .certs import TLSFiles

__all__ = ["Nghttpd", "Nginx", "find_binary"]

START_TIMEOUT = 10.0
_SBIN = ("/usr/sbin", "/usr/local/sbin", "/sbin")


def find_binary(name: str, package: str) -> str:
    """The path of `name`; skip the test when it is missing (fail under CI)."""
    path = shutil.which(name) or shutil.which(name, path=os.pathsep.join(_SBIN))
    if path is None:
        message = f"{name} is not installed (Debian package {package}; .ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_until_listening(process: subprocess.Popen[bytes], ports: list[int], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    waiting = list(ports)
    while waiting:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}: {_tail(log)}")
        try:
            socket.create_connection(("127.0.0.1", waiting[0]), timeout=1).close()
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"not listening on {waiting[0]}: {_tail(log)}") from None
            time.sleep(0.02)  # polling a port someone else opens: nothing to wait on
        else:
            waiting.pop(0)


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"


class _Process:
    process: subprocess.Popen[bytes]

    def __enter__(self) -> _Process:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(START_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Nginx(_Process):
    """nginx on four loopback ports; see the module docstring."""

    def __init__(
        self,
        directory: Path,
        tls: TLSFiles,
        *,
        max_concurrent_streams: int = 128,
        master_process: bool = False,
        keepalive_requests: int = 100_000,
    ):
        binary = find_binary("nginx", "nginx-light")
        self.docroot = directory / "www"
        self.uploads = directory / "uploads"
        for path in (self.docroot, self.uploads / "upload", directory / "temp"):
            path.mkdir(parents=True, exist_ok=True)
        self.ports = {name: _free_port() for name in ("h2", "h2c", "http", "https")}
        config = directory / "nginx.conf"
        log = directory / "error.log"
        config.write_text(
            _NGINX_CONFIG.format(
                directory=directory,
                cert=tls.cert_file,
                key=tls.key_file,
                streams=max_concurrent_streams,
                master_process="on" if master_process else "off",
                # A worker under a root master runs as this user, who can read our files.
                user=pwd.getpwuid(os.getuid()).pw_name,
                group=grp.getgrgid(os.getgid()).gr_name,
                keepalive_requests=keepalive_requests,
                **self.ports,
            )
        )
        with log.open("ab") as output:  # the child keeps its own copy
            self.process = subprocess.Popen(
                [binary, "-c", str(config), "-p", str(directory), "-e", str(log)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=output,
            )
        _wait_until_listening(self.process, list(self.ports.values()), log)
        self.pid_file = directory / "nginx.pid"

    def reload(self) -> None:
        """Signal the master to reload (`nginx -s reload`); needs `master_process=True`."""
        os.kill(int(self.pid_file.read_text()), signal.SIGHUP)

    def url(self, listener: str) -> str:
        """The base URL of one listener: `h2`, `h2c`, `http` or `https`."""
        scheme = "https" if listener in ("h2", "https") else "http"
        # The certificate names `localhost` and `127.0.0.1`.
        return f"{scheme}://127.0.0.1:{self.ports[listener]}"


_NGINX_CONFIG = """
daemon off;
user {user} {group};
master_process {master_process};
worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {directory}/temp/body;
    proxy_temp_path {directory}/temp/proxy;
    fastcgi_temp_path {directory}/temp/fastcgi;
    uwsgi_temp_path {directory}/temp/uwsgi;
    scgi_temp_path {directory}/temp/scgi;
    http2_max_concurrent_streams {streams};
    keepalive_requests {keepalive_requests};
    ssl_certificate {cert};
    ssl_certificate_key {key};
    # TLS 1.3 too (older nginx offers up to 1.2 only); sessions resume by ticket either way.
    ssl_protocols TLSv1.2 TLSv1.3;
    root {directory}/www;
    add_header X-Connection $connection always;
    add_header X-Worker $pid always;
    server {{
        listen 127.0.0.1:{h2} ssl http2;
        listen 127.0.0.1:{h2c} http2;
        listen 127.0.0.1:{http};
        listen 127.0.0.1:{https} ssl;
        location /upload/ {{
            root {directory}/uploads;
            dav_methods PUT;
            client_max_body_size 64m;
        }}
        location /trailers/ {{
            add_trailer X-Checksum abc;
        }}
    }}
}}
"""


class Nghttpd(_Process):
    """nghttpd (nghttp2's server) on one loopback port; see the module docstring."""

    def __init__(self, directory: Path, tls: TLSFiles | None, *, max_concurrent_streams: int = 100):
        binary = find_binary("nghttpd", "nghttp2-server")
        self.docroot = directory / "www"
        self.docroot.mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        self.tls = tls
        log = directory / "nghttpd.log"
        command = [
            binary,
            "--address=127.0.0.1",
            f"--htdocs={self.docroot}",
            f"--max-concurrent-streams={max_concurrent_streams}",
            "--echo-upload",
            "--trailer=x-checksum: abc",
            str(self.port),
        ]
        if tls is None:
            command.insert(1, "--no-tls")
        else:
            command += [str(tls.key_file), str(tls.cert_file)]
        with log.open("ab") as output:  # the child keeps its own copy
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT
            )
        _wait_until_listening(self.process, [self.port], log)

    @property
    def url(self) -> str:
        scheme = "http" if self.tls is None else "https"
        return f"{scheme}://127.0.0.1:{self.port}"
