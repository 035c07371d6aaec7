"""TLS sessions kept for resumption, per origin and per TLS configuration (sans-IO).

A resumed handshake skips the certificate exchange and its checks: the server vouches that
it is the peer of the earlier, fully verified, handshake. A session may therefore only be
offered where that earlier handshake would have been accepted as it was: to the same origin
(host, port and name in SNI), through the same proxy, with the same `ssl.SSLContext` (which
holds the trust store, the client certificate, the protocol versions and the ALPN offer), its
checks still as they were. Everything is in the key; nothing else decides.
"""

from __future__ import annotations

import collections
import ssl
import threading
import time
from typing import Any

__all__ = ["SHARED_SESSIONS", "TLSSessionCache", "renews", "session_key"]

# Sessions a pool keeps: one per origin and TLS configuration it talks to.
POOL_CAPACITY = 100
# Sessions `httpcore2.request()` and `httpcore2.stream()` keep between calls, process-wide.
SHARED_CAPACITY = 64

SessionKey = tuple[Any, ...]


def session_key(
    ssl_context: ssl.SSLContext,
    server_hostname: str | None,
    host: bytes,
    port: int,
    via: object,
) -> SessionKey:
    """Where a session may be offered again: see the module docstring.

    The context goes in by identity (the key holds it, so its identity cannot be reused by
    another context); its checks go in by value, as a context may be changed between two
    connections.
    """
    return (
        ssl_context,
        ssl_context.verify_mode,
        ssl_context.check_hostname,
        ssl_context.minimum_version,
        ssl_context.maximum_version,
        ssl_context.options,
        server_hostname,
        host,
        port,
        via,
    )


class TLSSessionCache:
    """The last resumable TLS session per key, the least recently used dropped beyond
    `capacity`. Safe to share between threads and event loops: no I/O under its lock."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._sessions: collections.OrderedDict[SessionKey, ssl.SSLSession] = (
            collections.OrderedDict()
        )
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._sessions)

    def get(self, key: SessionKey) -> ssl.SSLSession | None:
        """The session to offer for `key`, if one is kept."""
        with self._lock:
            session = self._sessions.get(key)
            if session is not None:
                self._sessions.move_to_end(key)
            return session

    def save(self, key: SessionKey, ssl_object: ssl.SSLObject | ssl.SSLSocket) -> None:
        """Keep the session of a connection that has received data since its handshake
        (a TLS 1.3 server sends its tickets after the handshake), if it can be resumed."""
        session = ssl_object.session
        if session is None or not (session.has_ticket or session.id):
            return  # TLS 1.3 without a ticket, or a server that allows no resumption
        with self._lock:
            self._sessions[key] = session
            self._sessions.move_to_end(key)
            if len(self._sessions) > self._capacity:
                self._sessions.popitem(last=False)


def renews(offered: ssl.SSLSession | None, reused: bool) -> bool:
    """Whether a new connection's session should replace the one kept, `offered`.

    After a full handshake, always. After a resumed one, only once the session kept has
    lived half its lifetime: until then it is offered again, since taking a session out of
    the `ssl` module (and putting one in) copies it whole, certificates and all, which
    costs about as much CPU time as resuming saves. A server that accepts each TLS 1.3
    ticket once refuses the second offer; that connection makes a full handshake and its
    session is kept.
    """
    if not reused or offered is None:
        return True
    return time.time() > offered.time + offered.timeout / 2


SHARED_SESSIONS = TLSSessionCache(SHARED_CAPACITY)
