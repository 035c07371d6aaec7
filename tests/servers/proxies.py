"""Real proxies on loopback, as subprocesses: tinyproxy (HTTP forwarding and CONNECT, Basic
proxy auth) and pproxy (SOCKS5, and HTTP over TLS: an https proxy).

Each keeps its log, the proxy's own record of what it relayed: `wait_for_log(text)` waits
until a line contains `text` (the proxies write asynchronously), and `log()` returns it all.

```python
with TinyProxy(tmp_path, auth=("user", "pass")) as proxy:
    ...  # send through proxy.url
    proxy.wait_for_log("GET http://127.0.0.1:")
```
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from .certs import TLSFiles
from .lifecycle import Lifecycle

__all__ = ["PProxy", "TinyProxy"]

START_TIMEOUT = 10.0
LOG_TIMEOUT = 5.0
_POLL = 0.01


def _free_port() -> int:
    # The proxies take a port number, not a socket: there is a small window for another
    # process to take it, which `start()` reports as a failure to start.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class _ProxyProcess(Lifecycle):
    scheme = "http"

    def __init__(self, directory: Path, *, auth: tuple[str, str] | None = None) -> None:
        self.directory = directory
        self.auth = auth
        self.port = 0
        self._log_file = directory / f"{type(self).__name__.lower()}.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The proxy's URL, with its credentials if it has any."""
        userinfo = "" if self.auth is None else f"{self.auth[0]}:{self.auth[1]}@"
        return f"{self.scheme}://{userinfo}127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> None:
        self.port = _free_port()
        with open(self._log_file, "wb") as output:
            self._process = subprocess.Popen(
                self.command(),
                stdout=output,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"{type(self).__name__} did not start:\n{self.log()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1.0).close()
                return
            except OSError:
                time.sleep(_POLL)
        self.stop()
        raise RuntimeError(f"{type(self).__name__} did not listen within {START_TIMEOUT} s")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.terminate()
            process.wait(START_TIMEOUT)

    def log(self) -> str:
        """Everything the proxy logged so far."""
        return self._log_file.read_text("utf-8", "replace")

    def wait_for_log(self, text: str) -> str:
        """The first log line that contains `text`, once the proxy wrote it."""
        deadline = time.monotonic() + LOG_TIMEOUT
        while True:
            for line in self.log().splitlines():
                if text in line:
                    return line
            if time.monotonic() >= deadline:
                raise AssertionError(f"{text!r} not in the proxy's log:\n{self.log()}")
            time.sleep(_POLL)


class TinyProxy(_ProxyProcess):
    """Debian's tinyproxy: forwards http requests and opens CONNECT tunnels; with `auth`,
    demands Basic proxy credentials. Logs one `Request (...): METHOD target` line each."""

    def command(self) -> list[str]:
        binary = shutil.which("tinyproxy") or "/usr/bin/tinyproxy"
        config = self.directory / "tinyproxy.conf"
        lines = [
            f"Port {self.port}",
            "Listen 127.0.0.1",
            "Timeout 30",
            "LogLevel Connect",
            "MaxClients 50",
            "Allow 127.0.0.1",
            "DisableViaHeader Yes",
        ]
        if self.auth is not None:
            lines.append(f"BasicAuth {self.auth[0]} {self.auth[1]}")
        config.write_text("\n".join(lines) + "\n")
        return [binary, "-d", "-c", str(config)]


class PProxy(_ProxyProcess):
    """pproxy: `scheme` `socks5` or `http`; with `tls`, HTTP over TLS (an https proxy).
    Logs one `<protocol> <client> -> <target>` line per connection it relays."""

    def __init__(
        self,
        directory: Path,
        scheme: str,
        *,
        auth: tuple[str, str] | None = None,
        tls: TLSFiles | None = None,
    ) -> None:
        super().__init__(directory, auth=auth)
        self.scheme = scheme if tls is None else "https"
        self._protocol = scheme
        self._tls = tls

    def command(self) -> list[str]:
        listen = f"{self._protocol}{'+ssl' if self._tls else ''}://127.0.0.1:{self.port}"
        if self.auth is not None:
            listen += f"#{self.auth[0]}:{self.auth[1]}"
        # --auth 0: check the credentials on every connection (by default pproxy lets an
        # address in for 30 days once it authenticated).
        command = [sys.executable, "-m", "pproxy", "-l", listen, "--auth", "0", "-v"]
        if self._tls is not None:
            command += ["--ssl", f"{self._tls.cert_file},{self._tls.key_file}"]
        return command
