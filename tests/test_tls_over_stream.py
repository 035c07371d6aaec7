"""TLS over a blocking network stream (the sync side of TLS inside TLS), against real TLS
servers on loopback; here the outer stream is a plain socket, which the class cannot tell
from a TLS one."""

from __future__ import annotations

import ssl
from collections.abc import Callable

import pytest

import httpcore2
from httpcore2._backends.tls_over_stream import SyncTLSOverStream
from tests._sync.waiting import wait_until
from tests.servers import certs
from tests.servers.raw import RawConnection, RawServer, RawServerFactory
from tests.test_backends_sync import echo_while_another_thread_reads

TIMEOUT = 5.0


def tls_handler(
    then: Callable[[ssl.SSLSocket, RawConnection], object],
) -> Callable[[RawConnection], None]:
    """Complete a TLS handshake as the server, then run `then` on the TLS socket."""
    context = certs.server_ssl_context()  # built here, before any client needs the CA

    def handler(conn: RawConnection) -> None:
        # A duplicate: the TLS socket takes over the descriptor it wraps.
        try:
            tls = context.wrap_socket(conn.sock.dup(), server_side=True)
        except (ssl.SSLError, OSError):
            return
        with tls:
            then(tls, conn)

    return handler


def connect(server: RawServer, hostname: str = "localhost") -> SyncTLSOverStream:
    """TLS over a plain TCP stream to `server`."""
    plain = httpcore2.SyncBackend().connect_tcp("127.0.0.1", server.port, TIMEOUT)
    return SyncTLSOverStream(plain, certs.client_ssl_context(), hostname, TIMEOUT)


def echo_then_close(tls: ssl.SSLSocket, conn: RawConnection) -> None:
    tls.sendall(tls.recv(1024).upper())
    tls.unwrap()  # close_notify


def echo(tls: ssl.SSLSocket, conn: RawConnection) -> None:
    while data := tls.recv(65536):
        tls.sendall(data)


@pytest.mark.parametrize("connection", range(5))
def test_one_thread_reads_while_another_writes(
    raw_server: RawServerFactory, connection: int
) -> None:
    stream = connect(raw_server(tls_handler(echo)))
    try:
        echo_while_another_thread_reads(stream)
    finally:
        stream.close()


def test_exchange_and_clean_close(raw_server: RawServerFactory) -> None:
    stream = connect(raw_server(tls_handler(echo_then_close)))
    assert stream.get_extra_info("ssl_object").server_hostname == "localhost"
    assert stream.get_extra_info("server_addr")[0] == "127.0.0.1"
    stream.write(b"hello", TIMEOUT)
    wait_until(stream.is_readable, TIMEOUT)
    assert stream.read(1024, TIMEOUT) == b"HELLO"
    assert stream.read(1024, TIMEOUT) == b""  # close_notify: the end of the stream
    stream.close()


def test_end_of_stream_without_close_notify(raw_server: RawServerFactory) -> None:
    stream = connect(raw_server(tls_handler(lambda tls, conn: tls.close())))
    assert stream.read(1024, TIMEOUT) == b""
    stream.close()


def test_certificate_for_another_name(raw_server: RawServerFactory) -> None:
    server = raw_server(tls_handler(echo_then_close))
    with pytest.raises(httpcore2.ConnectError, match="certificate verify failed"):
        connect(server, hostname="wrong.test")


def test_handshake_timeout(raw_server: RawServerFactory) -> None:
    server = raw_server(lambda conn: conn.pause(TIMEOUT * 2) and None)
    plain = httpcore2.SyncBackend().connect_tcp("127.0.0.1", server.port, TIMEOUT)
    with pytest.raises(httpcore2.ConnectTimeout):
        SyncTLSOverStream(plain, certs.client_ssl_context(), "localhost", 0.2)


def test_garbage_after_the_handshake(raw_server: RawServerFactory) -> None:
    def garbage(tls: ssl.SSLSocket, conn: RawConnection) -> None:
        # Raw bytes under the TLS session: an application-data record that does not decrypt.
        conn.sock.sendall(b"\x17\x03\x03\x00\x0cnot a record")
        conn.recv()  # until the client hangs up

    stream = connect(raw_server(tls_handler(garbage)))
    with pytest.raises(httpcore2.ReadError, match="TLS error"):
        stream.read(1024, TIMEOUT)
    with pytest.raises(httpcore2.WriteError, match="TLS error"):
        stream.write(b"more", TIMEOUT)
    stream.close()
