"""The clients under test, each behind the same tiny interface.

A sync client is a context manager that opens one persistent client or pool and yields
`get() -> (status, body)`; an async client is the same as an async context manager whose
`get` is a coroutine function. Every `get` reads the whole body, so each client does the
same work per request: send a GET, parse the response, read 13 bytes of body.

An HTTP/2 client (`Client.h2`) is an async client for an https URL whose certificate the CA
in `ca_file` signed. Its `get` raises `NotHTTP2` for a response that did not come over
HTTP/2, so a client that silently fell back to HTTP/1.1 fails instead of being measured.

Imports happen inside the factories, so a missing peer only removes that peer.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import re
import ssl
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    asynccontextmanager,
    contextmanager,
)
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SRC = REPO / "src"

Result = tuple[int, bytes]
SyncGet = Callable[[], Result]
AsyncGet = Callable[[], Awaitable[Result]]


@contextmanager
def httpcore2_sync(url: str, engine: str | None = None) -> Iterator[SyncGet]:
    import httpcore2

    with httpcore2.SyncConnectionPool(http1_engine=engine) as pool:

        def get() -> Result:
            response = pool.request("GET", url)
            return response.status, response.content

        yield get


@contextmanager
def httpcore2_client_sync(url: str, engine: str | None = None) -> Iterator[SyncGet]:
    import httpcore2

    with httpcore2.SyncClient(http1_engine=engine) as client:

        def get() -> Result:
            response = client.get(url)
            return response.status, response.content

        yield get


@contextmanager
def requests_sync(url: str) -> Iterator[SyncGet]:
    import requests

    with requests.Session() as session:

        def get() -> Result:
            response = session.get(url)
            return response.status_code, response.content

        yield get


@contextmanager
def urllib3_sync(url: str) -> Iterator[SyncGet]:
    import urllib3

    with urllib3.PoolManager() as manager:

        def get() -> Result:
            response = manager.request("GET", url)
            return response.status, response.data

        yield get


@contextmanager
def httpx_sync(url: str) -> Iterator[SyncGet]:
    import httpx

    with httpx.Client() as client:

        def get() -> Result:
            response = client.get(url)
            return response.status_code, response.content

        yield get


@contextmanager
def pyreqwest_sync(url: str) -> Iterator[SyncGet]:
    from pyreqwest.client import SyncClientBuilder

    with SyncClientBuilder().build() as client:

        def get() -> Result:
            response = client.get(url).build().send()
            return response.status, bytes(response.bytes())

        yield get


@contextmanager
def pycurl_sync(url: str) -> Iterator[SyncGet]:
    import io

    import pycurl

    curl = pycurl.Curl()
    curl.setopt(pycurl.URL, url)
    try:

        def get() -> Result:
            body = io.BytesIO()
            curl.setopt(pycurl.WRITEDATA, body)
            curl.perform()
            return curl.getinfo(pycurl.RESPONSE_CODE), body.getvalue()

        yield get
    finally:
        curl.close()


@asynccontextmanager
async def httpcore2_async(
    url: str, pool_size: int, engine: str | None = None
) -> AsyncIterator[AsyncGet]:
    import httpcore2

    limits = httpcore2.PoolLimits(max_connections=pool_size, max_keepalive_connections=pool_size)
    pool = httpcore2.ConnectionPool(pool_limits=limits, http1_engine=engine)
    async with pool:

        async def get() -> Result:
            response = await pool.request("GET", url)
            return response.status, response.content

        yield get


@asynccontextmanager
async def httpcore2_client_async(
    url: str, pool_size: int, engine: str | None = None
) -> AsyncIterator[AsyncGet]:
    import httpcore2

    limits = httpcore2.PoolLimits(max_connections=pool_size, max_keepalive_connections=pool_size)
    async with httpcore2.Client(pool_limits=limits, http1_engine=engine) as client:

        async def get() -> Result:
            response = await client.get(url)
            return response.status, response.content

        yield get


@asynccontextmanager
async def aiohttp_async(url: str, pool_size: int) -> AsyncIterator[AsyncGet]:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=pool_size)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def get() -> Result:
            async with session.get(url) as response:
                return response.status, await response.read()

        yield get


@asynccontextmanager
async def pyreqwest_async(url: str, pool_size: int) -> AsyncIterator[AsyncGet]:
    from pyreqwest.client import ClientBuilder

    async with ClientBuilder().max_connections(pool_size).build() as client:

        async def get() -> Result:
            response = await client.get(url).build().send()
            return response.status, bytes(await response.bytes())

        yield get


@asynccontextmanager
async def httpx_async(url: str, pool_size: int) -> AsyncIterator[AsyncGet]:
    import httpx

    limits = httpx.Limits(max_connections=pool_size, max_keepalive_connections=pool_size)
    async with httpx.AsyncClient(limits=limits) as client:

        async def get() -> Result:
            response = await client.get(url)
            return response.status_code, response.content

        yield get


class NotHTTP2(Exception):
    pass


def _require_h2(version: object, expected: object) -> None:
    if version != expected:
        raise NotHTTP2(f"a response came over {version!r}, not HTTP/2")


@asynccontextmanager
async def httpcore2_h2(url: str, ca_file: str) -> AsyncIterator[AsyncGet]:
    import httpcore2

    context = ssl.create_default_context(cafile=ca_file)
    async with httpcore2.ConnectionPool(http2=True, ssl_context=context) as pool:

        async def get() -> Result:
            response = await pool.request("GET", url)
            _require_h2(response.protocol, "HTTP/2")
            return response.status, response.content

        yield get
        connections = pool.connections
        if len(connections) != 1 or "HTTP2Connection" not in repr(connections[0]):
            raise NotHTTP2(f"expected one HTTP/2 connection in the pool, found {connections!r}")


@asynccontextmanager
async def httpcore2_client_h2(url: str, ca_file: str) -> AsyncIterator[AsyncGet]:
    import httpcore2

    context = ssl.create_default_context(cafile=ca_file)
    async with httpcore2.Client(http2=True, ssl_context=context, trust_env=False) as client:

        async def get() -> Result:
            response = await client.get(url)
            _require_h2(response.protocol, "HTTP/2")
            return response.status, response.content

        yield get


@asynccontextmanager
async def httpx_h2(url: str, ca_file: str) -> AsyncIterator[AsyncGet]:
    import httpx

    context = ssl.create_default_context(cafile=ca_file)
    async with httpx.AsyncClient(http2=True, verify=context, trust_env=False) as client:

        async def get() -> Result:
            response = await client.get(url)
            _require_h2(response.http_version, "HTTP/2")
            return response.status_code, response.content

        yield get


@asynccontextmanager
async def niquests_h2(url: str, ca_file: str) -> AsyncIterator[AsyncGet]:
    import niquests

    # With its default pool_maxsize=10, niquests opens ten connections for 100 concurrent
    # requests; with 1 they all share one HTTP/2 connection, which is also its fastest here.
    async with niquests.AsyncSession(pool_connections=1, pool_maxsize=1, verify=ca_file) as session:
        session.trust_env = False  # else REQUESTS_CA_BUNDLE would override `verify`

        async def get() -> Result:
            response = await session.get(url)
            _require_h2(response.http_version, 20)
            return response.status_code, response.content or b""

        yield get


@dataclass(frozen=True)
class Client:
    name: str
    module: str
    sync: Callable[[str], AbstractContextManager[SyncGet]] | None = None
    async_: Callable[[str, int], AbstractAsyncContextManager[AsyncGet]] | None = None
    h2: Callable[[str, str], AbstractAsyncContextManager[AsyncGet]] | None = None
    trio: bool = False


CLIENTS = [
    # `httpcore2` and `httpcore2-client` run the default HTTP/1.1 engine ("fast"); the
    # `-h11` rows the same code with `http1_engine="h11"`, the reference engine.
    Client("httpcore2", "httpcore2", httpcore2_sync, httpcore2_async, httpcore2_h2, trio=True),
    Client(
        "httpcore2-h11",
        "httpcore2",
        functools.partial(httpcore2_sync, engine="h11"),
        functools.partial(httpcore2_async, engine="h11"),
        trio=True,
    ),
    # The whole client stack (redirects, cookies, auth, defaults) over the same pool.
    Client(
        "httpcore2-client",
        "httpcore2",
        httpcore2_client_sync,
        httpcore2_client_async,
        httpcore2_client_h2,
        trio=True,
    ),
    Client(
        "httpcore2-client-h11",
        "httpcore2",
        functools.partial(httpcore2_client_sync, engine="h11"),
        functools.partial(httpcore2_client_async, engine="h11"),
        trio=True,
    ),
    Client("requests", "requests", sync=requests_sync),
    Client("urllib3", "urllib3", sync=urllib3_sync),
    Client("aiohttp", "aiohttp", async_=aiohttp_async),
    # A Rust client (reqwest on tokio; async on asyncio and uvloop only) and libcurl.
    Client("pyreqwest", "pyreqwest", pyreqwest_sync, pyreqwest_async),
    Client("pycurl", "pycurl", sync=pycurl_sync),
    Client("httpx", "httpx", httpx_sync, httpx_async, httpx_h2, trio=True),
    Client("niquests", "niquests", h2=niquests_h2),
]
BY_NAME = {client.name: client for client in CLIENTS}
REFERENCE = "httpcore2"


def use_working_tree() -> None:
    """Make `import httpcore2` load this repository's src/, whatever else is installed."""
    if str(SRC) not in sys.path:
        sys.path.insert(0, str(SRC))


def unavailable(client: Client) -> str | None:
    """Why `client` cannot run here, or None when it can."""
    reason = import_error(client.module)
    if reason is None and client.name in ("requests", "urllib3"):
        reason = _urllib3_shadowed()
    if reason is not None or client.name != REFERENCE:
        return reason
    module = sys.modules[client.module]
    if module.__file__ is None:
        return "httpcore2 has no __init__.py yet"
    location = Path(module.__file__).resolve()
    if not location.is_relative_to(SRC):
        return f"httpcore2 resolves to {location}, not to {SRC} (refusing to measure it)"
    missing = [
        name
        for name in ("SyncConnectionPool", "ConnectionPool", "PoolLimits")
        if not hasattr(module, name)
    ]
    if missing:
        return f"httpcore2 does not export {', '.join(missing)} yet"
    return None


def _urllib3_shadowed() -> str | None:
    """Whether urllib3-future (niquests' urllib3) has replaced urllib3's files."""
    import urllib3

    if re.fullmatch(r"\d+\.\d+\.9\d\d", urllib3.__version__):
        return (
            f"urllib3 {urllib3.__version__} is urllib3-future, not urllib3: reinstall both "
            "as bench/README.md says"
        )
    return None


def import_error(module: str) -> str | None:
    try:
        importlib.import_module(module)
    except Exception as exc:
        return f"cannot import {module}: {type(exc).__name__}: {exc}"
    return None


def version(module: str) -> str:
    if module == REFERENCE:
        return f"working tree ({SRC / 'httpcore2'})"
    try:
        return importlib.metadata.version(module)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"
