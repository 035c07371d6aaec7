"""A close-delimited body over TLS ends where the stream ends, close_notify or not (F06)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import anyio
import pytest

import httpcore2
from tests.servers.certs import TLSFiles, server_ssl_context

BODY = b"all of the body"


@pytest.fixture
def abrupt_tls_server() -> Iterator[str]:
    """Answers one close-delimited response per connection, then drops TCP without TLS's
    close_notify, as many servers do."""
    context = server_ssl_context(alpn_protocols=["http/1.1"])
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)  # so that the thread notices `stopping` promptly
    stopping = threading.Event()

    def serve() -> None:
        while not stopping.is_set():
            try:
                raw, _ = listener.accept()
            except TimeoutError:
                continue
            raw.settimeout(5)
            with raw:
                tls = context.wrap_socket(raw, server_side=True)
                request = b""
                while b"\r\n\r\n" not in request:
                    request += tls.recv(65536)
                tls.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + BODY)
                socket.socket(fileno=tls.detach()).close()

    thread = threading.Thread(target=serve)
    thread.start()
    yield f"https://127.0.0.1:{listener.getsockname()[1]}/"
    stopping.set()
    thread.join(5)
    listener.close()


@pytest.mark.case("F06")
def test_sync(abrupt_tls_server: str, tls_files: TLSFiles) -> None:
    with httpcore2.SyncConnectionPool(verify=str(tls_files.ca_file)) as pool:
        assert pool.request("GET", abrupt_tls_server).content == BODY
        assert pool.connections == []


@pytest.mark.anyio
@pytest.mark.case("F06")
async def test_async(abrupt_tls_server: str, tls_files: TLSFiles) -> None:
    async with httpcore2.ConnectionPool(verify=str(tls_files.ca_file)) as pool:
        assert (await pool.request("GET", abrupt_tls_server)).content == BODY
        assert pool.connections == []
    await anyio.sleep(0)
