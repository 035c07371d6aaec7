"""TLS 1.3 session tickets: bytes on the socket after the handshake that carry no data.

A TLS 1.3 server sends NewSessionTicket records right after the handshake. They make the
socket readable before any response exists; a connection must not take them for an early
response (and stop sending a streamed body) nor for a sign of death (and drop a good
keep-alive connection). Tested against two real servers that send tickets: hypercorn, and
gunicorn, whose TLS is the `ssl` module's stock OpenSSL.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import select
import time
from collections.abc import AsyncIterator, Generator, Iterable
from typing import Any

import pytest

import httpcore2
from httpcore2._backends.auto import AutoBackend
from tests.servers.asgi_server import Server
from tests.servers.certs import TLSFiles
from tests.servers.wsgi_server import GunicornServer

ROUNDS = 30  # fresh connections in a row, for each kind of body
CHUNK = b"x" * 1000
CHUNKS = 8
BODY = CHUNK * CHUNKS
TIMEOUT = {"connect": 5.0, "read": 5.0, "write": 5.0, "pool": 5.0}


@pytest.fixture(scope="module")
def gunicorn_server(tls_files: TLSFiles) -> Generator[GunicornServer, None, None]:
    with GunicornServer(tls_files) as running:
        yield running


def wait_for_tickets(stream: Any) -> None:
    """Block until the session tickets are on the socket.

    Not on asyncio: its TLS layer takes every record off the socket as it arrives, so the
    tickets may already be gone (and asyncio's reads never showed them as data).
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        readable, _, _ = select.select([stream.get_extra_info("socket")], [], [], 5.0)
        assert readable, "the server sent no session ticket"


def tickets_before_the_request(name: str, info: dict[str, Any]) -> None:
    """A `trace` hook: once TLS is up, hold the request back until the tickets arrived, so
    that the whole body is sent with them waiting on the socket, every time."""
    if name == "connection.start_tls.complete":
        wait_for_tickets(info["stream"])


def iterator_body() -> Iterable[bytes]:
    for _ in range(CHUNKS):
        yield CHUNK


async def async_iterator_body() -> AsyncIterator[bytes]:
    for _ in range(CHUNKS):
        yield CHUNK


def file_body() -> Any:
    # Read in 64 KiB blocks: make each block one chunk so the body is still several chunks.
    class SmallBlocks(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            return super().read(len(CHUNK))

    return SmallBlocks(BODY)


BODIES = {
    "iterator": iterator_body,
    "async-iterator": async_iterator_body,
    "file": file_body,
}


def received_digest(server: Server | GunicornServer, response: httpcore2.Response) -> str:
    if isinstance(server, GunicornServer):
        length, digest = response.content.split()
        assert int(length) == len(BODY)
        return digest.decode()
    data = json.loads(response.content)
    assert data["body_length"] == len(BODY)
    return str(data["sha256"])


@pytest.mark.anyio
@pytest.mark.parametrize("body", sorted(BODIES))
@pytest.mark.parametrize("which", ["hypercorn", "gunicorn"])
async def test_streamed_upload_on_a_fresh_tls_connection(
    body: str, which: str, tls_server: Server, request: pytest.FixtureRequest
) -> None:
    server = tls_server if which == "hypercorn" else request.getfixturevalue("gunicorn_server")
    path = "/digest" if which == "hypercorn" else "/"
    for _ in range(ROUNDS):
        async with httpcore2.ConnectionPool(verify=str(server.ca_file)) as pool:
            response = await pool.request(
                "POST",
                server.url + path,
                content=BODIES[body](),
                extensions={"timeout": TIMEOUT, "trace": tickets_before_the_request},
            )
            assert response.status == 200
            assert received_digest(server, response) == hashlib.sha256(BODY).hexdigest()


@pytest.mark.anyio
async def test_an_idle_connection_with_tickets_waiting_is_kept(tls_server: Server) -> None:
    context = httpcore2.create_ssl_context(verify=str(tls_server.ca_file))
    backend = AutoBackend()
    stream = await backend.connect_tcp(tls_server.host, tls_server.port, timeout=5.0)
    stream = await stream.start_tls(context, "localhost", timeout=5.0)
    connection = httpcore2.HTTP11Connection(stream, keepalive_expiry=60.0)
    try:
        wait_for_tickets(stream)
        assert not stream.is_readable()
        assert not connection.has_expired(time.monotonic())
        request = httpcore2.Request("GET", tls_server.url + "/", extensions={"timeout": TIMEOUT})
        response = await connection.handle_request(request)
        assert await response.aread() == b"Hello, world!"
        assert connection.is_idle()
        assert not connection.has_expired(time.monotonic())
    finally:
        await connection.aclose()
