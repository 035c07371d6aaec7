"""Proxies, sans-IO: the `Proxy` model and the bytes of the proxy handshakes.

The connection classes in `_async/proxy.py` (and their sync twins) do the I/O.
"""

from __future__ import annotations

import base64

from ._models import Headers, HeaderTypes
from ._urls import URL

__all__ = ["PROXY_SCHEMES", "Proxy"]

PROXY_SCHEMES = frozenset({"http", "https", "socks5", "socks5h"})


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
        self.url = parsed.copy_with(userinfo="", path="/", query="", fragment="")
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
