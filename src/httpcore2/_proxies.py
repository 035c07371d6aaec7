"""Proxies, sans-IO: the `Proxy` model and the bytes of the proxy handshakes.

The connection classes in `_async/proxy.py` (and their sync twins) do the I/O.
"""

from __future__ import annotations

import base64
from collections.abc import Generator
from typing import Any

from ._exceptions import ProxyError
from ._models import Headers, HeaderTypes, Request, copy_request
from ._urls import URL

__all__ = [
    "PROXY_SCHEMES",
    "Proxy",
    "as_proxy",
    "connect_request",
    "forward_request",
    "socks5_handshake",
]

PROXY_SCHEMES = frozenset({"http", "https", "socks5", "socks5h"})
SOCKS_PORT = 1080


class Proxy:
    """A proxy to send requests through.

    ```python
    pool = httpcore2.ConnectionPool(proxy=httpcore2.Proxy("http://proxy.internal:3128"))
    client = httpcore2.Client(proxy="http://user:password@proxy.internal:3128")
    ```

    - `http://` proxies forward plain http requests (sent in absolute form) and tunnel
      https ones with `CONNECT`; `https://` proxies do the same over TLS to the proxy.
    - `socks5://` (names resolved here) and `socks5h://` (names resolved by the proxy)
      tunnel everything; they need the `socks` extra (`pip install httpcore2[socks]`).

    `auth` is `(username, password)`, else taken from the URL. With `headers`, it goes
    only to the proxy: as `Proxy-Authorization` on the `CONNECT` request or on requests
    it forwards (SOCKS5 carries it in its own handshake), never to an origin.
    """

    __slots__ = ("auth", "headers", "url")

    def __init__(
        self,
        url: URL | str,
        *,
        auth: tuple[str, str] | None = None,
        headers: HeaderTypes = None,
    ) -> None:
        parsed = url if isinstance(url, URL) else URL(url)
        if parsed.scheme not in PROXY_SCHEMES:
            raise ValueError(
                f"Unsupported proxy scheme {parsed.scheme!r}: use http, https, socks5 or socks5h."
            )
        if auth is None and parsed.userinfo:
            auth = (parsed.username, parsed.password)
        port = parsed.port or SOCKS_PORT
        self.url = parsed.copy_with(userinfo="", port=port, path="/", query="", fragment="")
        self.auth = auth
        self.headers = Headers(headers)
        if auth is not None and self.url.scheme in ("http", "https"):
            credentials = f"{auth[0]}:{auth[1]}".encode()
            self.headers["Proxy-Authorization"] = b"Basic " + base64.b64encode(credentials)

    @property
    def is_socks(self) -> bool:
        """Whether this is a SOCKS5 proxy."""
        return self.url.scheme.startswith("socks")

    def _key(self) -> tuple[object, ...]:
        return (str(self.url), self.auth, tuple(self.headers))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Proxy) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        auth = ", auth=[secure]" if self.auth is not None else ""
        return f"Proxy({str(self.url)!r}{auth})"


def as_proxy(proxy: Proxy | URL | str | None) -> Proxy | None:
    """A `Proxy` from a `Proxy`, a URL or None."""
    return proxy if proxy is None or isinstance(proxy, Proxy) else Proxy(proxy)


def _authority(url: URL) -> bytes:
    """`host:port` with the port always given, as `CONNECT` and SOCKS want it."""
    raw = url.raw
    host = b"[" + raw.host + b"]" if b":" in raw.host else raw.host
    return host + b":%d" % raw.port


def connect_request(proxy: Proxy, request: Request) -> Request:
    """The `CONNECT host:port` request that opens a tunnel to `request`'s origin; it
    carries the proxy's headers (and its credentials), and the request's timeouts."""
    authority = _authority(request.url)
    extensions = {"timeout": request.extensions["timeout"], "target": authority}
    headers = Headers([(b"Host", authority)])
    headers.update(proxy.headers)
    return Request("CONNECT", request.url, headers=headers, extensions=extensions)


def forward_request(proxy: Proxy, request: Request) -> Request:
    """`request` as an HTTP proxy forwards it: the absolute URL as target, and the
    proxy's headers (its credentials) added."""
    forwarded = copy_request(request)
    raw = request.url.raw
    forwarded.extensions["target"] = raw.scheme + b"://" + _authority(request.url) + raw.target
    for name, value in proxy.headers.raw:
        forwarded.headers[name] = value
    return forwarded


def socks5_handshake(proxy: Proxy, host: str, port: int) -> Generator[bytes, bytes, None]:
    """The client side of a SOCKS5 handshake (RFC 1928, RFC 1929) that asks the proxy to
    connect to `host:port`: yields the bytes to send, and receives the proxy's reply to
    each. Raises `ProxyError` if the proxy refuses."""
    try:
        from socksio import ProtocolError, socks5
    except ImportError as exc:  # pragma: no cover - the tests install the socks extra
        raise ProxyError(
            "SOCKS proxies need the socksio package: pip install 'httpcore2[socks]'"
        ) from exc
    connection = socks5.SOCKS5Connection()
    method = (
        socks5.SOCKS5AuthMethod.NO_AUTH_REQUIRED
        if proxy.auth is None
        else socks5.SOCKS5AuthMethod.USERNAME_PASSWORD
    )
    try:
        connection.send(socks5.SOCKS5AuthMethodsRequest([method]))
        reply: Any = connection.receive_data((yield connection.data_to_send()))
        if reply.method != method:
            raise ProxyError("The SOCKS5 proxy accepts none of the authentication methods offered.")
        if proxy.auth is not None:
            username, password = (part.encode("utf-8") for part in proxy.auth)
            connection.send(socks5.SOCKS5UsernamePasswordRequest(username, password))
            reply = connection.receive_data((yield connection.data_to_send()))
            if not reply.success:
                raise ProxyError("The SOCKS5 proxy refused the credentials.")
        command = socks5.SOCKS5Command.CONNECT
        connection.send(socks5.SOCKS5CommandRequest.from_address(command, (host, port)))
        reply = connection.receive_data((yield connection.data_to_send()))
    except ProtocolError as exc:
        raise ProxyError(
            "The SOCKS5 proxy closed the connection or sent a malformed reply."
        ) from exc
    if reply.reply_code != socks5.SOCKS5ReplyCode.SUCCEEDED:
        raise ProxyError(
            f"The SOCKS5 proxy could not connect to {host}:{port}: {reply.reply_code.name}"
        )
