"""Many concurrent requests on one connection to nginx and nghttpd (servers not built on h2):
tasks on asyncio and trio, threads on the sync pool.

200 streams are more than either server allows at once (nginx: 128, nghttpd: 100), so the
client also has to queue streams until the server's limit lets them go.
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


@pytest.fixture(params=["nginx-h2-tls", "nginx-h2c", "nghttpd-h2-tls"])
def target(request: pytest.FixtureRequest, tls_files: TLSFiles) -> tuple[str, dict[str, Any]]:
    """The URL of `file.bin` and the pool options that reach it over HTTP/2."""
    name: str = request.param
    if name == "nginx-h2c":
        url = request.getfixturevalue("nginx").url("h2c")
        return url + "/file.bin", {"http1": False, "http2": True}
    options = {"http2": True, "verify": str(tls_files.ca_file)}
    if name == "nginx-h2-tls":
        return request.getfixturevalue("nginx").url("h2") + "/file.bin", options
    return request.getfixturevalue("nghttpd").url + "/file.bin", options


def check(responses: list[httpcore2.Response], connections: list[Any]) -> None:
    digest = hashlib.sha256(BODY).digest()
    assert [response.status for response in responses] == [200] * REQUESTS
    assert all(hashlib.sha256(r.content).digest() == digest for r in responses)
    assert {response.protocol for response in responses} == {"HTTP/2"}
    assert len(connections) == 1
    # nginx numbers its connections: every response came over the same one.
    assert len({response.headers.get("x-connection") for response in responses}) == 1


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_200_tasks_share_one_connection(target: tuple[str, dict[str, Any]], backend: str) -> None:
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


def test_200_threads_share_one_connection(target: tuple[str, dict[str, Any]]) -> None:
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
