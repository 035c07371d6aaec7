"""Hypercorn in a background thread, serving an ASGI app over http or https on loopback."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import cast

import hypercorn.asyncio
from hypercorn.config import Config
from hypercorn.typing import Framework

from .app import ASGIApp, Receive, Scope, Send, lifespan
from .app import app as test_app
from .certs import DEFAULT_ALPN, TLSFiles
from .lifecycle import Lifecycle

__all__ = ["Server"]

START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0

# hypercorn logs through this; pytest shows its records for failing tests only.
_LOGGER = logging.getLogger("tests.servers.hypercorn")
_LOGGER.setLevel(logging.WARNING)


class Server(Lifecycle):
    """Hypercorn serving `app` on `host`, on a free port, from a thread with its own event loop.

    Without `tls` it speaks HTTP/1.1 and h2c (prior knowledge or `Upgrade`); with `tls` it speaks
    https and offers `alpn_protocols` (`h2` first, so a client that offers both gets HTTP/2).
    Connections idle for 30 s are closed, and a connection is never closed for having served
    too many requests.

    ```python
    with Server(tls=write_tls_files(tmp_path)) as server:
        ctx = ssl.create_default_context(cafile=server.ca_file)
        conn = http.client.HTTPSConnection(server.host, server.port, context=ctx)
    ```
    """

    def __init__(
        self,
        app: ASGIApp = test_app,
        *,
        tls: TLSFiles | None = None,
        host: str = "127.0.0.1",
        alpn_protocols: Sequence[str] = DEFAULT_ALPN,
    ) -> None:
        self.host = host
        self.port = 0
        self.scheme = "https" if tls else "http"
        self.ca_file: Path | None = tls.ca_file if tls else None
        self._app = app
        self._tls = tls
        self._alpn_protocols = list(alpn_protocols)
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._shutdown: asyncio.Event | None = None
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        """`{scheme}://{host}:{port}`, with the host in brackets when it is IPv6."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def __repr__(self) -> str:
        return f"<Server {self.url}>"

    def start(self) -> None:
        """Listen, then return once hypercorn has started serving in its thread."""
        if self._thread is not None:
            raise RuntimeError("the server is already running")
        config = self._config()
        if self._tls is not None:
            config.create_ssl_context()  # bad TLS files fail here rather than in the thread
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            # Accepted sockets inherit it; hypercorn sets it only on sockets it binds itself.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.bind((self.host, 0))
            sock.listen(128)
            self.port = sock.getsockname()[1]
        except BaseException:
            sock.close()
            raise
        # Clients can connect from here on; hypercorn accepts them once it runs. It takes over
        # the descriptor and closes it when it stops.
        config.bind = [f"fd://{sock.detach()}"]
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(
            target=self._run, args=(config,), name=f"hypercorn {self.url}", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT):
            self.stop()
            raise RuntimeError(f"hypercorn did not start within {START_TIMEOUT} s")
        if self._error is not None:
            self.stop()

    def stop(self) -> None:
        """Shut hypercorn down gracefully and join its thread; re-raise whatever made it fail."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        loop, shutdown = self._loop, self._shutdown
        if loop is not None and shutdown is not None:
            try:
                loop.call_soon_threadsafe(shutdown.set)
            except RuntimeError:  # the loop has already closed
                pass
        thread.join(STOP_TIMEOUT)
        if thread.is_alive():
            raise RuntimeError(f"hypercorn did not stop within {STOP_TIMEOUT} s")
        if self._error is not None:
            raise RuntimeError(f"hypercorn on {self.url} failed") from self._error

    def _config(self) -> Config:
        config = Config()
        config.accesslog = None
        config.errorlog = _LOGGER
        config.alpn_protocols = self._alpn_protocols
        config.keep_alive_timeout = 30.0
        config.keep_alive_max_requests = 2**62
        # Connections a test left open delay the stop by at most this much.
        config.graceful_timeout = 1.0
        if self._tls is not None:
            config.certfile = str(self._tls.cert_file)
            config.keyfile = str(self._tls.key_file)
        return config

    def _run(self, config: Config) -> None:
        try:
            asyncio.run(self._serve(config))
        except BaseException as exc:
            self._error = exc
        finally:
            self._ready.set()

    async def _serve(self, config: Config) -> None:
        self._loop = asyncio.get_running_loop()
        self._shutdown = asyncio.Event()
        app = cast(Framework, self._asgi)
        await hypercorn.asyncio.serve(
            app, config, shutdown_trigger=self._shutdown.wait, mode="asgi"
        )

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The lifespan is handled here, so that any plain HTTP app can be served, and its
        # startup (which hypercorn runs just before serving) tells `start()` to return.
        if scope["type"] == "lifespan":
            await lifespan(receive, send, on_startup=self._ready.set)
        else:
            await self._app(scope, receive, send)
