"""The public names of `httpcore2`, pinned: adding or removing one is a deliberate change."""

from __future__ import annotations

import importlib.metadata
import inspect
import subprocess
import sys

import httpcore2

PUBLIC_NAMES = [
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


def test_all_is_pinned() -> None:
    assert sorted(httpcore2.__all__) == PUBLIC_NAMES
    assert len(set(httpcore2.__all__)) == len(httpcore2.__all__)


def test_every_public_name_is_importable() -> None:
    namespace: dict[str, object] = {}
    exec("from httpcore2 import *", namespace)
    assert sorted(name for name in namespace if name != "__builtins__") == PUBLIC_NAMES
    for name in PUBLIC_NAMES:
        assert namespace[name] is getattr(httpcore2, name)


def test_public_classes_and_functions_have_docstrings() -> None:
    # A class's own `__doc__` is never inherited, so a bare subclass is caught too.
    undocumented = [
        name
        for name in PUBLIC_NAMES
        if (inspect.isclass(obj := getattr(httpcore2, name)) or inspect.isfunction(obj))
        and not (obj.__doc__ or "").strip()
    ]
    assert undocumented == []


def test_public_objects_live_in_httpcore2() -> None:
    for name in PUBLIC_NAMES:
        assert getattr(httpcore2, name).__module__.startswith("httpcore2.")


def test_version_matches_the_installed_distribution() -> None:
    assert httpcore2.__version__ == importlib.metadata.version("httpcore2")


def test_importing_httpcore2_does_not_import_async_libraries() -> None:
    # The sync side must not pay for anyio or trio, not even at import time.
    code = (
        "import sys, httpcore2; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('anyio', 'trio')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30
    )
    assert result.stdout.strip() == "[]"
