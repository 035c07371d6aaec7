"""The interfaces every network backend implements.

Backends raise httpcore2's own exceptions (`ConnectError`, `ReadTimeout`, ...), never
`OSError`, `ssl.SSLError` or the event loop's errors; the connection layer attaches the
request to them.
"""

from __future__ import annotations

import ssl
from typing import IO, Any

__all__ = ["FILE_BLOCK", "NetworkBackend", "NetworkStream"]

# The blocks `NetworkStream.send_file` reads when the kernel cannot send a file itself.
FILE_BLOCK = 256 * 1024


class NetworkStream:
    """A connected byte stream, async."""

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        """Return up to `max_bytes`, waiting at most `timeout`; `b""` at end of stream."""
        raise NotImplementedError()

    async def write(self, data: bytes, timeout: float | None = None) -> None:
        """Send all of `data`, waiting at most `timeout` for the peer to take it."""
        raise NotImplementedError()

    async def send_file(self, file: IO[bytes], count: int, timeout: float | None = None) -> int:
        """Send up to `count` bytes of `file` from its position, and leave it just past them.

        Returns the bytes sent: `count`, or fewer if the file ends first. This one reads
        blocks and writes them; streams that can have the kernel send the file (`sendfile`),
        which spares copying it through Python, override it.
        """
        sent = 0
        while sent < count:
            block = file.read(min(count - sent, FILE_BLOCK))
            if not block:
                break
            await self.write(block, timeout)
            sent += len(block)
        return sent

    async def aclose(self) -> None:
        """Close the stream; never blocks and never raises."""
        raise NotImplementedError()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None,
        timeout: float | None,
        session: ssl.SSLSession | None = None,
    ) -> NetworkStream:
        """Upgrade to TLS and return the encrypted stream, offering `session` to resume."""
        raise NotImplementedError()

    def get_extra_info(self, info: str) -> Any:
        """`"ssl_object"`, `"client_addr"`, `"server_addr"` or `"socket"`; else `None`."""
        raise NotImplementedError()

    def is_readable(self) -> bool:
        """Whether data or EOF is waiting: on an idle connection, that means it is dead."""
        raise NotImplementedError()


class NetworkBackend:
    """Opens async network streams."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
    ) -> NetworkStream:
        """Open a TCP connection (trying each resolved address in turn)."""
        raise NotImplementedError()

    async def connect_unix_socket(self, path: str, timeout: float | None = None) -> NetworkStream:
        """Open a Unix domain socket connection."""
        raise NotImplementedError()

    async def sleep(self, seconds: float) -> None:
        """Sleep without blocking the event loop."""
        raise NotImplementedError()
