"""HTTPConnection: opens the socket and TLS, then hands over to the protocol connection."""

from __future__ import annotations

import ipaddress
import ssl
import time
from typing import Any

from .._backends.auto import AutoBackend
from .._config import DEFAULT_LIMITS, Limits
from .._exceptions import ConnectError, ConnectTimeout, HTTPError, UnsupportedProtocol
from .._fast_engine import HTTP1EngineName
from .._logging import log_closed, log_connected, log_tls
from .._models import Request, Response
from .._tls_sessions import SessionKey, TLSSessionCache, renews, session_key
from .._trace import TraceStep
from .http2 import HTTP2Connection
from .http11 import HTTP11Connection
from .network import NetworkBackend, NetworkStream

__all__ = ["HTTPConnection"]

# Connect retries back off exponentially from this delay.
RETRY_BACKOFF = 0.25


def server_hostname(request: Request) -> str:
    """The name for SNI and certificate checks: the A-label without a trailing dot.

    The `sni_hostname` request extension overrides it. An IP literal (zone id dropped) is
    checked against the certificate's IP addresses, and the ssl module sends no SNI for
    it (RFC 6066).
    """
    sni = request.extensions.get("sni_hostname")
    if sni:
        return str(sni)
    host = request.url.raw.host.decode("ascii")
    address = host.partition("%")[0]
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return host.rstrip(".")
    return address


class HTTPConnection:
    """A connection to one origin: connects on the first request, then speaks HTTP/1.1 or
    HTTP/2.

    ```python
    context = create_ssl_context(alpn_protocols=("h2", "http/1.1"))
    connection = HTTPConnection(ssl_context=context, http2=True)
    response = await connection.handle_request(request)
    ```

    With `http2=True`, HTTP/2 is spoken when the server picks `h2` by ALPN, or, on
    cleartext or without ALPN, when `http1=False` (prior knowledge). `limits` bounds what a
    response may cost (see `Limits`).
    """

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        http1: bool = True,
        http2: bool = False,
        keepalive_expiry: float | None = None,
        http1_engine: HTTP1EngineName | None = None,
        limits: Limits = DEFAULT_LIMITS,
        retries: int = 0,
        local_address: str | None = None,
        uds: str | None = None,
        network_backend: NetworkBackend | None = None,
        tls_sessions: TLSSessionCache | None = None,
    ) -> None:
        self._ssl_context = ssl_context
        self._http1 = http1
        self._http2 = http2
        self._keepalive_expiry = keepalive_expiry
        self._http1_engine = http1_engine
        self._limits = limits
        self._retries = retries
        self._local_address = local_address
        self._uds = uds
        self._backend = AutoBackend() if network_backend is None else network_backend
        self._connection: HTTP11Connection | HTTP2Connection | None = None
        # Whether the connection speaks HTTP/2, carrying many requests at once. (A plain
        # attribute, set once the protocol is settled: the pool reads it at every release.)
        self.is_multiplexed = False
        self._connect_failed = False
        # TLS session resumption: where sessions are kept, whether this connection resumed
        # one (None without TLS), and, until its first response, where to keep its own
        # session if it is to replace the one kept.
        self._tls_sessions = tls_sessions
        self._tls_reused: bool | None = None
        self._tls_save: tuple[TLSSessionCache, SessionKey] | None = None
        self._ssl_object: Any = None

    async def handle_request(self, request: Request) -> Response:
        """Connect if needed, then send the request on the protocol connection."""
        if self._connection is None:
            await self.connect(request)
        assert self._connection is not None
        response = await self._connection.handle_request(request)
        if self._tls_reused is not None:
            response.extensions["tls_session_reused"] = self._tls_reused
            if self._tls_save is not None:
                # Data arrived since the handshake, so a TLS 1.3 server's tickets did too.
                sessions, key = self._tls_save
                sessions.save(key, self._ssl_object)
                self._tls_save = None
        return response

    async def connect(self, request: Request) -> None:
        """Open the connection for `request`'s origin and settle the protocol."""
        try:
            stream = await self._connect(request)
            try:
                http2 = self._speaks_http2(stream)
            except UnsupportedProtocol:
                await stream.aclose()
                raise
            if http2:
                connection = HTTP2Connection(
                    stream, keepalive_expiry=self._keepalive_expiry, limits=self._limits
                )
                try:
                    await connection.handshake(request.extensions["timeout"], request)
                except BaseException:
                    await connection.aclose()
                    raise
                self._connection = connection
                self.is_multiplexed = True
            else:
                self._connection = HTTP11Connection(
                    stream,
                    keepalive_expiry=self._keepalive_expiry,
                    http1_engine=self._http1_engine,
                    limits=self._limits,
                )
        except BaseException as exc:
            self._connect_failed = True
            if isinstance(exc, HTTPError):
                exc.request = request
            raise

    def _speaks_http2(self, stream: NetworkStream) -> bool:
        """The protocol the TLS handshake selected by ALPN, never the one we merely wished for:
        a context shared with other code may offer more than this connection allows."""
        ssl_object = stream.get_extra_info("ssl_object")
        protocol = None if ssl_object is None else ssl_object.selected_alpn_protocol()
        if protocol is None:
            # Cleartext, or a server without ALPN: HTTP/1.1, or HTTP/2 by prior knowledge.
            return not self._http1
        if protocol == "h2" and self._http2:
            return True
        if protocol == "http/1.1" and self._http1:
            return False
        raise UnsupportedProtocol(
            f"The server selected {protocol!r} by ALPN, which this connection does not speak"
            f" (http1={self._http1}, http2={self._http2}): the ssl_context offers it."
        )

    async def _connect(self, request: Request) -> NetworkStream:
        raw = request.url.raw
        trace = request.extensions.get("trace")
        if trace is None:
            stream = await self._connect_tcp(request)
        else:
            info = {"host": raw.host, "port": raw.port}
            async with TraceStep(trace, "connection.connect_tcp", info) as step:
                stream = await self._connect_tcp(request)
                step.complete_info = {"stream": stream}
        log_connected(self, request)
        if raw.scheme == b"https":
            assert self._ssl_context is not None
            stream = await self._start_tls(stream, self._ssl_context, request, via=None)
        return stream

    async def _start_tls(
        self, stream: NetworkStream, ssl_context: ssl.SSLContext, request: Request, via: object
    ) -> NetworkStream:
        """TLS to `request`'s origin (through the proxy `via`, if not None), offering the
        last session kept for it and these TLS settings."""
        hostname = server_hostname(request)
        timeout = request.extensions["timeout"]["connect"]
        sessions, key, session = self._tls_sessions, None, None
        if sessions is not None:
            raw = request.url.raw
            key = session_key(ssl_context, hostname, raw.host, raw.port, via)
            session = sessions.get(key)
        trace = request.extensions.get("trace")
        if trace is None:
            stream = await stream.start_tls(ssl_context, hostname, timeout, session)
        else:
            info = {"server_hostname": hostname, "session_offered": session is not None}
            async with TraceStep(trace, "connection.start_tls", info) as step:
                stream = await stream.start_tls(ssl_context, hostname, timeout, session)
                reused = stream.get_extra_info("ssl_object").session_reused
                step.complete_info = {"stream": stream, "session_reused": reused}
        self._ssl_object = stream.get_extra_info("ssl_object")
        self._tls_reused = self._ssl_object.session_reused
        self._tls_save = None
        if sessions is not None and key is not None and renews(session, self._tls_reused):
            self._tls_save = (sessions, key)
        log_tls(self, stream)
        return stream

    async def _connect_tcp(self, request: Request) -> NetworkStream:
        raw = request.url.raw
        delays = (RETRY_BACKOFF * 2**attempt for attempt in range(self._retries))
        while True:
            # Looked up at each attempt: with a total timeout, it is at most the time left.
            timeout = request.extensions["timeout"]["connect"]
            try:
                if self._uds is not None:
                    stream = await self._backend.connect_unix_socket(self._uds, timeout)
                else:
                    host = raw.host.decode("ascii")
                    stream = await self._backend.connect_tcp(
                        host,
                        raw.port,
                        timeout,
                        self._local_address,
                    )
                break
            except (ConnectError, ConnectTimeout):
                delay = next(delays, None)
                if delay is None:
                    raise
                await self._backend.sleep(delay)
        return stream

    # The pool's view of the connection.

    @property
    def is_connected(self) -> bool:
        """Whether the connection is open and its protocol settled."""
        return self._connection is not None

    @property
    def max_concurrent_streams(self) -> int:
        """How many requests the connection carries at once."""
        if type(self._connection) is HTTP2Connection:
            return self._connection.max_concurrent_streams
        return 1

    def is_available(self) -> bool:
        """Whether an HTTP/2 connection may take new streams (see `is_idle` for HTTP/1.1)."""
        connection = self._connection
        return type(connection) is HTTP2Connection and connection.is_available()

    def response_started(self, request: Request) -> bool:
        """Whether any part of the response to `request`, which just failed, had arrived."""
        connection = self._connection
        if isinstance(connection, HTTP11Connection):
            return connection.response_started
        return connection is None or connection.response_started(request)

    def took_requests(self) -> bool:
        """Whether an HTTP/2 connection answered (or, by a GOAWAY, agreed to process) any
        request: see `HTTP2Connection.took_requests`."""
        connection = self._connection
        return type(connection) is HTTP2Connection and connection.took_requests()

    def was_dropped(self) -> bool:
        """Whether an HTTP/2 connection failed because the server closed or reset it: see
        `HTTP2Connection.was_dropped`."""
        connection = self._connection
        return type(connection) is HTTP2Connection and connection.was_dropped()

    @property
    def idle_since(self) -> float:
        """When the connection last became idle."""
        return time.monotonic() if self._connection is None else self._connection.idle_since

    @property
    def request_count(self) -> int:
        """How many requests the connection has been sent, those in flight included."""
        return 0 if self._connection is None else self._connection.request_count

    @property
    def state(self) -> str:
        """`"connecting"`, then the protocol connection's: `"idle"`, `"active"` or
        `"closed"` (also when connecting failed)."""
        if self._connection is None:
            return "closed" if self._connect_failed else "connecting"
        return self._connection.state

    def is_idle(self) -> bool:
        """Connected and free to take a request."""
        return self._connection is not None and self._connection.is_idle()

    def is_closed(self) -> bool:
        """Closed, or never connected because connecting failed."""
        if self._connection is None:
            return self._connect_failed
        return self._connection.is_closed()

    def has_expired(self, now: float) -> bool:
        """Idle past its keep-alive expiry, or closed by the server while idle."""
        return self._connection is not None and self._connection.has_expired(now)

    async def aclose(self) -> None:
        """Close the connection."""
        if self._connection is not None:
            log_closed(self)
            await self._connection.aclose()
        else:
            self._connect_failed = True

    def __repr__(self) -> str:
        if self._connection is None:
            return f"<HTTPConnection [{self.state}]>"
        return f"<HTTPConnection {self._connection!r}>"
