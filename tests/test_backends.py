"""The async network backends on loopback sockets.

`AsyncioBackend` runs on asyncio only, `TrioBackend` on trio only, `AnyIOBackend` on trio and on
asyncio, and `AutoBackend` picks between the first two. Each is driven directly against
`RawServer` handlers, hypercorn over TLS and bare Unix sockets: data both ways, end of stream,
resets, timeouts, TLS upgrades and failures, extra info, liveness checks and back-pressure.
`tests/test_backends_sync.py` covers `SyncBackend` with the same servers and handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import io
import os
import select
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import anyio
import pytest
import trio
import trio.testing

import httpcore2
from httpcore2._async.network import NetworkBackend, NetworkStream
from httpcore2._backends.anyio import AnyIOBackend
from httpcore2._backends.asyncio import (
    _HIGH_WATER,
    _LARGE_RECEIVE_SIZE,
    _RECEIVE_SIZE,
    AsyncioBackend,
    AsyncioStream,
    _StreamProtocol,
)
from httpcore2._backends.auto import AutoBackend
from httpcore2._backends.trio import _READS_PER_SCHEDULE_POINT, TrioBackend, TrioStream
from tests._async.waiting import wait_until
from tests.servers import certs
from tests.servers.app import HELLO, pattern_bytes
from tests.servers.asgi_server import Server
from tests.servers.raw import RawConnection, RawServer, RawServerFactory

SHORT = 0.15  # a timeout that is meant to expire
LONG = 5.0  # a bound for what should happen at once, generous for a loaded machine
MB = 1 << 20
REQUEST = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"
EARLY_RESPONSE = b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n"

Test = TypeVar("Test", bound=Callable[..., Any])

NATIVE = pytest.param("asyncio", AsyncioBackend, id="asyncio-native")
TRIO_NATIVE = pytest.param("trio", TrioBackend, id="trio-native")
ANYIO_ON_ASYNCIO = pytest.param("asyncio", AnyIOBackend, id="asyncio-anyio")
ANYIO_ON_TRIO = pytest.param("trio", AnyIOBackend, id="trio-anyio")
AUTO_ON_ASYNCIO = pytest.param("asyncio", AutoBackend, id="asyncio-auto")
AUTO_ON_TRIO = pytest.param("trio", AutoBackend, id="trio-auto")


def on(*backends: Any) -> Callable[[Test], Test]:
    """Run an async test once per `(event loop, backend class)` parameter, as `backend_class`."""

    def mark(test: Test) -> Test:
        parametrized = pytest.mark.parametrize(("anyio_backend", "backend_class"), backends)
        marked: Test = pytest.mark.anyio(parametrized(test))
        return marked

    return mark


every_async_backend = on(NATIVE, TRIO_NATIVE, ANYIO_ON_ASYNCIO, ANYIO_ON_TRIO)
# Where asyncio itself gets it wrong, anyio-on-asyncio inherits it; production uses the native
# backends (and anyio on trio keeps up with them).
production_backends = on(NATIVE, TRIO_NATIVE, ANYIO_ON_TRIO)


# Server-side handlers, shared with tests/test_backends_sync.py.


def echo(conn: RawConnection) -> None:
    """Send back whatever arrives, until the client closes."""
    while data := conn.recv():
        conn.send(data)


def answer_then_close(conn: RawConnection) -> None:
    """Read one message, answer `bye` and close with a FIN."""
    conn.recv()
    conn.send(b"bye")


def reset_on_message(conn: RawConnection) -> None:
    """Read one message, then close with a RST."""
    conn.recv()
    conn.reset()


def reset_later(conn: RawConnection) -> None:
    """Never read; reset the connection after a moment."""
    conn.pause(SHORT)
    conn.reset()


def never_read(conn: RawConnection) -> None:
    """Hold the connection open without reading, until the server stops."""
    conn.pause(60)


def silent(conn: RawConnection) -> None:
    """Read (a TLS ClientHello, say) and never answer, until the client closes."""
    conn.wait_for_close()


def hang_up(conn: RawConnection) -> None:
    """Read one message (a TLS ClientHello, say) and close with a FIN instead of answering."""
    conn.recv()


def talk_on_cue(conn: RawConnection) -> None:
    """Answer `send` with `data`; close on `close`."""
    while (cue := conn.recv()) and cue != b"close":
        conn.send(b"data")


def slow_reader(size: int) -> Callable[[RawConnection], None]:
    """Start reading only after a moment; once `size` bytes arrived, answer with their count."""

    def handler(conn: RawConnection) -> None:
        conn.pause(SHORT)
        while len(conn.received) < size and conn.recv():
            pass
        conn.send(b"%d" % len(conn.received))
        conn.wait_for_close()

    return handler


def answer_early_then_reset(conn: RawConnection) -> None:
    """Answer the start of a request at once (`413`, say), then reset, not reading the rest."""
    conn.recv()
    conn.send(EARLY_RESPONSE)
    conn.reset()


def tls_then_garbage(conn: RawConnection) -> None:
    """Complete a TLS handshake, read one record, then send bytes that are not TLS."""
    context = certs.server_ssl_context()
    # TLS takes over the socket it wraps: hand it a duplicate, so that `conn` keeps its own
    # descriptor, still closes it, and can write outside the TLS session.
    duplicate = socket.socket(fileno=os.dup(conn.sock.fileno()))
    with context.wrap_socket(duplicate, server_side=True) as tls:
        tls.recv(1024)
        conn.send(b"this is not a TLS record\r\n")
        conn.wait_for_close()


def tls_talk_on_cue(conn: RawConnection) -> None:
    """TLS 1.3 (session tickets follow the handshake), then `talk_on_cue` inside it."""
    duplicate = socket.socket(fileno=os.dup(conn.sock.fileno()))
    with certs.server_ssl_context().wrap_socket(duplicate, server_side=True) as tls:
        while (cue := tls.recv(1024)) and cue != b"close":
            tls.sendall(b"data")


def tls_echo(conn: RawConnection) -> None:
    """TLS, then send back whatever arrives inside it, until the client closes."""
    duplicate = socket.socket(fileno=os.dup(conn.sock.fileno()))
    with certs.server_ssl_context().wrap_socket(duplicate, server_side=True) as tls:
        while data := tls.recv(65536):
            tls.sendall(data)


def tls_never_read(conn: RawConnection) -> None:
    """TLS, then hold the connection open without reading, until the server stops."""
    duplicate = socket.socket(fileno=os.dup(conn.sock.fileno()))
    with certs.server_ssl_context().wrap_socket(duplicate, server_side=True):
        conn.pause(60)


def tls_asks_for_a_certificate_later(conn: RawConnection) -> None:
    """TLS 1.3 post-handshake authentication: ask for the client's certificate along with the
    data, then say whether the client sent one (without sending anything else) in time."""
    duplicate = socket.socket(fileno=os.dup(conn.sock.fileno()))
    context = certs.server_ssl_context(alpn_protocols=())
    context.verify_mode = ssl.CERT_OPTIONAL
    context.post_handshake_auth = True
    certs.cert_authority().configure_trust(context)
    with context.wrap_socket(duplicate, server_side=True) as tls:
        tls.recv(1024)
        tls.verify_client_post_handshake()
        tls.sendall(b"data")
        tls.setblocking(False)
        deadline = time.monotonic() + LONG
        while not tls.getpeercert() and time.monotonic() < deadline:
            select.select([tls], [], [], 0.1)
            with contextlib.suppress(ssl.SSLWantReadError):
                tls.recv(1024)
        tls.setblocking(True)
        tls.sendall(b"yes" if tls.getpeercert() else b"no")


def tls_then_reset(conn: RawConnection) -> None:
    """Complete a TLS handshake, read one record, then close with a RST."""
    duplicate = socket.socket(fileno=os.dup(conn.sock.fileno()))
    with certs.server_ssl_context().wrap_socket(duplicate, server_side=True) as tls:
        tls.recv(1024)
    conn.reset()


def tls_in_tls_echo(conn: RawConnection) -> None:
    """TLS, then TLS again inside it (as through an https proxy); echo one message inside."""
    duplicate = socket.socket(fileno=os.dup(conn.sock.fileno()))
    with certs.server_ssl_context().wrap_socket(duplicate, server_side=True) as outer:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        inner = certs.server_ssl_context().wrap_bio(incoming, outgoing, server_side=True)

        def attempt(operation: Callable[..., Any], *args: Any) -> tuple[bool, Any]:
            try:
                return True, operation(*args)
            except ssl.SSLWantReadError:
                return False, None

        def run(operation: Callable[..., Any], *args: Any) -> Any:
            done, result = attempt(operation, *args)
            while not done:
                outer.sendall(outgoing.read())
                incoming.write(outer.recv(65536))
                done, result = attempt(operation, *args)
            outer.sendall(outgoing.read())
            return result

        run(inner.do_handshake)
        run(inner.write, run(inner.read, 1024))
        conn.wait_for_close()


def wait_for_session_tickets(stream: NetworkStream) -> None:
    """Block until the records a TLS 1.3 server sends after the handshake are on the socket."""
    readable, _, _ = select.select([stream.get_extra_info("socket")], [], [], LONG)
    assert readable, "no session ticket arrived"


# Unix sockets: the kernel completes a connect() on its own while there is room in the listener's
# backlog, so a test accepts the connection itself afterwards, without a server thread.


@pytest.fixture
def unix_listener() -> Iterator[socket.socket]:
    """A listening Unix socket in a short directory under /tmp (paths end at ~107 bytes)."""
    with tempfile.TemporaryDirectory(prefix="hc2-", dir="/tmp") as directory:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
            listener.bind(os.path.join(directory, "sock"))
            listener.listen(1)
            listener.settimeout(LONG)
            yield listener


def accept(listener: socket.socket) -> socket.socket:
    peer, _ = listener.accept()
    peer.settimeout(LONG)
    return peer


@contextmanager
def full_backlog(listener: socket.socket) -> Iterator[None]:
    """Queue connections on `listener`, which never accepts them, until its backlog is full."""
    with ExitStack() as stack:
        for _ in range(64):
            client = stack.enter_context(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
            client.setblocking(False)
            try:
                client.connect(listener.getsockname())
            except BlockingIOError:  # EAGAIN: no room left
                break
        else:
            pytest.fail("the backlog never filled up")
        yield


def wait_for_reset(sock: Any) -> None:
    """Block (the event loop too, on purpose) until a RST from the peer is waiting on `sock`."""
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    deadline = time.monotonic() + LONG
    while not any(events & select.POLLERR for _, events in poller.poll(10)):
        assert time.monotonic() < deadline, "no reset arrived"


def tls_context(ca_file: Path | None, alpn: tuple[str, ...] = ("http/1.1",)) -> ssl.SSLContext:
    return httpcore2.create_ssl_context(verify=str(ca_file), alpn_protocols=alpn)


# Async helpers.


@asynccontextmanager
async def connect(
    backend: NetworkBackend, address: tuple[str, int], **kwargs: Any
) -> AsyncIterator[NetworkStream]:
    stream = await backend.connect_tcp(*address, timeout=LONG, **kwargs)
    try:
        yield stream
    finally:
        await stream.aclose()


async def read_exactly(
    stream: NetworkStream, size: int, max_bytes: int = 65536, timeout: float | None = LONG
) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = await stream.read(min(max_bytes, size - len(data)), timeout=timeout)
        assert chunk, f"end of stream after {len(data)} of {size} bytes"
        data += chunk
    return bytes(data)


async def read_until(stream: NetworkStream, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = await stream.read(65536, timeout=LONG)
        assert chunk, f"end of stream before {marker!r}: {data!r}"
        data += chunk
    return data


async def read_to_end(stream: NetworkStream) -> bytes:
    data = b""
    while chunk := await stream.read(65536, timeout=LONG):
        data += chunk
    return data


async def flood(stream: NetworkStream, timeout: float) -> None:
    """Write 1 MB at a time, up to far more than loopback buffers hold (tcp_rmem may be 32 MB)."""
    chunk = bytes(MB)
    for _ in range(256):
        await stream.write(chunk, timeout=timeout)


def causes(exc: BaseException) -> Iterator[BaseException]:
    """The chain of `__cause__`s below `exc`."""
    while (cause := exc.__cause__) is not None:
        yield cause
        exc = cause


def closed_by_client(server: RawServer) -> bool:
    """Whether the server has accepted connections and seen every one of them closed."""
    return bool(server.connections) and all(conn.closed for conn in server.connections)


async def connect_and_close_unix(backend: NetworkBackend, path: str, timeout: float) -> None:
    stream = await backend.connect_unix_socket(path, timeout=timeout)
    await stream.aclose()


# Data, end of stream, resets.


@every_async_backend
async def test_round_trip(
    backend_class: type[NetworkBackend], raw_server: RawServerFactory
) -> None:
    server = raw_server(echo)
    async with connect(backend_class(), server.address) as stream:
        for message in (b"ping", b"pong" * 1000):
            await stream.write(message)
            assert await read_exactly(stream, len(message), timeout=None) == message
    assert bytes(server.connections[0].received) == b"ping" + b"pong" * 1000


@every_async_backend
async def test_read_returns_empty_bytes_at_end_of_stream(
    backend_class: type[NetworkBackend], raw_server: RawServerFactory
) -> None:
    server = raw_server(answer_then_close)
    async with connect(backend_class(), server.address) as stream:
        await stream.write(b"hi")
        assert await read_to_end(stream) == b"bye"
        assert await stream.read(1024, timeout=LONG) == b""
        assert stream.is_readable()


@every_async_backend
async def test_read_error_after_a_reset(
    backend_class: type[NetworkBackend], raw_server: RawServerFactory
) -> None:
    server = raw_server(reset_on_message)
    async with connect(backend_class(), server.address) as stream:
        await stream.write(b"hi")
        with pytest.raises(httpcore2.ReadError) as info:
            await stream.read(1024, timeout=LONG)
        assert any(isinstance(cause, ConnectionResetError) for cause in causes(info.value))


# Timeouts.


@every_async_backend
async def test_read_timeout_leaves_the_stream_usable(
    backend_class: type[NetworkBackend], raw_server: RawServerFactory
) -> None:
    server = raw_server(echo)
    async with connect(backend_class(), server.address) as stream:
        started = time.monotonic()
        with pytest.raises(httpcore2.ReadTimeout, match="within"):
            await stream.read(1024, timeout=SHORT)
        assert SHORT * 0.9 <= time.monotonic() - started < LONG
        await stream.write(b"ping", timeout=LONG)
        assert await read_exactly(stream, 4) == b"ping"


@on(NATIVE)
async def test_one_read_timer_per_connection_follows_the_latest_deadline(
    backend_class: type[NetworkBackend], raw_server: RawServerFactory
) -> None:
    # A read that waits moves the connection's deadline; the one timer, when it fires,
    # re-arms itself for a later deadline, and lapses when no read waits.
    server = raw_server(echo)
    async with connect(backend_class(), server.address) as stream:
        protocol = stream._protocol  # type: ignore[attr-defined]
        received: list[bytes] = []

        async def read(timeout: float) -> None:
            received.append(await stream.read(1024, timeout=timeout))

        async def read_after_writing(data: bytes, timeout: float) -> None:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(read, timeout)
                await wait_until(lambda: protocol.read_waiter is not None)
                await stream.write(data, timeout=LONG)

        await read_after_writing(b"a", SHORT)
        timer = protocol.read_timer
        assert timer is not None
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(read, LONG)
            await wait_until(lambda: protocol.read_waiter is not None)
            assert protocol.read_timer is timer  # due earlier than this read's deadline: kept
            await wait_until(lambda: protocol.read_timer is not timer)
            assert protocol.read_timer is not None  # fired while the read waits: re-armed
            await stream.write(b"b", timeout=LONG)
        await read_after_writing(b"c", SHORT)  # due earlier than the armed timer: replaced
        await wait_until(lambda: protocol.read_timer is None)  # fired with no read waiting
        assert received == [b"a", b"b", b"c"]


@every_async_backend
async def test_write_timeout_when_the_peer_never_reads(
    backend_class: type[NetworkBackend], raw_server: RawServerFactory
) -> None:
    server = raw_server(never_read)
    async with connect(backend_class(), server.address) as stream:
        started = time.monotonic()
        with pytest.raises(httpcore2.WriteTimeout, match="within"):
            await flood(stream, timeout=SHORT)
        assert SHORT * 0.9 <= time.monotonic() - started < LONG


@every_async_backend
async def test_write_waits_for_a_slow_reader(
    backend_class: type[NetworkBackend], raw_server: RawServerFactory
) -> None:
    payload = pattern_bytes(8 * MB)
    server = raw_server(slow_reader(len(payload)))
    async with connect(backend_class(), server.address) as stream:
        await stream.write(payload)
        assert await read_until(stream, b"%d" % len(payload)) == b"%d" % len(payload)
    assert server.connections[0].received == payload


@every_async_backend
@pytest.mark.case("F11")
async def test_connect_timeout(
    backend_class: type[NetworkBackend], never_accepting: tuple[str, int]
) -> None:
    started = time.monotonic()
    with pytest.raises(httpcore2.ConnectTimeout, match="within"):
        await backend_class().connect_tcp(*never_accepting, timeout=SHORT)
    assert SHORT * 0.9 <= time.monotonic() - started < LONG


# Writing to a connection that is gone.


@every_async_backend
async def test_write_error_when_the_peer_resets_during_a_blocked_write(
    backend_class: type[NetworkBackend], raw_server: RawServerFactory
) -> None:
    server = raw_server(reset_later)
    async with connect(backend_class(), server.address) as stream:
        with pytest.raises(httpcore2.WriteError):
            await flood(stream, timeout=LONG)


@every_async_backend
async def test_write_error_after_the_peer_reset(
    backend_class: type[NetworkBackend],
    raw_server: RawServerFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = raw_server(reset_on_message)
    async with connect(backend_class(), server.address) as stream:
        await stream.write(b"hi")
        with pytest.raises(httpcore2.ReadError):
            await stream.read(1024, timeout=LONG)
        # asyncio drops writes to a lost connection silently, and from the fifth one on
        # logs "socket.send() raised exception." instead of raising.
        for _ in range(8):
            with pytest.raises(httpcore2.WriteError):
                await stream.write(b"more", timeout=LONG)
    assert [record for record in caplog.records if record.name == "asyncio"] == []


@production_backends
async def test_first_write_after_an_unnoticed_reset_raises_write_error(
    backend_class: type[NetworkBackend], raw_server: RawServerFactory
) -> None:
    # The reset has reached the kernel, but the event loop has not run since: the first
    # send() reports ECONNRESET synchronously, and that must not be swallowed. (The sync
    # backend and trio raise here; anyio on asyncio drops the data silently, like asyncio.)
    server = raw_server(reset_on_message)
    async with connect(backend_class(), server.address) as stream:
        await stream.write(b"hi")
        wait_for_reset(stream.get_extra_info("socket"))
        with pytest.raises(httpcore2.WriteError):
            await stream.write(b"request", timeout=LONG)


@production_backends
async def test_an_early_response_survives_the_reset_that_follows_it(
    backend_class: type[NetworkBackend], raw_server: RawServerFactory
) -> None:
    # A server that rejects an upload answers at once and resets the connection without
    # reading the rest; the client's next send fails, but the answer is in the socket and
    # must still be readable. (anyio on asyncio loses it: asyncio closes the socket unread.)
    server = raw_server(answer_early_then_reset)
    async with connect(backend_class(), server.address) as stream:
        await stream.write(b"POST / HTTP/1.1\r\n")
        wait_for_reset(stream.get_extra_info("socket"))
        # Whether this write raises is test_first_write_after_an_unnoticed_reset's business.
        with contextlib.suppress(httpcore2.WriteError):
            await stream.write(b"x" * 100_000, timeout=LONG)
        assert await read_until(stream, b"\r\n\r\n") == EARLY_RESPONSE


# Connecting.


@every_async_backend
async def test_connect_error_when_refused(
    backend_class: type[NetworkBackend], unused_port: int
) -> None:
    with pytest.raises(httpcore2.ConnectError) as info:
        await backend_class().connect_tcp("127.0.0.1", unused_port, timeout=LONG)
    assert isinstance(info.value.__cause__, OSError)
    assert str(info.value) == f"Could not connect to 127.0.0.1:{unused_port}: Connection refused"


@every_async_backend
async def test_local_address(
    backend_class: type[NetworkBackend], raw_server: RawServerFactory
) -> None:
    server = raw_server(echo)
    async with connect(backend_class(), server.address, local_address="127.0.0.1") as stream:
        await stream.write(b"ping")
        assert await read_exactly(stream, 4) == b"ping"
        client_addr = stream.get_extra_info("client_addr")
        assert client_addr[0] == "127.0.0.1"
        assert server.connections[0].sock.getpeername() == client_addr


@on(
    NATIVE,
    TRIO_NATIVE,
    ANYIO_ON_ASYNCIO,
    pytest.param(
        "trio",
        AnyIOBackend,
        id="trio-anyio",
        marks=pytest.mark.xfail(
            strict=True,
            reason="anyio 4.16 on trio binds outside its try block and leaks the socket",
        ),
    ),
)
async def test_unusable_local_address(
    backend_class: type[NetworkBackend], raw_server: RawServerFactory
) -> None:
    server = raw_server(echo)
    with pytest.raises(httpcore2.ConnectError):  # an IPv6 source for an IPv4 destination
        await backend_class().connect_tcp(*server.address, timeout=LONG, local_address="::1")
    gc.collect()  # so that a leaked socket warns here, not in a later test


@every_async_backend
async def test_ipv6(backend_class: type[NetworkBackend], raw_server: RawServerFactory) -> None:
    server = raw_server(echo, host="::1")
    async with connect(backend_class(), ("::1", server.port)) as stream:
        await stream.write(b"ping")
        assert await read_exactly(stream, 4) == b"ping"
        assert stream.get_extra_info("server_addr")[:2] == ("::1", server.port)


@every_async_backend
async def test_unix_socket(
    backend_class: type[NetworkBackend], unix_listener: socket.socket
) -> None:
    path = unix_listener.getsockname()
    stream = await backend_class().connect_unix_socket(path, timeout=LONG)
    try:
        with accept(unix_listener) as peer:
            await stream.write(b"ping", timeout=LONG)
            assert peer.recv(4, socket.MSG_WAITALL) == b"ping"
            peer.sendall(b"pong")
            assert await read_exactly(stream, 4) == b"pong"
            assert stream.get_extra_info("server_addr") == path
        assert await stream.read(1024, timeout=LONG) == b""
    finally:
        await stream.aclose()


@every_async_backend
async def test_unix_socket_connect_error(
    backend_class: type[NetworkBackend], unix_listener: socket.socket
) -> None:
    missing = unix_listener.getsockname() + "-missing"
    with pytest.raises(httpcore2.ConnectError) as info:
        await backend_class().connect_unix_socket(missing, timeout=LONG)
    assert isinstance(info.value.__cause__, FileNotFoundError)


@every_async_backend
async def test_unix_socket_connect_timeout_when_the_backlog_is_full(
    backend_class: type[NetworkBackend], unix_listener: socket.socket
) -> None:
    # Like a TCP listener that never accepts: wait for room until the timeout. On Linux a
    # non-blocking connect() to a full Unix backlog fails with EAGAIN (not EINPROGRESS), and
    # must be retried; waiting for the socket to become writable and reading SO_ERROR (what
    # asyncio and trio do) reports success for a socket that never got connected.
    with full_backlog(unix_listener):
        started = time.monotonic()
        with pytest.raises(httpcore2.ConnectTimeout):
            await connect_and_close_unix(backend_class(), unix_listener.getsockname(), SHORT)
        assert SHORT * 0.9 <= time.monotonic() - started < LONG
    gc.collect()  # so that a leaked socket warns here, not in a later test


@every_async_backend
async def test_cancelled_unix_socket_connect_closes_its_socket(
    backend_class: type[NetworkBackend], unix_listener: socket.socket
) -> None:
    with full_backlog(unix_listener):
        with anyio.move_on_after(SHORT) as scope:
            await backend_class().connect_unix_socket(unix_listener.getsockname(), timeout=None)
        assert scope.cancelled_caught
    gc.collect()  # a leaked socket would warn (an error under pytest) here


# TLS.


@every_async_backend
@pytest.mark.parametrize(
    ("offered", "selected"), [(("http/1.1",), "http/1.1"), (("h2", "http/1.1"), "h2")]
)
async def test_start_tls(
    backend_class: type[NetworkBackend],
    tls_server: Server,
    offered: tuple[str, ...],
    selected: str,
) -> None:
    context = tls_context(tls_server.ca_file, offered)
    async with connect(backend_class(), (tls_server.host, tls_server.port)) as stream:
        tls = await stream.start_tls(context, "localhost", timeout=LONG)
        try:
            ssl_object = tls.get_extra_info("ssl_object")
            assert ssl_object.selected_alpn_protocol() == selected
            assert stream.get_extra_info("ssl_object") is None
            assert tls.get_extra_info("server_addr")[:2] == (tls_server.host, tls_server.port)
            if selected == "http/1.1":
                await tls.write(REQUEST, timeout=LONG)
                response = await read_until(tls, HELLO)
                assert response.startswith(b"HTTP/1.1 200 ")
        finally:
            await tls.aclose()
            await tls.aclose()


@every_async_backend
async def test_start_tls_certificate_failure(
    backend_class: type[NetworkBackend], wrong_host_tls_server: Server
) -> None:
    server = wrong_host_tls_server
    context = tls_context(server.ca_file)
    async with connect(backend_class(), (server.host, server.port)) as stream:
        with pytest.raises(httpcore2.ConnectError) as info:
            await stream.start_tls(context, "localhost", timeout=LONG)
        assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)
        assert stream.is_readable()  # closed


@every_async_backend
async def test_start_tls_handshake_timeout(
    backend_class: type[NetworkBackend], raw_server: RawServerFactory, ca_file: Path
) -> None:
    server = raw_server(silent)
    async with connect(backend_class(), server.address) as stream:
        started = time.monotonic()
        with pytest.raises(httpcore2.ConnectTimeout, match="within"):
            await stream.start_tls(tls_context(ca_file), "localhost", timeout=SHORT)
        assert SHORT * 0.9 <= time.monotonic() - started < LONG
        assert stream.is_readable()  # closed
    await wait_until(lambda: closed_by_client(server))


@every_async_backend
async def test_start_tls_peer_hangs_up(
    backend_class: type[NetworkBackend], raw_server: RawServerFactory, ca_file: Path
) -> None:
    server = raw_server(hang_up)
    async with connect(backend_class(), server.address) as stream:
        with pytest.raises(httpcore2.ConnectError):
            await stream.start_tls(tls_context(ca_file), "localhost", timeout=LONG)
        assert stream.is_readable()


@every_async_backend
async def test_start_tls_cancelled_closes_the_connection(
    backend_class: type[NetworkBackend], raw_server: RawServerFactory, ca_file: Path
) -> None:
    server = raw_server(silent)
    async with connect(backend_class(), server.address) as stream:
        with anyio.move_on_after(SHORT) as scope:
            await stream.start_tls(tls_context(ca_file), "localhost", timeout=None)
        assert scope.cancelled_caught
        assert stream.is_readable()
    await wait_until(lambda: closed_by_client(server))


@every_async_backend
async def test_tls_error_after_the_handshake(
    backend_class: type[NetworkBackend], raw_server: RawServerFactory, ca_file: Path
) -> None:
    server = raw_server(tls_then_garbage)
    async with connect(backend_class(), server.address) as stream:
        tls = await stream.start_tls(tls_context(ca_file), "localhost", timeout=LONG)
        try:
            await tls.write(b"hi", timeout=LONG)
            with pytest.raises(httpcore2.ReadError) as info:
                await read_to_end(tls)
            assert isinstance(info.value.__cause__, ssl.SSLError)
        finally:
            await tls.aclose()


@every_async_backend
async def test_tls_session_tickets_are_not_data(
    backend_class: type[NetworkBackend], raw_server: RawServerFactory, ca_file: Path
) -> None:
    server = raw_server(tls_talk_on_cue)
    async with connect(backend_class(), server.address) as stream:
        tls = await stream.start_tls(tls_context(ca_file), "localhost", timeout=LONG)
        try:
            if backend_class is AsyncioBackend:
                # The event loop reads the socket: wait for the tickets in its buffer.
                await wait_until(stream.is_readable)
            else:
                wait_for_session_tickets(tls)
            assert not tls.is_readable()
            await tls.write(b"send")
            assert await read_exactly(tls, 4) == b"data"
        finally:
            await tls.aclose()


@on(TRIO_NATIVE, ANYIO_ON_TRIO)
async def test_tls_in_tls(
    backend_class: type[NetworkBackend], raw_server: RawServerFactory, ca_file: Path
) -> None:
    server = raw_server(tls_in_tls_echo)
    async with connect(backend_class(), server.address) as stream:
        outer = await stream.start_tls(tls_context(ca_file), "localhost", timeout=LONG)
        inner = await outer.start_tls(tls_context(ca_file), "localhost", timeout=LONG)
        try:
            assert inner.get_extra_info("ssl_object") is not outer.get_extra_info("ssl_object")
            wait_for_session_tickets(inner)  # the inner session's, inside the outer one
            assert not inner.is_readable()
            await inner.write(b"ping", timeout=LONG)
            await wait_until(inner.is_readable)
            assert await read_exactly(inner, 4) == b"ping"
        finally:
            await inner.aclose()


@production_backends
async def test_tls_is_readable_means_data_or_end_of_stream(
    backend_class: type[NetworkBackend], raw_server: RawServerFactory, ca_file: Path
) -> None:
    server = raw_server(tls_talk_on_cue)
    async with connect(backend_class(), server.address) as stream:
        tls = await stream.start_tls(tls_context(ca_file), "localhost", timeout=LONG)
        try:
            await tls.write(b"send")
            assert await tls.read(2, timeout=LONG) == b"da"
            assert tls.is_readable()  # the rest of the record is decrypted and waiting
            assert await tls.read(1024, timeout=LONG) == b"ta"
            assert not tls.is_readable()
            await tls.write(b"send")
            await wait_until(tls.is_readable)
            assert await read_exactly(tls, 4, max_bytes=3) == b"data"
            assert not tls.is_readable()
            await tls.write(b"close")
            await wait_until(tls.is_readable)
            assert await tls.read(1024, timeout=LONG) == b""
        finally:
            await tls.aclose()


@production_backends
async def test_tls_answers_what_it_reads(
    backend_class: type[NetworkBackend], raw_server: RawServerFactory, ca_file: Path
) -> None:
    server = raw_server(tls_asks_for_a_certificate_later)
    context = tls_context(ca_file)
    certs.cert_authority().issue_cert("client.example").configure_cert(context)
    async with connect(backend_class(), server.address) as stream:
        tls = await stream.start_tls(context, "localhost", timeout=LONG)
        try:
            await tls.write(b"hello", timeout=LONG)
            # Reading "data" also reads the certificate request: TLS answers it at once,
            # not with the next write.
            assert await tls.read(1024, timeout=LONG) == b"data"
            assert await tls.read(1024, timeout=LONG * 2) == b"yes"
        finally:
            await tls.aclose()


@production_backends
async def test_tls_error_makes_the_stream_readable(
    backend_class: type[NetworkBackend], raw_server: RawServerFactory, ca_file: Path
) -> None:
    server = raw_server(tls_then_garbage)
    async with connect(backend_class(), server.address) as stream:
        tls = await stream.start_tls(tls_context(ca_file), "localhost", timeout=LONG)
        try:
            await tls.write(b"hi", timeout=LONG)
            await wait_until(tls.is_readable)
            with pytest.raises(httpcore2.ReadError):
                await read_to_end(tls)
            with pytest.raises(httpcore2.WriteError):
                await tls.write(b"more", timeout=LONG)
        finally:
            await tls.aclose()


@production_backends
async def test_tls_reset_makes_the_stream_readable(
    backend_class: type[NetworkBackend], raw_server: RawServerFactory, ca_file: Path
) -> None:
    server = raw_server(tls_then_reset)
    async with connect(backend_class(), server.address) as stream:
        tls = await stream.start_tls(tls_context(ca_file), "localhost", timeout=LONG)
        try:
            await tls.write(b"hi", timeout=LONG)
            await wait_until(tls.is_readable)
            try:  # how a reset reads depends on the TLS layer: an error or the end
                assert await read_to_end(tls) == b""
            except httpcore2.ReadError:
                pass
        finally:
            await tls.aclose()


# Extra info, liveness, closing.


@every_async_backend
async def test_extra_info(
    backend_class: type[NetworkBackend], raw_server: RawServerFactory
) -> None:
    server = raw_server(echo)
    async with connect(backend_class(), server.address) as stream:
        await stream.write(b"ping")
        assert await read_exactly(stream, 4) == b"ping"
        client_addr = stream.get_extra_info("client_addr")
        assert server.connections[0].sock.getpeername() == client_addr
        assert stream.get_extra_info("server_addr") == server.address
        assert stream.get_extra_info("socket").getsockname() == client_addr
        assert stream.get_extra_info("ssl_object") is None
        assert stream.get_extra_info("no such thing") is None


@every_async_backend
async def test_is_readable(
    backend_class: type[NetworkBackend], raw_server: RawServerFactory
) -> None:
    server = raw_server(talk_on_cue)
    async with connect(backend_class(), server.address) as stream:
        await anyio.sleep(SHORT)
        assert not stream.is_readable()  # idle and alive
        await stream.write(b"send")
        await wait_until(stream.is_readable)
        assert await stream.read(1024, timeout=LONG) == b"data"
        assert not stream.is_readable()
        await stream.write(b"close")
        await wait_until(stream.is_readable)
        assert await stream.read(1024, timeout=LONG) == b""


@every_async_backend
async def test_close_is_idempotent_and_final(
    backend_class: type[NetworkBackend], raw_server: RawServerFactory
) -> None:
    server = raw_server(echo)
    stream = await backend_class().connect_tcp(*server.address, timeout=LONG)
    await stream.aclose()
    await stream.aclose()
    assert stream.is_readable()
    with pytest.raises(httpcore2.WriteError):
        await stream.write(b"late", timeout=LONG)
    try:
        leftover = await stream.read(1024, timeout=LONG)
    except httpcore2.ReadError:
        leftover = b""
    assert leftover == b""
    await wait_until(lambda: closed_by_client(server))


@on(NATIVE, TRIO_NATIVE, ANYIO_ON_ASYNCIO, ANYIO_ON_TRIO, AUTO_ON_ASYNCIO, AUTO_ON_TRIO)
async def test_sleep(backend_class: type[NetworkBackend]) -> None:
    started = time.monotonic()
    await backend_class().sleep(0.05)
    assert 0.045 <= time.monotonic() - started < LONG


# The native asyncio backend's own machinery.


@on(NATIVE)
async def test_reading_pauses_while_the_reader_lags(
    backend_class: type[NetworkBackend], raw_server: RawServerFactory
) -> None:
    payload = pattern_bytes(2 * MB)

    def send_at_once(conn: RawConnection) -> None:
        conn.send(payload)
        conn.wait_for_close()

    server = raw_server(send_at_once)
    async with connect(backend_class(), server.address) as stream:
        assert isinstance(stream, AsyncioStream)
        protocol = stream._protocol
        await wait_until(lambda: protocol.buffered > _HIGH_WATER)
        await anyio.sleep(SHORT)  # time enough to read the rest, were reading not paused
        assert protocol.buffered <= _HIGH_WATER + _LARGE_RECEIVE_SIZE
        received = await read_exactly(stream, len(payload), max_bytes=10_000)
        assert received == payload


@on(NATIVE)
async def test_zero_timeout_read_returns_data_already_received(
    backend_class: type[NetworkBackend], raw_server: RawServerFactory
) -> None:
    server = raw_server(echo)
    async with connect(backend_class(), server.address) as stream:
        await stream.write(b"ping")
        # Block the loop until the echo is in the kernel: the transport has not read it yet,
        # so the read waits, and the socket event and the expired timer fire in one turn.
        assert select.select([stream.get_extra_info("socket").fileno()], [], [], LONG)[0]
        assert await stream.read(1024, timeout=0) == b"ping"


# The native trio backend's own rules: every read and write is a checkpoint.


@on(TRIO_NATIVE)
async def test_trio_read_and_write_are_cancel_points_even_when_they_need_not_wait(
    backend_class: type[NetworkBackend], raw_server: RawServerFactory
) -> None:
    server = raw_server(echo)
    async with connect(backend_class(), server.address) as stream:
        await stream.write(b"ping")
        await wait_until(stream.is_readable)
        with trio.CancelScope() as scope:
            scope.cancel()
            await stream.read(1024, timeout=LONG)
        assert scope.cancelled_caught
        with trio.CancelScope() as scope:
            scope.cancel()
            await stream.write(b"lost", timeout=LONG)
        assert scope.cancelled_caught
        # Neither touched the socket: the echo is still there, and nothing was sent.
        assert await stream.read(1024, timeout=LONG) == b"ping"
        await stream.write(b"pong", timeout=LONG)
        assert await read_exactly(stream, 4) == b"pong"
    assert bytes(server.connections[0].received) == b"pingpong"


@on(TRIO_NATIVE)
async def test_trio_write_that_need_not_wait_lets_other_tasks_run(
    backend_class: type[NetworkBackend], raw_server: RawServerFactory
) -> None:
    server = raw_server(echo)
    async with connect(backend_class(), server.address) as stream:
        with trio.testing.assert_checkpoints():
            await stream.write(b"ping", timeout=LONG)
        assert await read_exactly(stream, 4) == b"ping"


@on(TRIO_NATIVE)
async def test_trio_reads_of_waiting_data_let_other_tasks_run_now_and_then(
    backend_class: type[NetworkBackend], raw_server: RawServerFactory
) -> None:
    def send_at_once(conn: RawConnection) -> None:
        conn.send(bytes(64))
        conn.wait_for_close()

    server = raw_server(send_at_once)
    async with connect(backend_class(), server.address) as stream:
        await wait_until(stream.is_readable)  # all of it: one segment
        with trio.testing.assert_checkpoints():
            for _ in range(_READS_PER_SCHEDULE_POINT):
                assert await stream.read(1, timeout=LONG) == b"\0"


@on(TRIO_NATIVE)
async def test_trio_waits_again_after_a_wakeup_with_nothing_to_read(
    backend_class: type[NetworkBackend],
    raw_server: RawServerFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wait_readable = trio.lowlevel.wait_readable
    wakeups = 0

    async def wake_up_early_once(sock: Any) -> None:
        nonlocal wakeups
        wakeups += 1
        if wakeups == 1:
            await trio.lowlevel.checkpoint()  # back at once, nothing received
        else:
            await wait_readable(sock)

    monkeypatch.setattr(trio.lowlevel, "wait_readable", wake_up_early_once)
    server = raw_server(never_read)
    async with connect(backend_class(), server.address) as stream:
        with pytest.raises(httpcore2.ReadTimeout):
            await stream.read(1024, timeout=SHORT)
    assert wakeups == 2


@on(TRIO_NATIVE)
async def test_trio_write_that_finds_no_room_waits_for_it(
    backend_class: type[NetworkBackend], raw_server: RawServerFactory
) -> None:
    server = raw_server(never_read)
    async with connect(backend_class(), server.address) as stream:
        with pytest.raises(httpcore2.WriteTimeout):
            await flood(stream, timeout=SHORT)
        # The socket holds more unsent data than trio lets it queue (TCP_NOTSENT_LOWAT):
        # the next write finds no room from the start.
        with pytest.raises(httpcore2.WriteTimeout, match="within"):
            await stream.write(b"more", timeout=SHORT)


@on(TRIO_NATIVE, ANYIO_ON_TRIO)
async def test_closing_fails_a_read_waiting_on_the_stream(
    backend_class: type[NetworkBackend], raw_server: RawServerFactory
) -> None:
    server = raw_server(never_read)
    stream = await backend_class().connect_tcp(*server.address, timeout=LONG)
    failures: list[BaseException] = []

    async def read() -> None:
        with pytest.raises(httpcore2.ReadError) as info:
            await stream.read(1024, timeout=LONG)
        failures.append(info.value)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read)
        await trio.testing.wait_all_tasks_blocked()
        await stream.aclose()
    assert len(failures) == 1


# AutoBackend.


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("anyio_backend", "stream_class"),
    [
        pytest.param("asyncio", AsyncioStream, id="asyncio"),
        pytest.param("trio", TrioStream, id="trio"),
    ],
)
async def test_auto_backend_uses_the_backend_of_the_running_loop(
    stream_class: type[NetworkStream], raw_server: RawServerFactory, unix_listener: socket.socket
) -> None:
    backend = AutoBackend()
    server = raw_server(echo)
    for message in (b"first", b"second"):  # the second connection reuses the choice
        async with connect(backend, server.address) as stream:
            assert isinstance(stream, stream_class)
            await stream.write(message)
            assert await read_exactly(stream, len(message)) == message
    stream = await backend.connect_unix_socket(unix_listener.getsockname(), timeout=LONG)
    try:
        assert isinstance(stream, stream_class)
        with accept(unix_listener) as peer:
            peer.sendall(b"unix")
            assert await read_exactly(stream, 4) == b"unix"
    finally:
        await stream.aclose()


def test_requests_on_trio_never_import_anyio(raw_server: RawServerFactory) -> None:
    def answer_every_request(conn: RawConnection) -> None:
        while conn.recv():
            conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")

    server = raw_server(answer_every_request)
    host, port = server.address
    url = f"http://{host}:{port}/"
    # Two requests for one connection: the second waits for the first to hand it over.
    program = (
        "import sys, trio, httpcore2\n"
        "async def main():\n"
        "    limits = httpcore2.PoolLimits(max_connections=1)\n"
        "    async with httpcore2.ConnectionPool(pool_limits=limits) as pool:\n"
        "        async with trio.open_nursery() as nursery:\n"
        "            for _ in range(2):\n"
        f"                nursery.start_soon(pool.request, 'GET', {url!r})\n"
        "trio.run(main)\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] == 'anyio'))\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True, timeout=60
    )
    assert output.stdout.strip() == "[]"
    assert len(server.connections) == 1


# Sending files (`send_file`): by the kernel on the native asyncio and trio backends, in blocks on
# anyio and wherever the kernel cannot send the file.


@pytest.fixture
def pattern_file(tmp_path: Path) -> Path:
    """`pattern_bytes(3 MB)` in a regular file."""
    path = tmp_path / "pattern.bin"
    path.write_bytes(pattern_bytes(3 * MB))
    return path


@pytest.fixture
def huge_sparse_file(tmp_path: Path) -> Path:
    """256 MB of zeros that take no disk: more than loopback buffers hold."""
    path = tmp_path / "sparse.bin"
    with path.open("wb") as file:
        file.truncate(256 * MB)
    return path


@every_async_backend
async def test_send_file_sends_from_the_file_position(
    backend_class: type[NetworkBackend], raw_server: RawServerFactory, pattern_file: Path
) -> None:
    count = 2 * MB + 1
    server = raw_server(slow_reader(3 * MB - 7))
    async with connect(backend_class(), server.address) as stream:
        with pattern_file.open("rb") as file:
            file.seek(7)
            assert await stream.send_file(file, count, timeout=LONG) == count
            assert file.tell() == 7 + count
            # Past the end of the file: what there is.
            assert await stream.send_file(file, 2 * MB, timeout=LONG) == 3 * MB - 7 - count
        await read_until(stream, b"%d" % (3 * MB - 7))
    assert server.connections[0].received == pattern_bytes(3 * MB)[7:]


@every_async_backend
async def test_send_file_timeout_when_the_peer_never_reads(
    backend_class: type[NetworkBackend], raw_server: RawServerFactory, huge_sparse_file: Path
) -> None:
    server = raw_server(never_read)
    async with connect(backend_class(), server.address) as stream:
        with huge_sparse_file.open("rb") as file, pytest.raises(httpcore2.WriteTimeout):
            await stream.send_file(file, 256 * MB, timeout=SHORT)


@every_async_backend
async def test_send_file_error_when_the_peer_resets(
    backend_class: type[NetworkBackend], raw_server: RawServerFactory, huge_sparse_file: Path
) -> None:
    server = raw_server(reset_later)
    async with connect(backend_class(), server.address) as stream:
        with huge_sparse_file.open("rb") as file, pytest.raises(httpcore2.WriteError):
            await stream.send_file(file, 256 * MB, timeout=LONG)


@every_async_backend
async def test_send_file_of_what_the_kernel_cannot_send_goes_in_blocks(
    backend_class: type[NetworkBackend], raw_server: RawServerFactory
) -> None:
    payload = pattern_bytes(MB)
    server = raw_server(slow_reader(len(payload) - 5))
    async with connect(backend_class(), server.address) as stream:
        file = io.BytesIO(payload)  # no file descriptor
        file.seek(5)
        assert await stream.send_file(file, 2 * MB, timeout=LONG) == len(payload) - 5
        assert file.tell() == len(payload)
        await read_until(stream, b"%d" % (len(payload) - 5))
    assert server.connections[0].received == payload[5:]


@on(NATIVE)
async def test_send_file_on_a_closed_stream_fails(
    backend_class: type[NetworkBackend], raw_server: RawServerFactory, pattern_file: Path
) -> None:
    server = raw_server(never_read)
    async with connect(backend_class(), server.address) as stream:
        await stream.aclose()
        with pattern_file.open("rb") as file, pytest.raises(httpcore2.WriteError, match="closed"):
            await stream.send_file(file, MB, timeout=LONG)


@on(NATIVE)
async def test_send_file_without_loop_sendfile_sends_blocks(
    backend_class: type[NetworkBackend],
    raw_server: RawServerFactory,
    pattern_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # uvloop has no sendfile: the stream falls back to reading and writing blocks.
    async def no_sendfile(*args: object, **kwargs: object) -> int:
        raise NotImplementedError

    monkeypatch.setattr(asyncio.get_running_loop(), "sendfile", no_sendfile)
    server = raw_server(slow_reader(3 * MB))
    async with connect(backend_class(), server.address) as stream:
        with pattern_file.open("rb") as file:
            assert await stream.send_file(file, 3 * MB, timeout=LONG) == 3 * MB
        await read_until(stream, b"%d" % (3 * MB))
    assert server.connections[0].received == pattern_bytes(3 * MB)


def test_the_asyncio_receive_buffer_grows_for_a_large_body_and_shrinks_back() -> None:
    # Each connection keeps its buffer: 64 KiB, and 256 KiB only while reads fill it, so 500
    # connections of small responses do not hold 128 MiB.
    loop = asyncio.new_event_loop()
    try:
        protocol = _StreamProtocol(loop)
        sizes = []
        for received in (100, _RECEIVE_SIZE, _LARGE_RECEIVE_SIZE, 1000, 100):
            buffer = protocol.get_buffer(-1)
            buffer[:received] = b"x" * received
            protocol.buffer_updated(received)
            sizes.append(len(protocol.get_buffer(-1)))
        assert sizes == [_RECEIVE_SIZE] + [_LARGE_RECEIVE_SIZE] * 2 + [_RECEIVE_SIZE] * 2
        assert protocol.buffered == 100 + _RECEIVE_SIZE + _LARGE_RECEIVE_SIZE + 1100
    finally:
        loop.close()
