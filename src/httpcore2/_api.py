"""`httpcore2.request()` and `httpcore2.stream()`: one request, one short-lived pool."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from ._content import RequestContent, prime_body
from ._models import Extensions, HeaderTypes, Request, Response
from ._sync.connection_pool import SyncConnectionPool
from ._tls_sessions import SHARED_SESSIONS
from ._urls import URL

__all__ = ["request", "stream"]


def request(
    method: str | bytes,
    url: URL | str | bytes,
    *,
    headers: HeaderTypes = None,
    content: RequestContent | None = None,
    extensions: Extensions | None = None,
) -> Response:
    """Send an HTTP request and return the response with its body read.

    ```python
    response = httpcore2.request("GET", "https://www.example.com/")
    ```

    Headers are a dict or a list of pairs, str (ASCII only) or bytes. The body is bytes
    (sent with `Content-Length`), or an iterator of bytes or a binary file (sent chunked).
    `extensions` may carry `timeout` (a mapping of `connect`/`read`/`write`/`pool`
    seconds; 5 s each by default), `sni_hostname` and `trace`. No redirects, cookies or
    auth: use `SyncClient` for those.
    """
    built = _build(method, url, headers, content, extensions)
    with _pool() as pool:
        response = pool.handle_request(built)
        response.read()
        return response


@contextlib.contextmanager
def stream(
    method: str | bytes,
    url: URL | str | bytes,
    *,
    headers: HeaderTypes = None,
    content: RequestContent | None = None,
    extensions: Extensions | None = None,
) -> Iterator[Response]:
    """Send an HTTP request and yield the response with its body not yet read.

    ```python
    with httpcore2.stream("GET", "https://www.example.com/") as response:
        for chunk in response.iter_stream():
            ...
    ```

    Read the body with `response.read()` or `response.iter_stream()`; it is closed when
    the block ends.
    """
    built = _build(method, url, headers, content, extensions)
    with _pool() as pool:
        with pool.handle_request(built) as response:
            yield response


def _pool() -> SyncConnectionPool:
    # One pool per call, but TLS sessions kept from call to call (see _tls_sessions.py).
    pool = SyncConnectionPool()
    pool._tls_sessions = SHARED_SESSIONS
    return pool


def _build(
    method: str | bytes,
    url: URL | str | bytes,
    headers: HeaderTypes,
    content: RequestContent | None,
    extensions: Extensions | None,
) -> Request:
    # Every check, the body's included, before a connection is opened.
    request = Request(method, url, headers=headers, content=content, extensions=extensions)
    prime_body(request.stream)
    return request
