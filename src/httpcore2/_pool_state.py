"""Snapshots of a connection pool, for inspection: `PoolState` and `ConnectionState`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

from ._proxies import Proxy
from ._urls import Origin

__all__ = ["ConnectionState", "PoolState", "connection_state"]

ConnectionStatus = Literal["connecting", "idle", "active", "closed"]


@dataclass(frozen=True)
class ConnectionState:
    """One connection of a pool, as `ConnectionPool.state()` saw it.

    ```python
    for connection in pool.state().connections:
        print(connection.origin, connection.http_version, connection.state, connection.in_flight)
    # https://example.org HTTP/2 active 3
    ```

    - `origin` and `proxy`: what the connection is pooled by (`proxy` is `None` for a direct
      connection).
    - `http_version`: `"HTTP/1.1"` or `"HTTP/2"`; `None` until the connection is open and
      its protocol settled.
    - `state`: `"connecting"` (opening, for the request that opened it); `"active"`
      (carrying requests, or handed to one that is about to send); `"idle"` (kept alive for
      the next request); `"closed"` (closed or failed, by the server or an error, and still
      held by requests that have not let it go: it leaves the pool then). An idle
      connection that the server closed shows as idle until the pool next looks at it,
      before reusing it.
    - `in_flight`: the requests it carries now: its HTTP/2 streams in use, or 1 for an
      HTTP/1.1 (or still connecting) connection in use, 0 when idle.
    - `requests`: how many requests it has been sent, those in flight included.
    - `idle_for`: seconds since it went idle, when `state == "idle"`; else `None`.
    """

    origin: Origin
    proxy: Proxy | None
    http_version: str | None
    state: ConnectionStatus
    in_flight: int
    requests: int
    idle_for: float | None


@dataclass(frozen=True)
class PoolState:
    """A snapshot of a connection pool, from `ConnectionPool.state()`.

    ```python
    state = pool.state()
    print(state.in_use, state.waiting, [c.state for c in state.connections])
    # 2 1 ['active', 'active', 'idle']
    ```

    - `connections`: every connection of the pool (connecting, in use and idle), oldest first.
    - `waiting`: requests waiting for a connection, or for a stream on an HTTP/2 one.
    - `in_use`: connections counted against `PoolLimits.max_connections`: all but the
      idle ones.
    """

    connections: tuple[ConnectionState, ...]
    waiting: int
    in_use: int


class _Inspected(Protocol):
    """What a snapshot reads of a connection (of either world): nothing that does I/O."""

    @property
    def is_connected(self) -> bool: ...

    @property
    def is_multiplexed(self) -> bool: ...

    @property
    def idle_since(self) -> float: ...

    @property
    def request_count(self) -> int: ...

    @property
    def state(self) -> str: ...


def connection_state(
    connection: _Inspected,
    key: tuple[bytes, bytes, int, Any, Any],
    idle: bool,
    streams: int | None,
    now: float,
) -> ConnectionState:
    """The snapshot of a pooled `connection`, from the pool's own records: its `key`
    (scheme, host, port, SNI name, proxy), whether it is `idle` and its HTTP/2 `streams`
    in use (`None` unless it is an open HTTP/2 connection)."""
    scheme, host, port, _, proxy = key
    version = None
    if connection.is_connected:
        version = "HTTP/2" if connection.is_multiplexed else "HTTP/1.1"
    # Closed or connecting as the connection sees it; else idle or in use as the pool does
    # (a connection handed to a request that has not sent yet is in use).
    state: ConnectionStatus
    status = connection.state
    if status == "closed":
        state = "closed"
    elif status == "connecting":
        state = "connecting"
    else:
        state = "idle" if idle else "active"
    return ConnectionState(
        origin=Origin(scheme.decode("ascii"), host.decode("ascii"), port),
        proxy=proxy,
        http_version=version,
        state=state,
        in_flight=(0 if idle else 1) if streams is None else streams,
        requests=connection.request_count,
        idle_for=now - connection.idle_since if state == "idle" else None,
    )
