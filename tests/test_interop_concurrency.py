"""Many concurrent requests to nginx and nghttpd (servers not built on h2 or h11): tasks on
asyncio and trio, threads on the sync pool.

Over HTTP/2 all 200 share one connection; 200 streams are more than either server allows at
once (nginx: 128, nghttpd: 100), so the client also has to queue streams until the server's
limit lets them go. Over HTTP/1.1 they spread over the pool's connections, within its limit.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anyio
import pytest

import httpcore2
from tests.servers.certs import TLSFiles
from tests.servers.peers import Nghttpd, Nginx, find_binary

REQUESTS = 200
BODY = os.urandom(20_000)  # more than one DATA frame each


@pytest.fixture(scope="module")
def nginx(tmp_path_factory: pytest.TempPathFactory, tls_files: TLSFiles) -> Iterator[Nginx]:
    with Nginx(tmp_path_factory.mktemp("nginx"), tls_files) as server:
        (server.docroot / "file.bin").write_bytes(BODY)
        yield server


@pytest.fixture(scope="module")
def nghttpd(tmp_path_factory: pytest.TempPathFactory, tls_files: TLSFiles) -> Iterator[Nghttpd]:
    with Nghttpd(tmp_path_factory.mktemp("nghttpd"), tls_files) as server:
        (server.docroot / "file.bin").write_bytes(BODY)
        yield server


MAX_CONNECTIONS = 100  # PoolLimits' default


@pytest.fixture(
    params=["nginx-h2-tls", "nginx-h2c", "nghttpd-h2-tls", "nginx-http11", "nginx-http11-tls"]
)
def target(request: pytest.FixtureRequest, tls_files: TLSFiles) -> tuple[str, dict[str, Any]]:
    """The URL of `file.bin` and the pool options that reach it."""
    name: str = request.param
    tls = {"verify": str(tls_files.ca_file)}
    if name.startswith("nghttpd"):
        return request.getfixturevalue("nghttpd").url + "/file.bin", {"http2": True, **tls}
    listener, options = {
        "nginx-h2-tls": ("h2", {"http2": True, **tls}),
        "nginx-h2c": ("h2c", {"http1": False, "http2": True}),
        "nginx-http11": ("http", {}),
        "nginx-http11-tls": ("https", tls),
    }[name]
    return request.getfixturevalue("nginx").url(listener) + "/file.bin", options


def check(responses: list[httpcore2.Response], connections: list[Any]) -> None:
    digest = hashlib.sha256(BODY).digest()
    assert [response.status for response in responses] == [200] * REQUESTS
    assert all(hashlib.sha256(r.content).digest() == digest for r in responses)
    (protocol,) = {response.protocol for response in responses}
    # nginx numbers its connections (nghttpd sends no such header: one value, None).
    used = {response.headers.get("x-connection") for response in responses}
    if protocol == "HTTP/2":
        assert len(connections) == 1
        assert len(used) == 1  # every response came over the same connection
    else:
        assert protocol == "HTTP/1.1"
        assert 1 < len(used) <= MAX_CONNECTIONS
        assert len(connections) <= MAX_CONNECTIONS


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_200_concurrent_tasks(target: tuple[str, dict[str, Any]], backend: str) -> None:
    url, options = target

    async def main() -> tuple[list[httpcore2.Response], list[Any]]:
        responses: list[httpcore2.Response] = []
        async with httpcore2.ConnectionPool(**options) as pool:

            async def get() -> None:
                responses.append(await pool.request("GET", url))

            with anyio.fail_after(60):
                async with anyio.create_task_group() as group:
                    for _ in range(REQUESTS):
                        group.start_soon(get)
            return responses, pool.connections

    check(*anyio.run(main, backend=backend))


def test_200_concurrent_threads(target: tuple[str, dict[str, Any]]) -> None:
    url, options = target
    with httpcore2.SyncConnectionPool(**options) as pool:
        get: Callable[[int], httpcore2.Response] = lambda _: pool.request("GET", url)  # noqa: E731
        with ThreadPoolExecutor(REQUESTS) as executor:
            responses = list(executor.map(get, range(REQUESTS), timeout=60))
        check(responses, pool.connections)


def test_a_missing_server_binary_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="no-such-server is not installed"):
        find_binary("no-such-server", "no-such-package")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="no-such-server is not installed"):
        find_binary("no-such-server", "no-such-package")
