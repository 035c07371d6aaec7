"""Counting this process's file descriptors, leaving out a server's own sockets.

The loopback servers run in this process, and hypercorn may keep its side of a connection
open for a while after the client closed it (CLOSE_WAIT). A leak check on the client must
not count those.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["client_fd_count"]


def _socket_inodes_on_port(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def client_fd_count(server_port: int) -> int:
    """Open file descriptors of this process, except sockets bound to `server_port`."""
    server_sockets = {f"socket:[{inode}]" for inode in _socket_inodes_on_port(server_port)}
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        count += target not in server_sockets
    return count
