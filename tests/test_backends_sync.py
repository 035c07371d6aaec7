"""`SyncBackend` on loopback sockets: the cases of tests/test_backends.py, blocking, plus a
reader blocked in one thread that another thread's close() must wake."""

from __future__ import annotations

import contextlib
import errno
import os
import queue
import signal
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import pytest

import httpcore2
from httpcore2._backends.sync import SyncBackend, SyncSocketStream
from httpcore2._sync.network import SyncNetworkStream
from tests._sync.waiting import wait_until
from tests.servers.app import HELLO, pattern_bytes
from tests.servers.asgi_server import Server
from tests.servers.raw import RawServerFactory
from tests.test_backends import (
    EARLY_RESPONSE,
    LONG,
    MB,
    REQUEST,
    SHORT,
    accept,
    answer_early_then_reset,
    answer_then_close,
    closed_by_client,
    echo,
    full_backlog,
    hang_up,
    never_read,
    reset_later,
    reset_on_message,
    silent,
    slow_reader,
    talk_on_cue,
    tls_context,
    tls_echo,
    tls_never_read,
    tls_talk_on_cue,
    tls_then_garbage,
    tls_then_reset,
    wait_for_reset,
    wait_for_session_tickets,
)
from tests.test_backends import huge_sparse_file as huge_sparse_file  # the fixtures
from tests.test_backends import pattern_file as pattern_file
from tests.test_backends import unix_listener as unix_listener


@contextmanager
def connect(address: tuple[str, int], **kwargs: Any) -> Iterator[SyncNetworkStream]:
    stream = SyncBackend().connect_tcp(*address, timeout=LONG, **kwargs)
    try:
        yield stream
    finally:
        stream.close()


@contextmanager
def tls_connect(address: tuple[str, int], ca_file: Path) -> Iterator[SyncNetworkStream]:
    """TLS to `address` (a certificate for `localhost`), closed on the way out."""
    with connect(address) as stream:
        tls = stream.start_tls(tls_context(ca_file), "localhost", timeout=LONG)
        try:
            yield tls
        finally:
            tls.close()


def connect_over(
    tls: bool, address: tuple[str, int], ca_file: Path
) -> contextlib.AbstractContextManager[SyncNetworkStream]:
    """`tls_connect` or `connect`."""
    return tls_connect(address, ca_file) if tls else connect(address)


over_tcp_and_tls = pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])


def read_exactly(stream: SyncNetworkStream, size: int, timeout: float | None = LONG) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = stream.read(size - len(data), timeout=timeout)
        assert chunk, f"end of stream after {len(data)} of {size} bytes"
        data += chunk
    return bytes(data)


def read_until(stream: SyncNetworkStream, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = stream.read(65536, timeout=LONG)
        assert chunk, f"end of stream before {marker!r}: {data!r}"
        data += chunk
    return data


def read_to_end(stream: SyncNetworkStream) -> bytes:
    data = b""
    while chunk := stream.read(65536, timeout=LONG):
        data += chunk
    return data


def flood(stream: SyncNetworkStream, timeout: float) -> None:
    """Write 1 MB at a time, up to far more than loopback buffers hold."""
    chunk = bytes(MB)
    for _ in range(256):
        stream.write(chunk, timeout=timeout)


# Data, end of stream, resets.


def test_round_trip(raw_server: RawServerFactory) -> None:
    server = raw_server(echo)
    with connect(server.address) as stream:
        for message in (b"ping", b"pong" * 1000):
            stream.write(message, timeout=None)
            assert read_exactly(stream, len(message), timeout=None) == message
    assert bytes(server.connections[0].received) == b"ping" + b"pong" * 1000


def test_read_returns_empty_bytes_at_end_of_stream(raw_server: RawServerFactory) -> None:
    server = raw_server(answer_then_close)
    with connect(server.address) as stream:
        stream.write(b"hi")
        assert read_to_end(stream) == b"bye"
        assert stream.read(1024, timeout=LONG) == b""
        assert stream.is_readable()


def test_read_error_after_a_reset(raw_server: RawServerFactory) -> None:
    server = raw_server(reset_on_message)
    with connect(server.address) as stream:
        stream.write(b"hi")
        with pytest.raises(httpcore2.ReadError) as info:
            stream.read(1024, timeout=LONG)
        assert isinstance(info.value.__cause__, ConnectionResetError)


# Timeouts.


@over_tcp_and_tls
def test_read_timeout_leaves_the_stream_usable(
    raw_server: RawServerFactory, ca_file: Path, tls: bool
) -> None:
    server = raw_server(tls_echo if tls else echo)
    with connect_over(tls, server.address, ca_file) as stream:
        started = time.monotonic()
        with pytest.raises(httpcore2.ReadTimeout, match="within") as info:
            stream.read(1024, timeout=SHORT)
        assert isinstance(info.value.__cause__, TimeoutError)
        assert SHORT * 0.9 <= time.monotonic() - started < LONG
        stream.write(b"ping", timeout=LONG)
        assert read_exactly(stream, 4) == b"ping"


@over_tcp_and_tls
def test_write_timeout_when_the_peer_never_reads(
    raw_server: RawServerFactory, ca_file: Path, tls: bool
) -> None:
    server = raw_server(tls_never_read if tls else never_read)
    with connect_over(tls, server.address, ca_file) as stream:
        started = time.monotonic()
        with pytest.raises(httpcore2.WriteTimeout, match="within") as info:
            flood(stream, timeout=SHORT)
        assert isinstance(info.value.__cause__, TimeoutError)
        assert SHORT * 0.9 <= time.monotonic() - started < LONG


def test_write_waits_for_a_slow_reader(raw_server: RawServerFactory) -> None:
    payload = pattern_bytes(8 * MB)
    server = raw_server(slow_reader(len(payload)))
    with connect(server.address) as stream:
        stream.write(payload)
        assert read_until(stream, b"%d" % len(payload)) == b"%d" % len(payload)
    assert server.connections[0].received == payload


@pytest.mark.case("F11")
def test_connect_timeout(never_accepting: tuple[str, int]) -> None:
    started = time.monotonic()
    with pytest.raises(httpcore2.ConnectTimeout, match="within"):
        SyncBackend().connect_tcp(*never_accepting, timeout=SHORT)
    assert SHORT * 0.9 <= time.monotonic() - started < LONG


# Spurious wake-ups: poll() says ready, and the socket then has nothing (another thread
# was faster, say). The stream waits again for what is left of the timeout.


class WouldBlockTwice:
    """A socket whose `recv` and `send` each fail twice as if nothing were ready."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._failures = {"recv": 2, "send": 2}

    def __getattr__(self, name: str) -> Any:
        if not self._failures.get(name):
            return getattr(self._sock, name)
        self._failures[name] -= 1

        def would_block(*args: Any) -> None:
            raise BlockingIOError(errno.EAGAIN, os.strerror(errno.EAGAIN))

        return would_block


@pytest.mark.parametrize("timeout", [LONG, None])
def test_read_and_write_wait_again_after_a_spurious_wake_up(
    raw_server: RawServerFactory, timeout: float | None
) -> None:
    server = raw_server(echo)
    with connect(server.address) as stream:
        assert isinstance(stream, SyncSocketStream)
        stream._sock = cast(socket.socket, WouldBlockTwice(stream._sock))
        stream.write(b"ping", timeout=timeout)
        assert read_exactly(stream, 4, timeout=timeout) == b"ping"


# Writing to a connection that is gone.


def test_write_error_when_the_peer_resets_during_a_blocked_write(
    raw_server: RawServerFactory,
) -> None:
    server = raw_server(reset_later)
    with connect(server.address) as stream, pytest.raises(httpcore2.WriteError):
        flood(stream, timeout=LONG)


def test_first_write_after_a_reset_raises_write_error(raw_server: RawServerFactory) -> None:
    server = raw_server(reset_on_message)
    with connect(server.address) as stream:
        stream.write(b"hi")
        wait_for_reset(stream.get_extra_info("socket"))
        for _ in range(3):
            with pytest.raises(httpcore2.WriteError):
                stream.write(b"request", timeout=LONG)


def test_an_early_response_survives_the_reset_that_follows_it(
    raw_server: RawServerFactory,
) -> None:
    server = raw_server(answer_early_then_reset)
    with connect(server.address) as stream:
        stream.write(b"POST / HTTP/1.1\r\n")
        wait_for_reset(stream.get_extra_info("socket"))
        with pytest.raises(httpcore2.WriteError):
            stream.write(b"x" * 100_000, timeout=LONG)
        assert read_until(stream, b"\r\n\r\n") == EARLY_RESPONSE
        assert stream.read(1024, timeout=LONG) == b""


# Connecting.


def test_connect_error_when_refused(unused_port: int) -> None:
    with pytest.raises(httpcore2.ConnectError) as info:
        SyncBackend().connect_tcp("127.0.0.1", unused_port, timeout=LONG)
    assert isinstance(info.value.__cause__, ConnectionRefusedError)


def test_local_address(raw_server: RawServerFactory) -> None:
    server = raw_server(echo)
    with connect(server.address, local_address="127.0.0.1") as stream:
        stream.write(b"ping")
        assert read_exactly(stream, 4) == b"ping"
        client_addr = stream.get_extra_info("client_addr")
        assert client_addr[0] == "127.0.0.1"
        assert server.connections[0].sock.getpeername() == client_addr


def test_unusable_local_address(raw_server: RawServerFactory) -> None:
    server = raw_server(echo)
    with pytest.raises(httpcore2.ConnectError):  # an IPv6 source for an IPv4 destination
        SyncBackend().connect_tcp(*server.address, timeout=LONG, local_address="::1")


def test_ipv6(raw_server: RawServerFactory) -> None:
    server = raw_server(echo, host="::1")
    with connect(("::1", server.port)) as stream:
        stream.write(b"ping")
        assert read_exactly(stream, 4) == b"ping"
        assert stream.get_extra_info("server_addr")[:2] == ("::1", server.port)


def test_unix_socket(unix_listener: socket.socket) -> None:
    path = unix_listener.getsockname()
    stream = SyncBackend().connect_unix_socket(path, timeout=LONG)
    try:
        with accept(unix_listener) as peer:
            stream.write(b"ping", timeout=LONG)
            assert peer.recv(4, socket.MSG_WAITALL) == b"ping"
            peer.sendall(b"pong")
            assert read_exactly(stream, 4) == b"pong"
            assert stream.get_extra_info("server_addr") == path
        assert stream.read(1024, timeout=LONG) == b""
    finally:
        stream.close()


def test_unix_socket_connect_error(unix_listener: socket.socket) -> None:
    missing = unix_listener.getsockname() + "-missing"
    with pytest.raises(httpcore2.ConnectError) as info:
        SyncBackend().connect_unix_socket(missing, timeout=LONG)
    assert isinstance(info.value.__cause__, FileNotFoundError)


def test_unix_socket_connect_timeout_when_the_backlog_is_full(
    unix_listener: socket.socket,
) -> None:
    # As in tests/test_backends.py: a socket with a timeout connects without blocking, and
    # Linux answers EAGAIN for a full Unix backlog, which must be retried until the timeout
    # rather than reported at once.
    with full_backlog(unix_listener):
        started = time.monotonic()
        with pytest.raises(httpcore2.ConnectTimeout):
            SyncBackend().connect_unix_socket(unix_listener.getsockname(), timeout=SHORT).close()
        assert SHORT * 0.9 <= time.monotonic() - started < LONG


# TLS.


@pytest.mark.parametrize(
    ("offered", "selected"), [(("http/1.1",), "http/1.1"), (("h2", "http/1.1"), "h2")]
)
def test_start_tls(tls_server: Server, offered: tuple[str, ...], selected: str) -> None:
    context = tls_context(tls_server.ca_file, offered)
    with connect((tls_server.host, tls_server.port)) as stream:
        tls = stream.start_tls(context, "localhost", timeout=LONG)
        try:
            ssl_object = tls.get_extra_info("ssl_object")
            assert ssl_object.selected_alpn_protocol() == selected
            assert stream.get_extra_info("ssl_object") is None
            assert tls.get_extra_info("server_addr")[:2] == (tls_server.host, tls_server.port)
            if selected == "http/1.1":
                tls.write(REQUEST, timeout=LONG)
                assert read_until(tls, HELLO).startswith(b"HTTP/1.1 200 ")
        finally:
            tls.close()
            tls.close()


def test_start_tls_certificate_failure(wrong_host_tls_server: Server) -> None:
    server = wrong_host_tls_server
    with connect((server.host, server.port)) as stream:
        with pytest.raises(httpcore2.ConnectError) as info:
            stream.start_tls(tls_context(server.ca_file), "localhost", timeout=LONG)
        assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)
        assert stream.is_readable()  # closed


def test_start_tls_handshake_timeout(raw_server: RawServerFactory, ca_file: Path) -> None:
    server = raw_server(silent)
    with connect(server.address) as stream:
        started = time.monotonic()
        with pytest.raises(httpcore2.ConnectTimeout, match="within"):
            stream.start_tls(tls_context(ca_file), "localhost", timeout=SHORT)
        assert SHORT * 0.9 <= time.monotonic() - started < LONG
        assert stream.is_readable()  # closed
    wait_until(lambda: closed_by_client(server))


def test_start_tls_peer_hangs_up(raw_server: RawServerFactory, ca_file: Path) -> None:
    server = raw_server(hang_up)
    with connect(server.address) as stream:
        with pytest.raises(httpcore2.ConnectError):
            stream.start_tls(tls_context(ca_file), "localhost", timeout=LONG)
        assert stream.is_readable()


def test_start_tls_failure_of_any_kind_closes_the_connection(
    raw_server: RawServerFactory, ca_file: Path
) -> None:
    server = raw_server(silent)
    with connect(server.address) as stream:
        with pytest.raises(ValueError, match="server_hostname"):  # the context checks names
            stream.start_tls(tls_context(ca_file), None, timeout=LONG)
        assert stream.is_readable()
    wait_until(lambda: closed_by_client(server))


def test_tls_error_after_the_handshake(raw_server: RawServerFactory, ca_file: Path) -> None:
    server = raw_server(tls_then_garbage)
    with tls_connect(server.address, ca_file) as tls:
        tls.write(b"hi", timeout=LONG)
        with pytest.raises(httpcore2.ReadError) as info:
            read_to_end(tls)
        assert isinstance(info.value.__cause__, ssl.SSLError)


def test_tls_is_readable_means_data_or_end_of_stream(
    raw_server: RawServerFactory, ca_file: Path
) -> None:
    server = raw_server(tls_talk_on_cue)
    with tls_connect(server.address, ca_file) as tls:
        wait_for_session_tickets(tls)
        assert not tls.is_readable()
        tls.write(b"send")
        assert tls.read(2, timeout=LONG) == b"da"
        assert tls.is_readable()  # the rest of the record is decrypted and waiting
        assert tls.read(1024, timeout=LONG) == b"ta"
        assert not tls.is_readable()
        tls.write(b"send")
        wait_until(tls.is_readable)
        assert read_exactly(tls, 4) == b"data"
        assert not tls.is_readable()
        tls.write(b"close")
        wait_until(tls.is_readable)
        assert tls.read(1024, timeout=LONG) == b""


def echo_while_another_thread_reads(stream: SyncNetworkStream) -> None:
    """Send 4 MiB to an echo server in small writes while another thread reads it back.

    One thread reading while another writes is how threads share an HTTP/2 connection.
    OpenSSL forbids two threads inside one TLS object at once: a stream that let them in
    corrupted records within a few rounds (the server failed with "bad record mac").
    """
    sent = pattern_bytes(4 * MB)
    received = bytearray()

    def read_back() -> None:
        while len(received) < len(sent) and (data := stream.read(64 * 1024, LONG)):
            received.extend(data)

    with ThreadPoolExecutor(1) as executor:
        reading = executor.submit(read_back)
        for start in range(0, len(sent), 1000):
            stream.write(sent[start : start + 1000], LONG)
        reading.result()
    assert received == sent


@pytest.mark.parametrize("connection", range(5))
def test_tls_one_thread_reads_while_another_writes(
    raw_server: RawServerFactory, ca_file: Path, connection: int
) -> None:
    server = raw_server(tls_echo)
    with tls_connect(server.address, ca_file) as tls:
        echo_while_another_thread_reads(tls)


def test_tls_error_makes_the_stream_readable(raw_server: RawServerFactory, ca_file: Path) -> None:
    server = raw_server(tls_then_garbage)
    with tls_connect(server.address, ca_file) as tls:
        tls.write(b"hi", timeout=LONG)
        wait_until(tls.is_readable)
        with pytest.raises(httpcore2.ReadError):
            read_to_end(tls)
        with pytest.raises(httpcore2.WriteError):
            tls.write(b"more", timeout=LONG)


def test_tls_reset_makes_the_stream_readable(raw_server: RawServerFactory, ca_file: Path) -> None:
    server = raw_server(tls_then_reset)
    with tls_connect(server.address, ca_file) as tls:
        tls.write(b"hi", timeout=LONG)
        wait_until(tls.is_readable)
        try:  # how a reset reads depends on the TLS layer: an error or the end
            assert read_to_end(tls) == b""
        except httpcore2.ReadError:
            pass


# Extra info, liveness, closing.


def test_extra_info(raw_server: RawServerFactory) -> None:
    server = raw_server(echo)
    with connect(server.address) as stream:
        stream.write(b"ping")
        assert read_exactly(stream, 4) == b"ping"
        client_addr = stream.get_extra_info("client_addr")
        assert server.connections[0].sock.getpeername() == client_addr
        assert stream.get_extra_info("server_addr") == server.address
        assert stream.get_extra_info("socket").getsockname() == client_addr
        assert stream.get_extra_info("ssl_object") is None
        assert stream.get_extra_info("no such thing") is None


def test_is_readable(raw_server: RawServerFactory) -> None:
    server = raw_server(talk_on_cue)
    with connect(server.address) as stream:
        time.sleep(SHORT)
        assert not stream.is_readable()  # idle and alive
        stream.write(b"send")
        wait_until(stream.is_readable)
        assert stream.read(1024, timeout=LONG) == b"data"
        assert not stream.is_readable()
        stream.write(b"close")
        wait_until(stream.is_readable)
        assert stream.read(1024, timeout=LONG) == b""


def test_close_is_idempotent_and_final(raw_server: RawServerFactory) -> None:
    server = raw_server(echo)
    stream = SyncBackend().connect_tcp(*server.address, timeout=LONG)
    stream.close()
    stream.close()
    assert stream.is_readable()
    with pytest.raises(httpcore2.WriteError):
        stream.write(b"late", timeout=LONG)
    with pytest.raises(httpcore2.ReadError):
        stream.read(1024, timeout=LONG)
    wait_until(lambda: closed_by_client(server))


def test_close_wakes_a_reader_blocked_in_another_thread(raw_server: RawServerFactory) -> None:
    server = raw_server(echo)  # answers only what it is sent: the reader blocks
    outcome: queue.Queue[bytes | Exception] = queue.Queue()
    with connect(server.address) as stream:

        def read() -> None:
            try:
                outcome.put(stream.read(1024, timeout=LONG))
            except httpcore2.HTTPError as exc:
                outcome.put(exc)

        reader = threading.Thread(target=read)
        reader.start()
        # Most likely blocked in recv() by then; a close before the read is fine too (the
        # read fails at once). Unwoken, the read would end in a ReadTimeout after LONG.
        time.sleep(SHORT)
        stream.close()
        result = outcome.get(timeout=2 * LONG)
        reader.join(LONG)
    assert result == b"" or isinstance(result, httpcore2.ReadError)


class Interrupted(Exception):
    """Raised by the test's signal handler."""


@pytest.mark.parametrize("timeout", [None, 30.0], ids=["no-timeout", "timeout"])
@over_tcp_and_tls
def test_a_signal_that_misses_the_wait_is_handled_within_a_second(
    raw_server: RawServerFactory, ca_file: Path, timeout: float | None, tls: bool
) -> None:
    # A signal that arrives just before poll() starts does not interrupt it (a Ctrl-C at
    # the wrong moment): its Python handler runs once poll() returns. Blocked in this
    # thread, the signal goes to another, which is the same from here.
    def interrupt(signum: int, frame: object) -> None:
        raise Interrupted

    server = raw_server(tls_echo if tls else echo)  # answers only what it is sent
    with contextlib.ExitStack() as stack:
        stream = stack.enter_context(connect_over(tls, server.address, ca_file))
        failsafe = threading.Timer(10 * LONG, stream.close)  # a read that never wakes fails
        sender = threading.Timer(SHORT, os.kill, (os.getpid(), signal.SIGUSR1))
        stack.callback(signal.signal, signal.SIGUSR1, signal.signal(signal.SIGUSR1, interrupt))
        stack.callback(signal.pthread_sigmask, signal.SIG_UNBLOCK, {signal.SIGUSR1})
        failsafe.start()
        sender.start()  # created unblocked: threads inherit the mask of their creator
        stack.callback(failsafe.cancel)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
        started = time.monotonic()
        with pytest.raises(Interrupted):
            stream.read(1024, timeout)
        assert time.monotonic() - started < LONG  # one slice of poll(): about a second
        sender.join()


def test_sleep() -> None:
    started = time.monotonic()
    SyncBackend().sleep(0.05)
    assert 0.045 <= time.monotonic() - started < LONG


# Sending files (`send_file`): by the kernel (`socket.sendfile`) over plain TCP.


def test_send_file_sends_from_the_file_position(
    raw_server: RawServerFactory, pattern_file: Path
) -> None:
    count = 2 * MB + 1
    server = raw_server(slow_reader(3 * MB - 7))
    with connect(server.address) as stream:
        with pattern_file.open("rb") as file:
            file.seek(7)
            assert stream.send_file(file, count, timeout=LONG) == count
            assert file.tell() == 7 + count
            # Past the end of the file: what there is.
            assert stream.send_file(file, 2 * MB, timeout=LONG) == 3 * MB - 7 - count
        read_until(stream, b"%d" % (3 * MB - 7))
    assert server.connections[0].received == pattern_bytes(3 * MB)[7:]


@pytest.mark.parametrize("timeout", [SHORT, 0.0])
def test_send_file_timeout_when_the_peer_never_reads(
    raw_server: RawServerFactory, huge_sparse_file: Path, timeout: float
) -> None:
    server = raw_server(never_read)
    with connect(server.address) as stream, huge_sparse_file.open("rb") as file:
        with pytest.raises(httpcore2.WriteTimeout):
            stream.send_file(file, 256 * MB, timeout=timeout)


def test_send_file_error_when_the_peer_resets(
    raw_server: RawServerFactory, huge_sparse_file: Path
) -> None:
    server = raw_server(reset_later)
    with connect(server.address) as stream, huge_sparse_file.open("rb") as file:
        with pytest.raises(httpcore2.WriteError):
            stream.send_file(file, 256 * MB, timeout=LONG)
