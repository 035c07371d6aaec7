"""Memory of bodies read whole (`read()`, `content`, `httpcore2.request()`), measured in a child.

Each case runs a client in a child process, against a loopback server of this process. The
child resets its peak RSS just before the request (Linux `/proc/self/clear_refs`): its peak
after the request (`VmHWM`), less its RSS before, is what the request added, compared with
the size of the body. The worlds are the top-level function, `SyncClient`,
and `Client` on asyncio and trio.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers.app import pattern_bytes
from tests.servers.asgi_server import Server
from tests.servers.raw import RawConnection, RawServerFactory, build_response

pytest.importorskip("brotli")
pytest.importorskip("zstandard")
pytestmark = pytest.mark.skipif(
    not Path("/proc/self/clear_refs").exists(), reason="resets the peak RSS through /proc"
)

WAYS = ["function", "sync", "asyncio", "trio"]
MiB = 1 << 20

CHILD = """
import json, resource, sys
import anyio, httpcore2

warm_url, url, way = sys.argv[1:]

def rss():
    # Reset the peak (Linux): VmHWM then counts from here, not from the imports.
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()

def peak():
    # VmHWM, not ru_maxrss: that one starts at the RSS of the parent that spawned us.
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024

def failure(exc):
    return {"error": type(exc).__name__, "message": str(exc)}

# A first request sets things up (the TLS context, lazy imports): it is not counted.
def measure(get):
    get(warm_url)
    before = rss()
    try:
        result = {"length": len(get(url).content)}
    except httpcore2.HTTPError as exc:
        result = failure(exc)
    return dict(result, before=before, after=peak())

async def measure_async():
    async with httpcore2.Client() as client:
        await client.get(warm_url)
        before = rss()
        try:
            result = {"length": len((await client.get(url)).content)}
        except httpcore2.HTTPError as exc:
            result = failure(exc)
        return dict(result, before=before, after=peak())

if way == "function":
    result = measure(lambda target: httpcore2.request("GET", target))
elif way == "sync":
    with httpcore2.SyncClient() as client:
        result = measure(client.get)
else:
    result = anyio.run(measure_async, backend=way)
print(json.dumps(result))
"""


def run_child(warm_url: str, url: str, way: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, warm_url, url, way],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    outcome: dict[str, object] = json.loads(done.stdout)
    return outcome


def added(outcome: dict[str, object]) -> int:
    return int(outcome["after"]) - int(outcome["before"])  # type: ignore[call-overload]


# --- decompression bombs -------------------------------------------------------------------


@pytest.mark.case("S28")
@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("coding", ["gzip", "deflate", "br", "zstd"])
def test_reading_a_bomb_into_memory_stays_small(server: Server, coding: str, way: str) -> None:
    # 4 GiB of zeros: 4 MiB of gzip or deflate on the wire, far less of br or zstd. Before
    # the in-memory ratio cap, each read held 1 GiB (max_decompressed_size) before failing.
    url = f"{server.url}/bomb?size={4 << 30}&coding={coding}"
    outcome = run_child(f"{server.url}/{coding}", url, way)
    assert added(outcome) < 48 * MiB, outcome
    assert outcome["error"] == "DecodingError"
    assert "inflates more than 100-fold" in str(outcome["message"])


# --- one-byte chunks -----------------------------------------------------------------------

CHUNKS = 250_000


@functools.cache
def one_byte_chunks() -> bytes:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    return head + b"1\r\nx\r\n" * CHUNKS + b"0\r\n\r\n"


def send_one_byte_chunks(conn: RawConnection) -> None:
    # GET /warm gets a short body, any other path the one-byte chunks.
    request = conn.recv_request()
    conn.send(
        build_response(headers=[("Connection", "close")])
        if b" /warm " in request
        else one_byte_chunks()
    )
    conn.close()


@pytest.mark.parametrize("way", WAYS)
def test_one_byte_chunks_read_into_memory_cost_about_their_size(
    raw_server: RawServerFactory, way: str
) -> None:
    # Before, read() kept one bytes object per chunk and joined them at the end: about 60
    # bytes of memory per byte of this body.
    server = raw_server(send_one_byte_chunks)
    outcome = run_child(server.url + "/warm", server.url + "/", way)
    assert outcome["length"] == CHUNKS
    assert added(outcome) < CHUNKS + 4 * MiB, outcome


# --- large bodies, streamed --------------------------------------------------------------------

LARGE = 64 * MiB

BODY_CHILD = """
import hashlib, json, os, resource, sys
import anyio, httpcore2

warm_url, url, way, kind, path, ca_file = sys.argv[1:]
verify = ca_file or True

def reset_peak():
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")

def peak():
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024

def rss():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()

# The body to send is made before the peak is reset: only what sending adds is counted.
if kind == "download":
    body = None
elif kind == "file":
    body = open(path, "rb")
else:
    with open(path, "rb") as file:
        body = file.read()
    if kind == "bytearray":
        body = bytearray(body)
    elif kind == "memoryview":
        body = memoryview(bytearray(body))

def answer(response):
    if kind == "download":
        digest = hashlib.sha256()
        for chunk in response.iter_stream():
            digest.update(chunk)
        return digest.hexdigest()
    return response.read().decode()

async def aanswer(response):
    if kind == "download":
        digest = hashlib.sha256()
        async for chunk in response.aiter_stream():
            digest.update(chunk)
        return digest.hexdigest()
    return (await response.aread()).decode()

method = "GET" if kind == "download" else "POST"

def run_sync(client):
    client.request("GET", warm_url)
    reset_peak()
    before = rss()
    with client.stream(method, url, content=body) as response:
        result = answer(response)
    return result, before

async def run_async():
    async with httpcore2.Client(verify=verify) as client:
        await client.request("GET", warm_url)
        reset_peak()
        before = rss()
        async with client.stream(method, url, content=body) as response:
            result = await aanswer(response)
        return result, before

if way == "function":
    httpcore2.request("GET", warm_url)
    reset_peak()
    before = rss()
    with httpcore2.stream(method, url, content=body) as response:
        result = answer(response)
elif way == "sync":
    with httpcore2.SyncClient(verify=verify) as client:
        result, before = run_sync(client)
else:
    result, before = anyio.run(run_async, backend=way)
print(json.dumps({"result": result, "before": before, "after": peak()}))
"""


def run_body_child(
    warm_url: str, url: str, way: str, kind: str, path: Path, ca_file: Path | None = None
) -> dict[str, object]:
    ca = "" if ca_file is None else str(ca_file)
    done = subprocess.run(
        [sys.executable, "-c", BODY_CHILD, warm_url, url, way, kind, str(path), ca],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    outcome: dict[str, object] = json.loads(done.stdout)
    return outcome


@pytest.fixture(scope="module")
def large_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A file of `LARGE` random bytes, and its SHA-256."""
    path = tmp_path_factory.mktemp("large") / "body.bin"
    digest = hashlib.sha256()
    with path.open("wb") as file:
        for _ in range(LARGE // MiB):
            block = os.urandom(MiB)
            digest.update(block)
            file.write(block)
    return path, digest.hexdigest()


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("kind", ["bytes", "bytearray", "memoryview", "file"])
def test_a_large_upload_adds_no_copy_of_the_body(
    server: Server, large_file: tuple[Path, str], way: str, kind: str
) -> None:
    # Before, the native asyncio backend handed the whole body to the transport, which copied
    # what the socket did not take at once, twice (about 2x the body on top of it); a
    # bytearray or memoryview body was copied into bytes when the request was built.
    path, sha256 = large_file
    outcome = run_body_child(f"{server.url}/", f"{server.url}/digest", way, kind, path)
    assert json.loads(str(outcome["result"])) == {"body_length": LARGE, "sha256": sha256}
    assert added(outcome) < 16 * MiB, outcome


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("chunked", ["0", "1"])
def test_a_large_download_read_as_a_stream_stays_flat(
    server: Server, large_file: tuple[Path, str], way: str, chunked: str
) -> None:
    path, _ = large_file
    url = f"{server.url}/stream/{LARGE}?chunked={chunked}"
    outcome = run_body_child(f"{server.url}/", url, way, "download", path)
    assert outcome["result"] == hashlib.sha256(pattern_bytes(LARGE)).hexdigest()
    assert added(outcome) < 16 * MiB, outcome


@pytest.mark.parametrize("way", ["sync", "asyncio", "trio"])  # request() has no verify=
def test_a_large_upload_over_tls_adds_no_copy_of_the_body(
    tls_server: Server, large_file: tuple[Path, str], way: str
) -> None:
    # Before, trio's TLS layer encrypted a whole body at once: its records waited whole in the
    # outgoing buffer, then were copied out of it (about 2x the body on top of it).
    path, sha256 = large_file
    url = f"{tls_server.url}/digest"
    outcome = run_body_child(f"{tls_server.url}/", url, way, "bytes", path, tls_server.ca_file)
    assert json.loads(str(outcome["result"])) == {"body_length": LARGE, "sha256": sha256}
    assert added(outcome) < 16 * MiB, outcome
