"""Test certificates from one trustme CA, made once per process.

- `server_cert()` is valid for `localhost`, `127.0.0.1` and `::1`;
- `wrong_host_cert()` is valid only for `wrong.test`, so connecting to it as `localhost` or
  `127.0.0.1` must fail hostname verification.

Both are issued by `cert_authority()`. `write_tls_files()` puts the CA bundle and a server's key and
certificate chain into a directory (hypercorn loads them from files), and the two context factories
build ready-made `ssl.SSLContext`s for a server or for a stdlib client.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import trustme

__all__ = [
    "DEFAULT_ALPN",
    "SERVER_IDENTITIES",
    "WRONG_IDENTITY",
    "TLSFiles",
    "cert_authority",
    "client_ssl_context",
    "server_cert",
    "server_ssl_context",
    "write_tls_files",
    "wrong_host_cert",
]

SERVER_IDENTITIES = ("localhost", "127.0.0.1", "::1")
WRONG_IDENTITY = "wrong.test"
DEFAULT_ALPN = ("h2", "http/1.1")


@dataclass(frozen=True)
class TLSFiles:
    """PEM files for one TLS server: the CA bundle a client trusts, the server's chain and key."""

    ca_file: Path
    cert_file: Path
    key_file: Path


@cache
def cert_authority() -> trustme.CA:
    """The CA that issues every test certificate."""
    return trustme.CA(organization_name="httpcore2 tests")


@cache
def server_cert() -> trustme.LeafCert:
    """A server certificate for `localhost`, `127.0.0.1` and `::1`."""
    return cert_authority().issue_cert(*SERVER_IDENTITIES)


@cache
def wrong_host_cert() -> trustme.LeafCert:
    """A server certificate for `wrong.test` only."""
    return cert_authority().issue_cert(WRONG_IDENTITY)


def write_tls_files(
    directory: Path, leaf: trustme.LeafCert | None = None, *, name: str = "server"
) -> TLSFiles:
    """Write `ca.pem`, `{name}.pem` and `{name}.key` for `leaf` (default `server_cert()`)."""
    leaf = server_cert() if leaf is None else leaf
    files = TLSFiles(
        ca_file=directory / "ca.pem",
        cert_file=directory / f"{name}.pem",
        key_file=directory / f"{name}.key",
    )
    cert_authority().cert_pem.write_to_path(str(files.ca_file))
    files.cert_file.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(files.key_file))
    return files


def server_ssl_context(
    leaf: trustme.LeafCert | None = None, *, alpn_protocols: Sequence[str] = DEFAULT_ALPN
) -> ssl.SSLContext:
    """A server context presenting `leaf` (default `server_cert()`), offering `alpn_protocols`."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    (server_cert() if leaf is None else leaf).configure_cert(context)
    if alpn_protocols:
        context.set_alpn_protocols(list(alpn_protocols))
    return context


def client_ssl_context(*, alpn_protocols: Sequence[str] = ()) -> ssl.SSLContext:
    """A verifying client context that trusts only `cert_authority()`."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies chain and hostname
    cert_authority().configure_trust(context)
    if alpn_protocols:
        context.set_alpn_protocols(list(alpn_protocols))
    return context
