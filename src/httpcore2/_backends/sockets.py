"""What the backends share about sockets they drive themselves: connecting to a Unix socket,
and looking at a socket without waiting."""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

from .._exceptions import ConnectTimeout, connect_error

__all__ = [
    "UnixConnect",
    "connect_unix_socket",
    "receive_nowait",
    "socket_extra_info",
    "socket_is_readable",
]


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


async def connect_unix_socket(
    path: str, timeout: float | None, sleep: Callable[[float], Awaitable[None]]
) -> socket.socket:
    """A non-blocking socket connected to `path` (see `UnixConnect`), waiting with `sleep`."""
    attempt = UnixConnect(path, timeout)
    try:
        while not attempt.step():
            await sleep(attempt.RETRY_DELAY)
    except BaseException:
        attempt.sock.close()
        raise
    return attempt.sock


def receive_nowait(sock: socket.socket, max_bytes: int) -> bytes | None:
    """What `sock` (non-blocking) holds, up to `max_bytes` (`b""` at EOF), or None if nothing."""
    try:
        return sock.recv(max_bytes)
    except BlockingIOError:
        return None
