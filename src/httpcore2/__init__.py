"""httpcore2: a layered sync + async HTTP client.

```python
import httpcore2

response = httpcore2.request("GET", "https://www.example.com/")
print(response.status, response.content[:20])
```
"""

from __future__ import annotations

from ._api import request, stream
from ._async.adapters import AuthAdapter, CookieAdapter, EnvironmentAdapter, RedirectAdapter
from ._async.client import Client
from ._async.connection import HTTPConnection
from ._async.connection_pool import ConnectionPool
from ._async.http2 import HTTP2Connection
from ._async.http11 import HTTP11Connection
from ._async.mock import MockBackend, MockStream
from ._async.mock_transport import MockTransport
from ._async.network import NetworkBackend, NetworkStream
from ._async.retry import RetryAdapter
from ._auth import Auth, BasicAuth, DigestAuth
from ._backends.auto import AutoBackend
from ._backends.sync import SyncBackend
from ._config import Limits, PoolLimits, Timeout, create_ssl_context
from ._cookies import Cookies
from ._exceptions import (
    CloseError,
    ConnectError,
    ConnectTimeout,
    CookieConflict,
    DecodingError,
    HTTPError,
    HTTPStatusError,
    InvalidURL,
    LocalProtocolError,
    NetworkError,
    PoolTimeout,
    ProtocolError,
    ProxyError,
    ReadError,
    ReadTimeout,
    RemoteProtocolError,
    RequestNotRead,
    ResponseNotRead,
    StreamClosed,
    StreamConsumed,
    StreamError,
    TimeoutException,
    TooManyRedirects,
    TotalTimeout,
    TransportError,
    UnsupportedProtocol,
    WriteError,
    WriteTimeout,
)
from ._models import Headers, Request, Response
from ._pool_state import ConnectionState, PoolState
from ._proxies import Proxy
from ._retry import Retry, RetryAttempt
from ._router import Route, Router
from ._sync.adapters import (
    SyncAuthAdapter,
    SyncCookieAdapter,
    SyncEnvironmentAdapter,
    SyncRedirectAdapter,
)
from ._sync.client import SyncClient
from ._sync.connection import SyncHTTPConnection
from ._sync.connection_pool import SyncConnectionPool
from ._sync.http2 import SyncHTTP2Connection
from ._sync.http11 import SyncHTTP11Connection
from ._sync.mock import SyncMockBackend, SyncMockStream
from ._sync.mock_transport import SyncMockTransport
from ._sync.network import SyncNetworkBackend, SyncNetworkStream
from ._sync.retry import SyncRetryAdapter
from ._urls import URL, Origin, QueryParams

__version__ = "0.1.0"

__all__ = [
    "Auth",
    "AuthAdapter",
    "AutoBackend",
    "BasicAuth",
    "Client",
    "CloseError",
    "ConnectError",
    "ConnectTimeout",
    "ConnectionPool",
    "ConnectionState",
    "CookieAdapter",
    "CookieConflict",
    "Cookies",
    "DecodingError",
    "DigestAuth",
    "EnvironmentAdapter",
    "HTTP11Connection",
    "HTTP2Connection",
    "HTTPConnection",
    "HTTPError",
    "HTTPStatusError",
    "Headers",
    "InvalidURL",
    "Limits",
    "LocalProtocolError",
    "MockBackend",
    "MockStream",
    "MockTransport",
    "NetworkBackend",
    "NetworkError",
    "NetworkStream",
    "Origin",
    "PoolLimits",
    "PoolState",
    "PoolTimeout",
    "ProtocolError",
    "Proxy",
    "ProxyError",
    "QueryParams",
    "ReadError",
    "ReadTimeout",
    "RedirectAdapter",
    "RemoteProtocolError",
    "Request",
    "RequestNotRead",
    "Response",
    "ResponseNotRead",
    "Retry",
    "RetryAdapter",
    "RetryAttempt",
    "Route",
    "Router",
    "StreamClosed",
    "StreamConsumed",
    "StreamError",
    "SyncAuthAdapter",
    "SyncBackend",
    "SyncClient",
    "SyncConnectionPool",
    "SyncCookieAdapter",
    "SyncEnvironmentAdapter",
    "SyncHTTP11Connection",
    "SyncHTTP2Connection",
    "SyncHTTPConnection",
    "SyncMockBackend",
    "SyncMockStream",
    "SyncMockTransport",
    "SyncNetworkBackend",
    "SyncNetworkStream",
    "SyncRedirectAdapter",
    "SyncRetryAdapter",
    "Timeout",
    "TimeoutException",
    "TooManyRedirects",
    "TotalTimeout",
    "TransportError",
    "URL",
    "UnsupportedProtocol",
    "WriteError",
    "WriteTimeout",
    "create_ssl_context",
    "request",
    "stream",
]
