"""gunicorn serving a small WSGI app over TLS, in a child process: a stock `ssl` module server.

gunicorn's sync worker wraps each accepted socket with the `ssl` module, so its TLS is plain
OpenSSL with its defaults: TLS 1.3, with two session tickets sent right after the handshake.
"""

from __future__ import annotations

import hashlib
import socket
import subprocess
import sys
from collections.abc import Callable, Iterable
from typing import Any

from .certs import TLSFiles
from .lifecycle import Lifecycle

__all__ = ["GunicornServer", "digest_app"]

STOP_TIMEOUT = 10.0


def digest_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Read the whole request body, then answer `<length> <sha256 hex>`."""
    body = environ["wsgi.input"].read()
    answer = b"%d %s" % (len(body), hashlib.sha256(body).hexdigest().encode())
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(answer)))])
    return [answer]


class GunicornServer(Lifecycle):
    """gunicorn (one sync worker) serving `digest_app` over https on 127.0.0.1.

    The listening socket is bound here and handed to gunicorn, so the port is known at once
    and connections made before the worker is up wait in the backlog.
    """

    def __init__(self, tls: TLSFiles) -> None:
        self.host = "127.0.0.1"
        self.port = 0
        self.ca_file = tls.ca_file
        self._tls = tls
        self._listener: socket.socket | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    def start(self) -> None:
        listener = socket.create_server((self.host, 0), backlog=128)
        self._listener = listener
        self.port = listener.getsockname()[1]
        fd = listener.fileno()
        command = [
            sys.executable, "-m", "gunicorn",
            "--bind", f"fd://{fd}",
            "--workers", "1",
            "--worker-class", "sync",
            "--certfile", str(self._tls.cert_file),
            "--keyfile", str(self._tls.key_file),
            "--log-level", "warning",
            "tests.servers.wsgi_server:digest_app",
        ]  # fmt: skip
        self._process = subprocess.Popen(command, pass_fds=[fd], stdin=subprocess.DEVNULL)

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
