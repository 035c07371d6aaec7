"""Shared fixtures: loopback servers, TLS material, the anyio backends and a clean environment."""

from __future__ import annotations

import gc
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import trustme

from httpcore2 import _fast_engine
from tests.servers import certs
from tests.servers.asgi_server import Server
from tests.servers.certs import TLSFiles
from tests.servers.raw import Handler, RawServer, RawServerFactory, never_accepting_listener

pytest_plugins = ["tests.cases"]

# Variables that would change which CA bundle, proxy or credentials a client picks up.
_ENVIRONMENT = frozenset(
    {
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
        "NETRC",
    }
)


@pytest.fixture(scope="session", autouse=True)
def _clean_environment() -> Iterator[None]:
    """Run the tests without the CA, proxy and netrc variables (any case) of this machine."""
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.upper() in _ENVIRONMENT:
                mp.delenv(name)
        yield


@pytest.fixture(
    scope="module",
    params=[pytest.param("asyncio", id="asyncio"), pytest.param("trio", id="trio")],
)
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Every `@pytest.mark.anyio` test runs once on asyncio and once on trio."""
    backend: str = request.param
    return backend


@pytest.fixture(params=["fast", "h11"])
def http1_engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs a test on each HTTP/1.1 engine, made the default of every pool and connection."""
    name: str = request.param
    monkeypatch.setattr(_fast_engine, "DEFAULT_HTTP1_ENGINE", name)
    return name


@pytest.fixture(scope="session")
def cert_authority() -> trustme.CA:
    """The trustme CA behind every test certificate."""
    return certs.cert_authority()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    """CA bundle, certificate chain and key of the server certificate, as PEM files."""
    return certs.write_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def ca_file(tls_files: TLSFiles) -> Path:
    """The PEM file of the CA behind every test certificate."""
    return tls_files.ca_file


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    """The test app (`tests/servers/app.py`) over http and h2c at `server.url`."""
    with Server() as running:
        yield running


@pytest.fixture(scope="session")
def tls_server(tls_files: TLSFiles) -> Iterator[Server]:
    """The test app over https (ALPN `h2`, `http/1.1`); trust `tls_server.ca_file`."""
    with Server(tls=tls_files) as running:
        yield running


@pytest.fixture(scope="session")
def http11_only_tls_server(tls_files: TLSFiles) -> Iterator[Server]:
    """The test app over https, offering ALPN `http/1.1` only."""
    with Server(tls=tls_files, alpn_protocols=["http/1.1"]) as running:
        yield running


@pytest.fixture(scope="session")
def wrong_host_tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The test app over https with a certificate for `wrong.test` only, from the same CA."""
    directory = tmp_path_factory.mktemp("tls-wrong-host")
    files = certs.write_tls_files(directory, certs.wrong_host_cert(), name="wrong-host")
    with Server(tls=files) as running:
        yield running


@pytest.fixture(scope="session")
def ipv6_server() -> Iterator[Server]:
    """The test app over http on `[::1]`."""
    with Server(host="::1") as running:
        yield running


@pytest.fixture
def unused_port() -> Iterator[int]:
    """A port on 127.0.0.1 where connecting is refused (bound by us, never listening)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def never_accepting() -> Iterator[tuple[str, int]]:
    """The address of a loopback listener whose connect attempts time out (F11)."""
    with never_accepting_listener() as address:
        yield address


@pytest.fixture
def raw_server() -> Iterator[RawServerFactory]:
    """Start a `RawServer(handler)`; it is stopped (and handler errors raised) at teardown."""
    with ExitStack() as stack:

        def start(handler: Handler, *, host: str = "127.0.0.1") -> RawServer:
            return stack.enter_context(RawServer(handler, host=host))

        yield start


@pytest.fixture
def fd_count() -> Callable[[], int]:
    """Count this process's open file descriptors: compare before and after to find leaks."""

    def count() -> int:
        gc.collect()  # so that sockets already dropped, but not yet collected, are not counted
        return len(os.listdir("/proc/self/fd"))

    return count
