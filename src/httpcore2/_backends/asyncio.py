"""A network backend written directly on asyncio's transports and protocols.

anyio's streams on asyncio pay for a cancel scope on every timed read. Here a connection
has one read timer, re-armed lazily: a read that waits only moves the connection's
deadline, and the timer, when it fires, fails the read if the deadline has passed or goes
back to sleep until the new one. asyncio's timer heap (ordered by Python comparisons) thus
sees about one timer per connection per timeout period, not one per read, whatever the
number of tasks waiting.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import ipaddress
import math
import os
import ssl
import time
from collections.abc import Callable, Iterable
from typing import IO, Any, cast

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
from .sockets import UnixConnect
from .tls import TLSStream

__all__ = ["AsyncioBackend"]

# Past this much unread data we stop reading from the socket until the reader catches up.
_HIGH_WATER = 256 * 1024
# Each time the socket is readable, up to this much is received; once a pass fills it (a
# large body), up to the larger size: fewer passes of the event loop for a download, while an
# ordinary connection holds a buffer four times smaller (it is kept for the connection's life).
_RECEIVE_SIZE = 64 * 1024
_LARGE_RECEIVE_SIZE = 256 * 1024
# A larger write goes out in slices of this size (see `AsyncioStream.write`).
_WRITE_SLICE = 256 * 1024
# `sendfile` goes in pieces of this size, the write timeout applying to each.
_SENDFILE_SLICE = 8 * 1024 * 1024
# A write waiting for the peer to read returns as soon as the peer sends something (an early
# answer, such as a 413 from a server that stopped reading), while at most this much is unsent.
_UNSENT_LIMIT = 1024 * 1024
# How long an attempt to one address of a name runs alone before the next one starts too
# (RFC 8305's recommended value).
_HAPPY_EYEBALLS_DELAY = 0.25


class _StreamProtocol(asyncio.BufferedProtocol):
    # A buffered protocol receives into one buffer per connection: a plain Protocol's
    # transport allocates a fresh 256 KiB bytes object for every read, which glibc
    # serves with mmap/munmap, several system calls per response.

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        # The loop's clock: asyncio's own `time()` is `time.monotonic()` behind a Python
        # call, made for every read that waits; another loop (uvloop) keeps its own.
        base_time = asyncio.BaseEventLoop.time
        self.clock = time.monotonic if type(loop).time is base_time else loop.time
        # Likewise its `create_future()` is `asyncio.Future(loop=loop)` behind a Python call,
        # made for every read that waits.
        own_future = type(loop).create_future is asyncio.BaseEventLoop.create_future
        self.new_future: Callable[[], asyncio.Future[None]] = (
            functools.partial(asyncio.Future, loop=loop) if own_future else loop.create_future
        )
        self.receive_buffer = memoryview(bytearray(_RECEIVE_SIZE))
        self.transport: asyncio.Transport | None = None
        self.chunks: collections.deque[bytes | memoryview] = collections.deque()
        self.buffered = 0
        self.eof = False
        self.error: BaseException | None = None
        self.read_paused = False
        self.read_waiter: asyncio.Future[None] | None = None
        # The waiting read fails at `read_deadline` (loop time); see `wait_readable`.
        self.read_deadline = math.inf
        self.read_timeout: float | None = None
        self.read_timer: asyncio.TimerHandle | None = None
        self.read_timer_due = math.inf  # when `read_timer` fires (`when()` costs a call)
        self.write_paused = False
        self.drain_waiter: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, but have its methods.
        self.transport = cast(asyncio.Transport, transport)
        _drain_fully(self.transport)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.receive_buffer

    def buffer_updated(self, nbytes: int) -> None:
        buffer = self.receive_buffer
        data = bytes(buffer[:nbytes])
        if nbytes == len(buffer) == _RECEIVE_SIZE:
            self.receive_buffer = memoryview(bytearray(_LARGE_RECEIVE_SIZE))
        elif nbytes < _RECEIVE_SIZE < len(buffer):
            self.receive_buffer = memoryview(bytearray(_RECEIVE_SIZE))
        self.chunks.append(data)
        self.buffered += len(data)
        if self.buffered > _HIGH_WATER and not self.read_paused and self.transport is not None:
            self.read_paused = True
            self.transport.pause_reading()
        waiter = self.read_waiter  # `_wake_reader`, inline: this runs for every read
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if self.drain_waiter is not None and self._unsent() <= _UNSENT_LIMIT:
            self._wake_writer()

    def _unsent(self) -> int:
        return 0 if self.transport is None else self.transport.get_write_buffer_size()

    def eof_received(self) -> None:
        self.eof = True
        self._wake_reader()

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        if self.read_timer is not None:
            self.read_timer.cancel()
            self.read_timer = None
        if exc is not None:
            self.error = exc
            self._salvage_received_data()
        self._wake_reader()
        self._wake_writer()

    def _salvage_received_data(self) -> None:
        # A failed send (EPIPE: the server answered early, say 413, and stopped reading)
        # makes asyncio close the socket without reading what the server had sent. The
        # socket is still open here: read the answer out of it (TLS records too: our TLS
        # layer decrypts them).
        assert self.transport is not None  # connection_lost() follows connection_made()
        sock = self.transport.get_extra_info("socket")
        try:
            while data := os.read(sock.fileno(), _RECEIVE_SIZE):
                self.chunks.append(data)
                self.buffered += len(data)
        except OSError:
            pass

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        self._wake_writer()

    def wait_readable(self, timeout: float | None) -> asyncio.Future[None]:
        """A future done when data or the end of the stream arrives, failing with
        `ReadTimeout` after `timeout` seconds; the reader awaits it, then clears
        `read_waiter`. (Not a coroutine: a frame fewer to resume for every read that waits.)"""
        waiter = self.read_waiter = self.new_future()
        self.read_timeout = timeout
        if timeout is None:
            self.read_deadline = math.inf
        else:
            deadline = self.read_deadline = self.clock() + timeout
            timer = self.read_timer
            # A timer due no later than the deadline is kept: it re-arms itself.
            if timer is None or self.read_timer_due > deadline:
                if timer is not None:
                    timer.cancel()
                self.read_timer = self.loop.call_at(deadline, self._read_timer_fired)
                self.read_timer_due = deadline
        return waiter

    def _read_timer_fired(self) -> None:
        self.read_timer = None
        waiter = self.read_waiter
        if waiter is None or waiter.done() or self.read_deadline == math.inf:
            return  # no timed read waits: the next one arms the timer again
        if self.clock() < self.read_deadline:
            # This read started after the one the timer was set for.
            self.read_timer = self.loop.call_at(self.read_deadline, self._read_timer_fired)
            self.read_timer_due = self.read_deadline
            return
        waiter.set_exception(ReadTimeout(f"No data received within {self.read_timeout} s"))

    def _wake_reader(self) -> None:
        waiter = self.read_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _wake_writer(self) -> None:
        waiter = self.drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def take(self, max_bytes: int) -> bytes:
        chunks = self.chunks
        if not chunks:
            if self.error is not None:
                raise ReadError(str(self.error) or type(self.error).__name__) from self.error
            return b""
        data = chunks.popleft()
        if len(data) > max_bytes:
            # The rest stays a view: slicing it off as bytes would copy it again each time.
            view = memoryview(data)
            chunks.appendleft(view[max_bytes:])
            data = view[:max_bytes]
        self.buffered -= len(data)
        if self.read_paused and self.buffered <= _HIGH_WATER // 4 and self.transport is not None:
            self.read_paused = False
            self.transport.resume_reading()
        return bytes(data)  # no copy for bytes: only a view's piece is copied


def _drain_fully(transport: asyncio.Transport) -> None:
    # Pause the writer as soon as the transport holds anything back, and resume it only once
    # everything is with the kernel: a write then returns with nothing left in the
    # transport's buffer, and the next one reaches the socket without being copied. (Not
    # high=0: asyncio's TLS transport pauses at a size >= high, which 0 always is.)
    transport.set_write_buffer_limits(high=1, low=0)


async def _wait(
    waiter: asyncio.Future[None], timeout: float | None, error: type[Exception], what: str
) -> None:
    """Wait for `waiter`; after `timeout` seconds, fail with `error`."""
    if timeout is None:
        await waiter
        return
    timer = waiter.get_loop().call_later(timeout, _expire, waiter, error, what, timeout)
    try:
        await waiter
    finally:
        timer.cancel()


def _expire(
    waiter: asyncio.Future[None], error: type[Exception], what: str, timeout: float
) -> None:
    # The exception is built here, when a timeout really happens, not for every wait.
    if not waiter.done():
        waiter.set_exception(error(f"{what} within {timeout} s"))


class AsyncioStream(NetworkStream):
    """A TCP (or TLS, or Unix socket) connection on an asyncio transport."""

    __slots__ = ("_protocol", "_transport")

    def __init__(self, transport: asyncio.Transport, protocol: _StreamProtocol) -> None:
        self._transport = transport
        self._protocol = protocol

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        protocol = self._protocol
        if not protocol.chunks and not protocol.eof:
            try:
                await protocol.wait_readable(timeout)
            finally:
                protocol.read_waiter = None
        return protocol.take(max_bytes)

    async def write(self, data: bytes, timeout: float | None = None) -> None:
        pieces: Iterable[bytes | memoryview] = (data,)
        if len(data) > _WRITE_SLICE:
            # What the socket does not take at once, the transport copies into its buffer
            # (on CPython's selector loop, twice: a slice of the rest, then the buffer), so a
            # large body written whole is copied whole. Slices of a view, each written once
            # the previous one is with the kernel, are copied only in what the socket leaves
            # over.
            view = memoryview(data).cast("B")
            pieces = (
                view[start : start + _WRITE_SLICE] for start in range(0, len(view), _WRITE_SLICE)
            )
        protocol = self._protocol
        transport = self._transport
        for piece in pieces:
            if transport.is_closing():
                # asyncio would drop the data silently (logging a warning after a few tries).
                raise WriteError("The connection is closed") from protocol.error
            transport.write(piece)
            if transport.is_closing():
                # The send failed (the peer reset the connection) and asyncio closed the
                # transport: the data is lost, and the caller must know.
                raise WriteError("The connection was reset while sending")
            if protocol.write_paused:
                waiter = protocol.drain_waiter = protocol.loop.create_future()
                try:
                    await _wait(waiter, timeout, WriteTimeout, "Could not send data")
                finally:
                    protocol.drain_waiter = None
                if transport.is_closing():
                    raise WriteError("The connection was closed while sending") from protocol.error

    async def send_file(self, file: IO[bytes], count: int, timeout: float | None = None) -> int:
        transport = self._transport
        loop = self._protocol.loop
        offset = file.tell()
        sent = 0
        while sent < count:
            if transport.is_closing():
                raise WriteError("The connection is closed") from self._protocol.error
            piece = min(count - sent, _SENDFILE_SLICE)
            sending = loop.sendfile(transport, file, offset + sent, piece, fallback=False)
            try:
                done = await (sending if timeout is None else asyncio.wait_for(sending, timeout))
            except (NotImplementedError, asyncio.SendfileNotAvailableError):
                # uvloop has no sendfile; a transport may not allow it.
                file.seek(offset + sent)
                return sent + await super().send_file(file, count - sent, timeout)
            except asyncio.TimeoutError as exc:
                raise WriteTimeout(f"Could not send data within {timeout} s") from exc
            except OSError as exc:
                raise WriteError(str(exc) or type(exc).__name__) from exc
            sent += done
            if done < piece:
                break  # the end of the file
        return sent

    async def aclose(self) -> None:
        # Synchronous on purpose: a cancelled task can never leave the socket half-closed.
        # abort(), not close(): nothing is left to send when a client closes, and a TLS
        # close() would keep the socket open waiting for the peer's close_notify.
        self._transport.abort()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None,
        timeout: float | None,
        session: ssl.SSLSession | None = None,
    ) -> NetworkStream:
        # Our own TLS layer, not loop.start_tls(): asyncio's cannot offer a session.
        return await TLSStream.wrap(self, ssl_context, server_hostname, timeout, session)

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object":
            return self._transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._transport.get_extra_info("sockname")
        if info == "server_addr":
            return self._transport.get_extra_info("peername")
        if info == "socket":
            return self._transport.get_extra_info("socket")
        return None

    def is_readable(self) -> bool:
        protocol = self._protocol
        return bool(protocol.chunks) or protocol.eof or self._transport.is_closing()

    def _receive_nowait(self, max_bytes: int) -> bytes | None:
        """What a read would return without waiting (`b""` at EOF), or None if it would wait."""
        protocol = self._protocol
        if protocol.chunks or protocol.eof:
            return protocol.take(max_bytes)
        return None


class AsyncioBackend(NetworkBackend):
    """Connects with `loop.create_connection`, racing the resolved addresses (Happy Eyeballs)."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
    ) -> NetworkStream:
        loop = asyncio.get_running_loop()
        protocol = _StreamProtocol(loop)
        local = None if local_address is None else (local_address, 0)
        # A name may resolve to an address that never answers: asyncio's own loops can start
        # the next address after a short delay rather than wait for the whole connect timeout,
        # as anyio does on trio (uvloop has no such option). An IP address is the only one to
        # try, and the race would cost it a task.
        race = isinstance(loop, asyncio.BaseEventLoop) and not _is_ip_address(host)
        options: dict[str, Any] = {"happy_eyeballs_delay": _HAPPY_EYEBALLS_DELAY} if race else {}
        connect = loop.create_connection(lambda: protocol, host, port, local_addr=local, **options)
        return await self._connect(connect, protocol, timeout, connect_target(host, port))

    async def connect_unix_socket(self, path: str, timeout: float | None = None) -> NetworkStream:
        attempt = UnixConnect(path, timeout)
        try:
            while not attempt.step():
                await asyncio.sleep(attempt.RETRY_DELAY)
        except asyncio.CancelledError:
            attempt.sock.close()
            raise
        loop = asyncio.get_running_loop()
        protocol = _StreamProtocol(loop)
        connect = loop.create_unix_connection(lambda: protocol, sock=attempt.sock)
        return await self._connect(connect, protocol, timeout, path)

    async def _connect(
        self, connect: Any, protocol: _StreamProtocol, timeout: float | None, target: str
    ) -> NetworkStream:
        try:
            transport, _ = await asyncio.wait_for(connect, timeout)
        except asyncio.TimeoutError as exc:
            raise ConnectTimeout(f"Could not connect to {target} within {timeout} s") from exc
        except OSError as exc:
            raise connect_error(target, exc) from exc
        return AsyncioStream(transport, protocol)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def _is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
