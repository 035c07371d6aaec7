"""A blocking network backend on `socket` and `ssl`; it never imports anyio."""

from __future__ import annotations

import select
import socket
import ssl
import time
from typing import IO, Any, cast

from .._exceptions import (
    ConnectError,
    ConnectTimeout,
    ReadError,
    ReadTimeout,
    WriteError,
    WriteTimeout,
    connect_error,
    connect_target,
)
from .._sync.network import SyncNetworkBackend, SyncNetworkStream
from .tls_over_stream import SyncTLSOverStream

__all__ = [
    "SyncBackend",
    "SyncSocketStream",
    "UnixConnect",
    "socket_extra_info",
    "socket_is_readable",
]

_UNSET: Any = object()
# How much a liveness check decrypts ahead (see `SyncSocketStream.is_readable`).
_READ_AHEAD = 64 * 1024


def socket_is_readable(sock: socket.socket) -> bool:
    """Whether a read on `sock` would not block: data, EOF or an error is waiting."""
    if sock.fileno() < 0:
        return True
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


def socket_extra_info(sock: socket.socket, info: str) -> Any:
    """A socket stream's `client_addr`, `server_addr` or `socket`; None for anything else."""
    if info == "client_addr":
        return sock.getsockname()
    if info == "server_addr":
        return sock.getpeername()
    if info == "socket":
        return sock
    return None


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
                raise ConnectTimeout(
                    f"Could not connect to {self._path} within {self._timeout} s"
                ) from None
            return False
        except OSError as exc:
            self.sock.close()
            raise connect_error(self._path, exc) from exc
        return True


class _ClosedPoller:
    """The poll object of a closed stream: always ready, so that a read goes on to fail at
    once on the closed socket (its number may belong to another socket by now)."""

    def poll(self, timeout: float | None = None) -> list[tuple[int, int]]:
        return [(-1, select.POLLNVAL)]


_CLOSED_POLLER = _ClosedPoller()


class SyncSocketStream(SyncNetworkStream):
    """A socket: plain TCP or Unix (non-blocking, waited for with poll), or TLS (blocking)."""

    __slots__ = ("_poller", "_read_ahead", "_read_error", "_sock", "_timeout", "_tls")

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._tls = isinstance(sock, ssl.SSLSocket)
        self._timeout: float | None = _UNSET
        if not self._tls:
            # A socket with a timeout polls before every send and recv: a system call per
            # write for nothing, as a request almost always fits in the send buffer. A
            # non-blocking socket sends at once and polls only to wait.
            sock.setblocking(False)
            self._timeout = 0.0
        # One poll object for the connection's life: the liveness check before each reuse
        # then costs one system call.
        self._poller: select.poll | _ClosedPoller = select.poll()
        self._poller.register(sock, select.POLLIN)
        # What `is_readable` decrypted: data handed out by the next reads, or the error the
        # next read raises.
        self._read_ahead = b""
        self._read_error: OSError | None = None

    def _set_timeout(self, timeout: float | None) -> None:
        # settimeout() is a system call; most requests keep the same value throughout.
        if timeout != self._timeout:
            self._sock.settimeout(timeout)
            self._timeout = timeout

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if self._tls:
            return self._read_tls(max_bytes, timeout)
        if timeout is None:
            deadline = wait = None
        else:
            deadline = time.monotonic() + timeout
            wait = timeout * 1000 if timeout > 0 else 0  # poll() takes milliseconds
        while True:
            if self._poller.poll(wait):
                try:
                    return self._sock.recv(max_bytes)
                except BlockingIOError:
                    pass  # woken for nothing: wait for what is left of the timeout
                except OSError as exc:
                    raise ReadError(str(exc) or type(exc).__name__) from exc
            if deadline is not None:
                wait = (deadline - time.monotonic()) * 1000
                if wait <= 0:
                    timed_out = TimeoutError("timed out")  # what a socket with a timeout raises
                    raise ReadTimeout(f"No data received within {timeout} s") from timed_out

    def _read_tls(self, max_bytes: int, timeout: float | None) -> bytes:
        if self._read_ahead:
            data = self._read_ahead[:max_bytes]
            self._read_ahead = self._read_ahead[max_bytes:]
            return data
        if timeout != self._timeout:  # tested here too: a call saved on every read
            self._set_timeout(timeout)
        try:
            if self._read_error is not None:
                raise self._read_error
            return self._sock.recv(max_bytes)
        except (TimeoutError, BlockingIOError, ssl.SSLWantReadError) as exc:
            # A timeout of 0 (no time left before a deadline) makes the socket non-blocking:
            # nothing waiting is a timeout too, not a network error.
            raise ReadTimeout(f"No data received within {timeout} s") from exc
        except OSError as exc:
            raise ReadError(str(exc) or type(exc).__name__) from exc

    def write(self, data: bytes, timeout: float | None = None) -> None:
        if self._tls:
            self._write_tls(data, timeout)
            return
        try:
            sent = self._sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            raise WriteError(str(exc) or type(exc).__name__) from exc
        if sent < len(data):
            self._write_rest(memoryview(data)[sent:], timeout)

    def _write_rest(self, rest: memoryview, timeout: float | None) -> None:
        """Send what did not fit in the send buffer, within `timeout` in all."""
        deadline = None if timeout is None else time.monotonic() + timeout
        poller = select.poll()
        poller.register(self._sock, select.POLLOUT)
        while rest:
            wait = None
            if deadline is not None:
                wait = (deadline - time.monotonic()) * 1000
                if wait <= 0:
                    timed_out = TimeoutError("timed out")  # what a socket with a timeout raises
                    raise WriteTimeout(f"Could not send data within {timeout} s") from timed_out
            if poller.poll(wait):
                try:
                    rest = rest[self._sock.send(rest) :]
                except BlockingIOError:
                    pass  # woken for nothing: wait for what is left of the timeout
                except OSError as exc:
                    raise WriteError(str(exc) or type(exc).__name__) from exc

    def _write_tls(self, data: bytes, timeout: float | None) -> None:
        if timeout != self._timeout:
            self._set_timeout(timeout)
        try:
            self._sock.sendall(data)
        except (TimeoutError, BlockingIOError, ssl.SSLWantWriteError) as exc:
            raise WriteTimeout(f"Could not send data within {timeout} s") from exc
        except OSError as exc:
            raise WriteError(str(exc) or type(exc).__name__) from exc

    def send_file(self, file: IO[bytes], count: int, timeout: float | None = None) -> int:
        if self._tls:
            # TLS encrypts in user space: the file must pass through Python.
            return super().send_file(file, count, timeout)
        if timeout is not None and timeout <= 0:
            # No time left; `socket.sendfile` refuses a non-blocking socket.
            raise WriteTimeout(f"Could not send data within {timeout} s")
        sock = self._sock
        try:
            # `socket.sendfile` waits with the socket's timeout, and refuses a socket
            # without one (non-blocking): the stream's socket has one for this call only.
            sock.settimeout(timeout)
            try:
                return sock.sendfile(file, file.tell(), count)
            finally:
                sock.setblocking(False)
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
        self._poller = _CLOSED_POLLER

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None,
        timeout: float | None,
        session: ssl.SSLSession | None = None,
    ) -> SyncNetworkStream:
        if isinstance(self._sock, ssl.SSLSocket):
            # TLS inside TLS (through an https proxy): an SSLSocket cannot be wrapped again.
            return SyncTLSOverStream(self, ssl_context, server_hostname, timeout, session)
        self._set_timeout(timeout)
        try:
            tls = ssl_context.wrap_socket(
                self._sock, server_hostname=server_hostname, session=session
            )
        except TimeoutError as exc:
            self._sock.close()
            raise ConnectTimeout(
                f"TLS handshake with {server_hostname} did not complete within {timeout} s"
            ) from exc
        except OSError as exc:
            self._sock.close()
            raise ConnectError(f"TLS handshake with {server_hostname} failed: {exc}") from exc
        except BaseException:
            self._sock.close()
            raise
        stream = SyncSocketStream(tls)
        stream._timeout = timeout
        return stream

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object":
            return self._sock if isinstance(self._sock, ssl.SSLSocket) else None
        return socket_extra_info(self._sock, info)

    def is_readable(self) -> bool:
        sock = self._sock
        # A closed socket would be "readable" (a read fails at once); its number may
        # belong to another socket by now, so it is not polled.
        if sock.fileno() < 0:
            return True
        if not self._tls:
            return bool(self._poller.poll(0))
        if self._read_ahead or cast(ssl.SSLSocket, sock).pending():
            return True
        if not self._poller.poll(0):
            return False
        # Bytes on a TLS socket are not necessarily data: a TLS 1.3 server sends session
        # tickets after the handshake. Decrypt what is there without waiting; what turns out
        # to be data (or the end of the stream) is kept for the next read.
        self._set_timeout(0.0)
        try:
            self._read_ahead = sock.recv(_READ_AHEAD)
        except ssl.SSLWantReadError:
            return False  # records without data, now consumed
        except OSError as exc:
            self._read_error = exc
        return True


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
            target = connect_target(host, port)
            raise ConnectTimeout(f"Could not connect to {target} within {timeout} s") from exc
        except OSError as exc:
            raise connect_error(connect_target(host, port), exc) from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return SyncSocketStream(sock)

    def connect_unix_socket(self, path: str, timeout: float | None = None) -> SyncNetworkStream:
        attempt = UnixConnect(path, timeout)
        while not attempt.step():
            time.sleep(attempt.RETRY_DELAY)
        return SyncSocketStream(attempt.sock)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)
