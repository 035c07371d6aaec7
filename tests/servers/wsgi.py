"""A WSGI app (by default httpbin) on werkzeug's threaded server, recording every request.

httpbin implements Basic and Digest authentication (`/basic-auth/{user}/{passwd}`,
`/digest-auth/{qop}/{user}/{passwd}/{algorithm}/{stale_after}`): a peer written by others,
for interoperability tests. `server.requests` lists `(method, path, headers)` of every request
received, so a test can count the requests a client sent.

```python
with WSGIServer() as server:
    urllib.request.urlopen(server.url + "/get")
assert server.requests[0][1] == "/get"
```
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

import httpbin
from werkzeug.serving import BaseWSGIServer, make_server

from .lifecycle import Lifecycle

__all__ = ["WSGIServer"]

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

JOIN_TIMEOUT = 5.0


class WSGIServer(Lifecycle):
    """`app` served on `host`, on a free port, over HTTP/1.1 with keep-alive."""

    def __init__(self, app: WSGIApp = httpbin.app, *, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self._app = app
        self._lock = threading.Lock()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """`http://{host}:{port}`."""
        return f"http://{self.host}:{self.port}"

    def count(self, path: str) -> int:
        """How many requests for `path` arrived."""
        with self._lock:
            return sum(1 for _, received, _ in self.requests if received == path)

    def start(self) -> None:
        """Listen on a free port and serve from a thread."""
        server = make_server(self.host, 0, self._record, threaded=True)
        # HTTP/1.1, so connections are kept alive between requests as with real servers.
        server.RequestHandlerClass.protocol_version = "HTTP/1.1"
        self.port = server.server_port
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="wsgi", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and join the thread."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None and thread is not None:
            server.shutdown()
            server.server_close()
            thread.join(JOIN_TIMEOUT)

    def _record(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        headers = {
            key[5:].replace("_", "-").lower(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        with self._lock:
            self.requests.append((environ["REQUEST_METHOD"], environ["PATH_INFO"], headers))
        return self._app(environ, start_response)
