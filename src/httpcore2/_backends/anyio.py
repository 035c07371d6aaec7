"""A network backend on anyio, used under trio (asyncio has its own, leaner backend).

TLS is done here, on `ssl.MemoryBIO`, rather than with anyio's `TLSStream`: whether a
connection is readable must be judged on decrypted data (a TLS 1.3 server sends session
tickets after the handshake: bytes on the socket, but no data), and only the owner of the TLS
object's input can feed it what is on the socket without waiting.
"""

from __future__ import annotations

import socket
import ssl
from typing import Any

import anyio
import anyio.abc

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
        self, ssl_context: ssl.SSLContext, server_hostname: str | None, timeout: float | None
    ) -> NetworkStream:
        return await AnyIOTLSStream.wrap(self, ssl_context, server_hostname, timeout)

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
        try:
            return sock.recv(max_bytes)  # the socket is non-blocking
        except BlockingIOError:
            return None


class AnyIOTLSStream(NetworkStream):
    """TLS on a stream of this backend (TLS in TLS for an https proxy, too)."""

    def __init__(
        self,
        transport: AnyIOStream | AnyIOTLSStream,
        ssl_object: ssl.SSLObject,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
    ) -> None:
        self._transport = transport
        self._ssl_object = ssl_object
        self._incoming = incoming
        self._outgoing = outgoing
        # What `is_readable` decrypted: data handed out by the next reads, or the error the
        # next read raises.
        self._read_ahead = b""
        self._read_error: ReadError | None = None

    @classmethod
    async def wrap(
        cls,
        transport: AnyIOStream | AnyIOTLSStream,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None,
        timeout: float | None,
    ) -> AnyIOTLSStream:
        """Run the handshake over `transport`; on failure, close it."""
        try:
            incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
            ssl_object = ssl_context.wrap_bio(incoming, outgoing, server_hostname=server_hostname)
            stream = cls(transport, ssl_object, incoming, outgoing)
            with anyio.fail_after(timeout):
                while not stream._handshake_step():
                    await stream._flush(None)
                    await stream._receive(None)
                await stream._flush(None)
        except TimeoutError as exc:
            await transport.aclose()
            raise ConnectTimeout(
                f"TLS handshake with {server_hostname} did not complete within {timeout} s"
            ) from exc
        except (ReadError, WriteError, OSError) as exc:
            await transport.aclose()
            reason = str(exc) or type(exc).__name__
            raise ConnectError(f"TLS handshake with {server_hostname} failed: {reason}") from exc
        except BaseException:
            await transport.aclose()
            raise
        return stream

    def _handshake_step(self) -> bool:
        """Advance the handshake with what was received: True once it is done."""
        try:
            self._ssl_object.do_handshake()
        except ssl.SSLWantReadError:
            return False
        return True

    async def _flush(self, timeout: float | None) -> None:
        if self._outgoing.pending:
            await self._transport.write(self._outgoing.read(), timeout)

    async def _receive(self, timeout: float | None) -> None:
        self._feed(await self._transport.read(_READ_SIZE, timeout))

    def _feed(self, received: bytes) -> None:
        if received:
            self._incoming.write(received)
        else:
            self._incoming.write_eof()

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if self._read_ahead:
            return self._take_read_ahead(max_bytes)
        if self._read_error is not None:
            raise self._read_error
        while (data := self._decrypt(max_bytes)) is None:
            await self._flush(timeout)
            await self._receive(timeout)
        # Reading may have made TLS answer (a key update, post-handshake auth).
        await self._flush(timeout)
        return data

    def _take_read_ahead(self, max_bytes: int) -> bytes:
        data = self._read_ahead[:max_bytes]
        self._read_ahead = self._read_ahead[max_bytes:]
        return data

    def _decrypt(self, max_bytes: int) -> bytes | None:
        """Data, `b""` at the end of the stream, or None when more must be received first."""
        try:
            return self._ssl_object.read(max_bytes)
        except ssl.SSLWantReadError:
            return None
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            # With close_notify or without: many servers drop TCP without it. A body whose
            # length was announced still notices that it was cut short.
            return b""
        except ssl.SSLError as exc:
            raise ReadError(f"TLS error: {exc}") from exc

    async def write(self, data: bytes, timeout: float | None = None) -> None:
        try:
            self._ssl_object.write(data)
        except ssl.SSLError as exc:
            raise WriteError(f"TLS error: {exc}") from exc
        await self._flush(timeout)

    async def aclose(self) -> None:
        # No close_notify: nothing is left to say when a client closes.
        await self._transport.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None, timeout: float | None
    ) -> NetworkStream:
        return await AnyIOTLSStream.wrap(self, ssl_context, server_hostname, timeout)

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object":
            return self._ssl_object
        return self._transport.get_extra_info(info)

    def is_readable(self) -> bool:
        if self._read_ahead or self._ssl_object.pending():
            return True
        if not self._transport.is_readable():
            return False
        try:
            data = self._receive_nowait(_READ_SIZE)
        except ReadError as exc:
            self._read_error = exc
            return True
        except OSError as exc:
            self._read_error = ReadError(str(exc) or type(exc).__name__)
            self._read_error.__cause__ = exc
            return True
        if data is None:
            return False  # records without data (session tickets), now consumed
        self._read_ahead = data
        return True

    def _receive_nowait(self, max_bytes: int) -> bytes | None:
        """What a read would return without waiting (`b""` at EOF), or None if it would wait."""
        if self._read_ahead:
            return self._take_read_ahead(max_bytes)
        while (data := self._decrypt(max_bytes)) is None:
            received = self._transport._receive_nowait(_READ_SIZE)
            if received is None:
                return None
            self._feed(received)
        return data


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
