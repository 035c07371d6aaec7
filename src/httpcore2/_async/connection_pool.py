"""ConnectionPool: keep-alive connections, HTTP/2 multiplexing, limits, fair queueing, safe
retries."""

from __future__ import annotations

import collections
import contextlib
import functools
import logging
import ssl
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from .._config import (
    DEFAULT_LIMITS,
    DEFAULT_TIMEOUT,
    Deadline,
    Limits,
    PoolLimits,
    Timeout,
    VerifyTypes,
    pool_ssl_context,
)
from .._content import RequestContent
from .._exceptions import (
    ConnectError,
    ConnectionNotAvailable,
    HTTPError,
    NetworkError,
    PoolTimeout,
    ReadError,
    RemoteProtocolError,
    StreamRefused,
    TimeoutException,
    UnsupportedProtocol,
    WriteError,
)
from .._fast_engine import HTTP1EngineName, check_engine_name
from .._logging import log_reused, logger, warn_unclosed_response
from .._models import Extensions, HeaderTypes, Request, Response
from .._pool_state import PoolState, connection_state
from .._proxies import Proxy, as_proxy
from .._synchronization import NoLock, Waiter
from .._tls_sessions import POOL_CAPACITY, TLSSessionCache
from .._trace import aemit
from .._urls import URL
from .connection import HTTPConnection
from .http11 import HTTP11ResponseStream
from .network import NetworkBackend
from .proxy import proxy_connection_class

__all__ = ["ConnectionPool"]

# (scheme, host, port, SNI override, proxy): everything that decides whether a pooled
# connection may serve a request. TLS settings are per pool, so they are part of the key
# implicitly; the proxy (with its credentials) comes from the pool or from the request.
PoolKey = tuple[bytes, bytes, int, Any, Any]

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
# A request the server did not process (see `StreamRefused`) is sent again while its pool
# timeout has not run out; without a pool timeout, at most this many times.
MAX_REFUSALS_WITHOUT_DEADLINE = 100
# How many new connections of its own a request may find unable to take it (a GOAWAY before
# its stream, its stream refused, a limit of zero streams) before it gives up: a server that
# does this to every new connection would otherwise have it reconnect for as long as it may.
MAX_UNUSABLE_CONNECTIONS = 3
# A request that finds no idle connection to its origin, while the pool already holds as
# many connections as it may keep idle and some of them are idle (of other origins), waits
# this long for one of its origin's connections in use before opening one more: that one
# would only push another origin's idle connection out (with many origins, almost every
# request would open a connection), and under load a connection in use comes back sooner
# than a new one is ready. Within a pool timeout shorter than this, it does not wait.
SAME_ORIGIN_PATIENCE = 0.1
# What a TLS handshake that the server cut short failed with: it closed or reset the connection
# it had accepted (a reloading server's old worker does), rather than refusing it or us.
_CLOSED_IN_TLS_HANDSHAKE = (
    ssl.SSLEOFError,
    ssl.SSLZeroReturnError,
    ConnectionResetError,
    ConnectionAbortedError,
    BrokenPipeError,
    ReadError,
    WriteError,
)
_POOL_CLOSED: Any = object()
_ABSENT: Any = object()
_DEFAULT_TIMEOUTS = DEFAULT_TIMEOUT.as_dict()  # copied for each request that sets none
_PHASES = _DEFAULT_TIMEOUTS.keys()


class _ConnectFailed:
    """Handed to the requests that waited for a connect that failed: they fail with it."""

    __slots__ = ("error",)

    def __init__(self, error: HTTPError) -> None:
        self.error = error


def _request_timeouts(extensions: Extensions) -> dict[str, float | None]:
    """The `timeout` extension as a full mapping of phases (see `Timeout.coerce`)."""
    value = extensions.get("timeout", _ABSENT)
    if value is _ABSENT:
        return _DEFAULT_TIMEOUTS.copy()
    if type(value) is dict and value.keys() == _PHASES:
        return value  # already complete, as a client (or a retry) sets it
    # A total timeout starts now, for each request sent (a redirect, or a request sent again,
    # included): a `Deadline` left by an earlier send gives its own values here.
    timeout = Timeout.coerce(value)
    if timeout.total is None:
        return timeout.as_dict()
    return Deadline(timeout.as_dict(), timeout.total)


class ConnectionPool:
    """A pool of keep-alive HTTP connections, shared by concurrent requests.

    ```python
    async with ConnectionPool(pool_limits=PoolLimits(max_connections=10)) as pool:
        response = await pool.request("GET", "https://www.example.com/")
        async with pool.stream("GET", "https://www.example.com/") as response:
            async for chunk in response.aiter_stream():
                ...
    ```

    `max_connections` bounds the connections in use (opening, or carrying requests); idle
    ones are kept per origin, reused newest first, up to `max_keepalive_connections` in all,
    and each is handed to exactly one waiting request. A request that fails on a reused
    connection before any response byte arrived (the server had closed it) is sent again,
    on the next connection, when its method is idempotent and its body can be sent again.

    With `http2=True`, an origin gets one connection as long as HTTP/2 is possible:
    requests that arrive while it connects wait for its ALPN answer, then share it as
    streams, up to the server's limit of concurrent streams (beyond it they wait for a
    stream); if that connect fails, they fail with it. A request the server did not process
    (refused, or above a GOAWAY's last stream id) is sent again, whatever its method, if its
    body can be, while its pool timeout allows. The whole policy is described in
    docs/connection-pool.md.

    With `proxy=` (a URL or a `Proxy`) every request goes through that proxy; without it,
    the request extension `proxy` does (a `Proxy`, or `None` for a direct connection), as
    `EnvironmentAdapter` sets it. Connections are pooled per origin and proxy.

    `http1_engine` picks what parses HTTP/1.1: `"fast"` (the default, `None`), a strict
    parser of our own, or `"h11"`, the reference implementation (see docs/http11-engines.md).
    `limits` bounds what one response may cost: head size, header count, 1xx responses,
    decoded size... (see `Limits` and docs/security.md).
    """

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        verify: VerifyTypes = True,
        cert: str | tuple[str, str] | tuple[str, str, str] | None = None,
        http1: bool = True,
        http2: bool = False,
        http1_engine: HTTP1EngineName | None = None,
        pool_limits: PoolLimits | None = None,
        limits: Limits = DEFAULT_LIMITS,
        retries: int = 0,
        local_address: str | None = None,
        uds: str | None = None,
        proxy: Proxy | URL | str | None = None,
        network_backend: NetworkBackend | None = None,
    ) -> None:
        if not (http1 or http2):
            raise ValueError("At least one of http1 and http2 must be enabled.")
        # A context given here serves https proxies too; else one is made when needed.
        self._proxy_ssl_context: ssl.SSLContext | None = ssl_context
        if ssl_context is None:
            alpn = ("h2",) * http2 + ("http/1.1",) * http1
            ssl_context = pool_ssl_context(verify, cert, alpn)
        # A context of the user's is used as it is, never changed: other pools may share it.
        self._ssl_context = ssl_context
        self._verify, self._cert = verify, cert
        self._proxy = as_proxy(proxy)
        self._http1 = http1
        self._http2 = http2
        check_engine_name(http1_engine)
        self._http1_engine = http1_engine
        self._limits = PoolLimits() if pool_limits is None else pool_limits
        # Past it, `_keep_idle_within_limit` closes an idle connection (tested before the call).
        max_idle = self._limits.max_keepalive_connections
        self._max_idle = float("inf") if max_idle is None else max_idle
        self._response_limits = limits
        self._retries = retries
        self._local_address = local_address
        self._uds = uds
        self._backend = network_backend
        # The last TLS session per origin and TLS settings, offered to the next connection.
        self._tls_sessions = TLSSessionCache(POOL_CAPACITY)
        self._lock = NoLock()
        self._closed = False
        # Every open (or opening) connection, with its key.
        self._connections: dict[HTTPConnection, PoolKey] = {}
        self._per_host: dict[PoolKey, int] = {}
        # Idle connections per key (newest last), and all of them oldest first.
        self._idle: dict[PoolKey, list[HTTPConnection]] = {}
        self._idle_order: dict[HTTPConnection, None] = {}
        # Waiting requests per key, and the keys whose waiters could use a new connection.
        self._waiters: dict[PoolKey, collections.deque[Waiter]] = {}
        self._ready: collections.OrderedDict[PoolKey, None] = collections.OrderedDict()
        # Per key, the connection new requests share: an HTTP/2 one, or one still connecting
        # that may become HTTP/2 (requests wait for it rather than open their own).
        self._shared: dict[PoolKey, HTTPConnection] = {}
        # Streams in use on each HTTP/2 connection.
        self._streams: dict[HTTPConnection, int] = {}
        # Responses received per key, while the key has connections: see `_Retries`.
        self._answered: dict[PoolKey, int] = {}

    # Public API.

    @property
    def connections(self) -> list[HTTPConnection]:
        """The pool's connections (opening, in use and idle), for inspection."""
        return list(self._connections)

    def state(self) -> PoolState:
        """A snapshot of the pool: its connections and the requests waiting for one.

        ```python
        state = pool.state()
        print(state.in_use, state.waiting)
        for connection in state.connections:
            print(connection.origin, connection.http_version, connection.state)
        ```

        Cheap and free of I/O: it holds the pool's lock only to copy its records, and the
        sync pool may be inspected from any thread. See `PoolState` and `ConnectionState`.
        """
        with self._lock:
            records = [
                (connection, key, connection in self._idle_order, self._streams.get(connection))
                for connection, key in self._connections.items()
            ]
            waiting = sum(len(queue) for queue in self._waiters.values())
            in_use = len(self._connections) - len(self._idle_order)
        now = time.monotonic()
        connections = tuple(connection_state(*record, now) for record in records)
        return PoolState(connections, waiting, in_use)

    async def request(
        self,
        method: str | bytes,
        url: URL | str | bytes,
        *,
        headers: HeaderTypes = None,
        content: RequestContent | None = None,
        extensions: Extensions | None = None,
    ) -> Response:
        """Send a request and read the whole response body."""
        request = Request(method, url, headers=headers, content=content, extensions=extensions)
        response = await self.handle_request(request)
        await response.aread()
        return response

    @contextlib.asynccontextmanager
    async def stream(
        self,
        method: str | bytes,
        url: URL | str | bytes,
        *,
        headers: HeaderTypes = None,
        content: RequestContent | None = None,
        extensions: Extensions | None = None,
    ) -> AsyncIterator[Response]:
        """Send a request and yield the response with its body unread; closes it afterwards."""
        request = Request(method, url, headers=headers, content=content, extensions=extensions)
        response = await self.handle_request(request)
        try:
            yield response
        finally:
            await response.aclose()

    async def handle_request(self, request: Request) -> Response:
        """Send a request on a pooled connection and return the response, body unread."""
        timeouts = request.extensions["timeout"] = _request_timeouts(request.extensions)
        # One frame, not a wrapper around a second one: an asyncio task resumes every frame
        # of its stack at each wait; the `try` costs nothing until it catches.
        try:
            scheme = request.url.scheme
            if scheme != "http" and scheme != "https":
                raise UnsupportedProtocol(
                    f"Unsupported URL scheme {scheme!r}: only http and https are.", request=request
                )
            raw = request.url.raw
            extensions = request.extensions
            proxy = self._proxy or extensions.get("proxy")
            key: PoolKey = (raw.scheme, raw.host, raw.port, extensions.get("sni_hostname"), proxy)
            # Waiting for connections and sending again what the server did not process share
            # one budget: the pool timeout, from now.
            pool_timeout = timeouts["pool"]
            deadline = None if pool_timeout is None else time.monotonic() + pool_timeout
            retries = None
            while True:
                connection, reused = await self._acquire(key, deadline, request)
                if reused and logger.isEnabledFor(logging.DEBUG):
                    log_reused(connection, request)
                try:
                    if not reused and not connection.is_connected:  # a reused one is connected
                        await self._connect(connection, request)
                    response = await connection.handle_request(request)
                except BaseException as exc:
                    await self._release(connection)
                    if retries is None:
                        retries = _Retries(deadline, self._answered, key)
                    if retries.again(exc, request, connection, reused):
                        continue
                    raise
                self._answered[key] = self._answered.get(key, 0) + 1
                stream = response.stream
                if type(stream) is HTTP11ResponseStream and type(timeouts) is not Deadline:
                    # The stream itself hands the connection back: no second stream layer
                    # for every read of the body.
                    stream.on_close = functools.partial(self._release, connection)
                else:
                    response.stream = PoolResponseStream(stream, self, connection, timeouts)
                return response
        except TimeoutException as exc:
            if type(timeouts) is Deadline:
                exc.request = request
                timeouts.check(exc)
            raise

    async def aclose(self) -> None:
        """Close every connection; requests still in flight fail, and waiters are woken."""
        with self._lock:
            self._closed = True
            connections = list(self._connections)
            waiters = [waiter for queue in self._waiters.values() for waiter in queue]
            self._connections.clear()
            self._per_host.clear()
            self._idle.clear()
            self._idle_order.clear()
            self._waiters.clear()
            self._ready.clear()
            self._shared.clear()
            self._streams.clear()
            self._answered.clear()
            for waiter in waiters:
                waiter.set(_POOL_CLOSED)
        await _close_all(connections)

    async def __aenter__(self) -> ConnectionPool:
        return self

    async def __aexit__(self, *args: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        state = self.state()
        active, idle = state.in_use, len(state.connections) - state.in_use
        return (
            f"<{type(self).__name__} [Requests: {active} active, {state.waiting} queued | "
            f"Connections: {active} active, {idle} idle]>"
        )

    # Checking connections out and in. Every `with self._lock` block is free of I/O.

    async def _acquire(
        self, key: PoolKey, deadline: float | None, request: Request
    ) -> tuple[HTTPConnection, bool]:
        to_close: list[HTTPConnection] = []
        waiter = None
        with self._lock:
            if self._closed:
                raise RuntimeError("The connection pool is closed.")
            now = time.monotonic()
            self._drop_expired(now, to_close)
            shared = self._shared.get(key)
            if shared is not None:
                connection = self._checkout_stream(shared, key, now, to_close)
            elif self._has_slot():
                connection = self._checkout_idle(key, now, to_close)
            else:
                connection = None
            if to_close:
                self._grant(to_close)
            reused = connection is not None
            if connection is None and key not in self._shared:
                connection = self._open_slot(key)
            if connection is None:
                waiter = Waiter()
                self._enqueue(key, waiter)
                patient = self._prefers_waiting(key)
        if to_close:
            await _close_all(to_close)
        if waiter is None:
            assert connection is not None
            return connection, reused
        trace = request.extensions.get("trace")
        if trace is None:
            return await self._wait(waiter, key, deadline, request, patient)
        try:
            await aemit(trace, "connection_pool.wait_for_connection.started", {"request": request})
        except BaseException:
            await self._give_up(waiter, key)
            raise
        try:
            granted = await self._wait(waiter, key, deadline, request, patient)
        except BaseException as exc:
            await aemit(trace, "connection_pool.wait_for_connection.failed", {"exception": exc})
            raise
        try:
            info = {"return_value": None}
            await aemit(trace, "connection_pool.wait_for_connection.complete", info)
        except BaseException:
            await self._release(granted[0])
            raise
        return granted

    async def _wait(
        self,
        waiter: Waiter,
        key: PoolKey,
        deadline: float | None,
        request: Request,
        patient: bool,
    ) -> tuple[HTTPConnection, bool]:
        try:
            while True:
                timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
                if not patient:
                    await waiter.wait(timeout)
                    break
                if timeout is None or timeout > SAME_ORIGIN_PATIENCE:
                    await waiter.wait(SAME_ORIGIN_PATIENCE)
                # else no time for patience: a new connection at once.
                patient = False
                to_close: list[HTTPConnection] = []
                # Waiting on the one it returns ends at once if the old one was handed over.
                waiter = self._lose_patience(waiter, key, to_close)
                await _close_all(to_close)
        except BaseException:
            await self._give_up(waiter, key)
            raise
        granted = self._leave_queue(waiter, key)
        if granted is None:
            # The phase as set: with a total timeout, reading it once its deadline has passed
            # would raise instead (see `Deadline`).
            pool_timeout = dict.get(request.extensions["timeout"], "pool")
            message = f"No connection became available within {pool_timeout} s"
            raise PoolTimeout(message, request=request)
        if granted is _POOL_CLOSED:
            raise RuntimeError("The connection pool was closed while waiting for a connection.")
        if type(granted) is _ConnectFailed:
            error = granted.error
            raise type(error)(str(error), request=request) from error
        return granted  # type: ignore[no-any-return]

    def _lose_patience(
        self, waiter: Waiter, key: PoolKey, to_close: list[HTTPConnection]
    ) -> Waiter:
        """None of its origin's connections came back in time: let the key's waiters open
        one. Returns the waiter to wait on from now (a new one, if nothing was handed over:
        the old one has timed out)."""
        with self._lock:
            if waiter.value is not None:
                return waiter
            queue = self._waiters[key]
            replacement = queue[queue.index(waiter)] = Waiter()
            self._mark_ready(key, patient=False)
            self._grant(to_close)
            return replacement

    async def _give_up(self, waiter: Waiter, key: PoolKey) -> None:
        """Leave the queue for good; a connection handed over meanwhile goes back."""
        granted = self._leave_queue(waiter, key)
        if type(granted) is tuple:
            await self._release(granted[0])

    def _leave_queue(self, waiter: Waiter, key: PoolKey) -> Any:
        """What the waiter was handed; if nothing yet, take it out of the queue."""
        with self._lock:
            if waiter.value is None:
                queue = self._waiters[key]
                queue.remove(waiter)
                if not queue:
                    del self._waiters[key]
                    self._ready.pop(key, None)
            return waiter.value

    async def _connect(self, connection: HTTPConnection, request: Request) -> None:
        """Connect; if HTTP/2, share the connection, else let the waiters open their own.

        Requests waiting for this connect to learn whether the origin speaks HTTP/2 fail
        with its error, at once: each would otherwise try, and fail, in turn. Not when the
        server closed the new connection before it took anything (a reloading server's old
        worker does): nothing was sent, and they wait for another connection.
        """
        try:
            await connection.connect(request)
        except HTTPError as exc:
            if _closed_before_use(exc):
                # The waiters wait for the next connection (see `_release`), as this request
                # does (see `_Retries`).
                raise
            with self._lock:
                key = self._connections.get(connection)
                if key is not None and self._shared.get(key) is connection:
                    self._ready.pop(key, None)
                    for waiter in self._waiters.pop(key, ()):
                        waiter.set(_ConnectFailed(exc))
            raise
        to_close: list[HTTPConnection] = []
        with self._lock:
            key = self._connections.get(connection)
            if key is None:
                return
            if connection.is_multiplexed:
                self._shared[key] = connection
                self._streams[connection] = 1
                self._serve_waiters(connection, key)
            elif self._shared.get(key) is connection:
                del self._shared[key]
                self._mark_ready(key)
                self._grant(to_close)
        if to_close:
            await _close_all(to_close)

    async def _release(self, connection: HTTPConnection) -> None:
        """Take a connection back: reuse it, hand it to a waiter, or drop it."""
        to_close: list[HTTPConnection] = []
        with self._lock:
            key = self._connections.get(connection)
            if key is None:
                return
            if connection.is_multiplexed:
                self._release_stream(connection, key, to_close)
            elif connection.is_idle() and not self._closed:
                queue = self._waiters.get(key)
                if queue:
                    queue.popleft().set((connection, True))
                    if not queue:
                        del self._waiters[key]
                        self._ready.pop(key, None)
                    return
                self._idle.setdefault(key, []).append(connection)
                self._idle_order[connection] = None
                if len(self._idle_order) > self._max_idle:
                    self._keep_idle_within_limit(to_close)
            else:
                self._forget(connection, key, to_close)
            if self._ready:
                self._grant(to_close)
        if to_close:
            await _close_all(to_close)

    def _release_stream(
        self, connection: HTTPConnection, key: PoolKey, to_close: list[HTTPConnection]
    ) -> None:
        streams = self._streams[connection] = self._streams[connection] - 1
        available = connection.is_available() and connection.max_concurrent_streams > 0
        if not available and self._shared.get(key) is connection:
            # A GOAWAY, no stream ids left, or no streams allowed at all: new requests
            # need a new connection.
            del self._shared[key]
            self._mark_ready(key)
        if connection.is_closed() or not (available or streams):
            self._forget(connection, key, to_close)
        elif available:
            self._serve_waiters(connection, key)
            if not self._streams[connection]:
                self._idle_order[connection] = None
                if len(self._idle_order) > self._max_idle:
                    self._keep_idle_within_limit(to_close)
        self._grant(to_close)

    def _checkout_stream(
        self, connection: HTTPConnection, key: PoolKey, now: float, to_close: list[HTTPConnection]
    ) -> HTTPConnection | None:
        """A stream on the key's shared connection, if it has one free; else `None`."""
        streams = self._streams.get(connection)
        if streams is None:
            return None  # still connecting: wait for it
        if streams == 0 and connection.has_expired(now):
            del self._idle_order[connection]
            self._forget(connection, key, to_close)
            return None
        if not connection.is_available():
            del self._shared[key]  # it finishes its streams; new ones need a new connection
            return None
        if streams >= connection.max_concurrent_streams:
            return None
        if streams == 0:
            if not self._has_slot():
                return None
            del self._idle_order[connection]
        self._streams[connection] = streams + 1
        return connection

    def _serve_waiters(self, connection: HTTPConnection, key: PoolKey) -> None:
        """Hand the waiting requests for `key` streams on `connection`, while it has room."""
        queue = self._waiters.get(key)
        if not queue:
            return
        limit = connection.max_concurrent_streams
        streams = self._streams[connection]
        if streams == 0:
            self._idle_order.pop(connection, None)
        while queue and streams < limit:
            streams += 1
            queue.popleft().set((connection, True))
        self._streams[connection] = streams
        if not queue:
            del self._waiters[key]
            self._ready.pop(key, None)

    def _checkout_idle(
        self, key: PoolKey, now: float, to_close: list[HTTPConnection]
    ) -> HTTPConnection | None:
        stack = self._idle.get(key)
        while stack:
            connection = stack.pop()
            del self._idle_order[connection]
            if not stack:
                del self._idle[key]
            if not connection.has_expired(now):
                return connection
            self._forget(connection, key, to_close)
        return None

    def _has_slot(self) -> bool:
        """Whether one more connection may be in use (idle ones do not count)."""
        limit = self._limits.max_connections
        return limit is None or len(self._connections) - len(self._idle_order) < limit

    def _open_slot(self, key: PoolKey) -> HTTPConnection | None:
        """A new connection for `key`, if the limits allow one and no request waits for it."""
        per_host_limit = self._limits.max_connections_per_host
        if per_host_limit is not None and self._per_host.get(key, 0) >= per_host_limit:
            return None
        if key in self._waiters or not self._has_slot() or self._prefers_waiting(key):
            return None
        return self._new_connection(key)

    def _prefers_waiting(self, key: PoolKey) -> bool:
        """Whether a request for `key` that could open a connection should rather wait a
        little for one of its origin's HTTP/1.1 connections in use (see
        `SAME_ORIGIN_PATIENCE`): the pool holds as many connections as it may keep idle
        already, and some are idle, of other origins (the key has none), so that one more
        would, once back, push one of those out."""
        limit = self._limits.max_keepalive_connections
        if not limit or len(self._connections) < limit or not self._idle_order:
            return False
        return key in self._per_host and not self._may_multiplex(key) and self._has_slot()

    def _may_multiplex(self, key: PoolKey) -> bool:
        """Whether the key's connections may speak HTTP/2 (one per origin, shared)."""
        return self._http2 and (key[0] == b"https" or not self._http1)

    def _enqueue(self, key: PoolKey, waiter: Waiter) -> None:
        self._waiters.setdefault(key, collections.deque()).append(waiter)
        self._mark_ready(key)

    def _mark_ready(self, key: PoolKey, *, patient: bool = True) -> None:
        """Let `_grant` serve the key's waiters when a connection may be put in use for them:
        an idle one of theirs, or a new one if the key may have one (and, if `patient`, it
        does not prefer to wait for one of its own)."""
        if key not in self._waiters:
            return
        shared = self._shared.get(key)
        if shared is not None:
            if self._streams.get(shared) != 0:
                return  # connecting, or in use: its waiters wait for it, or for a stream
        elif key not in self._idle:
            per_host_limit = self._limits.max_connections_per_host
            if per_host_limit is not None and self._per_host.get(key, 0) >= per_host_limit:
                return
            if patient and self._prefers_waiting(key):
                return
        self._ready[key] = None

    def _grant(self, to_close: list[HTTPConnection]) -> None:
        """Put connections in use for waiters, round robin across keys, while the limits
        allow: an idle one of their origin if there is one, else a new one."""
        per_host_limit = self._limits.max_connections_per_host
        while self._ready and self._has_slot():
            key = next(iter(self._ready))
            shared = self._shared.get(key)
            if shared is not None:
                if self._streams.get(shared) == 0:
                    self._serve_waiters(shared, key)  # an idle HTTP/2 connection
                self._ready.pop(key, None)
                continue
            connection = None
            if key in self._idle:
                connection = self._checkout_idle(key, time.monotonic(), to_close)
            reused = connection is not None
            if connection is None:
                if per_host_limit is not None and self._per_host.get(key, 0) >= per_host_limit:
                    del self._ready[key]
                    continue
                connection = self._new_connection(key)
            queue = self._waiters[key]
            queue.popleft().set((connection, reused))
            if not queue:
                del self._waiters[key]
                del self._ready[key]
            elif key in self._shared:
                del self._ready[key]  # the others wait to see if it speaks HTTP/2
            else:
                self._ready.move_to_end(key)

    def _new_connection(self, key: PoolKey) -> HTTPConnection:
        proxy = key[4]
        new: Callable[..., HTTPConnection]
        if proxy is None:
            new = functools.partial(HTTPConnection, uds=self._uds)
        else:
            kind = proxy_connection_class(proxy, key[0] == b"https")
            new = functools.partial(kind, proxy, proxy_ssl_context=self._ssl_context_for_proxies())
        connection = new(
            ssl_context=self._ssl_context,
            http1=self._http1,
            http2=self._http2,
            keepalive_expiry=self._limits.keepalive_expiry,
            http1_engine=self._http1_engine,
            limits=self._response_limits,
            retries=self._retries,
            local_address=self._local_address,
            network_backend=self._backend,
            tls_sessions=self._tls_sessions,
        )
        self._connections[connection] = key
        self._per_host[key] = self._per_host.get(key, 0) + 1
        if self._may_multiplex(key):
            self._shared[key] = connection
        return connection

    def _ssl_context_for_proxies(self) -> ssl.SSLContext:
        """TLS to https proxies: the pool's trust settings, HTTP/1.1 only (a proxy is
        spoken to in HTTP/1.1)."""
        if self._proxy_ssl_context is None:
            self._proxy_ssl_context = pool_ssl_context(self._verify, self._cert, ("http/1.1",))
        return self._proxy_ssl_context

    def _forget(
        self, connection: HTTPConnection, key: PoolKey, to_close: list[HTTPConnection]
    ) -> None:
        del self._connections[connection]
        count = self._per_host[key] - 1
        if count:
            self._per_host[key] = count
        else:
            del self._per_host[key]
            self._answered.pop(key, None)
        self._streams.pop(connection, None)
        if self._shared.get(key) is connection:
            del self._shared[key]
        self._mark_ready(key)
        if not connection.is_closed():
            to_close.append(connection)

    def _keep_idle_within_limit(self, to_close: list[HTTPConnection]) -> None:
        """Past `max_keepalive_connections` (the caller checks), close the least recently
        used idle connection whose origin has another one; only if none has, the least
        recently used of all.

        An origin's last connection is what spares its next request a connect (and the wait
        for one of its connections in use, see `SAME_ORIGIN_PATIENCE`); with requests going
        round many origins, the least recently used is also the one needed soonest.
        """
        per_host = self._per_host
        connections = self._connections
        for connection in self._idle_order:
            if per_host[connections[connection]] > 1:
                break
        else:
            connection = next(iter(self._idle_order))
        self._evict_idle(connection, to_close)

    def _evict_idle(self, connection: HTTPConnection, to_close: list[HTTPConnection]) -> None:
        del self._idle_order[connection]
        key = self._connections[connection]
        if connection not in self._streams:
            stack = self._idle[key]
            stack.remove(connection)
            if not stack:
                del self._idle[key]
        self._forget(connection, key, to_close)

    def _drop_expired(self, now: float, to_close: list[HTTPConnection]) -> None:
        expiry = self._limits.keepalive_expiry
        if expiry is None:
            return
        while self._idle_order:
            oldest = next(iter(self._idle_order))
            if now - oldest.idle_since < expiry:
                return
            self._evict_idle(oldest, to_close)


class _Retries:
    """Whether a request that failed is sent again: the pool's retry rules, in one place."""

    __slots__ = ("answered", "deadline", "key", "last_answered", "refusals", "stale", "unusable")

    def __init__(self, deadline: float | None, answered: dict[PoolKey, int], key: PoolKey) -> None:
        self.deadline = deadline
        self.answered, self.key = answered, key
        self.refusals = 0  # times the server did not process it
        # New connections of its own that took nothing, since the responses of its origin
        # numbered `last_answered`.
        self.unusable = 0
        self.last_answered = answered.get(key, 0)
        self.stale = False  # it failed on a reused connection before any response byte

    def in_time(self) -> bool:
        return self.deadline is None or time.monotonic() < self.deadline

    def in_budget(self) -> bool:
        """Whether a request the server did not process may go again: while the pool
        timeout allows, or MAX_REFUSALS_WITHOUT_DEADLINE times without one."""
        if self.deadline is None:
            return self.refusals < MAX_REFUSALS_WITHOUT_DEADLINE
        return time.monotonic() < self.deadline

    def took_nothing(self) -> int:
        """Count one more new connection of its own that took nothing; how many so far."""
        answered = self.answered.get(self.key, 0)
        if answered != self.last_answered:
            self.last_answered, self.unusable = answered, 0
        self.unusable += 1
        return self.unusable

    def again(
        self, exc: BaseException, request: Request, connection: HTTPConnection, reused: bool
    ) -> bool:
        """Whether to send `request` again after `exc`; raise if the server keeps it from
        being sent at all."""
        if isinstance(exc, StreamRefused):
            # Never processed: send it again while the pool timeout allows. A new connection
            # that took nothing, for this request or any other, counts apart, so that a
            # server refusing every connection cannot keep us reconnecting; the count starts
            # again when other requests to the origin got answers meanwhile (a reloading
            # server's old workers refuse new connections while its new ones answer).
            if (
                not reused
                and not connection.took_requests()
                and self.took_nothing() >= MAX_UNUSABLE_CONNECTIONS
            ):
                message = f"The server took no request on {self.unusable} new connections: {exc}"
                raise RemoteProtocolError(message, request=request) from exc
            resend = self.in_budget()
            if isinstance(exc, ConnectionNotAvailable):
                # Nothing sent: on a connection that served before (a GOAWAY came), always.
                if reused or resend:
                    return True
                message = f"No connection could take the request within the pool timeout: {exc}"
                raise RemoteProtocolError(message, request=request) from exc
            self.refusals += 1
            return resend and _can_resend(request)
        if isinstance(exc, ConnectError) and _closed_before_use(exc):
            # Its new connection was closed in the TLS handshake: nothing was sent.
            return self.took_nothing() < MAX_UNUSABLE_CONNECTIONS and self.in_budget()
        if not (
            isinstance(exc, (RemoteProtocolError, NetworkError))
            and not connection.response_started(request)
            and request.method in IDEMPOTENT_METHODS
            and _can_resend(request)
        ):
            return False
        if reused:
            # The server had closed it. Others it kept idle may be closed too (a restart
            # closes them all): go on while they fail so, then a new one has the last word.
            if self.stale and not self.in_time():
                return False
            self.stale = True
            return True
        if connection.was_dropped():
            # A new HTTP/2 connection that the server closed or reset before answering this
            # request (a reloading server's old worker does): the requests that shared it go
            # again (as reused ones), and so does the one that opened it, as a request the
            # server did not process.
            resend = self.in_budget()
            self.refusals += 1
            return resend
        return False


def _closed_before_use(exc: BaseException) -> bool:
    """Whether a connect failed because the server closed the connection it had accepted
    before anything was sent on it: in the HTTP/2 handshake, or in the TLS one. (Not a refused
    or timed out connect, a certificate or TLS protocol error: those fail everyone waiting.)"""
    if isinstance(exc, ConnectError):
        return isinstance(exc.__cause__, _CLOSED_IN_TLS_HANDSHAKE)
    return isinstance(exc, ConnectionNotAvailable)


def _can_resend(request: Request) -> bool:
    return bool(getattr(request.stream, "replayable", False))


async def _close_all(connections: list[HTTPConnection]) -> None:
    # A close that fails must not leave the other connections open: close them all, then
    # raise the first error.
    error: BaseException | None = None
    for connection in connections:
        try:
            await connection.aclose()
        except BaseException as exc:  # noqa: PERF203 (a rare path; each close must run)
            error = error or exc
    if error is not None:
        raise error


class PoolResponseStream:
    """A response body that returns its connection to the pool when closed."""

    __slots__ = ("_closed", "_connection", "_deadline", "_iterator", "_pool", "_stream")

    def __init__(
        self,
        stream: Any,
        pool: ConnectionPool,
        conn: HTTPConnection,
        timeouts: dict[str, float | None],
    ) -> None:
        self._stream = stream
        self._pool = pool
        self._connection = conn
        self._closed = False
        self._deadline = timeouts if type(timeouts) is Deadline else None

    def __aiter__(self) -> AsyncIterator[bytes]:
        iterator: AsyncIterator[bytes] = self._stream.__aiter__()
        if self._deadline is None:
            return iterator
        self._iterator = iterator
        return self

    async def __anext__(self) -> bytes:
        # Only with a total timeout: a read that timed out at the deadline raises its own.
        try:
            chunk: bytes = await self._iterator.__anext__()
        except TimeoutException as exc:
            assert self._deadline is not None
            self._deadline.check(exc)
            raise
        return chunk

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                await self._stream.aclose()
            finally:
                await self._pool._release(self._connection)

    def __del__(self) -> None:
        if not self._closed:
            warn_unclosed_response(self)
