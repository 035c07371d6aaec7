"""HTTPConnection: opens the socket and TLS, then hands over to the protocol connection."""

from __future__ import annotations

import ipaddress
import ssl
import time

from .._backends.auto import AutoBackend
from .._exceptions import ConnectError, ConnectTimeout, HTTPError
from .._models import Request, Response
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
    """A connection to one origin: connects on the first request, then speaks HTTP/1.1.

    ```python
    connection = HTTPConnection(ssl_context=create_ssl_context())
    response = await connection.handle_request(request)
    ```
    """

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        keepalive_expiry: float | None = None,
        retries: int = 0,
        local_address: str | None = None,
        uds: str | None = None,
        network_backend: NetworkBackend | None = None,
    ) -> None:
        self._ssl_context = ssl_context
        self._keepalive_expiry = keepalive_expiry
        self._retries = retries
        self._local_address = local_address
        self._uds = uds
        self._backend = AutoBackend() if network_backend is None else network_backend
        self._connection: HTTP11Connection | None = None
        self._connect_failed = False

    async def handle_request(self, request: Request) -> Response:
        """Connect if needed, then send the request on the protocol connection."""
        if self._connection is None:
            try:
                stream = await self._connect(request)
            except BaseException as exc:
                self._connect_failed = True
                if isinstance(exc, HTTPError):
                    exc.request = request
                raise
            self._connection = HTTP11Connection(stream, keepalive_expiry=self._keepalive_expiry)
        return await self._connection.handle_request(request)

    async def _connect(self, request: Request) -> NetworkStream:
        raw = request.url.raw
        timeout = request.extensions["timeout"]["connect"]
        trace = request.extensions.get("trace")
        if trace is not None:
            trace("connection.connect_tcp.started", {"host": raw.host, "port": raw.port})
        delays = (RETRY_BACKOFF * 2**attempt for attempt in range(self._retries))
        while True:
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
        if trace is not None:
            trace("connection.connect_tcp.complete", {"stream": stream})
        if raw.scheme == b"https":
            assert self._ssl_context is not None
            hostname = server_hostname(request)
            if trace is not None:
                trace("connection.start_tls.started", {"server_hostname": hostname})
            stream = await stream.start_tls(self._ssl_context, hostname, timeout)
            if trace is not None:
                trace("connection.start_tls.complete", {"stream": stream})
        return stream

    # The pool's view of the connection.

    @property
    def response_started(self) -> bool:
        """Whether any byte of a response arrived for the current request."""
        return self._connection is not None and self._connection.response_started

    @property
    def idle_since(self) -> float:
        """When the connection last became idle."""
        return time.monotonic() if self._connection is None else self._connection.idle_since

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
            await self._connection.aclose()
        else:
            self._connect_failed = True

    def __repr__(self) -> str:
        if self._connection is None:
            state = "closed" if self._connect_failed else "connecting"
            return f"<HTTPConnection [{state}]>"
        return f"<HTTPConnection {self._connection!r}>"
