"""What the anyio and trio backends share: both drive non-blocking sockets of their own."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable

from .sync import UnixConnect

__all__ = ["connect_unix_socket", "receive_nowait"]


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
