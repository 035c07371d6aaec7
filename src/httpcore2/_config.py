"""Timeouts, pool limits and TLS contexts."""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import ssl
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Union

import certifi

from ._exceptions import TimeoutException, TotalTimeout

if TYPE_CHECKING:
    from ._models import Request

__all__ = ["DEFAULT_LIMITS", "Limits", "PoolLimits", "Timeout", "create_ssl_context"]

logger = logging.getLogger("httpcore2")

_UNSET: Any = object()

TimeoutTypes = Union["Timeout", float, None, Mapping[str, "float | None"]]
VerifyTypes = Union[bool, str, "os.PathLike[str]"]
CertTypes = Union[str, tuple[str, str], tuple[str, str, str]]


class Timeout:
    """Per-phase timeouts in seconds, and an optional total; `None` disables a timeout.

    `read` and `write` bound each single network operation (inactivity), not the whole
    response: a download that keeps delivering data never times out. `total`, off by
    default, is a deadline for each request sent: waiting for a connection, connecting,
    sending, and reading the response to the end of its body. Past it, `TotalTimeout` is
    raised (a redirect is a new request, with a deadline of its own).

    ```python
    Timeout(10.0)                 # every phase 10 s
    Timeout(10.0, connect=2.0)    # connect 2 s, the rest 10 s
    Timeout(None, pool=1.0)       # wait at most 1 s for a pooled connection
    Timeout(10.0, total=60.0)     # and at most 60 s for the whole request
    ```
    """

    __slots__ = ("connect", "pool", "read", "total", "write")

    def __init__(
        self,
        timeout: float | None = 5.0,
        *,
        connect: float | None = _UNSET,
        read: float | None = _UNSET,
        write: float | None = _UNSET,
        pool: float | None = _UNSET,
        total: float | None = None,
    ) -> None:
        # Each value is checked under the name it was given as: Timeout(-1) is about `timeout`.
        _check_seconds("timeout", timeout)
        self.connect: float | None = (
            timeout if connect is _UNSET else _check_seconds("connect", connect)
        )
        self.read: float | None = timeout if read is _UNSET else _check_seconds("read", read)
        self.write: float | None = timeout if write is _UNSET else _check_seconds("write", write)
        self.pool: float | None = timeout if pool is _UNSET else _check_seconds("pool", pool)
        self.total: float | None = None if total is None else _check_seconds("total", total)

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
        """The timeouts as the `timeout` request extension expects them (`total` only when
        it is set)."""
        timeouts = {
            "connect": self.connect,
            "read": self.read,
            "write": self.write,
            "pool": self.pool,
        }
        if self.total is not None:
            timeouts["total"] = self.total
        return timeouts

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Timeout) and self.as_dict() == other.as_dict()

    def __hash__(self) -> int:
        return hash(tuple(self.as_dict().values()))

    def __repr__(self) -> str:
        values = {self.connect, self.read, self.write, self.pool}
        if len(values) == 1:
            text = repr(self.connect)
        else:
            text = (
                f"connect={self.connect!r}, read={self.read!r}, "
                f"write={self.write!r}, pool={self.pool!r}"
            )
        total = "" if self.total is None else f", total={self.total!r}"
        return f"Timeout({text}{total})"


class Deadline(dict[str, "float | None"]):
    """The `timeout` extension of a request with a total timeout, as the pool applies it.

    A mapping of phases like the plain one, but each phase reads as the smaller of its own
    timeout and the time left before the deadline, set when the pool takes the request; once
    the deadline has passed, reading a phase raises `TotalTimeout`. A phase is read just
    before each network operation, so every wait ends by the deadline.
    """

    __slots__ = ("deadline", "total")

    def __init__(self, timeouts: Mapping[str, float | None], total: float) -> None:
        super().__init__(timeouts)
        self.total = total
        self.deadline = time.monotonic() + total

    def __getitem__(self, phase: str) -> float | None:
        value = dict.__getitem__(self, phase)
        left = self.deadline - time.monotonic()
        if left <= 0:
            # Not a timeout of 0: to a blocking socket, that means "do not wait" instead.
            raise self._exceeded()
        return left if value is None or value > left else value

    def check(self, exc: TimeoutException) -> None:
        """Raise `TotalTimeout` in place of `exc` if it came once the deadline had passed."""
        if not isinstance(exc, TotalTimeout) and time.monotonic() >= self.deadline:
            raise self._exceeded(exc._request) from exc

    def _exceeded(self, request: Request | None = None) -> TotalTimeout:
        message = f"The request did not complete within its total timeout of {self.total} s"
        return TotalTimeout(message, request=request)


def _check_seconds(name: str, value: float | None) -> float | None:
    # Zero is refused rather than given a meaning: a blocking socket takes 0 for "do not
    # block", which would fail with a network error on the sync side only.
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            f"Timeout {name}={value!r}: a timeout is a number of seconds (int or float), "
            "or None for no timeout"
        )
    if not value > 0:
        raise ValueError(
            f"Timeout {name}={value!r} must be a positive number of seconds, or None for no timeout"
        )
    return value


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


@dataclasses.dataclass(frozen=True)
class Limits:
    """Bounds on what one response may cost the client; past one, the request fails.

    Immutable; build a variant with `dataclasses.replace(limits, max_headers=50)`. The
    defaults suit the open web; docs/security.md lists each bound with the error it raises.

    - `max_head_size`: bytes of an HTTP/1.1 status line and headers, counted across reads
      (`RemoteProtocolError`).
    - `max_headers`: header fields in one response head, HTTP/1.1 or HTTP/2
      (`RemoteProtocolError`).
    - `max_informational`: 1xx responses before the final one (`RemoteProtocolError`).
    - `max_trailer_size`: bytes of an HTTP/1.1 trailer section (`RemoteProtocolError`).
    - `max_codings`: `Content-Encoding` codings, across every header line (`DecodingError`).
    - `max_decompressed_size`: bytes a body may decode to (`DecodingError`); the request
      extension `max_decompressed_size` overrides it for one request.
    - `max_in_memory_ratio`: decoded bytes per received byte for a body read whole, past its
      first 16 MiB, unless the request sets `max_decompressed_size` (`DecodingError`).
    - `max_header_list_size`: the HTTP/2 `SETTINGS_MAX_HEADER_LIST_SIZE` advertised and
      enforced: the decoded size of a header block, 32 bytes counted per field on top of its
      name and value (`RemoteProtocolError`, the connection is closed).
    - `max_continuation_frames`: HTTP/2 CONTINUATION frames after one HEADERS frame
      (`RemoteProtocolError`, the connection is closed).

    ```python
    limits = Limits(max_head_size=32 * 1024, max_decompressed_size=100 * 1024 * 1024)
    client = Client(limits=limits)
    ```
    """

    max_head_size: int = 100 * 1024
    max_headers: int = 1000
    max_informational: int = 20
    max_trailer_size: int = 100 * 1024
    max_codings: int = 5
    max_decompressed_size: int = 1 << 30
    max_in_memory_ratio: int = 100
    max_header_list_size: int = 64 * 1024
    max_continuation_frames: int = 64

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            # Zero 1xx responses or CONTINUATION frames is a policy; zero bytes is not.
            lowest = 0 if field.name in _MAY_BE_ZERO else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < lowest:
                raise ValueError(f"Limits({field.name}={value!r}): an integer >= {lowest}")


_MAY_BE_ZERO = frozenset({"max_informational", "max_continuation_frames"})
DEFAULT_LIMITS = Limits()


def create_ssl_context(
    verify: VerifyTypes = True,
    cert: CertTypes | None = None,
    alpn_protocols: tuple[str, ...] = ("http/1.1",),
) -> ssl.SSLContext:
    """Build a TLS context like the one a pool builds, for you to own.

    `verify=True` trusts certifi's bundle (never the `SSL_CERT_*` environment variables:
    that is the environment adapter's job); `verify=<path>` trusts a CA file or directory;
    `verify=False` disables certificate and hostname checks. `cert` is a client
    certificate: a PEM path, `(cert, key)` or `(cert, key, password)`. TLS 1.2 is the floor.
    Every call returns a new context: change it as you like, no one else holds it.
    """
    context = _new_context(verify)
    if cert is not None:
        if isinstance(cert, str):
            context.load_cert_chain(cert)
        else:
            context.load_cert_chain(*cert)
    context.set_alpn_protocols(list(alpn_protocols))
    return context


def pool_ssl_context(
    verify: VerifyTypes, cert: CertTypes | None, alpn_protocols: tuple[str, ...]
) -> ssl.SSLContext:
    """The context a pool builds from its `verify` and `cert`; it is never handed to users.

    Those with the default trust store are built once per process for each ALPN offer and
    shared by the pools that make that offer, since parsing the CA bundle takes tens of
    milliseconds. Nothing changes them once built, so sharing them is safe.
    """
    if verify is True and cert is None:
        return _default_context(alpn_protocols)
    return create_ssl_context(verify, cert, alpn_protocols)


@functools.lru_cache(maxsize=8)
def _default_context(alpn_protocols: tuple[str, ...]) -> ssl.SSLContext:
    return create_ssl_context(True, None, alpn_protocols)


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
