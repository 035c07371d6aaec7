"""TLS over any blocking network stream, for TLS inside TLS (an https origin through an
https proxy): `ssl.SSLSocket` can only wrap a socket, so the inner TLS runs on an
`ssl.SSLObject` whose encrypted bytes go through the outer stream."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from .._exceptions import ConnectError, ConnectTimeout, ReadError, ReadTimeout, WriteError
from .._sync.network import SyncNetworkStream

__all__ = ["SyncTLSOverStream"]

_READ_SIZE = 64 * 1024
_T = TypeVar("_T")


class SyncTLSOverStream(SyncNetworkStream):
    """A TLS session whose records travel over another `SyncNetworkStream`.

    Built by `SyncSocketStream.start_tls` on a stream that already speaks TLS; the
    handshake happens in the constructor. One thread may read while another writes (an
    HTTP/2 connection shared by threads): OpenSSL forbids two threads inside one TLS object
    at once, so every call into it holds a lock, never while the transport is waited for.
    Records go out in the order the TLS object wrote them, and come in in the order they
    were received.
    """

    def __init__(
        self,
        transport: SyncNetworkStream,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None,
        timeout: float | None,
        session: ssl.SSLSession | None = None,
    ) -> None:
        self._transport = transport
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._ssl = ssl_context.wrap_bio(
            self._incoming, self._outgoing, server_hostname=server_hostname, session=session
        )
        self._lock = threading.Lock()  # the TLS object and its two buffers
        self._send_lock = threading.Lock()  # from taking records out to their write
        self._receive_lock = threading.Lock()  # from the read to handing the bytes in
        try:
            self._run(self._ssl.do_handshake, timeout)
        except ReadTimeout as exc:
            transport.close()
            raise ConnectTimeout(f"TLS handshake did not complete within {timeout} s") from exc
        except (ssl.SSLError, ReadError, WriteError) as exc:
            transport.close()
            raise ConnectError(str(exc) or type(exc).__name__) from exc

    def _run(self, operation: Callable[[], _T], timeout: float | None) -> _T:
        """Run `operation` on the TLS object, sending the records it writes and receiving
        those it needs, until it completes."""
        while True:
            with self._lock:
                try:
                    result = operation()
                except ssl.SSLWantReadError:
                    pending = True
                else:
                    pending = False
                queued = self._outgoing.pending
            if queued:
                self._send(timeout)
            if not pending:
                return result
            self._receive(timeout)

    def _send(self, timeout: float | None) -> None:
        with self._send_lock:
            with self._lock:
                data = self._outgoing.read()
            if data:  # another thread may have sent them already
                self._transport.write(data, timeout)

    def _receive(self, timeout: float | None) -> None:
        with self._receive_lock:
            data = self._transport.read(_READ_SIZE, timeout)
            with self._lock:
                if data:
                    self._incoming.write(data)
                else:
                    self._incoming.write_eof()

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            return self._run(lambda: self._ssl.read(max_bytes), timeout)
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            return b""
        except ssl.SSLError as exc:
            raise ReadError(f"TLS error: {exc}") from exc

    def write(self, data: bytes, timeout: float | None = None) -> None:
        try:
            self._run(lambda: self._ssl.write(data), timeout)
        except ssl.SSLError as exc:
            raise WriteError(f"TLS error: {exc}") from exc

    def close(self) -> None:
        self._transport.close()

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object":
            return self._ssl
        return self._transport.get_extra_info(info)

    def is_readable(self) -> bool:
        with self._lock:
            pending = self._ssl.pending()
        return pending > 0 or self._transport.is_readable()
