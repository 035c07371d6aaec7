"""A network backend on anyio, used under trio (asyncio has its own, leaner backend)."""

from __future__ import annotations

import socket
import ssl
from typing import Any

import anyio
import anyio.abc
from anyio.streams.tls import TLSAttribute, TLSStream

from .._async.network import NetworkBackend, NetworkStream
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
from .sync import UnixConnect, socket_is_readable

__all__ = ["AnyIOBackend"]


class AnyIOStream(NetworkStream):
    """A connection on an anyio byte stream (plain socket or TLS)."""

    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        self._stream = stream

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            with anyio.fail_after(timeout):
                return await self._stream.receive(max_bytes)
        except TimeoutError as exc:
            raise ReadTimeout(f"No data received within {timeout} s") from exc
        except anyio.EndOfStream:
            return b""
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
            raise ReadError(str(exc) or type(exc).__name__) from exc

    async def write(self, data: bytes, timeout: float | None = None) -> None:
        try:
            with anyio.fail_after(timeout):
                await self._stream.send(data)
        except TimeoutError as exc:
            raise WriteTimeout(f"Could not send data within {timeout} s") from exc
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
            raise WriteError(str(exc) or type(exc).__name__) from exc

    async def aclose(self) -> None:
        # Closing a socket stream (TLS ones skip the close_notify exchange) cannot fail;
        # the shield keeps a cancelled task from leaving the socket open.
        with anyio.CancelScope(shield=True):
            await self._stream.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None, timeout: float | None
    ) -> NetworkStream:
        try:
            with anyio.fail_after(timeout):
                tls = await TLSStream.wrap(
                    self._stream,
                    ssl_context=ssl_context,
                    hostname=server_hostname,
                    standard_compatible=False,
                    server_side=False,
                )
        except TimeoutError as exc:
            await self.aclose()
            raise ConnectTimeout(
                f"TLS handshake with {server_hostname} did not complete within {timeout} s"
            ) from exc
        except (anyio.BrokenResourceError, anyio.EndOfStream, OSError) as exc:
            await self.aclose()
            raise ConnectError(f"TLS handshake with {server_hostname} failed: {exc}") from exc
        except BaseException:
            await self.aclose()
            raise
        return AnyIOStream(tls)

    def get_extra_info(self, info: str) -> Any:
        attribute = {
            "ssl_object": TLSAttribute.ssl_object,
            "client_addr": anyio.abc.SocketAttribute.local_address,
            "server_addr": anyio.abc.SocketAttribute.remote_address,
            "socket": anyio.abc.SocketAttribute.raw_socket,
        }.get(info)
        return None if attribute is None else self._stream.extra(attribute, None)

    def is_readable(self) -> bool:
        sock: socket.socket = self._stream.extra(anyio.abc.SocketAttribute.raw_socket)
        return socket_is_readable(sock)


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
        attempt = UnixConnect(path, timeout)
        try:
            while not attempt.step():
                await anyio.sleep(attempt.RETRY_DELAY)
        except BaseException:
            attempt.sock.close()
            raise
        return AnyIOStream(await anyio.abc.UNIXSocketStream.from_socket(attempt.sock))

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)
