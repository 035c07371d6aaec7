"""TLS of our own on `ssl.MemoryBIO`, over any async stream of the built-in backends.

The async backends (asyncio, trio, anyio) all run TLS here rather than in the event loop's or
anyio's TLS layer, for two reasons:

- whether a connection is readable must be judged on decrypted data (a TLS 1.3 server sends
  session tickets after the handshake: bytes on the socket, but no data), and only the owner
  of the TLS object's input can feed it what was received without waiting;
- a TLS session can only be offered for resumption when the TLS object is created
  (`wrap_bio(session=...)`), which asyncio's `start_tls` does not allow.

The same layer runs TLS inside TLS (an https origin through an https proxy).
"""

from __future__ import annotations

import ssl
import time
from typing import Any, Protocol

from .._async.network import NetworkStream
from .._exceptions import (
    ConnectError,
    ConnectTimeout,
    ReadError,
    ReadTimeout,
    WriteError,
    WriteTimeout,
)

__all__ = ["TLSStream"]

_READ_SIZE = 64 * 1024
_WRITE_SLICE = 256 * 1024


class Transport(Protocol):
    """What TLS runs over: a stream of a built-in backend (or a `TLSStream`)."""

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes: ...

    async def write(self, data: bytes, timeout: float | None = None) -> None: ...

    async def aclose(self) -> None: ...

    def get_extra_info(self, info: str) -> Any: ...

    def is_readable(self) -> bool: ...

    def _receive_nowait(self, max_bytes: int) -> bytes | None:
        """What a read would return without waiting (`b""` at EOF), or None if it would wait."""


class TLSStream(NetworkStream):
    """A TLS connection whose records travel over `transport`."""

    def __init__(
        self,
        transport: Transport,
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
        transport: Transport,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None,
        timeout: float | None,
        session: ssl.SSLSession | None = None,
    ) -> TLSStream:
        """Run the handshake over `transport`, offering `session`; on failure, close it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
            ssl_object = ssl_context.wrap_bio(
                incoming, outgoing, server_hostname=server_hostname, session=session
            )
            stream = cls(transport, ssl_object, incoming, outgoing)
            while not stream._handshake_step():
                await stream._flush(_time_left(deadline))
                await stream._receive(_time_left(deadline))
            await stream._flush(_time_left(deadline))
        except (ReadTimeout, WriteTimeout) as exc:
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
        data = None
        # With nothing received to decrypt, receive first: TLS says "want more" with an
        # exception, which costs more than the rest of a read.
        if self._incoming.pending or self._incoming.eof or self._ssl_object.pending():
            data = self._decrypt(max_bytes)
        while data is None:
            # What reading made TLS answer (a key update, post-handshake authentication)
            # goes out before waiting, as it does with the next write.
            await self._flush(timeout)
            await self._receive(timeout)
            data = self._decrypt(max_bytes)
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
        # In slices: what TLS makes of one write waits whole in the outgoing buffer, and is
        # copied once more when read out of it; a large body written at once would be held
        # twice over.
        view = memoryview(data).cast("B")
        for start in range(0, max(len(view), 1), _WRITE_SLICE):
            try:
                self._ssl_object.write(view[start : start + _WRITE_SLICE])
            except ssl.SSLError as exc:
                raise WriteError(f"TLS error: {exc}") from exc
            await self._transport.write(self._outgoing.read(), timeout)

    async def aclose(self) -> None:
        # No close_notify: nothing is left to say when a client closes.
        await self._transport.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None,
        timeout: float | None,
        session: ssl.SSLSession | None = None,
    ) -> NetworkStream:
        return await TLSStream.wrap(self, ssl_context, server_hostname, timeout, session)

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


def _time_left(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())
