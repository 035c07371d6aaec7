"""A response that starts while the request body is still going out.

A final refusal (413, 401...) stops the upload (see test_faults.py, F25); anything else must
not: an informational response (103 Early Hints), or a 2xx the server streams while it reads
the body, as an echo does. Each body here waits, after its first chunk, until the response
has begun to arrive, so that the rest is always sent with it waiting.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

import httpcore2
from tests._async.waiting import (  # unasync: sync=from tests._sync.waiting import (
    wait_until,
)
from tests.servers.asgi_server import Server
from tests.servers.raw import CONTINUE, RawConnection, RawServerFactory, build_response

CHUNK = b"x" * 1000
CHUNKS = 20
BODY = CHUNK * CHUNKS
TIMEOUT = {"connect": 5.0, "read": 5.0, "write": 5.0, "pool": 5.0}


class ResponseFirst:
    """A request body whose chunks after the first wait for the response to begin."""

    def __init__(self) -> None:
        self.stream: Any = None

    def trace(self, name: str, info: dict[str, Any]) -> None:
        if name in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            self.stream = info["stream"]

    async def body(self) -> AsyncIterator[bytes]:
        yield CHUNK
        await wait_until(self.stream.is_readable)  # the response began while uploading
        for _ in range(CHUNKS - 1):
            yield CHUNK


@pytest.mark.anyio
@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.case("F25")
async def test_an_echo_streamed_while_the_body_goes_out(
    scheme: str, server: Server, tls_server: Server
) -> None:
    origin = server if scheme == "http" else tls_server
    upload = ResponseFirst()
    extensions = {"timeout": TIMEOUT, "trace": upload.trace}
    async with httpcore2.ConnectionPool(verify=str(tls_server.ca_file)) as pool:
        response = await pool.request(
            "POST", origin.url + "/echo_body", content=upload.body(), extensions=extensions
        )
        assert response.status == 200
        assert response.content == BODY
        assert len(pool.connections) == 1  # the exchange completed: kept alive


def early_hints_then_digest(conn: RawConnection) -> None:
    """Once the body has begun, send 103 Early Hints; after it, the digest of the body (as
    framed on the wire: chunked)."""
    conn.recv_head()
    body = conn.recv()
    conn.send(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n")
    while not body.endswith(b"0\r\n\r\n"):
        data = conn.recv()
        if not data:
            return
        body += data
    conn.send(build_response(200, hashlib.sha256(body).hexdigest().encode()))
    conn.wait_for_close()


@pytest.mark.anyio
@pytest.mark.case("F08")
async def test_early_hints_while_the_body_goes_out(raw_server: RawServerFactory) -> None:
    server = raw_server(early_hints_then_digest)
    upload = ResponseFirst()
    extensions = {"timeout": TIMEOUT, "trace": upload.trace}
    async with httpcore2.ConnectionPool() as pool:
        response = await pool.request(
            "POST", server.url + "/", content=upload.body(), extensions=extensions
        )
    assert response.status == 200
    framed = b"".join(b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK) for _ in range(CHUNKS)) + b"0\r\n\r\n"
    assert response.content == hashlib.sha256(framed).hexdigest().encode()


def endless_continue_while_uploading(conn: RawConnection) -> None:
    conn.recv_head()
    while not conn.stopping:
        conn.send(CONTINUE * 64)


@pytest.mark.anyio
async def test_endless_informational_responses_while_uploading(
    raw_server: RawServerFactory,
) -> None:
    server = raw_server(endless_continue_while_uploading)
    upload = ResponseFirst()
    extensions = {"timeout": TIMEOUT, "trace": upload.trace}
    body = upload.body()
    async with httpcore2.ConnectionPool() as pool:
        with pytest.raises(httpcore2.RemoteProtocolError, match="informational"):
            await pool.request("POST", server.url + "/", content=body, extensions=extensions)
    await body.aclose()  # left mid-way, as a failed request leaves it


def malformed_answer_while_uploading(conn: RawConnection) -> None:
    conn.recv_head()
    conn.recv()
    conn.send(b"HTTP/1.1 200 OK\r\nBad header\r\n\r\n")
    conn.wait_for_close()


@pytest.mark.anyio
async def test_a_malformed_answer_while_uploading_fails_the_request(
    raw_server: RawServerFactory,
) -> None:
    server = raw_server(malformed_answer_while_uploading)
    upload = ResponseFirst()
    extensions = {"timeout": TIMEOUT, "trace": upload.trace}
    body = upload.body()
    async with httpcore2.ConnectionPool() as pool:
        with pytest.raises(httpcore2.RemoteProtocolError, match="header line"):
            await pool.request("POST", server.url + "/", content=body, extensions=extensions)
    await body.aclose()  # left mid-way, as a failed request leaves it
