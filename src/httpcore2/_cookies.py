"""Cookies: a mutable mapping over a `CookieJar`, and the RFC 6265 policy that fills and reads it.

The policy is sans-IO and shared by both worlds: `extract_cookies()` stores the
`Set-Cookie` headers of a response, `cookie_header()` gives the `Cookie` header for a
URL and `add_cookie_header()` writes it into a request. The `Set-Cookie` parsing is
RFC 6265 §5.2 (not `http.cookiejar`'s Netscape-era parser); the results are stored as
`http.cookiejar.Cookie` objects so that the jar can be saved and loaded with the
standard library's tools.

How a cookie is represented in the jar:

- `domain` with a leading dot (`".example.org"`) is a domain cookie, sent to that domain
  and its subdomains; without one (`"example.org"`) it is host-only, sent to that exact
  host; `""` (only from `Cookies.set()` without a domain) is sent to every host. The dot
  is the only marker, so host-only status survives `MozillaCookieJar` / `LWPCookieJar`
  round trips (their "include subdomains" flag is that same dot).
- `HttpOnly` and `SameSite` are kept as non-standard attributes, like the standard
  library does; the creation order (RFC 6265 §5.4 sorts by it) is kept under
  `"httpcore2-created"`.
"""

from __future__ import annotations

import calendar
import datetime
import functools
import itertools
import re
import threading
import time
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from http.cookiejar import Cookie, CookieJar
from typing import TYPE_CHECKING, NamedTuple, Union

from ._exceptions import CookieConflict

if TYPE_CHECKING:
    from ._models import Request, Response
    from ._urls import URL

__all__ = ["CookieTypes", "Cookies", "add_cookie_header", "cookie_header", "extract_cookies"]

CookieTypes = Union["Cookies", CookieJar, Mapping[str, str], Sequence[tuple[str, str]], None]
_Table = dict[str, dict[str, dict[str, Cookie]]]

MAX_ATTRIBUTE_SIZE = 1024  # octets of one attribute value (RFC 6265bis §5.6)

# The last second a four-digit year can express: expiry times are clamped to it.
_LATEST = calendar.timegm((9999, 12, 31, 23, 59, 59))
_CREATED = "httpcore2-created"
# Unique and increasing across the process; starting at the clock keeps cookies created
# by an earlier process (then saved and loaded) older than ours.
_creation_order = itertools.count(time.time_ns())

# Control characters other than HTAB: a Set-Cookie carrying one is ignored (RFC 6265bis §5.7).
_CTL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_FORBIDDEN_IN_NAME = re.compile(r"[\x00-\x1f\x7f;=]")
_FORBIDDEN_IN_VALUE = re.compile(r"[\x00-\x1f\x7f;]")
_WSP = " \t"
_MAX_AGE = re.compile(r"-?[0-9]+")

# RFC 6265 §5.1.1: dates are tokens of non-delimiters; each production below may be
# followed by a non-digit and anything after it.
_DATE_DELIMITERS = re.compile(r"[\x09\x20-\x2f\x3b-\x40\x5b-\x60\x7b-\x7e]+")
_TIME = re.compile(r"([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})(?:[^0-9].*)?", re.DOTALL)
_DAY = re.compile(r"([0-9]{1,2})(?:[^0-9].*)?", re.DOTALL)
_YEAR = re.compile(r"([0-9]{2,4})(?:[^0-9].*)?", re.DOTALL)
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}

# Without the Public Suffix List, a Domain attribute is refused when it is a single label
# (`com`, `localhost`) or looks like a country's generic second level (`co.uk`, `com.au`).
_GENERIC_SECOND_LEVEL = frozenset(
    {"ac", "co", "com", "edu", "go", "gob", "gov", "govt", "ltd", "mil", "ne", "net", "nom"}
    | {"or", "org", "plc", "sch"}
)


class Cookies(MutableMapping[str, str]):
    """The cookies of a client or a response: a mutable mapping of names to values.

    ```python
    >>> cookies = httpcore2.Cookies({"theme": "dark"})
    >>> cookies.set("session", "abc", domain="example.org")
    >>> cookies["session"]
    'abc'
    >>> cookies
    <Cookies[<Cookie theme=dark />, <Cookie session=abc for example.org />]>
    ```

    Built from a dict, a list of pairs, another `Cookies` (copied) or a
    `http.cookiejar.CookieJar` (shared, not copied). The mapping view is by name: when
    several cookies share a name, `get()` needs `domain=` or `path=` to pick one, and
    `jar` holds every cookie with all of its attributes.

    The store is bounded: a `Set-Cookie` whose name and value are larger than
    `max_cookie_size` octets is ignored, and past `max_cookies_per_domain` cookies for one
    domain or `max_cookies` in all, expired cookies go first, then the oldest. The defaults
    are the minimums RFC 6265 §6.1 asks a client to keep, about what browsers keep. Copying
    a `Cookies` copies its cookies, not its bounds.

    ```python
    cookies = httpcore2.Cookies(max_cookies_per_domain=20, max_cookie_size=1024)
    client = httpcore2.Client(cookies=cookies)
    ```
    """

    __slots__ = ("_jar", "_lock", "max_cookie_size", "max_cookies", "max_cookies_per_domain")

    def __init__(
        self,
        cookies: CookieTypes = None,
        *,
        max_cookies_per_domain: int = 50,
        max_cookies: int = 3000,
        max_cookie_size: int = 4096,
    ) -> None:
        for option, bound in (
            ("max_cookies_per_domain", max_cookies_per_domain),
            ("max_cookies", max_cookies),
            ("max_cookie_size", max_cookie_size),
        ):
            if isinstance(bound, bool) or not isinstance(bound, int) or bound < 1:
                raise ValueError(f"Cookies({option}={bound!r}): an integer >= 1")
        self.max_cookies_per_domain = max_cookies_per_domain
        self.max_cookies = max_cookies
        # Octets of a cookie's name and value (RFC 6265bis §5.7).
        self.max_cookie_size = max_cookie_size
        self._lock = threading.RLock()
        if isinstance(cookies, CookieJar):
            self._jar = cookies
            return
        self._jar = CookieJar()
        if isinstance(cookies, Cookies):
            for cookie in cookies._snapshot():
                self._jar.set_cookie(cookie)
        elif isinstance(cookies, Mapping):
            for name, value in cookies.items():
                self.set(name, value)
        elif cookies is not None:
            for name, value in cookies:
                self.set(name, value)

    @property
    def jar(self) -> CookieJar:
        """The underlying `http.cookiejar.CookieJar`."""
        return self._jar

    def set(self, name: str, value: str, domain: str = "", path: str = "/") -> None:
        """Set a cookie, replacing one with the same name, domain and path.

        `domain=""` sends the cookie to every host; `"example.org"` to that host only;
        `".example.org"` to that domain and its subdomains.
        """
        if not name or _FORBIDDEN_IN_NAME.search(name):
            raise ValueError(f"Invalid cookie name {name!r}.")
        if _FORBIDDEN_IN_VALUE.search(value):
            raise ValueError(f"Invalid value for cookie {name!r}: no ';' or control characters.")
        cookie = _make_cookie(name, value, domain.lower(), path, created=next(_creation_order))
        with self._lock:
            self._jar.set_cookie(cookie)

    def get(  # type: ignore[override]
        self,
        name: str,
        default: str | None = None,
        domain: str | None = None,
        path: str | None = None,
    ) -> str | None:
        """The value of the cookie called `name`, or `default`.

        Raises `CookieConflict` when several cookies match: pass `domain` (as stored:
        `"example.org"` host-only, `".example.org"` domain cookie) and/or `path`.
        """
        found = [cookie for cookie in self._live() if _selected(cookie, name, domain, path)]
        if not found:
            return default
        if len(found) > 1:
            where = ", ".join(f"{cookie.domain or '*'}{cookie.path}" for cookie in found)
            raise CookieConflict(
                f"{len(found)} cookies are named {name!r} ({where}): "
                "pass domain= and/or path= to choose one."
            )
        return _value(found[0])

    def delete(self, name: str, domain: str | None = None, path: str | None = None) -> None:
        """Delete every cookie called `name` (within `domain` and `path` when given)."""
        self._remove(name, domain, path)

    def clear(self, domain: str | None = None, path: str | None = None) -> None:
        """Delete every cookie, or those with this exact `domain` and/or `path`."""
        self._remove(None, domain, path)

    def _remove(self, name: str | None, domain: str | None, path: str | None) -> int:
        with self._lock:
            doomed = [cookie for cookie in self._jar if _selected(cookie, name, domain, path)]
            for cookie in doomed:
                _discard(self._jar, cookie)
        return len(doomed)

    def _snapshot(self) -> list[Cookie]:
        with self._lock:
            return list(self._jar)

    def _live(self) -> list[Cookie]:
        now = int(time.time())
        return [cookie for cookie in self._snapshot() if not cookie.is_expired(now)]

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __setitem__(self, name: str, value: str) -> None:
        self.set(name, value)

    def __delitem__(self, name: str) -> None:
        if not self._remove(name, None, None):
            raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        return any(cookie.name == name for cookie in self._live())

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(cookie.name for cookie in self._live()))

    def __len__(self) -> int:
        return len({cookie.name for cookie in self._live()})

    def __bool__(self) -> bool:
        # An empty jar answers at once; otherwise stop at the first live cookie.
        if not _table(self._jar):
            return False
        now = int(time.time())
        with self._lock:
            return any(not cookie.is_expired(now) for cookie in self._jar)

    def __repr__(self) -> str:
        shown = ", ".join(
            f"<Cookie {cookie.name}={_value(cookie)}"
            + (f" for {cookie.domain}" if cookie.domain else "")
            + " />"
            for cookie in self._live()
        )
        return f"<Cookies[{shown}]>"


def add_cookie_header(cookies: Cookies, request: Request, *, now: float | None = None) -> None:
    """Set the request's `Cookie` header from the cookies that match its URL (RFC 6265 §5.4).

    When nothing matches, the request is left untouched. See `cookie_header()`.
    """
    header = cookie_header(cookies, request.url, now=now)
    if header is not None:
        request.headers["Cookie"] = header


def cookie_header(cookies: Cookies, url: URL, *, now: float | None = None) -> bytes | None:
    """The `Cookie` header value for a request to `url`, or None when no cookie matches.

    Matching: the domain (host-only cookies to their exact host), the path (§5.1.4),
    `Secure` cookies only over https (no exemption for loopback), and not expired at
    `now` (default: the current time). Expired cookies found on the way are removed.
    Longer paths come first, then older cookies.
    """
    table = _table(cookies._jar)
    if not table:
        return None
    host = _canonical_host(url)
    path = url.path
    secure = url.scheme == "https"
    moment = int(time.time() if now is None else now)
    matching: list[Cookie] = []
    expired: list[Cookie] = []
    with cookies._lock:
        for domain in _candidate_domains(host):
            # Nested loops rather than `_cookies_in()`: its generator costs more than the
            # lookup for each of the several domains a request asks about.
            for names in table.get(domain, {}).values():
                for cookie in names.values():
                    if cookie.is_expired(moment):
                        expired.append(cookie)
                    elif (secure or not cookie.secure) and _path_matches(path, cookie.path):
                        matching.append(cookie)
        for cookie in expired:
            _discard(cookies._jar, cookie)
    if not matching:
        return None
    if len(matching) > 1:
        matching.sort(key=lambda cookie: (-len(cookie.path), _created(cookie)))
    header = "; ".join(f"{cookie.name}={_value(cookie)}" for cookie in matching)
    return header.encode("utf-8", "surrogateescape")


def extract_cookies(cookies: Cookies, response: Response, *, now: float | None = None) -> None:
    """Store the response's `Set-Cookie` headers (RFC 6265 §5.2 and §5.3).

    The origin is `response.request.url`. Cookies that the rules refuse are ignored
    one by one, never with an error; an expiry in the past deletes the stored cookie.
    Afterwards the jar is cut to `cookies.max_cookies_per_domain` per domain and
    `cookies.max_cookies` in all, expired cookies going first, then the oldest.
    """
    lines: list[bytes] = response.headers.get_list(b"set-cookie")  # type: ignore[assignment]
    if not lines:
        return
    url = response.request.url
    origin = _Origin(
        host=_canonical_host(url),
        default_path=_default_path(url.path),
        secure=url.scheme == "https",
    )
    moment = int(time.time() if now is None else now)
    with cookies._lock:
        jar = cookies._jar
        table = _table(jar)
        touched: set[str] = set()
        for line in lines:
            text = line.decode("utf-8", "surrogateescape")
            parsed = _parse_set_cookie(text, origin, moment, cookies.max_cookie_size)
            if parsed is not None:
                touched.add(_store(jar, table, parsed, origin, moment))
        touched.discard("")
        for domain in touched:
            group = [cookie for key in (domain, "." + domain) for cookie in _cookies_in(table, key)]
            _evict(jar, group, cookies.max_cookies_per_domain, moment)
        stored = sum(len(names) for paths in table.values() for names in paths.values())
        if stored > cookies.max_cookies:
            _evict(jar, list(jar), cookies.max_cookies, moment)


class _Origin(NamedTuple):
    host: str
    default_path: str
    secure: bool


class _SetCookie(NamedTuple):
    name: str
    value: str
    expires: int | None
    domain: str  # the Domain attribute without its leading dot; "" when absent
    path: str
    secure: bool
    http_only: bool
    same_site: str | None


def _parse_set_cookie(line: str, origin: _Origin, now: int, max_size: int) -> _SetCookie | None:
    """RFC 6265 §5.2, plus the hardening of RFC 6265bis (CTLs, sizes)."""
    if _CTL.search(line):
        return None
    pair, _, unparsed = line.partition(";")
    if "=" not in pair:
        return None
    name, _, value = pair.partition("=")
    name = name.strip(_WSP)
    value = value.strip(_WSP)
    if not name or _octets(name) + _octets(value) > max_size:
        return None
    max_age: int | None = None
    expires: int | None = None
    domain = ""
    path = origin.default_path
    secure = http_only = False
    same_site = None
    for av in unparsed.split(";"):
        key, _, argument = av.partition("=")
        key = key.strip(_WSP).lower()
        argument = argument.strip(_WSP)
        if _octets(argument) > MAX_ATTRIBUTE_SIZE:
            continue
        if key == "expires":
            date = _parse_date(argument)
            if date is not None:  # one that does not parse is ignored (RFC 6265 §5.2.1)
                expires = date
        elif key == "max-age" and _MAX_AGE.fullmatch(argument):
            max_age = int(argument)
        elif key == "domain" and argument:
            domain = argument.removeprefix(".").lower()
        elif key == "path":
            path = argument if argument.startswith("/") else origin.default_path
        elif key == "secure":
            secure = True
        elif key == "httponly":
            http_only = True
        elif key == "samesite" and argument.lower() in ("strict", "lax", "none"):
            same_site = argument.capitalize()
    if max_age is not None:
        expires = now + max_age if max_age > 0 else 0
    if expires is not None:
        expires = min(expires, _LATEST)
    return _SetCookie(name, value, expires, domain, path, secure, http_only, same_site)


def _parse_date(text: str) -> int | None:
    """RFC 6265 §5.1.1: a cookie date as seconds since the epoch, or None."""
    clock: tuple[int, int, int] | None = None
    day = month = year = None
    for token in _DATE_DELIMITERS.split(text):
        if clock is None and (match := _TIME.fullmatch(token)):
            clock = (int(match[1]), int(match[2]), int(match[3]))
        elif day is None and (match := _DAY.fullmatch(token)):
            day = int(match[1])
        elif month is None and token[:3].lower() in _MONTHS:
            month = _MONTHS[token[:3].lower()]
        elif year is None and (match := _YEAR.fullmatch(token)):
            year = int(match[1])
    if clock is None or day is None or month is None or year is None:
        return None
    if year < 70:
        year += 2000
    elif year < 100:
        year += 1900
    hour, minute, second = clock
    if year < 1601 or hour > 23 or minute > 59 or second > 59:
        return None
    try:
        datetime.date(year, month, day)
    except ValueError:  # day 0, 31 April, 29 February of a common year...
        return None
    return calendar.timegm((year, month, day, hour, minute, second))


def _store(jar: CookieJar, table: _Table, parsed: _SetCookie, origin: _Origin, now: int) -> str:
    """RFC 6265 §5.3: store one cookie, or delete the one it expires.

    Returns the domain (without a dot) stored under, or "" when nothing was stored.
    """
    domain = _cookie_domain(parsed.domain, origin.host)
    if domain is None or not _allowed(table, parsed, domain, origin.secure):
        return ""
    bare = domain.removeprefix(".")
    # A cookie's identity is its domain, path and name, host-only or not (§5.3 step 11).
    existing = [
        cookie
        for key in (bare, "." + bare)
        if (cookie := table.get(key, {}).get(parsed.path, {}).get(parsed.name)) is not None
    ]
    for cookie in existing:
        _discard(jar, cookie)
    if parsed.expires is not None and parsed.expires <= now:
        return ""
    created = min((_created(cookie) for cookie in existing), default=next(_creation_order))
    cookie = _make_cookie(
        parsed.name,
        parsed.value,
        domain,
        parsed.path,
        created=created,
        expires=parsed.expires,
        secure=parsed.secure,
        http_only=parsed.http_only,
        same_site=parsed.same_site,
    )
    jar.set_cookie(cookie)
    return bare


def _allowed(table: _Table, parsed: _SetCookie, domain: str, secure_origin: bool) -> bool:
    """The Secure rules of RFC 6265bis §5.7: the flag, the name prefixes, no shadowing."""
    name = parsed.name.lower()
    if parsed.secure and not secure_origin:
        return False
    if name.startswith("__secure-") and not parsed.secure:
        return False
    if name.startswith("__host-") and (
        not parsed.secure or domain.startswith(".") or parsed.path != "/"
    ):
        return False
    return secure_origin or not _shadows_secure(table, parsed, domain.removeprefix("."))


def _shadows_secure(table: _Table, parsed: _SetCookie, domain: str) -> bool:
    """Whether a Secure cookie of that name lives where this one would overlap it."""
    for key, paths in table.items():
        other = key.removeprefix(".")
        if not (_domain_matches(domain, other) or _domain_matches(other, domain)):
            continue
        for path, names in paths.items():
            cookie = names.get(parsed.name)
            if cookie is not None and cookie.secure and _path_matches(parsed.path, path):
                return True
    return False


def _cookie_domain(attribute: str, host: str) -> str | None:
    """The domain to store a cookie under (a leading dot for a domain cookie), or None."""
    if not attribute:
        return host
    if _is_ip(host) or _looks_like_public_suffix(attribute):
        # Only the host itself may name itself, and then the cookie is host-only (§5.3 step 5).
        return host if attribute == host else None
    return "." + attribute if _domain_matches(host, attribute) else None


def _evict(jar: CookieJar, cookies: list[Cookie], keep: int, now: int) -> None:
    """Remove the expired ones among `cookies`, then the oldest beyond `keep`."""
    if len(cookies) <= keep:
        return
    live = []
    for cookie in cookies:
        if cookie.is_expired(now):
            _discard(jar, cookie)
        else:
            live.append(cookie)
    live.sort(key=_created)
    for cookie in live[: max(0, len(live) - keep)]:
        _discard(jar, cookie)


def _make_cookie(
    name: str,
    value: str,
    domain: str,
    path: str,
    *,
    created: int,
    expires: int | None = None,
    secure: bool = False,
    http_only: bool = False,
    same_site: str | None = None,
) -> Cookie:
    rest: dict[str, str | None] = {_CREATED: str(created)}
    if http_only:
        rest["HttpOnly"] = None
    if same_site is not None:
        rest["SameSite"] = same_site
    is_domain_cookie = domain.startswith(".")
    return Cookie(
        version=0,
        name=name,
        value=value,
        port=None,
        port_specified=False,
        domain=domain,
        domain_specified=is_domain_cookie,
        domain_initial_dot=is_domain_cookie,
        path=path,
        path_specified=True,
        secure=secure,
        expires=expires,
        discard=expires is None,
        comment=None,
        comment_url=None,
        rest=rest,  # type: ignore[arg-type]
    )


def _canonical_host(url: URL) -> str:
    return url.raw_host.decode("ascii").lower()


def _default_path(path: str) -> str:
    """RFC 6265 §5.1.4: the directory of the request path."""
    if not path.startswith("/") or path.count("/") == 1:
        return "/"
    return path[: path.rindex("/")]


def _domain_matches(host: str, domain: str) -> bool:
    """RFC 6265 §5.1.3: `host` is `domain` or a name under it (on a label boundary)."""
    return host == domain or (host.endswith("." + domain) and not _is_ip(host))


def _path_matches(request_path: str, cookie_path: str) -> bool:
    """RFC 6265 §5.1.4: `/foo` matches `/foo`, `/foo/` and `/foo/bar`, not `/foobar`."""
    return request_path.startswith(cookie_path) and (
        len(request_path) == len(cookie_path)
        or cookie_path.endswith("/")
        or request_path[len(cookie_path)] == "/"
    )


@functools.lru_cache(maxsize=256)
def _candidate_domains(host: str) -> tuple[str, ...]:
    """The jar domains whose cookies are sent to `host`: every host, the host itself,
    the domain cookies of the host and of each parent domain (RFC 6265 §5.1.3). Cached:
    asked for every request that has cookies to choose from."""
    domains = ["", host, "." + host]
    if not _is_ip(host):
        labels = host.split(".")
        domains += ["." + ".".join(labels[i:]) for i in range(1, len(labels))]
    return tuple(domains)


def _table(jar: CookieJar) -> _Table:
    # A CookieJar keeps {domain: {path: {name: Cookie}}}: reading it lets a request look
    # at the domains it may receive cookies from instead of walking every cookie (which
    # costs about 2 µs per cookie). The attribute is private to the standard library, so
    # test_cookies.py pins its layout: a Python that changes it fails there. (Annotated
    # rather than passed to `cast()`, a call of its own: this runs for every request.)
    table: _Table = jar._cookies  # type: ignore[attr-defined]
    return table


def _cookies_in(table: _Table, domain: str) -> Iterator[Cookie]:
    for names in table.get(domain, {}).values():
        yield from names.values()


def _is_ip(host: str) -> bool:
    # IPv6 hosts hold a colon; a name whose last label is numeric is an IPv4 address to
    # a URL parser (WHATWG "ends in a number"), so it never gets domain cookies either.
    return ":" in host or host.rstrip(".").rpartition(".")[2].isdigit()


def _looks_like_public_suffix(domain: str) -> bool:
    labels = domain.rstrip(".").split(".")
    if len(labels) == 1:
        return True
    return len(labels) == 2 and len(labels[1]) == 2 and labels[0] in _GENERIC_SECOND_LEVEL


def _selected(cookie: Cookie, name: str | None, domain: str | None, path: str | None) -> bool:
    return (
        (name is None or cookie.name == name)
        and (domain is None or cookie.domain == domain)
        and (path is None or cookie.path == path)
    )


def _created(cookie: Cookie) -> int:
    # Cookies that did not come through us (a loaded jar) count as the oldest.
    return int(cookie.get_nonstandard_attr(_CREATED, "0"))


def _value(cookie: Cookie) -> str:
    # The standard library allows a name without a value (Netscape files).
    return "" if cookie.value is None else cookie.value


def _discard(jar: CookieJar, cookie: Cookie) -> None:
    jar.clear(cookie.domain, cookie.path, cookie.name)


def _octets(text: str) -> int:
    return len(text.encode("utf-8", "surrogateescape"))
