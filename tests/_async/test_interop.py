"""Interoperability with HTTP servers that share no code with us: nginx and nghttpd.

Every other HTTP/2 test server is built on h2, the package our client uses too, so a shared
misreading of the protocol would pass unseen there; nginx and nghttpd (nghttp2) are
independent implementations. They are started on loopback by `tests/servers/peers.py`.
Concurrency against them is in `tests/test_interop_concurrency.py`.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import httpcore2
from tests.servers.certs import TLSFiles
from tests.servers.peers import Nghttpd, Nginx

DOWNLOAD_SIZE = 20 * 1024 * 1024
UPLOAD_SIZE = 5 * 1024 * 1024
BLOCK = 64 * 1024


@dataclass
class Peer:
    """One server endpoint and how to reach it."""

    base_url: str
    client_options: dict[str, Any]
    http_version: str
    docroot: Path
    uploads: Path | None  # where nginx stores PUT bodies; None: the server echoes them
    files: dict[str, str] = field(default_factory=dict)  # name -> sha256


# (server, listener): nginx serves both protocols, nghttpd HTTP/2 only.
TARGETS = [
    pytest.param(("nginx", "h2"), id="nginx-h2-tls"),
    pytest.param(("nginx", "h2c"), id="nginx-h2c"),
    pytest.param(("nginx", "http"), id="nginx-http11"),
    pytest.param(("nginx", "https"), id="nginx-http11-tls"),
    pytest.param(("nghttpd", "h2"), id="nghttpd-h2-tls"),
    pytest.param(("nghttpd", "h2c"), id="nghttpd-h2c"),
]
# httpcore2 hands out trailers on HTTP/2 only.
HTTP2_TARGETS = [target for target in TARGETS if target.values[0][1] in ("h2", "h2c")]


def write_random_file(path: Path, size: int) -> str:
    """Fill `path` with `size` random bytes; return their sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with path.open("wb") as file:
        for _ in range(0, size, 1024 * 1024):
            block = os.urandom(min(1024 * 1024, size))
            digest.update(block)
            file.write(block)
    return digest.hexdigest()


def publish(peer_docroot: Path) -> dict[str, str]:
    return {
        "big.bin": write_random_file(peer_docroot / "big.bin", DOWNLOAD_SIZE),
        "trailers/small.txt": write_random_file(peer_docroot / "trailers" / "small.txt", 1000),
    }


@pytest.fixture(scope="module")
def nginx(
    tmp_path_factory: pytest.TempPathFactory, tls_files: TLSFiles
) -> Generator[Nginx, None, None]:
    with Nginx(tmp_path_factory.mktemp("nginx"), tls_files) as server:
        yield server


@pytest.fixture(scope="module")
def nginx_files(nginx: Nginx) -> dict[str, str]:
    return publish(nginx.docroot)


@pytest.fixture(scope="module", params=TARGETS)
def peer(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    tls_files: TLSFiles,
) -> Generator[Peer, None, None]:
    server, listener = request.param
    tls = listener in ("h2", "https")
    options: dict[str, Any] = {"verify": str(tls_files.ca_file)} if tls else {}
    if listener == "h2":
        options["http2"] = True
    elif listener == "h2c":
        options.update(http1=False, http2=True)
    version = "HTTP/2" if listener.startswith("h2") else "HTTP/1.1"
    if server == "nginx":
        nginx: Nginx = request.getfixturevalue("nginx")
        files = request.getfixturevalue("nginx_files")
        yield Peer(
            nginx.url(listener),
            options,
            version,
            nginx.docroot,
            nginx.uploads,
            files,
        )
        return
    directory = tmp_path_factory.mktemp("nghttpd")
    with Nghttpd(directory, tls_files if tls else None) as nghttpd:
        files = publish(nghttpd.docroot)
        yield Peer(nghttpd.url, options, version, nghttpd.docroot, None, files)


@pytest.mark.anyio
async def test_large_download_arrives_intact(peer: Peer) -> None:
    digest = hashlib.sha256()
    async with httpcore2.Client(base_url=peer.base_url, **peer.client_options) as client:
        async with client.stream("GET", "/big.bin") as response:
            assert response.status == 200
            assert response.protocol == peer.http_version
            size = 0
            async for chunk in response.aiter_raw():
                digest.update(chunk)
                size += len(chunk)
    assert size == DOWNLOAD_SIZE
    assert digest.hexdigest() == peer.files["big.bin"]


async def upload_blocks(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), BLOCK):
        yield data[start : start + BLOCK]


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True], ids=["bytes", "iterator"])
async def test_large_upload_arrives_intact(peer: Peer, streamed: bool) -> None:
    data = os.urandom(UPLOAD_SIZE)
    name = f"up-{streamed}-{os.urandom(4).hex()}.bin"
    content = upload_blocks(data) if streamed else data
    async with httpcore2.Client(base_url=peer.base_url, **peer.client_options) as client:
        if peer.uploads is not None:
            response = await client.put(f"/upload/{name}", content=content)
            assert response.status == 201, response.text
            assert (peer.uploads / "upload" / name).read_bytes() == data
        else:
            response = await client.post(f"/{name}", content=content)
            assert response.status == 200
            assert hashlib.sha256(response.content).digest() == hashlib.sha256(data).digest()
        assert response.protocol == peer.http_version


@pytest.mark.anyio
@pytest.mark.parametrize("peer", HTTP2_TARGETS, indirect=True)
async def test_trailers_are_received(peer: Peer) -> None:
    async with httpcore2.Client(base_url=peer.base_url, **peer.client_options) as client:
        response = await client.get("/trailers/small.txt")
    assert response.status == 200
    assert hashlib.sha256(response.content).hexdigest() == peer.files["trailers/small.txt"]
    assert response.extensions["trailers"]["x-checksum"] == "abc"


@pytest.mark.anyio
async def test_many_requests_share_one_connection(peer: Peer) -> None:
    async with httpcore2.Client(base_url=peer.base_url, **peer.client_options) as client:
        for _ in range(50):
            response = await client.get("/trailers/small.txt")
            assert response.status == 200
        if peer.uploads is not None:  # nginx numbers its connections
            first = (await client.get("/trailers/small.txt")).headers["x-connection"]
            assert response.headers["x-connection"] == first
