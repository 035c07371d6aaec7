"""The sync network backend on `socket` and `ssl`: its calls block, its sockets do not (it
waits with poll). It never imports anyio."""

from __future__ import annotations

import select
import socket
import ssl
import threading
import time
from typing import IO, Any, TypeVar, cast

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
from .sockets import UnixConnect, socket_extra_info
from .tls_over_stream import SyncTLSOverStream

__all__ = ["SyncBackend", "SyncSocketStream"]

# How much a liveness check decrypts ahead (see `SyncSocketStream.is_readable`).
_READ_AHEAD = 64 * 1024


class _ClosedPoller:
    """The poll object of a closed stream: always ready, so that a read goes on to fail at
    once on the closed socket (its number may belong to another socket by now)."""

    def poll(self, timeout: float | None = None) -> list[tuple[int, int]]:
        return [(-1, select.POLLNVAL)]


_CLOSED_POLLER = _ClosedPoller()

_Timeout = TypeVar("_Timeout", ReadTimeout, WriteTimeout)

# The longest single wait in poll(), in milliseconds. A signal that arrives just before
# poll() starts (a Ctrl-C) does not interrupt it: Python runs the handler when poll()
# returns, so a long wait is cut into slices, and the handler runs within one.
_WAIT_SLICE = 1000.0


def _poller(sock: socket.socket, events: int) -> select.poll | _ClosedPoller:
    """A poll object watching `sock` for `events`."""
    if sock.fileno() < 0:
        return _CLOSED_POLLER
    poller = select.poll()
    poller.register(sock, events)
    return poller


def _wait(poller: select.poll | _ClosedPoller, deadline: float | None) -> bool:
    """Wait until `poller` reports its socket ready: False if `deadline` passes first (one
    already past still gets a look)."""
    while True:
        if deadline is None:
            wait = _WAIT_SLICE
        else:
            wait = (deadline - time.monotonic()) * 1000  # poll() takes milliseconds
            if wait > _WAIT_SLICE:
                wait = _WAIT_SLICE
            elif wait < 0:
                wait = 0
        if poller.poll(wait):
            return True
        if deadline is not None and time.monotonic() >= deadline:
            return False


def _timed_out(error_type: type[_Timeout], message: str) -> _Timeout:
    error = error_type(message)
    error.__cause__ = TimeoutError("timed out")  # what a socket with a timeout raises
    return error


def _read_timeout(timeout: float | None) -> ReadTimeout:
    return _timed_out(ReadTimeout, f"No data received within {timeout} s")


def _write_timeout(timeout: float | None) -> WriteTimeout:
    return _timed_out(WriteTimeout, f"Could not send data within {timeout} s")


class SyncSocketStream(SyncNetworkStream):
    """A plain TCP, Unix or TLS socket, non-blocking and waited for with poll.

    One thread may read while another writes (an HTTP/2 connection shared by threads).
    OpenSSL forbids two threads inside one TLS object at once, so on TLS every call into it
    holds a lock; no thread holds it while it waits for the network.
    """

    __slots__ = ("_lock", "_poller", "_read_ahead", "_read_error", "_sock", "_tls")

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        # A socket with a timeout polls before every send and recv: a system call per
        # write for nothing, as a request almost always fits in the send buffer. A
        # non-blocking socket sends at once and polls only to wait.
        sock.setblocking(False)
        self._tls = isinstance(sock, ssl.SSLSocket)
        self._lock = threading.Lock()
        # One poll object for the connection's life, used by the reader only (a poll object
        # refuses two threads at once): the liveness check before each reuse then costs one
        # system call.
        self._poller: select.poll | _ClosedPoller = select.poll()
        self._poller.register(sock, select.POLLIN)
        # What `is_readable` decrypted: data handed out by the next reads, or the error the
        # next read raises.
        self._read_ahead = b""
        self._read_error: OSError | None = None

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if self._tls:
            return self._read_tls(max_bytes, timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if not _wait(self._poller, deadline):
                raise _read_timeout(timeout)
            try:
                return self._sock.recv(max_bytes)
            except BlockingIOError:
                pass  # woken for nothing: wait for what is left of the timeout
            except OSError as exc:
                raise ReadError(str(exc) or type(exc).__name__) from exc

    def _read_tls(self, max_bytes: int, timeout: float | None) -> bytes:
        if self._read_ahead:
            data = self._read_ahead[:max_bytes]
            self._read_ahead = self._read_ahead[max_bytes:]
            return data
        if self._read_error is not None:
            error = self._read_error
            raise ReadError(str(error) or type(error).__name__) from error
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            # Data already decrypted, or a whole record on the socket, is read without
            # waiting: the TLS object must be asked before the socket is polled.
            with self._lock:
                try:
                    return self._sock.recv(max_bytes)
                except ssl.SSLWantReadError:
                    poller = self._poller
                except ssl.SSLWantWriteError:
                    poller = _poller(self._sock, select.POLLOUT)
                except OSError as exc:
                    raise ReadError(str(exc) or type(exc).__name__) from exc
            if not _wait(poller, deadline):
                raise _read_timeout(timeout)

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
        poller = _poller(self._sock, select.POLLOUT)
        while rest:
            if not _wait(poller, deadline):
                raise _write_timeout(timeout)
            try:
                rest = rest[self._sock.send(rest) :]
            except BlockingIOError:
                pass  # woken for nothing: wait for what is left of the timeout
            except OSError as exc:
                raise WriteError(str(exc) or type(exc).__name__) from exc

    def _write_tls(self, data: bytes, timeout: float | None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        rest = memoryview(data)
        while rest:
            # A write the socket could not take whole is retried with the same data, as
            # OpenSSL requires; a read of another thread may come in between.
            with self._lock:
                try:
                    rest = rest[self._sock.send(rest) :]
                    continue
                except ssl.SSLWantWriteError:
                    events = select.POLLOUT
                except ssl.SSLWantReadError:  # a TLS 1.2 renegotiation
                    events = select.POLLIN
                except OSError as exc:
                    raise WriteError(str(exc) or type(exc).__name__) from exc
            if not _wait(_poller(self._sock, events), deadline):
                raise _write_timeout(timeout)

    def send_file(self, file: IO[bytes], count: int, timeout: float | None = None) -> int:
        if self._tls:
            # TLS encrypts in user space: the file must pass through Python.
            return super().send_file(file, count, timeout)
        if timeout is not None and timeout <= 0:
            # No time left; `socket.sendfile` refuses a non-blocking socket.
            raise _write_timeout(timeout)
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
        with self._lock:  # never in the middle of another thread's call into TLS
            # shutdown() wakes a thread waiting on this socket; close() alone does not.
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
        if self._tls:
            # TLS inside TLS (through an https proxy): an SSLSocket cannot be wrapped again.
            return SyncTLSOverStream(self, ssl_context, server_hostname, timeout, session)
        self._sock.settimeout(timeout)  # for the handshake only: the TLS stream polls
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
        return SyncSocketStream(tls)

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object":
            return self._sock if self._tls else None
        return socket_extra_info(self._sock, info)

    def is_readable(self) -> bool:
        sock = self._sock
        # A closed socket would be "readable" (a read fails at once); its number may
        # belong to another socket by now, so it is not polled.
        if sock.fileno() < 0:
            return True
        if not self._tls:
            return bool(self._poller.poll(0))
        with self._lock:
            if self._read_ahead or cast(ssl.SSLSocket, sock).pending():
                return True
        if not self._poller.poll(0):
            return False
        # Bytes on a TLS socket are not necessarily data: a TLS 1.3 server sends session
        # tickets after the handshake. Decrypt what is there without waiting; what turns out
        # to be data (or the end of the stream) is kept for the next read.
        with self._lock:
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
