"""The environment's policy, sans-IO: NO_PROXY matching, proxy variables, .netrc, CA files."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import httpcore2
from httpcore2._environment import Environment, bypasses_proxy, ca_bundle, parse_no_proxy
from tests.fuzzing import fuzz_settings
from tests.servers.asgi_server import Server

NO_PROXY_CASES = [
    # (NO_PROXY, URL, bypassed)
    ("example.org", "http://example.org/", True),
    ("example.org", "http://www.example.org/", True),
    ("example.org", "http://a.b.example.org:8080/", True),
    ("example.org", "http://notexample.org/", False),  # label boundary
    ("example.org", "http://example.org.evil.test/", False),
    ("example.org", "http://example.com/", False),
    (".example.org", "http://example.org/", True),
    (".example.org", "http://sub.example.org/", True),
    ("*.example.org", "http://sub.example.org/", True),
    ("EXAMPLE.ORG.", "http://Example.org./", True),
    ("example.org:8080", "http://example.org:8080/", True),
    ("example.org:8080", "http://example.org/", False),
    ("example.org:443", "https://example.org/", True),
    ("example.org:bad", "http://example.org/", False),
    ("example.org:\u00b2", "http://example.org/", False),  # a digit to str.isdigit, not a port
    ("[::1]:\u0661", "http://[::1]/", False),
    ("127.0.0.1", "http://127.0.0.1:8000/", True),
    ("127.0.0.1", "http://127.0.0.2/", False),
    ("127.0.0.1:8000", "http://127.0.0.1:8000/", True),
    ("127.0.0.1:8000", "http://127.0.0.1:9000/", False),
    ("10.0.0.0/8", "http://10.1.2.3/", True),
    ("10.0.0.0/8", "http://11.1.2.3/", False),
    ("10.0.0.0/8", "http://ten.example/", False),  # names are not resolved
    ("192.168.1.7/24", "http://192.168.1.200/", True),  # host bits are ignored
    ("::1", "http://[::1]:8080/", True),
    ("[::1]", "http://[::1]/", True),
    ("[::1]:8080", "http://[::1]:8080/", True),
    ("[::1]:8080", "http://[::1]:9090/", False),
    ("[::1]x", "http://[::1]/", False),
    ("fd00::/8", "http://[fd12::1]/", True),
    ("fd00::/8", "http://[fe80::1]/", False),
    ("fd00::/8", "http://10.0.0.1/", False),  # another IP version
    ("::1", "http://127.0.0.1/", False),
    ("1", "http://0.0.0.1/", False),  # neither an address nor a network: a (bogus) name
    ("127.0.0.1", "http://127.0.0.1.example/", False),
    # S44: names are compared as A-labels, however either side was written.
    ("bücher.example", "http://xn--bcher-kva.example/", True),
    ("*.BÜCHER。example。", "http://www.bücher.example/", True),
    ("xn--bcher-kva.example", "http://bücher.example/", True),
    ("b\u00fccher.example", "http://bucher.example/", False),
    ("\u2603\u200d.test", "http://anything.test/", False),  # not a valid name: ignored
    ("*", "http://anything.test/", True),
    ("a.test, *", "http://anything.test/", True),
    ("a.test,b.test  c.test", "http://c.test/", True),
    ("a.test,,b.test", "http://b.test/", True),
    ("", "http://example.org/", False),
    ("/bad, :80", "http://example.org/", False),
]


@pytest.mark.case("S37")
@pytest.mark.parametrize(("no_proxy", "url", "bypassed"), NO_PROXY_CASES)
def test_no_proxy(no_proxy: str, url: str, bypassed: bool) -> None:
    assert bypasses_proxy(parse_no_proxy(no_proxy), httpcore2.URL(url)) is bypassed


NO_PROXY_PIECES = ["a.test", "::1", "10.0.0.0", "/", "8", ":", "[", "]", "*", ".", ",", " "]
no_proxy_values = st.lists(
    st.sampled_from([*NO_PROXY_PIECES, "\u00b2", "\u0663", "\u3002", "\u00e9"])
    | st.text(max_size=3),
    max_size=12,
).map("".join)


@pytest.mark.case("S37")
@fuzz_settings(300)
@given(no_proxy_values)
def test_any_no_proxy_value_is_parsed_never_raised(value: str) -> None:
    rules = parse_no_proxy(value)
    for url in ("http://a.test/", "http://[::1]:8/", "http://10.1.2.3/", "http://bücher.test/"):
        assert isinstance(bypasses_proxy(rules, httpcore2.URL(url)), bool)


def proxy_url(environment: Environment, url: str) -> str | None:
    proxy = environment.proxy_for(httpcore2.URL(url))
    return None if proxy is None else str(proxy.url)


@pytest.mark.case("S38")
def test_proxy_variables_by_scheme() -> None:
    environment = Environment(
        {"HTTP_PROXY": "http://p1:3128", "HTTPS_PROXY": "p2:3128", "NO_PROXY": "local.test"}
    )
    assert proxy_url(environment, "http://example.org/") == "http://p1:3128/"
    assert proxy_url(environment, "https://example.org/") == "http://p2:3128/"
    assert proxy_url(environment, "http://local.test/") is None


@pytest.mark.case("S38")
def test_lower_case_variables_win() -> None:
    environment = Environment(
        {
            "http_proxy": "http://lower:1",
            "HTTP_PROXY": "http://upper:1",
            "https_proxy": "",  # empty: as if unset
            "HTTPS_PROXY": "http://upper:2",
            "no_proxy": "lower.test",
            "NO_PROXY": "upper.test",
        }
    )
    assert proxy_url(environment, "http://a.test/") == "http://lower:1/"
    assert proxy_url(environment, "https://a.test/") == "http://upper:2/"
    assert proxy_url(environment, "http://lower.test/") is None
    assert proxy_url(environment, "http://upper.test/") == "http://lower:1/"


@pytest.mark.case("S38")
def test_all_proxy_is_the_fallback() -> None:
    environment = Environment({"ALL_PROXY": "socks5h://s:1080", "https_proxy": "http://h:1"})
    assert proxy_url(environment, "http://a.test/") == "socks5h://s:1080/"
    assert proxy_url(environment, "https://a.test/") == "http://h:1/"
    assert proxy_url(Environment({}), "http://a.test/") is None


@pytest.mark.case("S38")
def test_upper_case_http_proxy_is_ignored_under_cgi() -> None:
    # Under CGI, HTTP_PROXY comes from the client's "Proxy:" header (httpoxy).
    environment = Environment({"REQUEST_METHOD": "GET", "HTTP_PROXY": "http://evil:1"})
    assert proxy_url(environment, "http://a.test/") is None
    environment = Environment({"REQUEST_METHOD": "GET", "http_proxy": "http://good:1"})
    assert proxy_url(environment, "http://a.test/") == "http://good:1/"


def test_proxy_credentials_come_from_the_url() -> None:
    environment = Environment({"HTTPS_PROXY": "http://us%40er:p%3Ass@proxy.test:3128"})
    proxy = environment.proxy_for(httpcore2.URL("https://a.test/"))
    assert proxy is not None
    assert proxy.auth == ("us@er", "p:ss")
    assert "p:ss" not in repr(proxy)
    assert repr(proxy) == "Proxy('http://proxy.test:3128/', auth=[secure])"


def test_a_bad_proxy_variable_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "httpcore2"):
        environment = Environment({"HTTP_PROXY": "ftp://user:secret@proxy.test"})
    assert proxy_url(environment, "http://a.test/") is None
    assert "secret" not in caplog.text
    assert "Ignoring a proxy variable" in caplog.text


NETRC = """\
machine example.org login alice password s3cret
machine other.test
  login bob
  password "with space"
default login anon password guest
"""


@pytest.mark.case("S39")
def test_netrc_from_the_netrc_variable(tmp_path: Path) -> None:
    path = tmp_path / "netrc"
    path.write_text(NETRC)
    environment = Environment({"NETRC": str(path)})
    assert environment.credentials_for(httpcore2.URL("https://example.org/")) == (
        "alice",
        "s3cret",
    )
    assert environment.credentials_for(httpcore2.URL("http://example.org.:8080/x")) == (
        "alice",
        "s3cret",
    )
    assert environment.credentials_for(httpcore2.URL("http://other.test/")) == (
        "bob",
        "with space",
    )
    assert environment.credentials_for(httpcore2.URL("http://elsewhere.test/")) == (
        "anon",
        "guest",
    )


def test_netrc_in_the_home_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".netrc").write_text("machine a.test login u password p\n")
    environment = Environment({})
    assert environment.credentials_for(httpcore2.URL("http://a.test/")) == ("u", "p")
    assert environment.credentials_for(httpcore2.URL("http://b.test/")) is None


@pytest.mark.case("S39")
def test_netrc_entry_without_credentials(tmp_path: Path) -> None:
    path = tmp_path / "netrc"
    path.write_text("machine a.test account x\n")
    assert (
        Environment({"NETRC": str(path)}).credentials_for(httpcore2.URL("http://a.test/")) is None
    )


@pytest.mark.case("S40")
def test_no_netrc_file(tmp_path: Path) -> None:
    environment = Environment({"NETRC": str(tmp_path / "missing")})
    assert environment.credentials_for(httpcore2.URL("http://a.test/")) is None


@pytest.mark.case("S40")
def test_a_malformed_netrc_is_a_warning_that_shows_no_secret(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "netrc"
    path.write_text("machine a.test login u password topsecret\nbogus topsecret2\n")
    with caplog.at_level(logging.WARNING, "httpcore2"):
        environment = Environment({"NETRC": str(path)})
    assert environment.credentials_for(httpcore2.URL("http://a.test/")) is None
    assert "malformed (line 2)" in caplog.text
    assert "topsecret" not in caplog.text


@pytest.mark.case("S40")
def test_an_unreadable_netrc_is_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "netrc"
    path.write_bytes(b"machine a.test login u password \xff\xfe\n")  # not UTF-8
    with caplog.at_level(logging.WARNING, "httpcore2"):
        environment = Environment({"NETRC": str(path)})
    assert environment.credentials_for(httpcore2.URL("http://a.test/")) is None
    assert "Ignoring the netrc file" in caplog.text


@pytest.mark.case("S39")
@pytest.mark.parametrize(
    ("content", "credentials"),
    [
        ("machine a.test login u\n", ("u", "")),  # a login without a password: empty
        ("machine a.test password p\n", ("", "p")),
        ("default\n", None),  # a default entry without credentials matches nothing
        ("machine b.test login u password p\n", None),
        ('machine "a.test" login "u s" password "p w"\n', ("u s", "p w")),
        ("macdef init\ncd /\n\nmachine a.test login u password p\n", ("u", "p")),
    ],
)
def test_netrc_entries(tmp_path: Path, content: str, credentials: tuple[str, str] | None) -> None:
    path = tmp_path / "netrc"
    path.write_text(content)
    environment = Environment({"NETRC": str(path)})
    assert environment.credentials_for(httpcore2.URL("http://a.test/")) == credentials


@pytest.mark.case("S39", "S44")
@pytest.mark.parametrize(
    ("machine", "url", "found"),
    [
        ("bücher.example", "http://xn--bcher-kva.example/", True),
        ("BÜCHER。Example", "http://bücher.example/", True),
        ("xn--bcher-kva.example", "http://bücher.example/", True),
        ("A.Test", "http://a.test/", True),
        ("b\u00fccher.example", "http://bucher.example/", False),
        ("\u2603\u200d.test", "http://a.test/", False),  # not a valid name: never matches
    ],
)
def test_netrc_machines_are_compared_as_a_labels(
    tmp_path: Path, machine: str, url: str, found: bool
) -> None:
    path = tmp_path / "netrc"
    path.write_text(f"machine {machine} login u password p\n", encoding="utf-8")
    credentials = Environment({"NETRC": str(path)}).credentials_for(httpcore2.URL(url))
    assert credentials == (("u", "p") if found else None)


NETRC_WORDS = ["machine", "default", "login", "password", "account", "macdef", "a.test"]
netrc_contents = st.lists(
    st.sampled_from([*NETRC_WORDS, " ", "\n", "\n\n", "\t", '"', "\\", "#", "\x00"])
    | st.text(max_size=4),
    max_size=30,
).map("".join)


@pytest.mark.case("S40")
@fuzz_settings(200)
@given(st.one_of(netrc_contents.map(str.encode), st.binary(max_size=64)))
def test_any_netrc_file_is_read_or_ignored_with_a_warning(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "netrc"
        path.write_bytes(content)
        environment = Environment({"NETRC": str(path)})
    credentials = environment.credentials_for(httpcore2.URL("http://a.test/"))
    assert credentials is None or all(isinstance(part, str) for part in credentials)


def test_ca_bundle_order(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    bundle, cert_file = tmp_path / "bundle.pem", tmp_path / "cert.pem"
    bundle.touch()
    cert_file.touch()
    environ = {
        "REQUESTS_CA_BUNDLE": str(bundle),
        "SSL_CERT_FILE": str(cert_file),
        "SSL_CERT_DIR": str(tmp_path),
    }
    assert ca_bundle(environ) == str(bundle)
    assert ca_bundle({**environ, "REQUESTS_CA_BUNDLE": ""}) == str(cert_file)
    assert ca_bundle({"SSL_CERT_DIR": str(tmp_path)}) == str(tmp_path)
    assert ca_bundle({}) is None
    with caplog.at_level(logging.WARNING, "httpcore2"):
        assert ca_bundle({"SSL_CERT_FILE": str(tmp_path / "missing")}) is None
    assert "Ignoring SSL_CERT_FILE" in caplog.text


def test_top_level_functions_ignore_the_environment(
    tls_server: Server, ca_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    with pytest.raises(httpcore2.ConnectError, match="certificate verify failed"):
        httpcore2.request("GET", tls_server.url + "/")
