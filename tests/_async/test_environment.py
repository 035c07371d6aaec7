"""The client and the environment: .netrc through NETRC, and the CA variables."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import certifi
import pytest

import httpcore2
from tests.servers.asgi_server import Server
from tests.servers.wsgi import WSGIServer


@pytest.fixture
def httpbin() -> Iterator[WSGIServer]:
    with WSGIServer() as server:
        yield server


@pytest.fixture
def netrc_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "netrc"
    path.write_text("machine localhost login user password pass\n")
    monkeypatch.setenv("NETRC", str(path))
    return path


@pytest.mark.case("S39")
@pytest.mark.anyio
async def test_netrc_credentials(httpbin: WSGIServer, netrc_file: Path) -> None:
    url = f"http://localhost:{httpbin.port}/basic-auth/user/pass"
    async with httpcore2.Client() as client:
        assert (await client.get(url)).status == 200
        # Credentials given with the request win.
        assert (await client.get(url, auth=("user", "wrong"))).status == 401
        # The netrc entry is for "localhost", not for the same server's address.
        assert (await client.get(httpbin.url + "/basic-auth/user/pass")).status == 401
    async with httpcore2.Client(trust_env=False) as client:
        assert (await client.get(url)).status == 401


@pytest.mark.case("S39")
@pytest.mark.anyio
async def test_netrc_is_looked_up_for_every_hop(httpbin: WSGIServer, netrc_file: Path) -> None:
    target = f"http://localhost:{httpbin.port}/basic-auth/user/pass"
    async with httpcore2.Client() as client:
        response = await client.get(httpbin.url + "/redirect-to", params={"url": target})
    assert response.status == 200
    first, second = httpbin.requests
    assert "authorization" not in first[2]
    assert second[2]["authorization"].startswith("Basic ")


@pytest.mark.case("S40")
@pytest.mark.anyio
async def test_netrc_is_read_once(httpbin: WSGIServer, netrc_file: Path) -> None:
    url = f"http://localhost:{httpbin.port}/basic-auth/user/pass"
    async with httpcore2.Client() as client:
        netrc_file.write_text("machine localhost login user password changed\n")
        assert (await client.get(url)).status == 200


def rehashed(directory: Path, ca_file: Path) -> Path:
    """`directory` holding `ca_file` under its OpenSSL subject hash, as SSL_CERT_DIR wants."""
    subject_hash = subprocess.run(
        ["openssl", "x509", "-hash", "-noout", "-in", str(ca_file)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    shutil.copy(ca_file, directory / f"{subject_hash}.0")
    return directory


@pytest.mark.parametrize("variable", ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "SSL_CERT_DIR"])
@pytest.mark.anyio
async def test_ca_variables(
    tls_server: Server,
    ca_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
) -> None:
    value = rehashed(tmp_path, ca_file) if variable == "SSL_CERT_DIR" else ca_file
    monkeypatch.setenv(variable, str(value))
    async with httpcore2.Client() as client:
        assert (await client.get(tls_server.url + "/")).status == 200
    # Without the environment, or with a trust store chosen here, the test CA is unknown.
    for client in (
        httpcore2.Client(trust_env=False),
        httpcore2.Client(verify=certifi.where()),
    ):
        async with client:
            with pytest.raises(httpcore2.ConnectError, match="certificate verify failed"):
                await client.get(tls_server.url + "/")


@pytest.mark.anyio
async def test_pools_ignore_the_environment(
    tls_server: Server, ca_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    async with httpcore2.ConnectionPool() as pool:
        with pytest.raises(httpcore2.ConnectError, match="certificate verify failed"):
            await pool.request("GET", tls_server.url + "/")


@pytest.mark.anyio
async def test_an_empty_environment_passes_requests_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No copy per request when there is nothing to apply; a request that carries a
    # choice from an earlier hop still gets it replaced.
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "missing"))
    seen: list[httpcore2.Request] = []

    def handler(request: httpcore2.Request) -> httpcore2.Response:
        seen.append(request)
        return httpcore2.Response(200)

    adapter = httpcore2.EnvironmentAdapter(httpcore2.MockTransport(handler))
    plain = httpcore2.Request("GET", "http://example.org/")
    chosen = httpcore2.Request("GET", "http://example.org/", extensions={"proxy": "x"})
    await adapter.handle_request(plain)
    await adapter.handle_request(chosen)
    assert seen[0] is plain
    assert seen[1] is not chosen
    assert seen[1].extensions["proxy"] is None
