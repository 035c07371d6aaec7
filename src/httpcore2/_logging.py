"""Log records of the `httpcore2` logger, and the warning for a response never closed.

INFO: one line per response a client returns, and one per retry. DEBUG: connection
events (connected, TLS established, reused, closed). Nothing is formatted unless the level
is enabled, and no record carries credentials: URLs lose their userinfo, and headers,
cookies and bodies are never logged.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

from ._models import Request, Response
from ._urls import URL

__all__ = [
    "log_closed",
    "log_connected",
    "log_response",
    "log_retry",
    "log_reused",
    "log_tls",
    "logger",
    "safe_url",
    "warn_unclosed_response",
]

logger = logging.getLogger("httpcore2")


def safe_url(url: URL) -> str:
    """The URL as text without its userinfo (`user:password@`)."""
    return str(url.copy_with(userinfo="")) if url.userinfo else str(url)


def log_response(response: Response, elapsed: float) -> None:
    """`GET https://example.org/ "HTTP/1.1 200 OK" 0.012 s`: elapsed until the head arrived."""
    request = response.request
    logger.info(
        '%s %s "%s %d %s" %.3f s',
        request.method,
        safe_url(request.url),
        response.protocol,
        response.status,
        response.reason_phrase,
        elapsed,
    )


def log_retry(request: Request, failure: Response | BaseException, delay: float) -> None:
    """`Retrying GET https://example.org/ in 0.50 s after 503 Service Unavailable`."""
    if logger.isEnabledFor(logging.INFO):
        if isinstance(failure, Response):
            cause = f"{failure.status} {failure.reason_phrase}".rstrip()
        else:
            cause = type(failure).__name__
        url = safe_url(request.url)
        logger.info("Retrying %s %s in %.2f s after %s", request.method, url, delay, cause)


def log_connected(connection: object, request: Request) -> None:
    """A TCP (or Unix socket) connection is open."""
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("Connection %#x: connected to %s", id(connection), request.url.origin)


def log_tls(connection: object, stream: Any) -> None:
    """The TLS handshake is done: the protocol version and the ALPN choice."""
    if logger.isEnabledFor(logging.DEBUG):
        ssl_object = stream.get_extra_info("ssl_object")
        version = alpn = None
        if ssl_object is not None:
            version, alpn = ssl_object.version(), ssl_object.selected_alpn_protocol()
        logger.debug("Connection %#x: TLS %s, ALPN %s", id(connection), version, alpn)


def log_reused(connection: object, request: Request) -> None:
    """A pooled connection takes another request. The pool calls it only when DEBUG is
    enabled: a call saved on nearly every request otherwise."""
    logger.debug("Connection %#x: reused for %s", id(connection), request.url.origin)


def log_closed(connection: object) -> None:
    """The client closes a connection (expired, evicted, failed, or the pool closing)."""
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("Connection %#x: closed", id(connection))


def warn_unclosed_response(source: object) -> None:
    """Warn that a response body was collected unclosed: its pooled connection stays in use
    (nothing can be awaited while an object is collected to give it back)."""
    warnings.warn(
        "A response was never closed: its connection stays in use. Close every "
        "response (or read it whole, or use the stream() context manager).",
        ResourceWarning,
        stacklevel=1,  # no caller to point at: this runs when the response is collected
        source=source,
    )
