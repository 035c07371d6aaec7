"""`httpcore2.request()` and `httpcore2.stream()`, as the quickstart uses them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import httpcore2
from tests.servers.app import pattern_bytes
from tests.servers.asgi_server import Server


def echoed_headers(response: httpcore2.Response) -> list[list[str]]:
    data: dict[str, Any] = json.loads(response.content)
    headers: list[list[str]] = data["headers"]
    return headers


def test_request_reads_the_body(server: Server) -> None:
    response = httpcore2.request("GET", server.url + "/")
    assert repr(response) == "<Response [200]>"
    assert response.status == 200
    assert response.content == b"Hello, world!"
    assert (b"content-length", b"13") in list(response.headers)
    assert str(response.headers).startswith("[(b'")


@pytest.mark.parametrize(
    "headers",
    [
        {"User-Agent": "httpcore2"},
        [("User-Agent", "httpcore2")],
        {b"User-Agent": b"httpcore2"},
        [(b"User-Agent", "httpcore2")],
    ],
)
def test_headers_as_dict_or_pairs_str_or_bytes(server: Server, headers: Any) -> None:
    response = httpcore2.request("GET", server.url + "/echo", headers=headers)
    assert echoed_headers(response) == [
        ["host", f"127.0.0.1:{server.port}"],
        ["user-agent", "httpcore2"],
    ]


def test_non_ascii_str_header_value_is_a_clear_error(server: Server) -> None:
    with pytest.raises(ValueError, match="not ASCII: encode it explicitly and pass bytes"):
        httpcore2.request("GET", server.url + "/", headers={"X-Name": "Zoë"})
    # Bytes are the documented way to send other encodings.
    response = httpcore2.request("GET", server.url + "/echo", headers={"X-Name": "Zoë".encode()})
    assert ["x-name", "Zoë".encode().decode("latin-1")] in echoed_headers(response)


def test_host_is_always_sent(server: Server) -> None:
    response = httpcore2.request("GET", server.url + "/echo", headers=[])
    assert echoed_headers(response)[0] == ["host", f"127.0.0.1:{server.port}"]


def test_bytes_body_gets_content_length(server: Server) -> None:
    response = httpcore2.request("POST", server.url + "/echo", content=b"Hello, world")
    data = json.loads(response.content)
    assert ["content-length", "12"] in data["headers"]
    assert data["body"] == "Hello, world"


def test_file_body_is_sent_chunked(server: Server, tmp_path: Path) -> None:
    path = tmp_path / "hello-world.txt"
    path.write_bytes(b"Hello, world")
    with path.open("rb") as input_file:
        response = httpcore2.request("POST", server.url + "/echo", content=input_file)
    data = json.loads(response.content)
    assert ["transfer-encoding", "chunked"] in data["headers"]
    assert data["body"] == "Hello, world"


def test_stream_leaves_the_body_to_the_caller(server: Server) -> None:
    size = 1_000_000
    with httpcore2.stream("GET", f"{server.url}/stream/{size}?chunked=0") as response:
        content_length = [int(v) for k, v in response.headers if k.lower() == b"content-length"]
        assert content_length == [size]
        with pytest.raises(httpcore2.ResponseNotRead):
            _ = response.content
        chunks = list(response.iter_stream())
    assert b"".join(chunks) == pattern_bytes(size)
    assert len(chunks) > 1


def test_stream_then_read(server: Server) -> None:
    with httpcore2.stream("GET", server.url + "/") as response:
        response.read()
        assert response.content == b"Hello, world!"


def test_timeout_extension(server: Server) -> None:
    with pytest.raises(httpcore2.ReadTimeout):
        httpcore2.request("GET", server.url + "/delay/2", extensions={"timeout": {"read": 0.1}})


def test_a_sync_request_never_imports_anyio(server: Server) -> None:
    program = (
        "import sys, httpcore2\n"
        f"response = httpcore2.request('GET', {server.url + '/'!r})\n"
        "assert response.status == 200\n"
        "with httpcore2.SyncConnectionPool() as pool:\n"
        f"    pool.request('GET', {server.url + '/'!r})\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] in ('anyio', 'trio')))\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True, timeout=60
    )
    assert output.stdout.strip() == "[]"
