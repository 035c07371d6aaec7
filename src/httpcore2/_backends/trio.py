"""A network backend written directly on trio's sockets, used under trio.

anyio's streams on trio wrap every read and write in a cancel scope and several layers of
objects, and trio's own socket stream pays for a full checkpoint around each call. Here a
read or a write first tries the non-blocking socket call; only when it would block does the
stream wait for the socket, under a cancel scope for the timeout.

Every read and write is a checkpoint as trio defines it, even one that completes at once: it
raises `Cancelled` in a cancelled scope (before touching the socket, so no data is lost), and
lets the other tasks run. A write always yields; a read that finds data waiting yields only
every `_READS_PER_SCHEDULE_POINT`th time in a row. Yielding there is what costs: the whole
stack of awaiting coroutines is unwound and resumed. After writing a request a task yields,
and by the time it runs again the response has usually arrived, so the read takes it at once;
a yield there too would make two trips through the scheduler per request instead of one. A
long run of reads of waiting data (a large download from a fast server) still yields often.

TLS is ours (`tls.TLSStream`, on `ssl.MemoryBIO`), as on the other backends: see there.
"""

from __future__ import annotations

import math
import os
import socket
import ssl
import stat
from typing import IO, Any

import trio

from .._async.network import NetworkBackend, NetworkStream
from .._exceptions import (
    ConnectTimeout,
    ReadError,
    ReadTimeout,
    WriteError,
    WriteTimeout,
    connect_error,
    connect_target,
)
from .sockets import (
    connect_unix_socket,
    receive_nowait,
    socket_extra_info,
    socket_is_readable,
)
from .tls import TLSStream

__all__ = ["TrioBackend", "TrioStream"]

_checkpoint_if_cancelled = trio.lowlevel.checkpoint_if_cancelled
_schedule_point = trio.lowlevel.cancel_shielded_checkpoint
# Reads completing at once in a row, on one stream, between two yields to the scheduler: a
# download at full speed (64 KiB reads) holds the loop for 1 MiB at most, a fraction of a ms.
_READS_PER_SCHEDULE_POINT = 16


def _deadline_scope(timeout: float | None) -> trio.CancelScope:
    return trio.CancelScope(deadline=math.inf if timeout is None else trio.current_time() + timeout)


def _send_nowait(sock: socket.socket, data: bytes | memoryview) -> int:
    """How much of `data` the non-blocking `sock` took (0 when it has no room)."""
    try:
        return sock.send(data)
    except BlockingIOError:
        return 0


class TrioStream(NetworkStream):
    """A TCP (or Unix socket) connection on a non-blocking socket, driven by trio."""

    __slots__ = ("_reads_in_a_row", "_sock")

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self._sock = sock
        self._reads_in_a_row = 0

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        await _checkpoint_if_cancelled()
        sock = self._sock
        try:
            data = receive_nowait(sock, max_bytes)
            if data is None:
                self._reads_in_a_row = 0  # waiting yields
                with _deadline_scope(timeout):
                    while data is None:
                        await trio.lowlevel.wait_readable(sock)
                        data = receive_nowait(sock, max_bytes)
                    return data
                raise ReadTimeout(f"No data received within {timeout} s")
        except (OSError, trio.ClosedResourceError) as exc:
            raise ReadError(str(exc) or type(exc).__name__) from exc
        self._reads_in_a_row += 1
        if self._reads_in_a_row >= _READS_PER_SCHEDULE_POINT:
            self._reads_in_a_row = 0
            await _schedule_point()
        return data

    async def write(self, data: bytes, timeout: float | None = None) -> None:
        await _checkpoint_if_cancelled()
        self._reads_in_a_row = 0  # a write yields, whether it waits or not
        sock = self._sock
        try:
            sent = _send_nowait(sock, data)
            if sent < len(data):
                rest = memoryview(data)[sent:]
                with _deadline_scope(timeout):
                    while rest:
                        await trio.lowlevel.wait_writable(sock)
                        rest = rest[_send_nowait(sock, rest) :]
                    return
                raise WriteTimeout(f"Could not send data within {timeout} s")
        except (OSError, trio.ClosedResourceError) as exc:
            raise WriteError(str(exc) or type(exc).__name__) from exc
        await _schedule_point()

    async def send_file(self, file: IO[bytes], count: int, timeout: float | None = None) -> int:
        try:
            source = file.fileno()
            regular = stat.S_ISREG(os.fstat(source).st_mode)
        except (AttributeError, OSError):  # io.UnsupportedOperation is an OSError
            regular = False
        if not regular:
            return await super().send_file(file, count, timeout)
        await _checkpoint_if_cancelled()
        sock = self._sock
        offset = file.tell()
        sent = 0
        try:
            while sent < count:
                try:
                    done = os.sendfile(sock.fileno(), source, offset + sent, count - sent)
                except BlockingIOError:
                    # Like a socket's own timeout: each wait for room gets the whole timeout.
                    with _deadline_scope(timeout):
                        await trio.lowlevel.wait_writable(sock)
                        continue
                    raise WriteTimeout(f"Could not send data within {timeout} s") from None
                if not done:
                    break  # the end of the file
                sent += done
        except (OSError, trio.ClosedResourceError) as exc:
            raise WriteError(str(exc) or type(exc).__name__) from exc
        finally:
            file.seek(offset + sent)
        await _schedule_point()
        return sent

    async def aclose(self) -> None:
        # Synchronous on purpose: a cancelled task can never leave the socket open.
        sock = self._sock
        if sock.fileno() >= 0:
            trio.lowlevel.notify_closing(sock)  # a task waiting on it fails rather than hangs
            sock.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None,
        timeout: float | None,
        session: ssl.SSLSession | None = None,
    ) -> NetworkStream:
        return await TLSStream.wrap(self, ssl_context, server_hostname, timeout, session)

    def get_extra_info(self, info: str) -> Any:
        return socket_extra_info(self._sock, info)

    def is_readable(self) -> bool:
        return socket_is_readable(self._sock)

    def _receive_nowait(self, max_bytes: int) -> bytes | None:
        """What a read would return without waiting (`b""` at EOF), or None if it would wait."""
        return receive_nowait(self._sock, max_bytes)


class TrioBackend(NetworkBackend):
    """Connects with `trio.open_tcp_stream` (Happy Eyeballs across resolved addresses)."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
    ) -> NetworkStream:
        target = connect_target(host, port)
        try:
            with _deadline_scope(timeout):
                stream = await trio.open_tcp_stream(host, port, local_address=local_address)
                # Its socket as a plain one, driven here: trio's socket methods make a full
                # checkpoint of every call.
                return TrioStream(socket.socket(fileno=stream.socket.detach()))
        except OSError as exc:
            # trio raises "all attempts ... failed" from a group of each attempt's error.
            attempts = getattr(exc.__cause__, "exceptions", None) or [exc]
            raise connect_error(target, attempts[0]) from exc
        raise ConnectTimeout(f"Could not connect to {target} within {timeout} s")

    async def connect_unix_socket(self, path: str, timeout: float | None = None) -> NetworkStream:
        return TrioStream(await connect_unix_socket(path, timeout, trio.sleep))

    async def sleep(self, seconds: float) -> None:
        await trio.sleep(seconds)
