"""Connections through a proxy: forwarding, `CONNECT` tunnels and SOCKS5 tunnels.

Each is an `HTTPConnection` to the proxy that the pool uses like any other; the proxy's
part of the exchange (the sans-IO requests and handshakes) is in `_proxies.py`.

- `ForwardProxyConnection`: plain http requests, sent to an HTTP(S) proxy in absolute
  form with the proxy's headers (its credentials); HTTP/1.1 only.
- `TunnelProxyConnection`: `CONNECT host:port` to an HTTP(S) proxy, then TLS to the origin
  inside the tunnel (HTTP/2 if ALPN picks it); the proxy's headers go on `CONNECT` only.
- `SocksProxyConnection`: the same tunnel opened with a SOCKS5 handshake.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl

from .._config import DEFAULT_LIMITS, Limits
from .._exceptions import ConnectError, ConnectTimeout, HTTPError, ProxyError, RemoteProtocolError
from .._fast_engine import HTTP1EngineName
from .._http11_engine import H11Engine, ResponseHead, request_parts
from .._models import Request, Response, copy_request
from .._proxies import Proxy, connect_request, forward_request, socks5_handshake
from .._tls_sessions import TLSSessionCache
from .connection import HTTPConnection
from .network import NetworkBackend, NetworkStream

__all__ = [
    "ForwardProxyConnection",
    "ProxyConnection",
    "SocksProxyConnection",
    "TunnelProxyConnection",
    "proxy_connection_class",
]

READ_SIZE = 64 * 1024


def proxy_connection_class(proxy: Proxy, origin_is_ssl: bool) -> type[ProxyConnection]:
    """The kind of connection that reaches an origin (https or not) through `proxy`."""
    if proxy.is_socks:
        return SocksProxyConnection
    if origin_is_ssl:
        return TunnelProxyConnection
    return ForwardProxyConnection


class ProxyConnection(HTTPConnection):
    """A connection whose socket goes to `proxy`: the base class connects to the proxy
    (TCP, and TLS with `proxy_ssl_context` for an https proxy); `ssl_context` is for TLS
    to the origin."""

    def __init__(
        self,
        proxy: Proxy,
        ssl_context: ssl.SSLContext | None,
        proxy_ssl_context: ssl.SSLContext | None,
        *,
        http1: bool = True,
        http2: bool = False,
        keepalive_expiry: float | None = None,
        http1_engine: HTTP1EngineName | None = None,
        limits: Limits = DEFAULT_LIMITS,
        retries: int = 0,
        local_address: str | None = None,
        network_backend: NetworkBackend | None = None,
        tls_sessions: TLSSessionCache | None = None,
    ) -> None:
        super().__init__(
            ssl_context=proxy_ssl_context,
            http1=http1,
            http2=http2,
            keepalive_expiry=keepalive_expiry,
            http1_engine=http1_engine,
            limits=limits,
            retries=retries,
            local_address=local_address,
            network_backend=network_backend,
            tls_sessions=tls_sessions,
        )
        self._proxy = proxy
        self._origin_ssl_context = ssl_context

    async def _connect(self, request: Request) -> NetworkStream:
        try:
            return await super()._connect(_to_proxy(self._proxy, request))
        except (ConnectError, ConnectTimeout) as exc:
            # The same error type, saying that it was the proxy that could not be reached.
            raise type(exc)(f"Could not use the proxy: {exc}", request=request) from exc


class ForwardProxyConnection(ProxyConnection):
    """An HTTP/1.1 connection to an http or https proxy that forwards plain http requests."""

    def _speaks_http2(self, stream: NetworkStream) -> bool:
        return False  # a proxy is spoken to in HTTP/1.1

    async def handle_request(self, request: Request) -> Response:
        """Send `request` to the proxy in absolute form; the response and errors name
        the request as it was given, without the proxy's headers."""
        try:
            response = await super().handle_request(forward_request(self._proxy, request))
        except HTTPError as exc:
            exc.request = request
            raise
        response.request = request
        return response


class TunnelProxyConnection(ProxyConnection):
    """A connection to an https origin through a `CONNECT` tunnel of an http(s) proxy."""

    async def _connect(self, request: Request) -> NetworkStream:
        stream = await super()._connect(request)
        try:
            await self._open_tunnel(stream, request)
            if request.url.is_ssl:
                assert self._origin_ssl_context is not None
                stream = await self._start_tls(
                    stream, self._origin_ssl_context, request, via=self._proxy
                )
        except BaseException:
            await stream.aclose()
            raise
        return stream

    async def _open_tunnel(self, stream: NetworkStream, request: Request) -> None:
        connect = connect_request(self._proxy, request)
        timeouts = request.extensions["timeout"]
        engine = H11Engine(self._limits)
        head = engine.request_head(*request_parts(connect))
        await stream.write(head + engine.end_of_body(), timeouts["write"])
        answer: ResponseHead | None = None
        while answer is None:
            for event in engine.receive_data(await stream.read(READ_SIZE, timeouts["read"])):
                if isinstance(event, RemoteProtocolError):
                    raise ProxyError(f"The proxy answered CONNECT badly: {event}") from event
                if type(event) is ResponseHead and event.status >= 200:
                    answer = event
                    break
        event = answer
        if not 200 <= event.status < 300:
            reason = event.reason.decode("ascii", "replace")
            raise ProxyError(
                f"The proxy refused to open a tunnel to {request.url.origin}: "
                f"{event.status} {reason}",
                status=event.status,
            )

    async def handle_request(self, request: Request) -> Response:
        """Send `request` through the tunnel, without any `Proxy-Authorization`: that
        header is for the proxy, and the proxy never sees what goes through a tunnel."""
        if b"proxy-authorization" in request.headers:
            request = copy_request(request)
            del request.headers[b"proxy-authorization"]
        return await super().handle_request(request)


class SocksProxyConnection(TunnelProxyConnection):
    """A connection to an origin (http or https) through a SOCKS5 proxy.

    `socks5://` resolves the origin's name here and hands the proxy an address;
    `socks5h://` hands it the name.
    """

    async def _open_tunnel(self, stream: NetworkStream, request: Request) -> None:
        raw = request.url.raw
        host = raw.host.decode("ascii")
        if self._proxy.url.scheme == "socks5":
            host = await _resolve(host, raw.port)
        timeouts = request.extensions["timeout"]
        handshake = socks5_handshake(self._proxy, host, raw.port)
        data = next(handshake)
        try:
            while True:
                await stream.write(data, timeouts["write"])
                data = handshake.send(await stream.read(READ_SIZE, timeouts["read"]))
        except StopIteration:
            pass


def _to_proxy(proxy: Proxy, request: Request) -> Request:
    """A request to the proxy itself, for the base class to connect to it (TCP, and TLS
    for an https proxy)."""
    url = proxy.url.copy_with(scheme="http") if proxy.is_socks else proxy.url
    given = request.extensions
    extensions = {name: given[name] for name in ("timeout", "trace") if name in given}
    return Request("GET", url, extensions=extensions)


async def _resolve(host: str, port: int) -> str:
    """An address of `host`, found here rather than by the proxy."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return host
    # unasync: remove-begin
    # Imported here: importing httpcore2 (or using the sync side) must not import anyio.
    import anyio.to_thread

    run = anyio.to_thread.run_sync
    # unasync: remove-end
    try:
        return await run(_lookup, host, port)  # unasync: sync=return _lookup(host, port)
    except OSError as exc:
        raise ConnectError(f"Could not resolve {host!r}: {exc}") from exc


def _lookup(host: str, port: int) -> str:
    address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][4][0]
    return str(address)
