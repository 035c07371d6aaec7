"""A blocking network backend on `socket` and `ssl`; it never imports anyio."""

from __future__ import annotations

import select
import socket
import ssl
import time
from typing import Any

from .._exceptions import (
    ConnectError,
    ConnectTimeout,
    ReadError,
    ReadTimeout,
    WriteError,
    WriteTimeout,
)
from .._sync.network import SyncNetworkBackend, SyncNetworkStream
from .tls_over_stream import SyncTLSOverStream

__all__ = ["SyncBackend", "SyncSocketStream", "UnixConnect", "socket_is_readable"]

_UNSET: Any = object()


def socket_is_readable(sock: socket.socket) -> bool:
    """Whether a read on `sock` would not block: data, EOF or an error is waiting."""
    if sock.fileno() < 0:
        return True
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


class UnixConnect:
    """A non-blocking connect to a Unix socket, retried while the listener is busy.

    When a Unix listener's backlog is full, Linux answers EAGAIN: "try again", not "in
    progress". asyncio and trio take it for "in progress" and hand back a socket that
    never connected; a blocking socket fails at once, whatever the timeout. Every backend
    drives this instead: `step()` until it returns True, sleeping `RETRY_DELAY` between.
    """

    RETRY_DELAY = 0.01

    def __init__(self, path: str, timeout: float | None) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self._path = path
        self._timeout = timeout
        self._deadline = None if timeout is None else time.monotonic() + timeout

    def step(self) -> bool:
        """Try to connect: True once connected, False to try again after a pause."""
        try:
            self.sock.connect(self._path)
        except BlockingIOError:
            if self._deadline is not None and time.monotonic() >= self._deadline:
                self.sock.close()
                raise ConnectTimeout(f"Could not connect within {self._timeout} s") from None
            return False
        except OSError as exc:
            self.sock.close()
            raise ConnectError(str(exc) or type(exc).__name__) from exc
        return True


class SyncSocketStream(SyncNetworkStream):
    """A blocking socket (plain or TLS)."""

    __slots__ = ("_sock", "_timeout")

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._timeout: float | None = _UNSET

    def _set_timeout(self, timeout: float | None) -> None:
        # settimeout() is a system call; most requests keep the same value throughout.
        if timeout != self._timeout:
            self._sock.settimeout(timeout)
            self._timeout = timeout

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self._set_timeout(timeout)
        try:
            return self._sock.recv(max_bytes)
        except TimeoutError as exc:
            raise ReadTimeout(f"No data received within {timeout} s") from exc
        except OSError as exc:
            raise ReadError(str(exc) or type(exc).__name__) from exc

    def write(self, data: bytes, timeout: float | None = None) -> None:
        self._set_timeout(timeout)
        try:
            self._sock.sendall(data)
        except TimeoutError as exc:
            raise WriteTimeout(f"Could not send data within {timeout} s") from exc
        except OSError as exc:
            raise WriteError(str(exc) or type(exc).__name__) from exc

    def close(self) -> None:
        # shutdown() wakes a thread blocked in recv() on this socket; close() alone does not.
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None, timeout: float | None
    ) -> SyncNetworkStream:
        if isinstance(self._sock, ssl.SSLSocket):
            # TLS inside TLS (through an https proxy): an SSLSocket cannot be wrapped again.
            return SyncTLSOverStream(self, ssl_context, server_hostname, timeout)
        self._set_timeout(timeout)
        try:
            tls = ssl_context.wrap_socket(self._sock, server_hostname=server_hostname)
        except TimeoutError as exc:
            self._sock.close()
            raise ConnectTimeout(f"TLS handshake did not complete within {timeout} s") from exc
        except OSError as exc:
            self._sock.close()
            raise ConnectError(str(exc) or type(exc).__name__) from exc
        except BaseException:
            self._sock.close()
            raise
        stream = SyncSocketStream(tls)
        stream._timeout = timeout
        return stream

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object":
            return self._sock if isinstance(self._sock, ssl.SSLSocket) else None
        if info == "client_addr":
            return self._sock.getsockname()
        if info == "server_addr":
            return self._sock.getpeername()
        if info == "socket":
            return self._sock
        return None

    def is_readable(self) -> bool:
        return socket_is_readable(self._sock)


class SyncBackend(SyncNetworkBackend):
    """Connects with `socket.create_connection`, trying every resolved address in turn."""

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
    ) -> SyncNetworkStream:
        source = None if local_address is None else (local_address, 0)
        try:
            sock = socket.create_connection((host, port), timeout, source_address=source)
        except TimeoutError as exc:
            raise ConnectTimeout(f"Could not connect within {timeout} s") from exc
        except OSError as exc:
            raise ConnectError(str(exc) or type(exc).__name__) from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        stream = SyncSocketStream(sock)
        stream._timeout = timeout
        return stream

    def connect_unix_socket(self, path: str, timeout: float | None = None) -> SyncNetworkStream:
        attempt = UnixConnect(path, timeout)
        while not attempt.step():
            time.sleep(attempt.RETRY_DELAY)
        return SyncSocketStream(attempt.sock)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)
