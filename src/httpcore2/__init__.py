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
from ._async.network import NetworkBackend, NetworkStream
from ._auth import BasicAuth
from ._backends.auto import AutoBackend
from ._backends.sync import SyncBackend
from ._config import PoolLimits, Timeout, create_ssl_context
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
from ._sync.network import SyncNetworkBackend, SyncNetworkStream
from ._urls import URL, Origin, QueryParams

__version__ = "0.1.0"

__all__ = [
    "URL",
    "AuthAdapter",
    "AutoBackend",
    "BasicAuth",
    "Client",
    "CloseError",
    "ConnectError",
    "ConnectTimeout",
    "ConnectionPool",
    "CookieAdapter",
    "CookieConflict",
    "Cookies",
    "DecodingError",
    "EnvironmentAdapter",
    "HTTP11Connection",
    "HTTP2Connection",
    "HTTPConnection",
    "HTTPError",
    "HTTPStatusError",
    "Headers",
    "InvalidURL",
    "LocalProtocolError",
    "MockBackend",
    "MockStream",
    "NetworkBackend",
    "NetworkError",
    "NetworkStream",
    "Origin",
    "PoolLimits",
    "PoolTimeout",
    "ProtocolError",
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
    "SyncNetworkBackend",
    "SyncNetworkStream",
    "SyncRedirectAdapter",
    "Timeout",
    "TimeoutException",
    "TooManyRedirects",
    "TotalTimeout",
    "TransportError",
    "UnsupportedProtocol",
    "WriteError",
    "WriteTimeout",
    "create_ssl_context",
    "request",
    "stream",
]
