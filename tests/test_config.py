"""Timeout, PoolLimits and create_ssl_context(); TLS is checked with in-memory handshakes."""

from __future__ import annotations

import dataclasses
import logging
import shutil
import ssl
import subprocess
from pathlib import Path

import certifi
import pytest
import trustme
from cryptography.hazmat.primitives import serialization

import httpcore2
from httpcore2 import PoolLimits, Timeout, create_ssl_context
from httpcore2._config import Deadline, _default_context
from tests.servers.certs import cert_authority, server_ssl_context

# --- Timeout -----------------------------------------------------------------------------


def test_timeout_defaults_to_five_seconds_everywhere() -> None:
    timeout = Timeout()
    assert (timeout.connect, timeout.read, timeout.write, timeout.pool) == (5.0, 5.0, 5.0, 5.0)
    assert timeout.as_dict() == {"connect": 5.0, "read": 5.0, "write": 5.0, "pool": 5.0}


def test_timeout_overrides_single_phases() -> None:
    assert Timeout(10.0, connect=2.0).as_dict() == {
        "connect": 2.0,
        "read": 10.0,
        "write": 10.0,
        "pool": 10.0,
    }
    assert Timeout(None, pool=1.0).as_dict() == {
        "connect": None,
        "read": None,
        "write": None,
        "pool": 1.0,
    }
    assert Timeout(1, connect=None, read=2, write=0.5).as_dict() == {
        "connect": None,
        "read": 2,
        "write": 0.5,
        "pool": 1,
    }


@pytest.mark.parametrize(
    ("args", "kwargs", "named"),
    [
        # Each value is reported under the name it was given as (issue 15, point 13).
        ((-1,), {}, "timeout=-1"),
        ((-1,), {"connect": 2.0}, "timeout=-1"),
        ((5.0,), {"read": -0.5}, "read=-0.5"),
        # Zero is refused in every world: a blocking socket would take it for "do not
        # block" and fail with a network error on the sync side only (issue 15, point 2).
        ((0,), {}, "timeout=0"),
        ((5.0,), {"read": 0}, "read=0"),
        ((None,), {"pool": 0.0}, "pool=0.0"),
        ((float("nan"),), {}, "timeout=nan"),
    ],
)
def test_timeout_rejects_zero_and_negative_values_naming_the_field(
    args: tuple[object, ...], kwargs: dict[str, object], named: str
) -> None:
    with pytest.raises(ValueError, match=rf"^Timeout {named} must be a positive number of seconds"):
        Timeout(*args, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("args", "kwargs", "named"),
    [
        ((True,), {}, "timeout=True"),
        ((), {"write": "1"}, "write='1'"),
        ((), {"pool": [1]}, r"pool=\[1\]"),
        (("5",), {}, "timeout='5'"),
        ((5.0,), {"connect": False}, "connect=False"),
    ],
)
def test_timeout_rejects_non_numbers_with_type_error(
    args: tuple[object, ...], kwargs: dict[str, object], named: str
) -> None:
    with pytest.raises(TypeError, match=rf"^Timeout {named}: a timeout is a number of seconds"):
        Timeout(*args, **kwargs)  # type: ignore[arg-type]


def test_timeout_coerce_checks_mapping_values_by_phase() -> None:
    with pytest.raises(ValueError, match=r"^Timeout read=0 must be"):
        Timeout.coerce({"read": 0})
    with pytest.raises(TypeError, match=r"^Timeout timeout=True"):
        Timeout.coerce(True)


def test_coerce_returns_a_timeout_unchanged() -> None:
    timeout = Timeout(3.0, read=1.0)
    assert Timeout.coerce(timeout) is timeout


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (3.0, Timeout(3.0)),
        (7, Timeout(7)),
        (None, Timeout(None)),
        # A mapping names some phases; the others keep the 5 s default.
        ({}, Timeout()),
        ({"read": 1.0}, Timeout(5.0, read=1.0)),
        ({"read": None}, Timeout(5.0, read=None)),
        (
            {"connect": 1.0, "read": 2.0, "write": 3.0, "pool": 4.0},
            Timeout(connect=1.0, read=2.0, write=3.0, pool=4.0),
        ),
    ],
)
def test_coerce_numbers_and_mappings(value: object, expected: Timeout) -> None:
    assert Timeout.coerce(value) == expected  # type: ignore[arg-type]


def test_coerce_rejects_unknown_keys_and_bad_values() -> None:
    with pytest.raises(ValueError, match=r"Unknown timeout phases: \['bogus', 'overall'\]"):
        Timeout.coerce({"read": 1.0, "overall": 2.0, "bogus": 3.0})
    with pytest.raises(ValueError, match="read"):
        Timeout.coerce({"read": -1.0})
    with pytest.raises(ValueError, match=r"timeout=-1.0"):
        Timeout.coerce(-1.0)


def test_timeout_equality_and_hash() -> None:
    assert Timeout(5.0) == Timeout()
    assert Timeout(5) == Timeout(5.0)
    assert Timeout(5.0) != Timeout(5.0, read=1.0)
    assert Timeout(None) != Timeout(0.5)
    assert Timeout(5.0) != 5.0
    assert Timeout(5.0) != {"connect": 5.0, "read": 5.0, "write": 5.0, "pool": 5.0}
    assert hash(Timeout(2.0, pool=1.0)) == hash(Timeout(2.0, pool=1.0))
    assert len({Timeout(), Timeout(5.0), Timeout(1.0)}) == 2


def test_timeout_repr() -> None:
    assert repr(Timeout()) == "Timeout(5.0)"
    assert repr(Timeout(None)) == "Timeout(None)"
    assert repr(Timeout(10.0, connect=2.0)) == (
        "Timeout(connect=2.0, read=10.0, write=10.0, pool=10.0)"
    )


def test_timeout_total_is_off_by_default_and_separate_from_the_phases() -> None:
    assert Timeout().total is None
    assert Timeout(None).total is None
    timeout = Timeout(10.0, total=60.0)
    assert (timeout.read, timeout.total) == (10.0, 60.0)
    assert timeout.as_dict() == {
        "connect": 10.0,
        "read": 10.0,
        "write": 10.0,
        "pool": 10.0,
        "total": 60.0,
    }
    assert "total" not in Timeout(10.0).as_dict()
    assert Timeout.coerce({"total": 1.5, "read": 2.0}) == Timeout(5.0, read=2.0, total=1.5)
    assert timeout != Timeout(10.0)
    assert repr(timeout) == "Timeout(10.0, total=60.0)"
    assert repr(Timeout(1.0, read=2.0, total=3)) == (
        "Timeout(connect=1.0, read=2.0, write=1.0, pool=1.0, total=3)"
    )
    with pytest.raises(ValueError, match="total"):
        Timeout(total=-1.0)


def test_a_deadline_reads_each_phase_as_at_most_the_time_left() -> None:
    deadline = Deadline({"connect": 0.5, "read": 100.0, "write": None, "pool": 1.0}, 30.0)
    assert deadline["connect"] == 0.5
    assert 29.0 < deadline["read"] <= 30.0  # type: ignore[operator]
    assert 29.0 < deadline["write"] <= 30.0  # type: ignore[operator]
    deadline.check(httpcore2.ReadTimeout("early"))  # before the deadline: nothing to do
    deadline.deadline -= 31.0  # as if 31 s had passed
    with pytest.raises(httpcore2.TotalTimeout, match=r"total timeout of 30\.0 s"):
        deadline["connect"]
    request = httpcore2.Request("GET", "http://example.org/")
    with pytest.raises(httpcore2.TotalTimeout) as info:
        deadline.check(httpcore2.ReadTimeout("late", request=request))
    assert isinstance(info.value.__cause__, httpcore2.ReadTimeout)
    assert info.value.request is request
    deadline.check(info.value)  # already a TotalTimeout: it stays as it is


# --- PoolLimits --------------------------------------------------------------------------


def test_pool_limits_defaults() -> None:
    limits = PoolLimits()
    assert limits.max_connections == 100
    assert limits.max_keepalive_connections == 20
    assert limits.keepalive_expiry == 5.0
    assert limits.max_connections_per_host is None


def test_pool_limits_accept_none_and_edge_values() -> None:
    limits = PoolLimits(None, None, None, None)
    assert limits == PoolLimits(
        max_connections=None,
        max_keepalive_connections=None,
        keepalive_expiry=None,
        max_connections_per_host=None,
    )
    limits = PoolLimits(
        max_connections=1,
        max_keepalive_connections=0,
        keepalive_expiry=0,
        max_connections_per_host=1,
    )
    assert (limits.max_connections, limits.max_keepalive_connections) == (1, 0)
    assert (limits.keepalive_expiry, limits.max_connections_per_host) == (0, 1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_connections": 0}, "max_connections=0 must be an integer >= 1, or None"),
        ({"max_connections": -5}, "max_connections=-5 must be an integer >= 1"),
        ({"max_connections": 1.5}, "max_connections=1.5 must be an integer"),
        ({"max_connections": "10"}, "max_connections='10' must be an integer"),
        ({"max_keepalive_connections": -1}, "max_keepalive_connections=-1 must be an integer >= 0"),
        ({"max_keepalive_connections": 2.0}, "max_keepalive_connections=2.0 must be an integer"),
        ({"max_connections_per_host": 0}, "max_connections_per_host=0 must be an integer >= 1"),
        ({"keepalive_expiry": -0.1}, "keepalive_expiry=-0.1 must be a number >= 0"),
    ],
)
def test_pool_limits_validation(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as info:
        PoolLimits(**kwargs)  # type: ignore[arg-type]
    assert message in str(info.value)


def test_pool_limits_equality_hash_and_repr() -> None:
    assert PoolLimits() == PoolLimits(100, 20, 5.0, None)
    assert PoolLimits() != PoolLimits(max_connections_per_host=2)
    assert PoolLimits() != PoolLimits(keepalive_expiry=1.0)
    assert PoolLimits() != (100, 20, 5.0, None)
    assert hash(PoolLimits(10)) == hash(PoolLimits(10))
    assert repr(PoolLimits(10, max_connections_per_host=2)) == (
        "PoolLimits(max_connections=10, max_keepalive_connections=20, "
        "keepalive_expiry=5.0, max_connections_per_host=2)"
    )


# --- create_ssl_context: helpers ---------------------------------------------------------


def handshake(
    client_context: ssl.SSLContext, server_context: ssl.SSLContext
) -> tuple[ssl.SSLObject, ssl.SSLObject]:
    """Run a TLS handshake between two contexts in memory; returns (client, server)."""
    client_in, client_out, server_in, server_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_context.wrap_bio(client_in, client_out, server_hostname="localhost")
    server = server_context.wrap_bio(server_in, server_out, server_side=True)
    pending = [client, server]
    for _ in range(10):
        for side in list(pending):
            try:
                side.do_handshake()
            except ssl.SSLWantReadError:
                continue
            pending.remove(side)
        server_in.write(client_out.read())
        client_in.write(server_out.read())
        if not pending:
            return client, server
    raise AssertionError("the handshake did not finish")


def offered_alpn(client_context: ssl.SSLContext) -> str | None:
    """What a server offering h2 and http/1.1 picks from the client's hello (no verification)."""
    client_in, client_out, server_in, server_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_context.wrap_bio(client_in, client_out, server_hostname="localhost")
    server = server_ssl_context().wrap_bio(server_in, server_out, server_side=True)
    with pytest.raises(ssl.SSLWantReadError):
        client.do_handshake()
    server_in.write(client_out.read())
    with pytest.raises(ssl.SSLWantReadError):
        server.do_handshake()
    return server.selected_alpn_protocol()


@pytest.fixture(scope="module")
def client_leaf() -> trustme.LeafCert:
    return cert_authority().issue_cert("client.test")


@pytest.fixture
def ca_file(tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    cert_authority().cert_pem.write_to_path(str(path))
    return path


def client_cert_server() -> ssl.SSLContext:
    """A server that demands a client certificate issued by the test CA."""
    context = server_ssl_context()
    context.verify_mode = ssl.CERT_REQUIRED
    cert_authority().configure_trust(context)
    return context


def der(leaf: trustme.LeafCert) -> bytes:
    """The DER form of a leaf certificate, as a server sees it on the wire."""
    return ssl.PEM_cert_to_DER_cert(leaf.cert_chain_pems[0].bytes().decode("ascii"))


# --- create_ssl_context ------------------------------------------------------------------


def test_create_ssl_context_returns_a_context_of_your_own() -> None:
    context = create_ssl_context()
    assert create_ssl_context() is not context
    context.set_alpn_protocols(["h2"])  # changing it changes no other context
    assert offered_alpn(create_ssl_context()) == "http/1.1"


def test_pools_parse_the_ca_bundle_once_per_alpn_offer(monkeypatch: pytest.MonkeyPatch) -> None:
    _default_context.cache_clear()
    parsed: list[str] = []
    where = certifi.where
    monkeypatch.setattr(certifi, "where", lambda: parsed.append("bundle") or where())
    pools = [httpcore2.ConnectionPool(http2=index % 2 == 0) for index in range(100)]
    pools += [httpcore2.SyncConnectionPool() for _ in range(100)]
    assert len(parsed) == 2  # ("http/1.1",) and ("h2", "http/1.1")
    assert len({id(pool._ssl_context) for pool in pools}) == 2
    _default_context.cache_clear()


@pytest.mark.case("S31", "S34")
def test_default_context_verifies_and_requires_tls_1_2() -> None:
    context = create_ssl_context()
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2


@pytest.mark.case("S31")
def test_default_context_does_not_trust_an_unknown_ca() -> None:
    with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer"):
        handshake(create_ssl_context(), server_ssl_context())


@pytest.mark.case("S34")
def test_default_context_offers_http_1_1_only() -> None:
    assert offered_alpn(create_ssl_context()) == "http/1.1"


@pytest.mark.case("S34")
def test_alpn_protocols_are_offered() -> None:
    assert offered_alpn(create_ssl_context(alpn_protocols=("h2", "http/1.1"))) == "h2"
    assert offered_alpn(create_ssl_context(False, alpn_protocols=("h2",))) == "h2"


def test_alpn_is_negotiated_with_a_custom_ca(ca_file: Path) -> None:
    context = create_ssl_context(str(ca_file), alpn_protocols=("h2", "http/1.1"))
    client, _ = handshake(context, server_ssl_context())
    assert client.selected_alpn_protocol() == "h2"
    context = create_ssl_context(str(ca_file))
    client, _ = handshake(context, server_ssl_context())
    assert client.selected_alpn_protocol() == "http/1.1"


@pytest.mark.case("S31")
def test_verify_false_disables_checks_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="httpcore2"):
        context = create_ssl_context(verify=False)
    assert [(r.name, r.levelno) for r in caplog.records] == [("httpcore2", logging.WARNING)]
    assert "verification is disabled" in caplog.records[0].getMessage()
    assert context.verify_mode == ssl.CERT_NONE
    assert not context.check_hostname
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    client, _ = handshake(context, server_ssl_context())
    assert client.version() in ("TLSv1.2", "TLSv1.3")


@pytest.mark.parametrize("as_path", [False, True])
def test_verify_with_a_ca_file(ca_file: Path, as_path: bool) -> None:
    context = create_ssl_context(ca_file if as_path else str(ca_file))
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert len(context.get_ca_certs()) == 1
    client, _ = handshake(context, server_ssl_context())
    assert client.getpeercert() is not None


def test_verify_with_a_ca_directory(tmp_path: Path, ca_file: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("naming a CA directory's files needs the openssl command")
    directory = tmp_path / "cas"
    directory.mkdir()
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(create_ssl_context(directory), server_ssl_context())
    # OpenSSL finds certificates in a CA directory by the hash of their subject.
    subject_hash = subprocess.run(
        [openssl, "x509", "-hash", "-noout", "-in", str(ca_file)],
        capture_output=True,
        check=True,
        text=True,
    ).stdout.strip()
    shutil.copy(ca_file, directory / f"{subject_hash}.0")
    context = create_ssl_context(str(directory))
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    client, _ = handshake(context, server_ssl_context())
    assert client.getpeercert() is not None


def test_verify_with_a_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.pem"
    with pytest.raises(FileNotFoundError, match=r"nowhere.pem"):
        create_ssl_context(str(missing))
    with pytest.raises(FileNotFoundError):
        create_ssl_context(missing)


def test_client_certificate_from_one_pem_file(
    tmp_path: Path, ca_file: Path, client_leaf: trustme.LeafCert
) -> None:
    pem = tmp_path / "client.pem"
    client_leaf.private_key_and_cert_chain_pem.write_to_path(str(pem))
    context = create_ssl_context(str(ca_file), cert=str(pem))
    _, server = handshake(context, client_cert_server())
    assert server.getpeercert(binary_form=True) == der(client_leaf)


def test_client_certificate_from_cert_and_key(
    tmp_path: Path, ca_file: Path, client_leaf: trustme.LeafCert
) -> None:
    cert, key = tmp_path / "client.pem", tmp_path / "client.key"
    client_leaf.cert_chain_pems[0].write_to_path(str(cert))
    client_leaf.private_key_pem.write_to_path(str(key))
    context = create_ssl_context(str(ca_file), cert=(str(cert), str(key)))
    _, server = handshake(context, client_cert_server())
    assert server.getpeercert(binary_form=True) == der(client_leaf)


def test_client_certificate_with_an_encrypted_key(
    tmp_path: Path, ca_file: Path, client_leaf: trustme.LeafCert
) -> None:
    cert, key = tmp_path / "client.pem", tmp_path / "client.key"
    client_leaf.cert_chain_pems[0].write_to_path(str(cert))
    private_key = serialization.load_pem_private_key(client_leaf.private_key_pem.bytes(), None)
    key.write_bytes(
        private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    context = create_ssl_context(str(ca_file), cert=(str(cert), str(key), "secret"))
    _, server = handshake(context, client_cert_server())
    assert server.getpeercert(binary_form=True) == der(client_leaf)
    with pytest.raises(ssl.SSLError):
        create_ssl_context(str(ca_file), cert=(str(cert), str(key), "wrong"))


def test_a_client_certificate_never_goes_into_the_shared_context(
    tmp_path: Path, client_leaf: trustme.LeafCert
) -> None:
    pem = tmp_path / "client.pem"
    client_leaf.private_key_and_cert_chain_pem.write_to_path(str(pem))
    context = create_ssl_context(cert=str(pem))
    assert context is not create_ssl_context()
    assert create_ssl_context(cert=str(pem)) is not context
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(context, server_ssl_context())


def test_limits_defaults_are_the_documented_ones() -> None:
    assert httpcore2.Limits() == httpcore2.Limits(
        max_head_size=102_400,
        max_headers=1000,
        max_informational=20,
        max_trailer_size=102_400,
        max_codings=5,
        max_decompressed_size=1 << 30,
        max_in_memory_ratio=100,
        max_header_list_size=65_536,
        max_continuation_frames=64,
    )


def test_limits_are_immutable_and_hashable() -> None:
    limits = httpcore2.Limits(max_headers=10)
    with pytest.raises(dataclasses.FrozenInstanceError):
        limits.max_headers = 20  # type: ignore[misc]
    assert hash(limits) == hash(httpcore2.Limits(max_headers=10))
    assert dataclasses.replace(limits, max_codings=2).max_headers == 10


@pytest.mark.parametrize(
    ("field", "value"),
    [("max_head_size", 0), ("max_headers", -1), ("max_codings", True), ("max_trailer_size", 1.5)],
)
def test_limits_reject_values_that_are_not_positive_integers(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"{field}={value!r}"):
        httpcore2.Limits(**{field: value})  # type: ignore[arg-type]


def test_limits_may_forbid_informational_responses_and_continuation_frames() -> None:
    limits = httpcore2.Limits(max_informational=0, max_continuation_frames=0)
    assert (limits.max_informational, limits.max_continuation_frames) == (0, 0)
