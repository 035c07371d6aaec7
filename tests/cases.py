"""The reliability checklist: every case id, and the tests that hold it.

A test claims a case with ``@pytest.mark.case("S01")`` (several ids may be given). Run
``scripts/cases`` to print the table of ids with the tests that carry them; it fails when
an id has no test. The ids follow the security (S) and fault (F) checklist described in
docs/security.md.
"""

from __future__ import annotations

from collections import defaultdict

import pytest

CASES = {
    "S01": "Authorization dropped on a cross-host redirect",
    "S02": "same host, other port counts as cross-origin",
    "S03": "https to http on the same host strips credentials",
    "S04": "http to https upgrade on default ports (policy)",
    "S05": "stripping stays on along a redirect chain",
    "S06": "every copy of a credential header is removed",
    "S07": "a user Cookie header is dropped across origins",
    "S08": "Proxy-Authorization goes only to the proxy",
    "S09": "auth challenges answered only for their origin",
    "S10": "body dropped when a redirect changes the method",
    "S11": "redirects only to http and https",
    "S12": "redirect loops and limits",
    "S13": "hostile Location values",
    "S14": "Host header derived from the URL",
    "S15": "CR, LF, NUL and CTLs in header names and values",
    "S16": "method must be a token",
    "S17": "CR, LF, space and CTLs in the URL",
    "S18": "HTTP version and multipart fields under caller control",
    "S19": "Transfer-Encoding with Content-Length",
    "S20": "bad or conflicting Content-Length",
    "S21": "unsupported or repeated Transfer-Encoding",
    "S22": "invalid chunked framing",
    "S23": "lenient response header syntax",
    "S24": "oversized heads and too many headers",
    "S25": "endless 1xx responses or trailers",
    "S26": "HTTP/2 header bombs",
    "S27": "HTTP/2 server push refused",
    "S28": "decompression bombs while streaming",
    "S29": "Content-Encoding chain length",
    "S30": "draining bodies for reuse or redirects",
    "S31": "TLS verification on by default",
    "S32": "hostname verification",
    "S33": "SNI",
    "S34": "minimum TLS version and ALPN",
    "S35": "TLS settings are part of the pool key",
    "S36": "TLS to an HTTPS proxy",
    "S37": "NO_PROXY parsing",
    "S38": "proxy variables: case and CGI",
    "S39": ".netrc looked up by the parsed host",
    "S40": ".netrc robustness",
    "S41": "URL userinfo",
    "S42": "one URL parser everywhere",
    "S43": "percent-encoding normalisation",
    "S44": "IDNA",
    "S45": "IPv6 zone ids",
    "S46": "cookie domain scope",
    "S47": "Secure cookies and plain http",
    "S48": "cookie paths, limits and hostile values",
    "S49": "cookies set on redirects",
    "S50": "Retry-After and retry abuse",
    "F01": "idle keep-alive connection closed by the server",
    "F02": "server closes as the next request is written",
    "F03": "reset in the middle of a body",
    "F04": "body shorter than Content-Length",
    "F05": "bytes past the framed body",
    "F06": "close-delimited bodies",
    "F07": "HEAD with Content-Length or chunked",
    "F08": "1xx informational responses",
    "F09": "Expect: 100-continue",
    "F10": "slow servers and read timeouts",
    "F11": "connect timeouts",
    "F12": "connection refused and DNS failures",
    "F13": "pool exhaustion",
    "F14": "asyncio cancellation mid-flight",
    "F15": "trio and anyio cancel scopes",
    "F16": "threads",
    "F17": "responses not closed or abandoned",
    "F18": "pool closed with requests in flight",
    "F19": "HTTP/2 GOAWAY with streams in flight",
    "F20": "HTTP/2 RST_STREAM",
    "F21": "HTTP/2 MAX_CONCURRENT_STREAMS",
    "F22": "HTTP/2 flow control",
    "F23": "HTTP/2 idle close, PING and connection errors",
    "F24": "thousands of concurrent requests",
    "F25": "early response while uploading",
    "F26": "several addresses for one host",
    "F27": "proxy CONNECT failures",
    "F28": "malformed but common server behaviour",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--cases",
        action="store_true",
        help="print the checklist ids with the tests that hold them; fail if one has none",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "case(*ids): the checklist cases a test holds")


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    holders: dict[str, list[str]] = defaultdict(list)
    for item in items:
        for marker in item.iter_markers("case"):
            for case_id in marker.args:
                if case_id not in CASES:
                    raise pytest.UsageError(f"{item.nodeid}: unknown case id {case_id!r}")
                holders[case_id].append(item.nodeid)
    if not config.getoption("cases"):
        return
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    missing = [case_id for case_id in CASES if not holders[case_id]]
    for case_id, title in CASES.items():
        tests = sorted(holders[case_id])
        reporter.write_line(f"{case_id}  {title}: {len(tests)} test(s)")
        for nodeid in tests:
            reporter.write_line(f"      {nodeid}")
    if missing:
        reporter.write_line(f"no test holds: {', '.join(missing)}", red=True)
    else:
        reporter.write_line(f"every one of the {len(CASES)} cases has a test")
    config.stash[_MISSING] = missing
    items.clear()  # the table is the whole output


_MISSING = pytest.StashKey[list[str]]()


def pytest_sessionfinish(session: pytest.Session) -> None:
    missing = session.config.stash.get(_MISSING, None)
    if missing is not None:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED if missing else pytest.ExitCode.OK
