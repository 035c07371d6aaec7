"""What the environment says, sans-IO: proxies, `NO_PROXY`, `.netrc` credentials, CA files.

`EnvironmentAdapter` reads it once, when it is built, and asks it for every request (every
hop of a redirect chain):

```python
environment = Environment(os.environ)
environment.proxy_for(URL("https://example.org/"))   # Proxy or None
environment.credentials_for(URL("https://example.org/"))   # (user, password) or None
```

The variables, lower case first, then upper case: `http_proxy`, `https_proxy`, `all_proxy`
(the fallback for both schemes), `no_proxy`; `NETRC` (else `~/.netrc`); and for the trust
store `REQUESTS_CA_BUNDLE`, `SSL_CERT_FILE`, `SSL_CERT_DIR` (see `ca_bundle`).
"""

from __future__ import annotations

import ipaddress
import logging
import netrc
import os
from collections.abc import Mapping
from typing import Union

from ._exceptions import InvalidURL
from ._proxies import Proxy
from ._urls import URL, _normalise_host

__all__ = ["Environment", "ca_bundle", "parse_no_proxy"]

logger = logging.getLogger("httpcore2")

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]
# A NO_PROXY entry: a domain (with its subdomains) or an IP network, and a port or None.
Rule = tuple[Union[str, Network], Union[int, None]]


def _variable(environ: Mapping[str, str], name: str) -> str:
    """`name` in lower case if set and not empty, else in upper case, else ""."""
    return environ.get(name) or environ.get(name.upper()) or ""


def ca_bundle(environ: Mapping[str, str]) -> str | None:
    """The CA file or directory the environment names for `verify=True`, if any.

    `REQUESTS_CA_BUNDLE` first (set for Python programs on purpose), then the OpenSSL
    variables `SSL_CERT_FILE` and `SSL_CERT_DIR`. A path that does not exist is skipped
    with a warning rather than failing every request.
    """
    for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR"):
        path = environ.get(name)
        if not path:
            continue
        if os.path.exists(path):
            return path
        logger.warning("Ignoring %s=%r: no such file or directory", name, path)
    return None


def parse_no_proxy(value: str) -> list[Rule] | None:
    """The rules of a `NO_PROXY` value; `None` for `*` (no proxy for any host).

    Entries are separated by commas or spaces: `example.org` (that host and its
    subdomains; a leading `.` or `*.` means the same), `host:port`, IPv4 and IPv6
    addresses (`::1`, `[::1]`, `[::1]:8080`) and CIDR ranges (`10.0.0.0/8`, `fd00::/8`).
    Entries that are none of these are ignored.
    """
    rules: list[Rule] = []
    for entry in value.replace(",", " ").split():
        if entry == "*":
            return None
        host, port = _split_port(entry)
        if host is None:
            continue
        try:
            rules.append((ipaddress.ip_network(host, strict=False), port))
        except ValueError:
            domain = _ascii_host(host.removeprefix("*").lstrip("."))
            if domain and "/" not in domain and ":" not in domain:
                rules.append((domain, port))
    return rules


def _ascii_host(name: str) -> str:
    """`name` as the URL parser writes a host (lower case, A-labels, no trailing dot), so
    that it compares equal however it was written; "" if it is not a valid host name."""
    if name.isascii():
        return name.lower().rstrip(".")
    try:
        return _normalise_host(name).rstrip(".")
    except InvalidURL:
        return ""


def _split_port(entry: str) -> tuple[str | None, int | None]:
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        port = rest.removeprefix(":") if rest.startswith(":") else None
        if rest and port is None:
            return None, None
    elif entry.count(":") == 1:
        host, port = entry.split(":")
    else:  # a name, or an IPv6 address without brackets
        return entry, None
    if port is None:
        return host, None
    return (host, int(port)) if port.isascii() and port.isdigit() else (None, None)


def bypasses_proxy(rules: list[Rule] | None, url: URL) -> bool:
    """Whether `url` is one of the hosts that `rules` (see `parse_no_proxy`) exempt."""
    if rules is None:
        return True
    host = url.raw_host.decode("ascii").partition("%")[0].rstrip(".").lower()
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for target, port in rules:
        if port is not None and port != url.port:
            continue
        if isinstance(target, str):
            if address is None and (host == target or host.endswith("." + target)):
                return True
        elif address is not None and address.version == target.version and address in target:
            return True
    return False


class Environment:
    """Proxies, `NO_PROXY` and `.netrc` credentials, read once from `environ`."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        fallback = _variable(environ, "all_proxy")
        http_proxy = environ.get("http_proxy") or ""
        # Under CGI, HTTP_PROXY is the client's `Proxy:` request header ("httpoxy"): only
        # the lower-case name is trusted there.
        if not http_proxy and "REQUEST_METHOD" not in environ:
            http_proxy = environ.get("HTTP_PROXY") or ""
        self._proxies = {
            "http": _proxy(http_proxy or fallback),
            "https": _proxy(_variable(environ, "https_proxy") or fallback),
        }
        self._no_proxy = parse_no_proxy(_variable(environ, "no_proxy"))
        self._netrc = _load_netrc(environ)
        # Neither a proxy nor credentials for any URL.
        self.empty = self._netrc is None and not any(self._proxies.values())

    def proxy_for(self, url: URL) -> Proxy | None:
        """The proxy for `url`, or None to connect directly."""
        proxy = self._proxies.get(url.scheme)
        if proxy is None or bypasses_proxy(self._no_proxy, url):
            return None
        return proxy

    def credentials_for(self, url: URL) -> tuple[str, str] | None:
        """`.netrc`'s login and password for `url`'s host (or its `default` entry)."""
        if self._netrc is None:
            return None
        host = url.raw_host.decode("ascii").rstrip(".")
        entry = self._netrc.authenticators(host)
        if entry is None:
            return None
        login, _, password = entry
        if not (login or password):
            return None
        return (login or "", password or "")


def _proxy(value: str) -> Proxy | None:
    if not value:
        return None
    if "://" not in value:
        value = "http://" + value
    try:
        return Proxy(value)
    except ValueError as exc:
        # Said without the value, which may hold a password.
        logger.warning("Ignoring a proxy variable of the environment: %s", type(exc).__name__)
        return None


def _load_netrc(environ: Mapping[str, str]) -> netrc.netrc | None:
    path = environ.get("NETRC") or os.path.join(os.path.expanduser("~"), ".netrc")
    if not os.path.isfile(path):
        return None
    try:
        parsed = netrc.netrc(path)
    except netrc.NetrcParseError as exc:
        # The parser's message may quote the file's content, passwords included.
        logger.warning("Ignoring the netrc file %s: it is malformed (line %s)", path, exc.lineno)
    except (OSError, UnicodeError):
        logger.warning("Ignoring the netrc file %s: it cannot be read as text", path)
    else:
        # Looked up by the host of a URL, which is always in this form.
        hosts = ((_ascii_host(name), entry) for name, entry in parsed.hosts.items())
        parsed.hosts = {name: entry for name, entry in hosts if name}
        return parsed
    return None
