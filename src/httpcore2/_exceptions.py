"""The exception tree.

```
HTTPError
├── TransportError
│   ├── TimeoutException: ConnectTimeout, ReadTimeout, WriteTimeout, PoolTimeout, TotalTimeout
│   ├── NetworkError: ConnectError, ReadError, WriteError, CloseError
│   ├── ProtocolError: LocalProtocolError, RemoteProtocolError
│   ├── ProxyError
│   └── UnsupportedProtocol
├── DecodingError
├── TooManyRedirects
└── HTTPStatusError
InvalidURL (also a ValueError)        CookieConflict
StreamError: StreamConsumed, ResponseNotRead, RequestNotRead, StreamClosed
```

Errors raised by h11, h2, anyio, ssl or socket never reach the user unwrapped:
`map_exceptions()` turns them into one of ours at the boundary, chaining the
original as `__cause__`.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._models import Request, Response

__all__ = [
    "CloseError",
    "ConnectError",
    "ConnectTimeout",
    "CookieConflict",
    "DecodingError",
    "HTTPError",
    "HTTPStatusError",
    "InvalidURL",
    "LocalProtocolError",
    "NetworkError",
    "PoolTimeout",
    "ProtocolError",
    "ProxyError",
    "ReadError",
    "ReadTimeout",
    "RemoteProtocolError",
    "RequestNotRead",
    "ResponseNotRead",
    "StreamClosed",
    "StreamConsumed",
    "StreamError",
    "TimeoutException",
    "TooManyRedirects",
    "TotalTimeout",
    "TransportError",
    "UnsupportedProtocol",
    "WriteError",
    "WriteTimeout",
    "map_exceptions",
]


class HTTPError(Exception):
    """Base class for every error raised while sending a request.

    ```python
    try:
        response = httpcore2.request("GET", "https://www.example.com/")
    except httpcore2.HTTPError as exc:
        print(f"{exc.request!r} failed: {exc}")  # the URL's password shows as [secure]
    ```
    """

    def __init__(self, message: str, *, request: Request | None = None) -> None:
        super().__init__(message)
        self._request = request

    @property
    def request(self) -> Request:
        """The request this error belongs to."""
        if self._request is None:
            raise RuntimeError("The .request property has not been set.")
        return self._request

    @request.setter
    def request(self, request: Request) -> None:
        self._request = request


class TransportError(HTTPError):
    """An error while sending the request or receiving the response."""


class TimeoutException(TransportError):
    """A timeout elapsed."""


class ConnectTimeout(TimeoutException):
    """Connecting (TCP or TLS) took longer than the connect timeout."""


class ReadTimeout(TimeoutException):
    """No data arrived from the server within the read timeout."""


class WriteTimeout(TimeoutException):
    """Sending data to the server took longer than the write timeout."""


class PoolTimeout(TimeoutException):
    """No connection became available in the pool within the pool timeout."""


class TotalTimeout(TimeoutException):
    """The request, body included, did not complete within its total timeout."""


class NetworkError(TransportError):
    """A socket-level failure."""


class ConnectError(NetworkError):
    """The connection could not be established (refused, unreachable, DNS failure, TLS)."""


class ReadError(NetworkError):
    """Receiving data from the server failed."""


class WriteError(NetworkError):
    """Sending data to the server failed."""


class CloseError(NetworkError):
    """Closing the connection failed."""


class ProtocolError(TransportError):
    """The HTTP protocol was violated."""


class LocalProtocolError(ProtocolError):
    """We were about to violate the protocol (for example an invalid header); nothing was sent."""


class RemoteProtocolError(ProtocolError):
    """The server violated the protocol or closed the connection unexpectedly."""


class StreamRefused(RemoteProtocolError):
    """The server did not process the request, so it is safe to send again, whatever the method.

    An HTTP/2 stream the server refused (`REFUSED_STREAM`), one above the last stream id of
    its GOAWAY, or a request that found its connection taking no new streams. The pool sends
    such requests again on another connection; only a request that cannot be sent again (its
    body was an iterator) or was refused too often surfaces this, as a `RemoteProtocolError`.
    """


class ConnectionNotAvailable(StreamRefused):
    """The connection could take no new stream after all (a GOAWAY or a lower limit of
    concurrent streams arrived since the pool chose it): nothing was sent. The pool finds
    the request another stream, however often that happens."""


class ProxyError(TransportError):
    """The proxy refused or failed to relay the request.

    `status` is the status of the proxy's answer to `CONNECT` (407: it wants credentials),
    or `None` when the proxy did not answer with one (a SOCKS refusal, a broken reply).
    """

    def __init__(
        self, message: str, *, request: Request | None = None, status: int | None = None
    ) -> None:
        super().__init__(message, request=request)
        self.status = status


class UnsupportedProtocol(TransportError):
    """The URL scheme is not one the transport can speak (only http and https are), or the
    TLS handshake selected a protocol the connection may not speak."""


class DecodingError(HTTPError):
    """The response body could not be decoded (bad compression, or too large once decoded)."""


class TooManyRedirects(HTTPError):
    """The redirect chain was longer than `max_redirects`."""


class HTTPStatusError(HTTPError):
    """Raised by `Response.raise_for_status()` for 4xx and 5xx responses."""

    def __init__(self, message: str, *, request: Request, response: Response) -> None:
        super().__init__(message, request=request)
        self.response = response


class InvalidURL(ValueError):
    """The URL could not be parsed; the message says why."""


class CookieConflict(Exception):
    """Several cookies match a name where one was expected."""


class StreamError(RuntimeError):
    """A body was used in a way its state does not allow."""


class StreamConsumed(StreamError):
    """The body has already been iterated once and cannot be iterated again."""


class ResponseNotRead(StreamError):
    """`.content` was accessed on a streaming response before `read()`."""


class RequestNotRead(StreamError):
    """`.content` was accessed on a streaming request before `read()`."""


class StreamClosed(StreamError):
    """The body was read after the response was closed."""


ExceptionMapping = Mapping[type[BaseException], type[HTTPError]]


@contextlib.contextmanager
def map_exceptions(mapping: ExceptionMapping, request: Request | None = None) -> Iterator[None]:
    """Re-raise any exception listed in `mapping` as its httpcore2 counterpart.

    The most specific match wins (the mapped type nearest in the raised type's MRO),
    the original is chained as `__cause__`, and `request` is attached.
    """
    try:
        yield
    except HTTPError as exc:
        if request is not None and exc._request is None:
            exc._request = request
        raise
    except Exception as exc:
        mapped = _lookup(mapping, type(exc))
        if mapped is None:
            raise
        raise mapped(str(exc) or type(exc).__name__, request=request) from exc


def _lookup(mapping: ExceptionMapping, exc_type: type[BaseException]) -> type[HTTPError] | None:
    for klass in exc_type.__mro__:
        if klass in mapping:
            return mapping[klass]
    return None


def connect_target(host: str, port: int) -> str:
    """`host:port` as a connection error names it (`[::1]:443` for IPv6)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def connect_error(target: str, exc: OSError) -> ConnectError:
    """The `ConnectError` for a failed connect: the target and the reason, in the same words
    on every backend (each words the same failure its own way)."""
    error: BaseException = exc
    # anyio raises "All connection attempts failed" from the error of the first attempt.
    while getattr(error, "errno", None) is None and isinstance(error.__cause__, OSError):
        error = error.__cause__
    if isinstance(error, socket.gaierror):
        reason = f"the host name could not be resolved ({error.strerror})"
    elif isinstance(error, OSError) and error.errno is not None and error.errno > 0:
        # os.strerror(): asyncio puts its own words ("Connect call failed") in strerror.
        reason = os.strerror(error.errno)
    else:
        reason = str(error) or type(error).__name__
    return ConnectError(f"Could not connect to {target}: {reason}")
