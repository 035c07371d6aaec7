"""A network backend on anyio, for any event loop anyio runs on.

asyncio and trio each have a leaner backend of their own, which `AutoBackend` picks; this one
is for those who pass it themselves.

TLS is ours (`tls.TLSStream`, on `ssl.MemoryBIO`) rather than anyio's `TLSStream`: see there.
"""

from __future__ import annotations

import socket
import ssl
from typing import Any

import anyio
import anyio.abc

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
from .sockets import connect_unix_socket, receive_nowait, socket_is_readable
from .tls import TLSStream

__all__ = ["AnyIOBackend"]

_READ_SIZE = 64 * 1024


class AnyIOStream(NetworkStream):
    """A connection on an anyio byte stream (plain socket or TLS)."""

    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        self._stream = stream
        # Looked up once: anyio builds its table of attributes anew for every lookup.
        self._socket = stream.extra(anyio.abc.SocketAttribute.raw_socket)

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            if timeout is None:
                return await self._stream.receive(max_bytes)
            # A bare cancel scope: `anyio.fail_after` costs a generator-based context
            # manager more, on every read and write.
            with anyio.CancelScope(deadline=anyio.current_time() + timeout):
                return await self._stream.receive(max_bytes)
            raise ReadTimeout(f"No data received within {timeout} s")
        except anyio.EndOfStream:
            return b""
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
            raise ReadError(str(exc) or type(exc).__name__) from exc

    async def write(self, data: bytes, timeout: float | None = None) -> None:
        try:
            if timeout is None:
                await self._stream.send(data)
                return
            with anyio.CancelScope(deadline=anyio.current_time() + timeout) as scope:
                await self._stream.send(data)
            if scope.cancelled_caught:
                raise WriteTimeout(f"Could not send data within {timeout} s")
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
            raise WriteError(str(exc) or type(exc).__name__) from exc

    async def aclose(self) -> None:
        # Closing a socket stream (TLS ones skip the close_notify exchange) cannot fail;
        # the shield keeps a cancelled task from leaving the socket open.
        with anyio.CancelScope(shield=True):
            await self._stream.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None,
        timeout: float | None,
        session: ssl.SSLSession | None = None,
    ) -> NetworkStream:
        return await TLSStream.wrap(self, ssl_context, server_hostname, timeout, session)

    def get_extra_info(self, info: str) -> Any:
        attribute = {
            "client_addr": anyio.abc.SocketAttribute.local_address,
            "server_addr": anyio.abc.SocketAttribute.remote_address,
            "socket": anyio.abc.SocketAttribute.raw_socket,
        }.get(info)
        return None if attribute is None else self._stream.extra(attribute, None)

    def is_readable(self) -> bool:
        return socket_is_readable(self._socket)

    def _receive_nowait(self, max_bytes: int) -> bytes | None:
        """What a read would return without waiting (`b""` at EOF), or None if it would wait."""
        sock = self._socket
        if not isinstance(sock, socket.socket):
            # anyio on asyncio: asyncio's transport reads the socket and buffers what it read,
            # so nothing can be taken from the socket here without reordering the data.
            return None
        return receive_nowait(sock, max_bytes)


class AnyIOBackend(NetworkBackend):
    """Connects with anyio (Happy Eyeballs across resolved addresses)."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
    ) -> NetworkStream:
        try:
            with anyio.fail_after(timeout):
                stream = await anyio.connect_tcp(host, port, local_host=local_address)
        except TimeoutError as exc:
            target = connect_target(host, port)
            raise ConnectTimeout(f"Could not connect to {target} within {timeout} s") from exc
        except OSError as exc:
            raise connect_error(connect_target(host, port), exc) from exc
        return AnyIOStream(stream)

    async def connect_unix_socket(self, path: str, timeout: float | None = None) -> NetworkStream:
        sock = await connect_unix_socket(path, timeout, anyio.sleep)
        return AnyIOStream(await anyio.abc.UNIXSocketStream.from_socket(sock))

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)
