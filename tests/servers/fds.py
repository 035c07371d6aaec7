"""Counting this process's file descriptors, leaving out a server's own sockets.

The loopback servers run in this process, and hypercorn may keep its side of a connection
open for a while after the client closed it (CLOSE_WAIT). A leak check on the client must
not count those. `client_fd_count` counts every other descriptor (for a process whose server
runs elsewhere); `client_sockets_to` counts only the client sockets connected to one server,
which the rest of a test process cannot disturb.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["client_fd_count", "client_sockets_to"]


def _socket_inodes_on_port(port: int, *, remote: bool = False) -> set[str]:
    """The inodes of TCP sockets whose local (or `remote`) port is `port`."""
    column = 2 if remote else 1
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[column].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def _fd_targets() -> list[str]:
    """What each open descriptor of this process points to (one closed meanwhile is left out)."""
    targets = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            targets.append(os.readlink(f"/proc/self/fd/{fd}"))
    return targets


def client_fd_count(server_port: int) -> int:
    """Open file descriptors of this process, except sockets bound to `server_port`."""
    server_sockets = {f"socket:[{inode}]" for inode in _socket_inodes_on_port(server_port)}
    return sum(target not in server_sockets for target in _fd_targets())


def client_sockets_to(server_port: int) -> int:
    """Open sockets of this process connected to `server_port`: the clients' side."""
    sockets = {f"socket:[{inode}]" for inode in _socket_inodes_on_port(server_port, remote=True)}
    return sum(target in sockets for target in _fd_targets())
