"""Cookies and the RFC 6265 policy, without any I/O: requests and responses built by hand."""

from __future__ import annotations

import calendar
import json
import threading
from http.cookiejar import Cookie, CookieJar, MozillaCookieJar
from pathlib import Path
from typing import Any

import pytest

from httpcore2 import URL, CookieConflict, Headers, Request, Response
from httpcore2._cookies import Cookies, _table, add_cookie_header, extract_cookies

NOW = calendar.timegm((2025, 1, 1, 0, 0, 0))
MAX_COOKIES_PER_DOMAIN = Cookies().max_cookies_per_domain
MAX_COOKIES = Cookies().max_cookies

# --- helpers ------------------------------------------------------------------------------


def store(
    cookies: Cookies, url: str | URL, *lines: str | bytes, now: float | None = None
) -> Response:
    """Feed `Set-Cookie` lines (as a server sent them) from a response to `url`."""
    raw = [(b"Set-Cookie", line if isinstance(line, bytes) else line.encode()) for line in lines]
    response = Response(200, headers=Headers._from_wire(raw), request=Request("GET", url))
    extract_cookies(cookies, response, now=now)
    return response


def sent(cookies: Cookies, url: str | URL, now: float | None = None) -> str | None:
    """The `Cookie` header a request to `url` carries."""
    request = Request("GET", url)
    add_cookie_header(cookies, request, now=now)
    value: str | None = request.headers.get("Cookie")
    return value


def jar_cookie(cookies: Cookies, name: str) -> Cookie:
    (cookie,) = [cookie for cookie in cookies.jar if cookie.name == name]
    return cookie


def foreign_cookie(name: str, value: str | None, domain: str, path: str = "/") -> Cookie:
    """A cookie made by someone else (no creation order of ours)."""
    return Cookie(
        0, name, value, None, False, domain, False, False, path, True, False, None, True,
        None, None, {},
    )  # fmt: skip


# --- the http-state suite -----------------------------------------------------------------

HTTP_STATE = Path(__file__).resolve().parent / "data" / "http-state"
# The suite was written in 2011: its "future" dates (2019) must still be in the future.
HTTP_STATE_NOW = calendar.timegm((2011, 4, 1, 0, 0, 0))
# Cases we fail on purpose; the three are the ones the suite itself ships as "disabled".
HTTP_STATE_DEVIATIONS = {
    # Control characters: RFC 6265bis §5.7 (and S48) ignore the whole cookie; the
    # expectation is Chromium's old habit of cutting the value at the control character.
    "DISABLED_CHROMIUM0022": "a NUL in the value drops the cookie instead of truncating it",
    "DISABLED_CHROMIUM0023": "a CR in the value drops the cookie instead of truncating it",
    # Paths: RFC 6265 compares paths as written; the expectation decodes %6F first.
    "DISABLED_PATH0029": "paths are compared as written, without percent-decoding",
}


def _http_state_cases() -> list[Any]:
    if not (HTTP_STATE / "parser.json").is_file():
        return []
    cases = json.loads((HTTP_STATE / "parser.json").read_text(encoding="utf-8"))
    return [
        pytest.param(
            case,
            id=case["test"],
            marks=[pytest.mark.xfail(reason=HTTP_STATE_DEVIATIONS[case["test"]])]
            if case["test"] in HTTP_STATE_DEVIATIONS
            else [],
        )
        for case in cases
    ]


def test_the_http_state_suite_is_present() -> None:
    # The parametrized test below would silently run nothing without the data.
    assert len(_http_state_cases()) == 222
    cases = {case.id for case in _http_state_cases()}
    assert set(HTTP_STATE_DEVIATIONS) <= cases


@pytest.mark.parametrize("case", _http_state_cases())
def test_http_state(case: dict[str, Any]) -> None:
    # The suite's server sets cookies at /cookie-parser?NAME, then redirects the browser to
    # /cookie-parser-result?NAME (or to `sent-to`) and records the Cookie header it gets.
    name = case["test"].lower().replace("_", "-")
    origin = URL(f"http://home.example.org:8888/cookie-parser?{name}")
    cookies = Cookies()
    store(cookies, origin, *case["received"], now=HTTP_STATE_NOW)
    target = origin.join(case.get("sent-to", f"/cookie-parser-result?{name}"))
    expected = "; ".join(f"{cookie['name']}={cookie['value']}" for cookie in case["sent"])
    request = Request("GET", target)
    add_cookie_header(cookies, request, now=HTTP_STATE_NOW)
    assert request.headers.get(b"Cookie") == (expected.encode() or None)


# --- parsing a Set-Cookie line (RFC 6265 §5.2) --------------------------------------------


@pytest.mark.parametrize(
    ("line", "header"),
    [
        ("a=1", "a=1"),
        ("  a  =  1  ; Path=/", "a=1"),
        ("a=b=c", "a=b=c"),
        ('a="quoted value"', 'a="quoted value"'),
        ("a=", "a="),
        ("a=x\ty", "a=x\ty"),  # HTAB is the one control character allowed
        ("a=1; UnknownAttribute=9; ;;", "a=1"),
        ("a", None),  # no "=": ignored
        ("=1", None),  # no name: ignored
        ("  =1", None),
        ("a=1\x01", None),  # a control character: ignored without an error (S48)
        ("a=1; Path=/\x7f", None),
        ("a=1\x00b", None),
    ],
)
def test_set_cookie_parsing(line: str, header: str | None) -> None:
    cookies = Cookies()
    store(cookies, "http://example.org/", line)
    assert sent(cookies, "http://example.org/") == header


@pytest.mark.case("S48")
def test_a_cookie_with_a_control_character_does_not_affect_the_others() -> None:
    cookies = Cookies()
    store(cookies, "http://example.org/", "a=1", b"bad=\x01", "b=2")
    assert sent(cookies, "http://example.org/") == "a=1; b=2"


def test_attribute_names_are_case_insensitive_and_the_last_one_wins() -> None:
    cookies = Cookies()
    store(cookies, "https://www.example.org/", "a=1; pAtH=/x; PATH=/y; DoMaIn=example.org; SECURE")
    cookie = jar_cookie(cookies, "a")
    assert (cookie.domain, cookie.path, cookie.secure) == (".example.org", "/y", True)


@pytest.mark.case("S48")
def test_name_and_value_are_limited_to_4096_octets() -> None:
    cookies = Cookies()
    store(cookies, "http://example.org/", "a=" + "v" * 4095, "b=" + "v" * 4096)
    assert [cookie.name for cookie in cookies.jar] == ["a"]


def test_an_attribute_value_over_1024_octets_is_ignored() -> None:
    cookies = Cookies()
    store(cookies, "http://example.org/a/b", "a=1; Path=/" + "p" * 1024, "b=1; Path=/" + "p" * 1023)
    assert jar_cookie(cookies, "a").path == "/a"  # the default path
    assert jar_cookie(cookies, "b").path == "/" + "p" * 1023


def test_values_are_utf8_and_other_bytes_go_back_unchanged() -> None:
    cookies = Cookies()
    store(cookies, "http://example.org/", "città=perché".encode(), b"raw=\xff\xfe")
    assert cookies["città"] == "perché"
    request = Request("GET", "http://example.org/")
    add_cookie_header(cookies, request)
    assert request.headers[b"Cookie"] == "città=perché; raw=".encode() + b"\xff\xfe"


def test_a_response_without_set_cookie_changes_nothing() -> None:
    cookies = Cookies({"a": "1"})
    store(cookies, "http://example.org/")
    assert dict(cookies) == {"a": "1"}


# --- Expires, Max-Age and dates (§5.1.1, §5.2.1, §5.2.2) ----------------------------------


def expiry(attributes: str, now: int = NOW) -> int | None:
    """The expiry time a Set-Cookie with these attributes gets; None for a session cookie."""
    cookies = Cookies()
    store(cookies, "http://example.org/", "a=1; " + attributes, now=now)
    return jar_cookie(cookies, "a").expires


def gmt(*fields: int) -> int:
    return calendar.timegm((*fields, 0, 0, 0)[:6])


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        ("Wed, 09 Jun 2027 10:18:14 GMT", gmt(2027, 6, 9, 10, 18, 14)),  # RFC 1123
        ("Wednesday, 09-Jun-27 10:18:14 GMT", gmt(2027, 6, 9, 10, 18, 14)),  # RFC 850
        ("Wed Jun  9 10:18:14 2027", gmt(2027, 6, 9, 10, 18, 14)),  # asctime
        ("09 June 2027 10:18:14", gmt(2027, 6, 9, 10, 18, 14)),
        ("2027 Jun 9 1:2:3", gmt(2027, 6, 9, 1, 2, 3)),
        ("9 Jun 2027 10:18:14xyz", gmt(2027, 6, 9, 10, 18, 14)),  # a non-digit, then anything
        ("9th Jun 2027 10:18:14", gmt(2027, 6, 9, 10, 18, 14)),
        ("9 JUNK 2027 10:18:14", gmt(2027, 6, 9, 10, 18, 14)),  # only three letters count
        ("Sat, 01 Jan 69 00:00:00 GMT", gmt(2069, 1, 1)),  # two digits, 0-69: 20xx
        ("Sat, 01 Jan 0069 00:00:00 GMT", gmt(2069, 1, 1)),
        ("Fri, 29 Feb 2028 00:00:00 GMT", gmt(2028, 2, 29)),
        ("31 Dec 9999 23:59:59", gmt(9999, 12, 31, 23, 59, 59)),
    ],
)
def test_expires_dates_that_parse(date: str, expected: int) -> None:
    assert expiry(f"Expires={date}") == expected


@pytest.mark.parametrize(
    "date",
    [
        "",
        "tomorrow",
        "Wed, 09 Jun 2027 GMT",  # no time
        "Wed, Jun 2027 10:18:14 GMT",  # no day
        "Wed, 09 2027 10:18:14 GMT",  # no month
        "Wed, 09 Jun 10:18:14 GMT",  # no year
        "09 Jun 1600 10:18:14",  # before 1601
        "09 Jun 2027 24:00:00",
        "09 Jun 2027 10:60:00",
        "09 Jun 2027 10:18:60",
        "00 Jun 2027 10:18:14",
        "32 Jun 2027 10:18:14",
        "31 Jun 2027 10:18:14",  # a day June does not have
        "29 Feb 2027 10:18:14",
        "123 Jun 2027 10:18:14",  # three digits are no day, and no year when one follows
    ],
)
def test_expires_dates_that_do_not_parse_are_ignored(date: str) -> None:
    assert expiry(f"Expires={date}") is None


@pytest.mark.parametrize(("year", "full"), [("70", 1970), ("99", 1999), ("100", 100)])
def test_short_years_are_completed_and_early_ones_refused(year: str, full: int) -> None:
    expected = None if full < 1601 else gmt(full, 6, 9, 10, 18, 14)
    assert expiry(f"Expires=09 Jun {year} 10:18:14", now=0) == expected


def test_an_unparsable_expires_keeps_an_earlier_valid_one() -> None:
    assert expiry("Expires=09 Jun 2027 10:18:14; Expires=soon") == gmt(2027, 6, 9, 10, 18, 14)


@pytest.mark.parametrize(
    "attributes",
    ["Max-Age=60; Expires=09 Jun 2027 10:18:14", "Expires=09 Jun 2027 10:18:14; Max-Age=60"],
)
def test_max_age_wins_over_expires_in_either_order(attributes: str) -> None:
    assert expiry(attributes) == NOW + 60


@pytest.mark.parametrize("value", ["", "+5", "1.5", "50,399", "-", "5s", "٣"])
def test_a_max_age_that_is_not_an_integer_is_ignored(value: str) -> None:
    assert expiry(f"Max-Age={value}") is None


def test_expiry_is_clamped_to_the_year_9999() -> None:
    assert expiry("Max-Age=" + "9" * 30) == gmt(9999, 12, 31, 23, 59, 59)


@pytest.mark.parametrize(
    "deletion", ["a=; Max-Age=0", "a=x; Max-Age=-1", "a=x; Expires=Thu, 01 Jan 1970 00:00:00 GMT"]
)
def test_an_expiry_in_the_past_deletes_the_cookie(deletion: str) -> None:
    cookies = Cookies()
    store(cookies, "http://example.org/", "a=1", "b=2", now=NOW)
    store(cookies, "http://example.org/", deletion, now=NOW)
    assert sent(cookies, "http://example.org/", now=NOW) == "b=2"
    assert list(cookies) == ["b"]


def test_a_cookie_is_sent_until_it_expires_then_dropped_from_the_jar() -> None:
    cookies = Cookies()
    store(cookies, "http://example.org/", "a=1; Max-Age=60", "b=2", now=NOW)
    assert sent(cookies, "http://example.org/", now=NOW + 59) == "a=1; b=2"
    assert sent(cookies, "http://example.org/", now=NOW + 60) == "b=2"
    assert [cookie.name for cookie in cookies.jar] == ["b"]


def test_session_and_persistent_cookies() -> None:
    cookies = Cookies()
    store(cookies, "http://example.org/", "s=1", "p=1; Max-Age=60", now=NOW)
    assert (jar_cookie(cookies, "s").discard, jar_cookie(cookies, "s").expires) == (True, None)
    assert (jar_cookie(cookies, "p").discard, jar_cookie(cookies, "p").expires) == (False, NOW + 60)


# --- Domain (§5.1.3, §5.2.3, §5.3 steps 4-6, S46) ------------------------------------------


@pytest.mark.case("S46")
def test_without_domain_a_cookie_is_host_only() -> None:
    cookies = Cookies()
    store(cookies, "http://example.org/", "a=1")
    cookie = jar_cookie(cookies, "a")
    assert (cookie.domain, cookie.domain_specified, cookie.domain_initial_dot) == (
        "example.org",
        False,
        False,
    )
    assert sent(cookies, "http://example.org/") == "a=1"
    assert sent(cookies, "http://EXAMPLE.org:8080/") == "a=1"  # ports do not isolate cookies
    assert sent(cookies, "http://www.example.org/") is None
    assert sent(cookies, "http://org/") is None


@pytest.mark.case("S46")
@pytest.mark.parametrize("domain", ["example.org", ".example.org", "EXAMPLE.ORG", "  .Example.Org"])
def test_a_domain_cookie_goes_to_the_domain_and_its_subdomains(domain: str) -> None:
    cookies = Cookies()
    store(cookies, "http://www.example.org/", f"a=1; Domain={domain}")
    assert jar_cookie(cookies, "a").domain == ".example.org"
    for url in ("http://example.org/", "http://www.example.org/", "http://a.b.example.org/"):
        assert sent(cookies, url) == "a=1"
    # Only on a label boundary (CPython CVE-2018-20852): not pythonicexample.org.
    for url in ("http://pythonicexample.org/", "http://example.org.evil/", "http://org/"):
        assert sent(cookies, url) is None


def test_a_cookie_for_the_host_itself_with_a_domain_includes_its_subdomains() -> None:
    cookies = Cookies()
    store(cookies, "http://example.org/", "a=1; Domain=example.org")
    assert sent(cookies, "http://www.example.org/") == "a=1"


@pytest.mark.case("S46")
@pytest.mark.parametrize(
    "domain",
    [
        "www.example.org",  # a subdomain of the host
        "other.org",
        "ample.org",  # a suffix, not on a label boundary
        "example.org.",
        "example.org:80",
        '"example.org"',
        "..example.org",
        ".",  # empty once the dot goes: a host-only cookie, see below
    ],
)
def test_a_domain_the_host_is_not_in_is_refused(domain: str) -> None:
    cookies = Cookies()
    store(cookies, "http://example.org/", f"a=1; Domain={domain}")
    stored = [cookie.domain for cookie in cookies.jar]
    assert stored == (["example.org"] if domain == "." else [])


@pytest.mark.case("S46")
@pytest.mark.parametrize(
    ("url", "domain"),
    [
        ("http://www.example.com/", "com"),
        ("http://www.example.com/", ".com"),
        ("http://example.com./", "com."),  # the trailing-dot trick (curl CVE-2022-27779)
        ("http://www.example.co.uk/", "co.uk"),
        ("http://www.example.co.uk/", "CO.UK"),
        ("http://shop.example.com.au/", "com.au"),
        ("http://a.intranet/", "intranet"),
    ],
)
def test_a_public_suffix_is_refused(url: str, domain: str) -> None:
    cookies = Cookies()
    store(cookies, url, f"a=1; Domain={domain}")
    assert list(cookies.jar) == []


def test_a_registrable_domain_under_a_country_suffix_is_accepted() -> None:
    cookies = Cookies()
    store(cookies, "http://www.example.co.uk/", "a=1; Domain=example.co.uk")
    assert sent(cookies, "http://shop.example.co.uk/") == "a=1"
    assert sent(cookies, "http://other.co.uk/") is None


@pytest.mark.case("S46")
def test_a_host_that_is_a_public_suffix_gets_a_host_only_cookie() -> None:
    cookies = Cookies()
    store(cookies, "http://localhost/", "a=1; Domain=localhost")
    assert jar_cookie(cookies, "a").domain == "localhost"
    assert sent(cookies, "http://localhost/") == "a=1"
    assert sent(cookies, "http://app.localhost/") is None


@pytest.mark.case("S46")
@pytest.mark.parametrize("domain", ["0.0.1", ".0.0.1", "com", "co.uk", "127.0.0.2", "1"])
def test_an_ip_host_gets_no_domain_cookie(domain: str) -> None:
    cookies = Cookies()
    store(cookies, "http://127.0.0.1:8000/", f"a=1; Domain={domain}")
    assert list(cookies.jar) == []


@pytest.mark.case("S46")
@pytest.mark.parametrize(
    ("url", "other"),
    [("http://127.0.0.1/", "http://127.0.0.2/"), ("http://[::1]/", "http://[::2]/")],
)
def test_an_ip_host_cookie_is_host_only(url: str, other: str) -> None:
    cookies = Cookies()
    host = URL(url).host
    store(cookies, url, "a=1", f"b=2; Domain={host}")
    assert jar_cookie(cookies, "b").domain == host
    assert sent(cookies, url) == "a=1; b=2"
    assert sent(cookies, other) is None


def test_an_empty_domain_attribute_is_ignored() -> None:
    cookies = Cookies()
    store(cookies, "http://www.example.org/", "a=1; Domain=example.org; Domain=")
    assert jar_cookie(cookies, "a").domain == ".example.org"


@pytest.mark.case("S46")
def test_host_only_status_survives_a_save_and_a_load(tmp_path: Path) -> None:
    cookies = Cookies()
    store(
        cookies,
        "http://example.org/",
        "host=1; Max-Age=600",
        "dom=1; Max-Age=600; Domain=.example.org",
    )
    saved = MozillaCookieJar(str(tmp_path / "cookies.txt"))
    for cookie in cookies.jar:
        saved.set_cookie(cookie)
    saved.save()
    loaded = MozillaCookieJar(str(tmp_path / "cookies.txt"))
    loaded.load()
    cookies = Cookies(loaded)
    assert sent(cookies, "http://example.org/") == "host=1; dom=1"
    assert sent(cookies, "http://www.example.org/") == "dom=1"


# --- Path (§5.1.4, S48) -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_path", "default"),
    [("/", "/"), ("/a", "/"), ("/a/", "/a"), ("/a/b", "/a"), ("/a/b/c", "/a/b"), ("//", "/")],
)
def test_the_default_path_is_the_directory_of_the_request(request_path: str, default: str) -> None:
    cookies = Cookies()
    store(cookies, f"http://example.org{request_path}?q=/x/y", "a=1", "b=1; Path=relative")
    assert jar_cookie(cookies, "a").path == default
    assert jar_cookie(cookies, "b").path == default


@pytest.mark.case("S48")
@pytest.mark.parametrize(
    ("cookie_path", "request_path", "matches"),
    [
        ("/foo", "/foo", True),
        ("/foo", "/foo/", True),
        ("/foo", "/foo/bar", True),
        ("/foo", "/foobar", False),
        ("/foo", "/", False),
        ("/foo", "/FOO", False),
        ("/foo/", "/foo/bar", True),
        ("/foo/", "/foo", False),
        ("/", "/anything", True),
        ("/f%6Fo", "/foo", False),
    ],
)
def test_path_matching(cookie_path: str, request_path: str, matches: bool) -> None:
    cookies = Cookies()
    store(cookies, "http://example.org/", f"a=1; Path={cookie_path}")
    assert sent(cookies, f"http://example.org{request_path}") == ("a=1" if matches else None)


# --- Secure, prefixes, HttpOnly, SameSite (S47) -------------------------------------------


@pytest.mark.case("S47")
def test_a_secure_cookie_goes_over_https_only_loopback_included() -> None:
    cookies = Cookies()
    store(cookies, "https://127.0.0.1/", "s=1; Secure", "p=1")
    assert sent(cookies, "https://127.0.0.1/") == "s=1; p=1"
    assert sent(cookies, "http://127.0.0.1/") == "p=1"


@pytest.mark.case("S47")
def test_an_http_response_cannot_set_a_secure_cookie() -> None:
    cookies = Cookies()
    store(cookies, "http://example.org/", "s=1; Secure")
    assert list(cookies.jar) == []


@pytest.mark.case("S47")
@pytest.mark.parametrize(
    "line",
    [
        "s=2",
        "s=2; Path=/",
        "s=2; Path=/deeper",  # would be sent before the secure one
        "s=2; Domain=example.org",  # a parent domain
        "s=; Max-Age=0",  # nor delete it
        "s=; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
    ],
)
def test_an_http_response_cannot_overwrite_or_shadow_a_secure_cookie(line: str) -> None:
    cookies = Cookies()
    store(cookies, "https://www.example.org/", "s=1; Secure")
    store(cookies, "http://www.example.org/", line)
    assert sent(cookies, "http://www.example.org/deeper") is None
    assert sent(cookies, "https://www.example.org/") == "s=1"


@pytest.mark.case("S47")
def test_a_secure_cookie_on_a_parent_domain_is_not_shadowed_from_http_either() -> None:
    cookies = Cookies()
    store(cookies, "https://example.org/", "s=1; Secure; Domain=example.org")
    store(cookies, "http://www.example.org/", "s=2")
    assert sent(cookies, "http://www.example.org/") is None


@pytest.mark.parametrize(
    ("line", "url"),
    [
        ("s=2; Path=/other", "http://www.example.org/other"),  # /other does not match /only
        ("other=2", "http://www.example.org/other"),
        ("s=2", "http://sibling.example.org/other"),  # a domain that does not overlap
    ],
)
def test_http_may_set_cookies_that_do_not_overlap_a_secure_one(line: str, url: str) -> None:
    cookies = Cookies()
    store(cookies, "https://www.example.org/", "s=1; Secure; Path=/only")
    store(cookies, url, line)
    assert len(cookies.jar) == 2


def test_https_may_overwrite_a_secure_cookie() -> None:
    cookies = Cookies()
    store(cookies, "https://example.org/", "s=1; Secure")
    store(cookies, "https://example.org/", "s=2")
    assert sent(cookies, "http://example.org/") == "s=2"


@pytest.mark.case("S47")
@pytest.mark.parametrize(
    ("url", "line", "stored"),
    [
        ("https://example.org/", "__Secure-a=1; Secure", True),
        ("https://example.org/", "__secure-a=1; Secure; Domain=example.org; Path=/x", True),
        ("https://example.org/", "__Secure-a=1", False),
        ("http://example.org/", "__Secure-a=1; Secure", False),
        ("https://example.org/", "__Host-a=1; Secure; Path=/", True),
        ("https://example.org/dir/", "__Host-a=1; Secure", False),  # the default path is /dir
        ("https://example.org/", "__Host-a=1; Path=/", False),
        ("https://example.org/", "__HOST-a=1; Path=/", False),
        ("https://example.org/", "__Host-a=1; Secure; Path=/; Domain=example.org", False),
        ("https://example.org/", "__Host-a=1; Secure; Path=/x", False),
        ("http://example.org/", "__Host-a=1; Secure; Path=/", False),
    ],
)
def test_cookie_name_prefixes(url: str, line: str, stored: bool) -> None:
    cookies = Cookies()
    store(cookies, url, line)
    assert len(cookies.jar) == (1 if stored else 0)


def test_http_only_and_same_site_are_kept_and_not_enforced() -> None:
    cookies = Cookies()
    store(cookies, "https://example.org/", "a=1; HttpOnly; SameSite=strict", "b=2; SameSite=bogus")
    a, b = jar_cookie(cookies, "a"), jar_cookie(cookies, "b")
    assert a.has_nonstandard_attr("HttpOnly")
    assert a.get_nonstandard_attr("SameSite") == "Strict"
    assert not b.has_nonstandard_attr("HttpOnly")
    assert not b.has_nonstandard_attr("SameSite")
    assert sent(cookies, "https://other.example/") is None
    assert sent(cookies, "https://example.org/") == "a=1; b=2"


# --- storage: replacement, order, limits ---------------------------------------------------


def test_a_cookie_replaces_the_one_with_the_same_name_domain_and_path() -> None:
    cookies = Cookies()
    store(cookies, "http://example.org/", "a=1", "a=2; Path=/x", "b=1")
    store(cookies, "http://example.org/", "a=3")
    assert sent(cookies, "http://example.org/x") == "a=2; a=3; b=1"


def test_a_domain_cookie_replaces_a_host_only_one_of_the_same_domain() -> None:
    cookies = Cookies()
    store(cookies, "http://example.org/", "a=1", "a=2; Domain=example.org")
    assert [(cookie.domain, cookie.value) for cookie in cookies.jar] == [(".example.org", "2")]


def test_cookies_are_sent_longest_path_first_then_oldest_first() -> None:
    # The http-state ordering case: a replaced cookie keeps its creation time (§5.3 step 11).
    cookies = Cookies()
    store(cookies, "http://www.example.org/app/page", "a=0; Path=/", "b=1; Path=/app")
    store(cookies, "http://www.example.org/", "c=2; Domain=example.org", "d=3; Path=/app/page")
    store(cookies, "http://www.example.org/", "a=4")
    assert sent(cookies, "http://www.example.org/app/page") == "d=3; b=1; a=4; c=2"


@pytest.mark.case("S48")
def test_ten_thousand_set_cookie_headers_leave_a_capped_jar() -> None:
    cookies = Cookies()
    lines = [f"c{i}=value{i}; Path=/; Max-Age=3600" for i in range(10_000)]
    store(cookies, "http://127.0.0.1/", *lines)
    header = sent(cookies, "http://127.0.0.1/")
    assert header is not None
    names = [pair.partition("=")[0] for pair in header.split("; ")]
    assert names == [f"c{i}" for i in range(10_000 - MAX_COOKIES_PER_DOMAIN, 10_000)]
    assert len(header) < 1024


@pytest.mark.case("S48")
def test_the_per_domain_cap_evicts_expired_cookies_first() -> None:
    cookies = Cookies()
    store(cookies, "http://example.org/", "old=1; Max-Age=10", now=NOW)
    lines = [f"c{i}=1" for i in range(MAX_COOKIES_PER_DOMAIN)]
    store(cookies, "http://example.org/", *lines, now=NOW + 20)
    assert len(cookies.jar) == MAX_COOKIES_PER_DOMAIN
    assert "old" not in {cookie.name for cookie in cookies.jar}


@pytest.mark.case("S48")
def test_the_per_domain_cap_counts_host_only_and_domain_cookies_together() -> None:
    cookies = Cookies()
    half = MAX_COOKIES_PER_DOMAIN // 2
    store(cookies, "http://example.org/", *[f"h{i}=1" for i in range(half + 1)])
    store(cookies, "http://example.org/", *[f"d{i}=1; Domain=example.org" for i in range(half)])
    store(cookies, "http://www.example.org/", "w=1")  # another host: its own budget
    names = {cookie.name for cookie in cookies.jar}
    assert len(names) == MAX_COOKIES_PER_DOMAIN + 1
    assert "h0" not in names


@pytest.mark.case("S48")
def test_the_total_cap_evicts_the_oldest_cookies() -> None:
    cookies = Cookies()
    hosts = MAX_COOKIES // MAX_COOKIES_PER_DOMAIN + 1
    for host in range(hosts):
        lines = [f"c{i}=1" for i in range(MAX_COOKIES_PER_DOMAIN)]
        store(cookies, f"http://h{host}.example/", *lines)
    assert len(cookies.jar) == MAX_COOKIES
    assert sent(cookies, "http://h0.example/") is None
    assert sent(cookies, f"http://h{hosts - 1}.example/") is not None


# --- add_cookie_header and the redirect chain (S49) ----------------------------------------


def test_the_cookie_header_is_replaced_when_cookies_match() -> None:
    cookies = Cookies()
    store(cookies, "http://example.org/", "a=1")
    request = Request("GET", "http://example.org/", headers={"Cookie": "stale=1"})
    add_cookie_header(cookies, request)
    assert request.headers.get_list("Cookie") == ["a=1"]


def test_a_cookie_header_is_left_alone_when_nothing_matches() -> None:
    cookies = Cookies()
    store(cookies, "http://example.org/", "a=1")
    for jar in (cookies, Cookies()):
        request = Request("GET", "http://other.example/", headers={"Cookie": "mine=1"})
        add_cookie_header(jar, request)
        assert request.headers.get_list("Cookie") == ["mine=1"]


@pytest.mark.case("S49")
def test_a_cookie_set_on_a_redirect_goes_to_the_next_hop_of_the_same_site_only() -> None:
    cookies = Cookies()
    redirect = Response(302, headers={"Location": "/next", "Set-Cookie": "a=1"})
    redirect.request = Request("GET", "http://127.0.0.1:8000/start")
    extract_cookies(cookies, redirect)
    assert sent(cookies, "http://127.0.0.1:8000/next") == "a=1"
    assert sent(cookies, "http://localhost:8000/next") is None


def test_response_cookies_hold_what_that_response_set() -> None:
    response = store(Cookies(), "http://example.org/", "a=1", "b=2; Domain=example.org")
    cookies = Cookies()
    extract_cookies(cookies, response)
    assert dict(cookies) == {"a": "1", "b": "2"}


def test_threads_sharing_cookies() -> None:
    cookies = Cookies()
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(200):
                store(cookies, f"http://h{i % 7}.example/", f"c{n}-{i}=1")
                sent(cookies, f"http://h{i % 7}.example/")
                len(cookies)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(cookies.jar) == 7 * MAX_COOKIES_PER_DOMAIN


# --- the Cookies mapping --------------------------------------------------------------------


@pytest.mark.parametrize("source", [{"a": "1", "b": "2"}, [("a", "1"), ("b", "2")]])
def test_cookies_from_a_dict_or_pairs_go_to_every_host(source: Any) -> None:
    cookies = Cookies(source)
    assert dict(cookies) == {"a": "1", "b": "2"}
    assert sent(cookies, "http://anywhere.example/deep/path") == "a=1; b=2"


def test_cookies_from_cookies_are_a_copy() -> None:
    original = Cookies({"a": "1"})
    copy = Cookies(original)
    copy["b"] = "2"
    assert dict(original) == {"a": "1"}
    assert dict(copy) == {"a": "1", "b": "2"}


def test_cookies_from_a_jar_share_it() -> None:
    jar = CookieJar()
    cookies = Cookies(jar)
    cookies["a"] = "1"
    assert cookies.jar is jar
    assert [cookie.name for cookie in jar] == ["a"]


def test_set_chooses_where_a_cookie_goes() -> None:
    cookies = Cookies()
    cookies.set("any", "1")
    cookies.set("host", "1", domain="Example.org")
    cookies.set("dom", "1", domain=".example.org", path="/api")
    assert sent(cookies, "http://example.org/api") == "dom=1; any=1; host=1"
    assert sent(cookies, "http://www.example.org/api") == "dom=1; any=1"
    assert sent(cookies, "http://other.example/api") == "any=1"


@pytest.mark.case("S48")
@pytest.mark.parametrize(
    ("name", "value"), [("", "1"), ("a=b", "1"), ("a;", "1"), ("a\n", "1"), ("a", "1; b=2")]
)
def test_set_refuses_what_would_break_the_header(name: str, value: str) -> None:
    with pytest.raises(ValueError, match="cookie"):
        Cookies().set(name, value)


def test_get_by_name_domain_and_path() -> None:
    cookies = Cookies()
    cookies.set("a", "any")
    cookies.set("a", "host", domain="example.org")
    cookies.set("a", "deep", domain="example.org", path="/x")
    cookies.set("b", "")
    assert cookies.get("a", domain="") == "any"
    assert cookies.get("a", domain="example.org", path="/") == "host"
    assert cookies.get("a", path="/x") == "deep"
    assert cookies.get("b") == ""
    assert cookies["b"] == ""
    assert cookies.get("missing") is None
    assert cookies.get("missing", "default") == "default"
    assert cookies.get("a", domain="other.example") is None
    with pytest.raises(KeyError):
        cookies["missing"]


def test_get_raises_cookie_conflict_when_a_name_is_ambiguous() -> None:
    cookies = Cookies()
    cookies.set("a", "1")
    cookies.set("a", "2", domain=".example.org")
    message = r"2 cookies are named 'a' \(\*/, \.example\.org/\): pass domain= and/or path="
    with pytest.raises(CookieConflict, match=message):
        cookies.get("a")
    with pytest.raises(CookieConflict):
        cookies["a"]
    assert "a" in cookies


def test_delete_and_del() -> None:
    cookies = Cookies()
    cookies.set("a", "1")
    cookies.set("a", "2", domain="example.org")
    cookies.set("b", "3", domain="example.org")
    cookies.delete("a", domain="example.org")
    assert cookies.get("a") == "1"
    cookies.delete("missing")
    del cookies["a"]
    assert dict(cookies) == {"b": "3"}
    with pytest.raises(KeyError):
        del cookies["a"]


def test_clear_everything_or_by_domain_or_path() -> None:
    cookies = Cookies()
    cookies.set("a", "1", domain="example.org")
    cookies.set("b", "2", domain="example.org", path="/x")
    cookies.set("c", "3", domain="other.example")
    cookies.clear(domain="example.org", path="/x")
    assert sorted(cookies) == ["a", "c"]
    cookies.clear(domain="example.org")
    assert list(cookies) == ["c"]
    cookies.clear()
    assert not cookies
    assert len(cookies) == 0


def test_the_mapping_view_is_by_name_and_hides_expired_cookies() -> None:
    cookies = Cookies()
    store(cookies, "http://example.org/", "a=1", "a=2; Path=/x", "gone=1; Max-Age=1", now=NOW)
    assert list(cookies) == ["a"]
    assert len(cookies) == 1
    assert "gone" not in cookies
    assert cookies
    assert len(cookies.jar) == 3
    expired_only = Cookies()
    store(expired_only, "http://example.org/", "gone=1; Max-Age=1", now=NOW)
    assert not expired_only


def test_repr() -> None:
    cookies = Cookies()
    cookies.set("a", "1", domain="example.org")
    cookies.set("b", "2")
    assert repr(cookies) == "<Cookies[<Cookie a=1 for example.org />, <Cookie b=2 />]>"
    assert repr(Cookies()) == "<Cookies[]>"


def test_cookies_made_elsewhere() -> None:
    # A jar filled by other tools: a name without a value, and no creation order of ours
    # (such cookies count as the oldest).
    jar = CookieJar()
    cookies = Cookies(jar)
    cookies.set("mine", "1", domain="example.org")
    jar.set_cookie(foreign_cookie("flag", None, "example.org"))
    assert cookies.get("flag") == ""
    assert sent(cookies, "http://example.org/") == "flag=; mine=1"


# --- the one private API of the standard library we rely on ----------------------------------


def test_the_cookiejar_table_has_the_layout_we_read() -> None:
    # `_cookies.py` reads `CookieJar._cookies`, {domain: {path: {name: Cookie}}}, to find a
    # request's cookies without walking the whole jar (walking it costs about 2 µs per
    # cookie, on every request). It is private to `http.cookiejar`, and a dependency that
    # ships with Python cannot be bounded in pyproject.toml: this test pins the layout and the
    # methods that keep it, so that a Python release that changes them fails here, loudly.
    jar = CookieJar()
    cookies = Cookies(jar)
    cookies.set("a", "1", domain=".example.org", path="/p")
    cookies.set("b", "2", domain="example.org")
    table = _table(jar)
    assert table is jar._cookies  # type: ignore[attr-defined]
    a, b = sorted(jar, key=lambda cookie: cookie.name)
    assert table == {".example.org": {"/p": {"a": a}}, "example.org": {"/": {"b": b}}}
    jar.clear(".example.org", "/p", "a")
    assert [
        cookie for paths in table.values() for names in paths.values() for cookie in names.values()
    ] == [b]
    jar.set_cookie(a)
    assert table[".example.org"]["/p"] == {"a": a}
    jar.clear()
    assert _table(jar) == {}
