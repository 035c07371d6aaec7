"""The retry policy, sans-IO: which failures to retry, how often, and how long to wait.

`RetryAdapter` (async source, sync twin) drives it; this module does no I/O. A `Retry` is
immutable: `increment()` returns the policy that is left after one more retry.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import email.utils
import random
import ssl
from collections.abc import Collection
from typing import Literal

from ._exceptions import (
    ConnectError,
    ConnectTimeout,
    HTTPError,
    ReadError,
    ReadTimeout,
    RemoteProtocolError,
    WriteError,
    WriteTimeout,
)
from ._models import Response
from ._urls import URL

__all__ = ["IDEMPOTENT_METHODS", "Retry", "RetryAttempt", "parse_retry_after"]

# RFC 9110 §9.2.2: repeating these has the same effect on the server as sending them once.
IDEMPOTENT_METHODS = frozenset({"DELETE", "GET", "HEAD", "OPTIONS", "PUT", "TRACE"})

FailureKind = Literal["connect", "read", "status"]

# Nothing was sent: safe to retry whatever the method.
_CONNECT_ERRORS = (ConnectError, ConnectTimeout)
# The connection was made but no response arrived: the server may have acted on the request.
_READ_ERRORS = (ReadError, ReadTimeout, WriteError, WriteTimeout, RemoteProtocolError)


@dataclasses.dataclass(frozen=True)
class RetryAttempt:
    """One attempt that was retried, as listed in `response.extensions["retries"]`.

    `status` is the status of a response that was retried (its body was discarded), `error`
    the exception of an attempt that failed; `delay` is how long the adapter waited
    before the next attempt, in seconds.
    """

    method: str
    url: URL
    status: int | None
    error: HTTPError | None
    delay: float


@dataclasses.dataclass(frozen=True)
class Retry:
    """How a `RetryAdapter` retries: limits, backoff, and what counts as a failure.

    ```python
    retry = Retry(3, backoff_factor=0.5, status_forcelist=[502, 503, 504])
    client = httpcore2.Client(retries=retry)
    ```

    - `total`: retries in all; `connect`, `read` and `status` limit each kind on its own
      (`None`: only `total` limits it). A connect failure (`ConnectError`,
      `ConnectTimeout`, but not a certificate that failed verification) is retried whatever
      the method, since nothing was sent. A failure after connecting and before the
      response arrived (`ReadError`, `ReadTimeout`, `WriteError`, `WriteTimeout`, a server
      that closed the connection without answering), and a response whose status is in
      `status_forcelist`, only for `allowed_methods` (the idempotent methods by default).
    - Waiting: before the n-th retry, `backoff_factor * 2 ** (n - 1)` seconds plus a random
      `0..jitter`, at most `backoff_max`. With `respect_retry_after`, a retried response's
      `Retry-After` (seconds, or an HTTP date) replaces the backoff, also capped by
      `backoff_max`; a date in the past, or a value that does not parse, means the backoff.

    A request whose body cannot be sent again (an iterator, an unseekable file) is never
    retried. `Retry` is immutable: `increment()` returns a new one.
    """

    total: int | None = 3
    _: dataclasses.KW_ONLY
    connect: int | None = None
    read: int | None = None
    status: int | None = None
    backoff_factor: float = 0.0
    backoff_max: float = 60.0
    jitter: float = 0.0
    status_forcelist: Collection[int] = ()
    allowed_methods: Collection[str] = IDEMPOTENT_METHODS
    respect_retry_after: bool = True
    # How many retries led to this policy (for the backoff); not a constructor argument.
    _retries: int = dataclasses.field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("total", "connect", "read", "status"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"Retry({name}=...) must not be negative, got {value}")
        for name in ("backoff_factor", "backoff_max", "jitter"):
            if getattr(self, name) < 0:
                raise ValueError(f"Retry({name}=...) must not be negative")
        object.__setattr__(self, "status_forcelist", frozenset(self.status_forcelist))
        methods = frozenset(method.upper() for method in self.allowed_methods)
        object.__setattr__(self, "allowed_methods", methods)

    def failure_kind(self, error: BaseException) -> FailureKind | None:
        """`"connect"` or `"read"` for an error that may be retried, else `None`.

        Errors that say something about the request or this client (an invalid request,
        an unsupported scheme, a pool with no free connection, a certificate that failed
        verification) are never retried.
        """
        if isinstance(error, _CONNECT_ERRORS):
            # A certificate that failed verification will fail the same way next time.
            if isinstance(error.__cause__, ssl.SSLCertVerificationError):
                return None
            return "connect"
        if isinstance(error, _READ_ERRORS):
            return "read"
        return None

    def is_retryable(self, method: str, kind: FailureKind) -> bool:
        """Whether a failure of this kind may be retried for a request with this method."""
        return kind == "connect" or method in self.allowed_methods

    def is_retry_status(self, status: int) -> bool:
        """Whether a response with this status is to be retried."""
        return status in self.status_forcelist

    def increment(self, kind: FailureKind) -> Retry:
        """The policy left after one more retry of this kind; see `is_exhausted`."""
        # A copy, not `dataclasses.replace()`: a limit may go below zero here, which the
        # constructor refuses.
        new = copy.copy(self)
        for name in ("total", kind):
            limit = getattr(self, name)
            if limit is not None:
                object.__setattr__(new, name, limit - 1)
        object.__setattr__(new, "_retries", self._retries + 1)
        return new

    @property
    def is_exhausted(self) -> bool:
        """Whether a limit went below zero: the retry that led here is not allowed."""
        limits = (self.total, self.connect, self.read, self.status)
        return any(limit is not None and limit < 0 for limit in limits)

    def backoff(self) -> float:
        """The exponential backoff before the next retry, jitter included, in seconds."""
        if self._retries == 0:
            return 0.0
        delay: float = self.backoff_factor * 2 ** (self._retries - 1)
        if self.jitter:
            delay += random.uniform(0, self.jitter)
        return min(delay, self.backoff_max)

    def delay(self, response: Response | None, now: datetime.datetime | None = None) -> float:
        """How long to wait before the next retry: `Retry-After` if respected, else backoff."""
        if self.respect_retry_after and response is not None:
            value = response.headers.get(b"retry-after")
            if value is not None:
                seconds = parse_retry_after(value, now)
                if seconds is not None:
                    return min(seconds, self.backoff_max)
        return self.backoff()


def parse_retry_after(value: bytes, now: datetime.datetime | None = None) -> float | None:
    """The seconds a `Retry-After` value asks for (RFC 9110 §10.2.3); `None` if it is
    malformed or a date that is not in the future. `now` defaults to the current UTC time.

    ```python
    >>> parse_retry_after(b"120")
    120.0
    ```
    """
    text = value.decode("latin-1").strip()
    if text.isdigit() and text.isascii():
        return float(text)
    try:
        date = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if date.tzinfo is None:  # "-0000": a UTC time from a source that does not say so
        date = date.replace(tzinfo=datetime.timezone.utc)
    if now is None:
        now = datetime.datetime.now(datetime.timezone.utc)
    seconds = (date - now).total_seconds()
    return seconds if seconds > 0 else None
