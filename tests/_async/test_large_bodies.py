"""Large request bodies against real loopback servers, each checked byte for byte: regular
files sent by the kernel (`sendfile`), buffers sent without copies, large writes in slices."""

from __future__ import annotations

import array
import hashlib
import io
import json
import os
import time
from pathlib import Path
from typing import Any

import anyio  # unasync: remove
import pytest

import httpcore2
from httpcore2._content import FileStream
from tests.servers.asgi_server import Server
from tests.servers.raw import RawConnection, RawServerFactory, build_response

MiB = 1 << 20
SIZE = 8 * MiB + 3


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    data = os.urandom(SIZE)
    path = tmp_path_factory.mktemp("bodies") / "big.bin"
    path.write_bytes(data)
    return path, data


@pytest.fixture
def sendfile_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """What each `os.sendfile` call sent (the sync, asyncio and trio backends go through it)."""
    calls: list[int] = []
    real = os.sendfile

    def sendfile(out_fd: int, in_fd: int, offset: int | None, count: int) -> int:
        sent = real(out_fd, in_fd, offset, count)
        calls.append(sent)
        return sent

    monkeypatch.setattr(os, "sendfile", sendfile)
    return calls


def digest(data: bytes) -> dict[str, Any]:
    return {"body_length": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def kernel_sends_files(response: httpcore2.Response) -> bool:
    # The built-in backends give a plain TCP stream's files to the kernel; TLS encrypts in user
    # space.
    stream = response.extensions["network_stream"]
    plain = stream.get_extra_info("ssl_object") is None
    return plain and type(stream).__name__ in ("SyncSocketStream", "AsyncioStream", "TrioStream")


@pytest.mark.anyio
@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_a_regular_file_is_sent_by_the_kernel_where_it_can(
    scheme: str,
    server: Server,
    tls_server: Server,
    big_file: tuple[Path, bytes],
    sendfile_calls: list[int],
) -> None:
    # Before, every file went through Python in 64 KiB blocks, each copied into a chunk.
    origin = server if scheme == "http" else tls_server
    path, data = big_file
    async with httpcore2.ConnectionPool(verify=str(tls_server.ca_file)) as pool:
        with path.open("rb") as file:
            response = await pool.request("POST", f"{origin.url}/digest", content=file)
    assert json.loads(response.content) == digest(data)
    assert response.protocol == "HTTP/1.1"
    assert sum(sendfile_calls) == (SIZE if kernel_sends_files(response) else 0)


@pytest.mark.anyio
@pytest.mark.usefixtures("http1_engine")
async def test_a_file_with_a_content_length_is_sent_by_the_kernel_too(
    server: Server, big_file: tuple[Path, bytes], sendfile_calls: list[int]
) -> None:
    # Before, a declared length took the file through the engine in 64 KiB blocks.
    path, data = big_file
    async with httpcore2.ConnectionPool() as pool:
        with path.open("rb") as file:
            response = await pool.request(
                "POST",
                f"{server.url}/digest",
                headers={"Content-Length": str(SIZE)},
                content=file,
            )
    assert json.loads(response.content) == digest(data)
    assert sum(sendfile_calls) == (SIZE if kernel_sends_files(response) else 0)


@pytest.mark.anyio
@pytest.mark.usefixtures("http1_engine")
@pytest.mark.parametrize(("declared", "error"), [(SIZE - 1, "Too much"), (SIZE + 1, "Too little")])
async def test_a_file_that_does_not_match_its_content_length_fails(
    declared: int,
    error: str,
    server: Server,
    big_file: tuple[Path, bytes],
    sendfile_calls: list[int],
) -> None:
    path, _ = big_file
    async with httpcore2.ConnectionPool() as pool:
        with path.open("rb") as file:
            with pytest.raises(httpcore2.LocalProtocolError, match=error):
                await pool.request(
                    "POST",
                    f"{server.url}/digest",
                    headers={"Content-Length": str(declared)},
                    content=file,
                )
    if declared < SIZE:
        assert sendfile_calls == []  # counted before anything is sent


def one_chunk_server(conn: RawConnection) -> None:
    head = conn.recv_head()
    body = conn.recv_body(head)
    conn.send(build_response(body=hashlib.sha256(body).hexdigest().encode()))
    conn.close()


@pytest.mark.anyio
@pytest.mark.usefixtures("http1_engine")
async def test_a_regular_file_is_one_chunk_of_a_chunked_body(
    raw_server: RawServerFactory, tmp_path: Path
) -> None:
    received: list[bytes] = []

    def handler(conn: RawConnection) -> None:
        received.append(conn.recv_request())
        conn.send(build_response())
        conn.close()

    server = raw_server(handler)
    path = tmp_path / "small.bin"
    path.write_bytes(b"x" * 70_000)
    async with httpcore2.ConnectionPool() as pool:
        with path.open("rb") as file:
            file.seek(4)  # sent from where the file stands
            response = await pool.request("POST", server.url + "/", content=file)
    assert response.status == 200
    head, _, body = received[0].partition(b"\r\n\r\n")
    assert b"\r\nTransfer-Encoding: chunked" in head
    assert body == b"%x\r\n%s\r\n0\r\n\r\n" % (69_996, b"x" * 69_996)


@pytest.mark.anyio
async def test_an_empty_regular_file_is_an_empty_chunked_body(
    raw_server: RawServerFactory, tmp_path: Path
) -> None:
    received: list[bytes] = []

    def handler(conn: RawConnection) -> None:
        received.append(conn.recv_request())
        conn.send(build_response())
        conn.close()

    server = raw_server(handler)
    path = tmp_path / "empty.bin"
    path.write_bytes(b"")
    async with httpcore2.ConnectionPool() as pool:
        with path.open("rb") as file:
            await pool.request("POST", server.url + "/", content=file)
    assert received[0].endswith(b"\r\n\r\n0\r\n\r\n")


@pytest.fixture
def misjudged_size(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make `FileStream` misjudge a file's size by the value put in the list: the file grew
    or shrank between sizing it and sending it."""
    error = [0]
    real = FileStream.regular_file_size

    def regular_file_size(self: FileStream) -> int | None:
        size = real(self)
        return None if size is None else size + error[0]

    monkeypatch.setattr(FileStream, "regular_file_size", regular_file_size)
    return error


@pytest.mark.anyio
async def test_what_a_file_grew_by_while_sent_follows_in_chunks(
    server: Server, big_file: tuple[Path, bytes], misjudged_size: list[int]
) -> None:
    path, data = big_file
    misjudged_size[0] = -100_000
    async with httpcore2.ConnectionPool() as pool:
        with path.open("rb") as file:
            response = await pool.request("POST", f"{server.url}/digest", content=file)
    assert json.loads(response.content) == digest(data)


@pytest.mark.anyio
@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_a_file_that_shrank_while_sent_fails_the_request(
    scheme: str,
    server: Server,
    tls_server: Server,
    big_file: tuple[Path, bytes],
    misjudged_size: list[int],
) -> None:
    origin = server if scheme == "http" else tls_server
    path, _ = big_file
    misjudged_size[0] = 10
    async with httpcore2.ConnectionPool(verify=str(tls_server.ca_file)) as pool:
        with path.open("rb") as file:
            with pytest.raises(httpcore2.LocalProtocolError, match="shrank"):
                await pool.request("POST", f"{origin.url}/digest", content=file)


@pytest.mark.anyio
@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("http2", [False, True], ids=["http1", "http2"])
@pytest.mark.parametrize("kind", ["bytes", "bytearray", "memoryview", "array"])
async def test_large_buffer_bodies_arrive_whole(
    scheme: str, http2: bool, kind: str, server: Server, tls_server: Server
) -> None:
    origin = server if scheme == "http" else tls_server
    data = os.urandom(SIZE - 3)  # a whole number of 2-byte items
    content: Any = {
        "bytes": data,
        "bytearray": bytearray(data),
        "memoryview": memoryview(bytearray(data)),
        "array": array.array("H", data),  # sent as its bytes, 2 per item
    }[kind]
    if kind == "array":
        content = memoryview(content)
    async with httpcore2.ConnectionPool(
        verify=str(tls_server.ca_file), http1=not http2, http2=http2
    ) as pool:
        response = await pool.request("POST", f"{origin.url}/digest", content=content)
    assert json.loads(response.content) == digest(data)


@pytest.mark.anyio
async def test_a_file_without_a_descriptor_is_sent_in_blocks(server: Server) -> None:
    data = os.urandom(MiB + 1)
    async with httpcore2.ConnectionPool() as pool:
        response = await pool.request("POST", f"{server.url}/digest", content=io.BytesIO(data))
    assert json.loads(response.content) == digest(data)


@pytest.mark.anyio
async def test_a_regular_file_is_rewound_and_sent_again_after_a_redirect(
    server: Server, big_file: tuple[Path, bytes], sendfile_calls: list[int]
) -> None:
    path, data = big_file
    async with httpcore2.Client(follow_redirects=True) as client:
        with path.open("rb") as file:
            response = await client.post(
                f"{server.url}/redirect-to?url=/digest&status_code=307", content=file
            )
    assert json.loads(response.content) == digest(data)
    assert len(response.history) == 1
    assert sum(sendfile_calls) == (2 * SIZE if kernel_sends_files(response) else 0)


class RefusalFirst:
    """A `trace` hook: once the request head is out, wait until the response has begun."""

    def __init__(self) -> None:
        self.stream: Any = None

    async def trace(self, name: str, info: dict[str, Any]) -> None:
        if name == "connection.connect_tcp.complete":
            self.stream = info["stream"]
        if name == "http11.send_request_headers.complete":
            deadline = time.monotonic() + 5.0
            while not self.stream.is_readable():
                assert time.monotonic() < deadline, "no response before the body"
                await anyio.sleep(0.01)  # unasync: sync=time.sleep(0.01)


def refuse_at_once(conn: RawConnection) -> None:
    conn.recv_head()
    conn.send(build_response(413, b"too large", [("Connection", "close")]))
    conn.wait_for_close()


@pytest.mark.anyio
async def test_a_refusal_before_the_file_stops_it_going_out(
    raw_server: RawServerFactory, big_file: tuple[Path, bytes], sendfile_calls: list[int]
) -> None:
    server = raw_server(refuse_at_once)
    path, _ = big_file
    hook = RefusalFirst()
    async with httpcore2.ConnectionPool() as pool:
        with path.open("rb") as file:
            response = await pool.request(
                "POST", server.url + "/", content=file, extensions={"trace": hook.trace}
            )
    assert response.status == 413
    assert server.connections[0].received.endswith(b"Transfer-Encoding: chunked\r\n\r\n")
    assert sendfile_calls == []
