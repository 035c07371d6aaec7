"""Timeouts, pool limits and TLS contexts."""

from __future__ import annotations

import functools
import logging
import os
import ssl
from collections.abc import Mapping
from typing import Any, Union

import certifi

__all__ = ["PoolLimits", "Timeout", "create_ssl_context"]

logger = logging.getLogger("httpcore2")

_UNSET: Any = object()

TimeoutTypes = Union["Timeout", float, None, Mapping[str, "float | None"]]
VerifyTypes = Union[bool, str, "os.PathLike[str]"]
CertTypes = Union[str, tuple[str, str], tuple[str, str, str]]


class Timeout:
    """Per-phase timeouts in seconds; `None` disables a phase's timeout.

    `read` and `write` bound each single network operation (inactivity), not the whole
    response: a download that keeps delivering data never times out.

    ```python
    Timeout(10.0)                 # every phase 10 s
    Timeout(10.0, connect=2.0)    # connect 2 s, the rest 10 s
    Timeout(None, pool=1.0)       # wait at most 1 s for a pooled connection
    ```
    """

    __slots__ = ("connect", "pool", "read", "write")

    def __init__(
        self,
        timeout: float | None = 5.0,
        *,
        connect: float | None = _UNSET,
        read: float | None = _UNSET,
        write: float | None = _UNSET,
        pool: float | None = _UNSET,
    ) -> None:
        self.connect: float | None = timeout if connect is _UNSET else connect
        self.read: float | None = timeout if read is _UNSET else read
        self.write: float | None = timeout if write is _UNSET else write
        self.pool: float | None = timeout if pool is _UNSET else pool
        for name in self.__slots__:
            value = getattr(self, name)
            if value is not None and (not isinstance(value, (int, float)) or not value >= 0):
                raise ValueError(f"Timeout {name}={value!r} must be a non-negative number or None")

    @classmethod
    def coerce(cls, value: TimeoutTypes) -> Timeout:
        """A `Timeout` from a `Timeout`, from a number or `None` for every phase, or from
        a mapping of some phases (`{"read": 30.0}`) where the others keep their default."""
        if isinstance(value, Timeout):
            return value
        if isinstance(value, Mapping):
            unknown = set(value) - set(cls.__slots__)
            if unknown:
                raise ValueError(f"Unknown timeout phases: {sorted(unknown)}")
            return cls(**value)
        return cls(value)

    def as_dict(self) -> dict[str, float | None]:
        """The timeouts as the `timeout` request extension expects them."""
        return {
            "connect": self.connect,
            "read": self.read,
            "write": self.write,
            "pool": self.pool,
        }

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Timeout) and self.as_dict() == other.as_dict()

    def __hash__(self) -> int:
        return hash(tuple(self.as_dict().values()))

    def __repr__(self) -> str:
        values = {self.connect, self.read, self.write, self.pool}
        if len(values) == 1:
            return f"Timeout({self.connect!r})"
        return (
            f"Timeout(connect={self.connect!r}, read={self.read!r}, "
            f"write={self.write!r}, pool={self.pool!r})"
        )


DEFAULT_TIMEOUT = Timeout(5.0)


class PoolLimits:
    """Limits on the connections a pool keeps.

    - `max_connections`: connections in use, opening or carrying requests (`None`:
      unlimited); idle ones do not count.
    - `max_keepalive_connections`: idle connections kept for reuse, all origins together;
      past it the least recently used is closed.
    - `keepalive_expiry`: seconds an idle connection is kept before it is closed.
    - `max_connections_per_host`: open connections to one origin (`None`: no cap).

    ```python
    pool = ConnectionPool(pool_limits=PoolLimits(max_connections=10, max_connections_per_host=2))
    ```
    """

    __slots__ = (
        "keepalive_expiry",
        "max_connections",
        "max_connections_per_host",
        "max_keepalive_connections",
    )

    def __init__(
        self,
        max_connections: int | None = 100,
        max_keepalive_connections: int | None = 20,
        keepalive_expiry: float | None = 5.0,
        max_connections_per_host: int | None = None,
    ) -> None:
        for name, value in (
            ("max_connections", max_connections),
            ("max_keepalive_connections", max_keepalive_connections),
            ("max_connections_per_host", max_connections_per_host),
        ):
            lowest = 0 if name == "max_keepalive_connections" else 1
            if value is not None and (not isinstance(value, int) or value < lowest):
                raise ValueError(f"{name}={value!r} must be an integer >= {lowest}, or None")
        if keepalive_expiry is not None and (
            not isinstance(keepalive_expiry, (int, float)) or not keepalive_expiry >= 0
        ):
            raise ValueError(
                f"keepalive_expiry={keepalive_expiry!r} must be a number >= 0, or None"
            )
        self.max_connections = max_connections
        self.max_keepalive_connections = max_keepalive_connections
        self.keepalive_expiry = keepalive_expiry
        self.max_connections_per_host = max_connections_per_host

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PoolLimits) and all(
            getattr(self, name) == getattr(other, name) for name in self.__slots__
        )

    def __hash__(self) -> int:
        return hash(tuple(getattr(self, name) for name in self.__slots__))

    def __repr__(self) -> str:
        return (
            f"PoolLimits(max_connections={self.max_connections!r}, "
            f"max_keepalive_connections={self.max_keepalive_connections!r}, "
            f"keepalive_expiry={self.keepalive_expiry!r}, "
            f"max_connections_per_host={self.max_connections_per_host!r})"
        )


def create_ssl_context(
    verify: VerifyTypes = True,
    cert: CertTypes | None = None,
    alpn_protocols: tuple[str, ...] = ("http/1.1",),
) -> ssl.SSLContext:
    """Build the TLS context a pool uses.

    `verify=True` trusts certifi's bundle (never the `SSL_CERT_*` environment variables:
    that is the environment adapter's job); `verify=<path>` trusts a CA file or directory;
    `verify=False` disables certificate and hostname checks. `cert` is a client
    certificate: a PEM path, `(cert, key)` or `(cert, key, password)`. TLS 1.2 is the floor.
    Contexts with the default trust store are built once per process and shared, since
    parsing the CA bundle takes tens of milliseconds.
    """
    if verify is True and cert is None:
        return _default_context(alpn_protocols)
    context = _new_context(verify)
    if cert is not None:
        if isinstance(cert, str):
            context.load_cert_chain(cert)
        else:
            context.load_cert_chain(*cert)
    context.set_alpn_protocols(list(alpn_protocols))
    return context


@functools.lru_cache(maxsize=8)
def _default_context(alpn_protocols: tuple[str, ...]) -> ssl.SSLContext:
    context = _new_context(True)
    context.set_alpn_protocols(list(alpn_protocols))
    return context


def _new_context(verify: VerifyTypes) -> ssl.SSLContext:
    if verify is False:
        logger.warning("TLS certificate verification is disabled (verify=False)")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif verify is True:
        context = ssl.create_default_context(cafile=certifi.where())
    else:
        path = os.fspath(verify)
        if os.path.isdir(path):
            context = ssl.create_default_context(capath=path)
        elif os.path.isfile(path):
            context = ssl.create_default_context(cafile=path)
        else:
            raise FileNotFoundError(f"verify={path!r} is neither a CA bundle file nor a directory")
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # Post-handshake auth lets servers ask for the client certificate later (TLS 1.3).
    context.post_handshake_auth = True
    return context
