"""URL parsing and normalisation: `URL`, `QueryParams`, `Origin` and `RawURL`.

One parser serves every part of the library (connect target, `Host`, SNI, proxies,
cookies, the pool key), so they can never disagree about what a URL means. It follows
RFC 3986, with the WHATWG URL Standard's choices where RFC 3986 leaves room (percent-encode
sets, IPv4 shorthand, dot segments written as `%2e`), and it is stricter than WHATWG where
leniency lets two parsers read one URL two ways: control characters, backslashes and
missing `//` are errors, not repaired. `docs/urls.md` lists every deviation.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import NamedTuple, TypeAlias
from urllib.parse import unquote, unquote_plus, unquote_to_bytes

import idna

from ._exceptions import InvalidURL

__all__ = ["URL", "Origin", "PrimitiveData", "QueryParamTypes", "QueryParams", "RawURL"]

# The WHATWG special schemes that have a host: they need one, and a path of at least `/`.
_DEFAULT_PORTS = {"ftp": 21, "http": 80, "https": 443, "ws": 80, "wss": 443}
_SSL_SCHEMES = frozenset({"https", "wss"})

# RFC 3986 Appendix B: splitting never fails; each part is validated afterwards.
_URL_PARTS = re.compile(
    r"(?:([A-Za-z][A-Za-z0-9+.\-]*):)?(?://([^/?#]*))?([^?#]*)(?:\?([^#]*))?(?:#([\s\S]*))?"
)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")
_SCHEME_PREFIX = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_CONTROL = re.compile(r"[\x00-\x1f]")


_EncodeSet = tuple[re.Pattern[str], re.Pattern[str]]


def _encode_set(also_encode: str) -> _EncodeSet:
    """Patterns for one URL component: text that needs no work, and runs to percent-encode.

    Everything outside printable ASCII is encoded, plus `also_encode`, plus a `%` that
    does not start a valid `%XX` escape; valid escapes are kept exactly as given.
    """
    safe = re.escape(
        "".join(c for c in map(chr, range(0x21, 0x7F)) if c not in also_encode and c != "%")
    )
    return re.compile(f"[{safe}]*"), re.compile(f"(?:[^{safe}%]|%(?![0-9A-Fa-f]{{2}}))+")


# The WHATWG percent-encode sets: the bytes browsers send. (A `\` before the query is
# rejected before encoding, since WHATWG would read it as `/`.)
_FRAGMENT_SET = _encode_set('"<>`')
_QUERY_SET = _encode_set("\"#<>'")
_PATH_SET = _encode_set('"#<>?`{}')
_USERINFO_SET = _encode_set('"#<>?`{}/:;=@[\\]^|')
# application/x-www-form-urlencoded: the space becomes `+` afterwards.
_FORM_UNSAFE = re.compile(r"[^A-Za-z0-9*\-._ ]+")

_DOT_SEGMENT = re.compile(r"(?:^|/)(?:\.|%2e){1,2}(?:/|$)", re.IGNORECASE)
_SINGLE_DOTS = frozenset({".", "%2e"})
_DOUBLE_DOTS = frozenset({"..", ".%2e", "%2e.", "%2e%2e"})

_DOTTED_QUAD = re.compile(
    r"(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}"
    r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
)
# A host name that needs no further work: lower-case LDH (and `_`) labels, no A-label
# to validate, and a last label that is not a number (that would make it IPv4).
_PLAIN_NAME = re.compile(
    r"(?!(?:.*\.)?xn--)(?:[a-z0-9_-]{1,63}\.)*(?![0-9]+\.?$|0x[0-9a-f]*\.?$)[a-z0-9_-]{1,63}\.?"
)
_ASCII_LABEL = re.compile(r"[a-z0-9_-]{1,63}")
_IPV4_NUMBER = re.compile(r"[0-9]+|0x[0-9a-f]*")
_IPV4_PART = re.compile(r"0x[0-9a-f]*|0[0-7]*|[1-9][0-9]*")
_LABEL_DOTS = re.compile("[.\u3002\uff0e\uff61]")
_ZONE_ID = re.compile(r"[A-Za-z0-9._~\-]+")
_MAX_LABEL = 63
_MAX_NAME = 253


def _percent_encode(text: str) -> str:
    try:
        data = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise InvalidURL("Invalid URL: contains a lone surrogate code point") from None
    return "%" + data.hex("%").upper()


def _encode_url_run(match: re.Match[str]) -> str:
    run = match.group()
    if _CONTROL.search(run):
        raise InvalidURL("Invalid URL: contains a control character (CR, LF, NUL, tab, ...)")
    return _percent_encode(run)


def _encode_data_run(match: re.Match[str]) -> str:
    return _percent_encode(match.group())


def _quote(text: str, encode_set: _EncodeSet) -> str:
    """Normalise the percent-encoding of one component, in linear time."""
    plain, unsafe = encode_set
    if plain.fullmatch(text):
        return text
    return unsafe.sub(_encode_url_run, text)


def _form_encode(text: str) -> str:
    return _FORM_UNSAFE.sub(_encode_data_run, text).replace(" ", "+")


def _normalise_userinfo(userinfo: str) -> str:
    username, _, password = userinfo.partition(":")
    username = _quote(username, _USERINFO_SET)
    if password:
        return f"{username}:{_quote(password, _USERINFO_SET)}"
    return username


def _normalise_path(path: str) -> str:
    if "\\" in path:
        raise InvalidURL("Invalid URL: backslash in the path")
    return _quote(path, _PATH_SET)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4 on a path starting with `/`; `%2e` counts as `.` (as in WHATWG)."""
    if ("/." not in path and "/%2" not in path) or _DOT_SEGMENT.search(path) is None:
        return path
    output: list[str] = []
    segments = path.split("/")[1:]
    for segment in segments:
        lowered = segment.lower()
        if lowered in _DOUBLE_DOTS:
            if output:
                output.pop()
        elif lowered not in _SINGLE_DOTS:
            output.append(segment)
    if segments[-1].lower() in _SINGLE_DOTS or segments[-1].lower() in _DOUBLE_DOTS:
        output.append("")
    return "/" + "/".join(output)


def _parse_port(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        # Not echoed: in `http://user:password/` the password is where a port would be.
        raise InvalidURL("Invalid URL: the port is not a number (a port is 0 to 65535)")
    if len(text.lstrip("0")) > 5 or int(text) > 65535:
        raise InvalidURL(f"Invalid URL: port {text[:12]!r} is out of range: 0 to 65535")
    return int(text)


def _check_port(port: int) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise InvalidURL(f"Invalid URL: port {port!r} is not a number from 0 to 65535")
    return port


def _parse_authority(authority: str) -> tuple[str, str, int | None]:
    """Split and normalise `userinfo@host:port`; the last `@` ends the userinfo."""
    if "\\" in authority:
        raise InvalidURL("Invalid URL: backslash in the authority")
    userinfo, at, hostport = authority.rpartition("@")
    if hostport.startswith("["):
        end = hostport.find("]") + 1
        if not end:
            raise InvalidURL("Invalid URL: IPv6 address without a closing ']'")
        host, port_text = hostport[:end], hostport[end:]
        if port_text:
            if port_text[0] != ":":
                raise InvalidURL("Invalid URL: unexpected character after the IPv6 address")
            port_text = port_text[1:]
    else:
        host, _, port_text = hostport.partition(":")
    port = _parse_port(port_text) if port_text else None
    return (_normalise_userinfo(userinfo) if at else ""), _normalise_host(host), port


# Hosts repeat from request to request; failures raise and are not cached.
@functools.lru_cache(maxsize=512)
def _normalise_host(host: str) -> str:
    """The ASCII form of a host: an A-label name, a dotted IPv4 or a bare IPv6 address.

    A name stays lower-case and keeps a trailing dot; an IPv6 zone id follows a `%`.
    """
    if host.isascii():
        lowered = host.lower()
        if _DOTTED_QUAD.fullmatch(lowered) or (
            len(lowered) <= _MAX_NAME and _PLAIN_NAME.fullmatch(lowered)
        ):
            return lowered
    return _normalise_host_slow(host)


def _normalise_host_slow(host: str) -> str:
    if not host:
        return ""
    if host.startswith("["):
        if not host.endswith("]"):
            raise InvalidURL("Invalid URL: IPv6 address without a closing ']'")
        return _normalise_ipv6(host[1:-1])
    if "%" in host:
        try:
            host = unquote_to_bytes(host).decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidURL("Invalid URL: the host is not valid percent-encoded UTF-8") from None
    # Reject names over the DNS limits before any IDNA work (S44). UTS-46 mapping could
    # only shorten one by dropping ignored code points, which no real name relies on.
    labels = _LABEL_DOTS.split(host[:-1] if _LABEL_DOTS.fullmatch(host[-1]) else host)
    if len(host) > _MAX_NAME + 1 or max(map(len, labels)) > _MAX_LABEL:
        raise InvalidURL("Invalid URL: the host name is too long")
    if host.isascii():
        host = host.lower()
    else:
        try:
            host = idna.uts46_remap(host, std3_rules=False)
        except (idna.IDNAError, UnicodeError):
            raise InvalidURL("Invalid URL: the host is not a valid domain name (IDNA)") from None
    trailing_dot = host.endswith(".")
    labels = (host[:-1] if trailing_dot else host).split(".")
    if _IPV4_NUMBER.fullmatch(labels[-1]):
        return _parse_ipv4(labels)
    name = ".".join([_to_alabel(label) for label in labels])
    if len(name) > _MAX_NAME:
        raise InvalidURL("Invalid URL: the host name is longer than 253 characters")
    return name + "." if trailing_dot else name


def _to_alabel(label: str) -> str:
    if not label.isascii():
        try:
            return idna.alabel(label).decode("ascii")
        except (idna.IDNAError, UnicodeError):
            raise InvalidURL("Invalid URL: the host is not a valid domain name (IDNA)") from None
    if not _ASCII_LABEL.fullmatch(label):
        # Label lengths were checked before any of this work (see _normalise_host).
        if not label:
            raise InvalidURL("Invalid URL: empty label in the host")
        raise InvalidURL(f"Invalid URL: invalid character in the host label {label!r}")
    if label.startswith("xn--"):
        _to_ulabel(label)
    return label


def _to_ulabel(label: str) -> str:
    try:
        return idna.ulabel(label)
    except (idna.IDNAError, UnicodeError):
        raise InvalidURL("Invalid URL: the host is not a valid domain name (IDNA)") from None


def _parse_ipv4(parts: list[str]) -> str:
    """The WHATWG IPv4 parser, so `0x7f.1` means 127.0.0.1 here as in browsers and libc."""
    if len(parts) > 4:
        raise InvalidURL("Invalid URL: invalid IPv4 address")
    numbers = []
    for part in parts:
        if not _IPV4_PART.fullmatch(part):
            raise InvalidURL("Invalid URL: invalid IPv4 address")
        if part.startswith("0x"):
            digits, base, max_digits = part[2:].lstrip("0"), 16, 8
        else:
            digits, base, max_digits = part.lstrip("0"), 8 if part.startswith("0") else 10, 11
        if len(digits) > max_digits:
            raise InvalidURL("Invalid URL: invalid IPv4 address")
        numbers.append(int(digits, base) if digits else 0)
    last = numbers.pop()
    if any(number > 255 for number in numbers) or last >= 256 ** (4 - len(numbers)):
        raise InvalidURL("Invalid URL: invalid IPv4 address")
    value = last + sum(number << (24 - 8 * index) for index, number in enumerate(numbers))
    return ".".join(str((value >> shift) & 0xFF) for shift in (24, 16, 8, 0))


def _normalise_ipv6(text: str) -> str:
    """`fe80::1%25eth0` (RFC 6874) or `fe80::1%eth0` -> `fe80::1%eth0`; zone case is kept."""
    address, percent, zone = text.partition("%")
    if percent:
        if zone.startswith("25"):
            zone = zone[2:]
        if not _ZONE_ID.fullmatch(zone):
            raise InvalidURL("Invalid URL: invalid IPv6 zone id")
    try:
        value = int(ipaddress.IPv6Address(address))
    except ValueError:
        raise InvalidURL("Invalid URL: invalid IPv6 address") from None
    return _format_ipv6(value) + (f"%{zone}" if percent else "")


def _format_ipv6(value: int) -> str:
    """RFC 5952 text: lower-case hex, the first longest run of 2+ zero groups as `::`."""
    groups = [(value >> shift) & 0xFFFF for shift in range(112, -16, -16)]
    best_start, best_length, start = 0, 1, 0
    for index in range(9):
        if index < 8 and groups[index] == 0:
            continue
        if index - start > best_length:
            best_start, best_length = start, index - start
        start = index + 1
    text = [f"{group:x}" for group in groups]
    if best_length == 1:
        return ":".join(text)
    return ":".join(text[:best_start]) + "::" + ":".join(text[best_start + best_length :])


def _host_argument(host: str) -> str:
    """Normalise a host given on its own, where an IPv6 address may come without brackets."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return _normalise_host(host)


def _host_in_authority(host: str) -> str:
    if ":" in host:
        return "[" + host.replace("%", "%25", 1) + "]"
    return host


class RawURL(NamedTuple):
    """What a transport needs to send a request, as ASCII bytes.

    `host` is the A-label (an IPv6 address without brackets, zone id kept, for connecting),
    `port` the effective port, `target` the path and query (never the fragment), and
    `host_header` the value of the `Host` header (no userinfo, no zone id, `:port` only
    when it is not the scheme's default).

    ```python
    >>> httpcore2.URL("https://user:pw@[fe80::1%25eth0]:8443/a?b#c").raw
    RawURL(scheme=b'https', host=b'fe80::1%eth0', port=8443, target=b'/a?b',
           host_header=b'[fe80::1]:8443')
    ```
    """

    scheme: bytes
    host: bytes
    port: int
    target: bytes
    host_header: bytes


class URL:
    """A parsed and normalised URL.

    Scheme and host are lower-cased, the default port is dropped, percent-encoding is
    normalised, dot segments are removed, and host names are IDNA-encoded (UTS-46).
    Bad input raises `InvalidURL` with the reason (never with the password).

    ```python
    >>> url = httpcore2.URL("HTTPS://Bücher.example:443/a/../b?q=1", params={"page": 2})
    >>> url
    URL('https://xn--bcher-kva.example/b?q=1&page=2')
    >>> url.host, url.port, url.full_path
    ('bücher.example', 443, '/b?q=1&page=2')
    >>> url.join("../c#top")
    URL('https://xn--bcher-kva.example/c#top')
    ```
    """

    __slots__ = (
        "_fragment",
        "_host",
        "_origin",
        "_path",
        "_port",
        "_query",
        "_raw",
        "_scheme",
        "_str",
        "_userinfo",
    )

    _scheme: str
    _userinfo: str
    _host: str | None
    _port: int | None
    _path: str
    _query: str | None
    _fragment: str | None
    _str: str | None
    _raw: RawURL | None
    _origin: Origin | None

    def __init__(
        self,
        url: str | bytes | URL,
        *,
        allow_relative: bool = False,
        params: QueryParamTypes | None = None,
    ) -> None:
        if isinstance(url, URL):
            scheme, userinfo, host = url._scheme, url._userinfo, url._host
            port, path, query, fragment = url._port, url._path, url._query, url._fragment
        else:
            if isinstance(url, bytes):
                url = url.decode("utf-8", "surrogateescape")
            elif not isinstance(url, str):
                raise TypeError(f"URL expects str, bytes or URL, not {type(url).__name__}")
            if url and (url[0] <= " " or url[-1] <= " "):
                raise InvalidURL("Invalid URL: leading or trailing whitespace or control character")
            match = _URL_PARTS.fullmatch(url)
            assert match is not None  # every part of the pattern is optional
            scheme_text, authority, path, query, fragment = match.groups()
            scheme = scheme_text.lower() if scheme_text else ""
            if authority is None:
                userinfo, host, port = "", None, None
            else:
                userinfo, host, port = _parse_authority(authority)
            path = _normalise_path(path)
            if query is not None:
                query = _quote(query, _QUERY_SET)
            if fragment is not None:
                fragment = _quote(fragment, _FRAGMENT_SET)
        if params is not None:
            query = _merge_params(query, QueryParams(params))
        self._set(scheme, userinfo, host, port, path, query, fragment, allow_relative)

    def _set(
        self,
        scheme: str,
        userinfo: str,
        host: str | None,
        port: int | None,
        path: str,
        query: str | None,
        fragment: str | None,
        allow_relative: bool,
    ) -> None:
        default_port = _DEFAULT_PORTS.get(scheme)
        if scheme:
            if default_port is not None:
                if not host:
                    raise InvalidURL(f"Invalid URL: no host (required in {scheme}:// URLs)")
                if not path:
                    path = "/"
            if path[:1] == "/":
                path = _remove_dot_segments(path)
        elif not allow_relative:
            raise InvalidURL(
                "Invalid URL: no scheme such as 'https://' (relative URLs need allow_relative=True)"
            )
        if host is not None and path[:1] not in ("", "/"):
            raise InvalidURL("Invalid URL: a path after a host must start with '/'")
        self._scheme = scheme
        self._userinfo = userinfo
        self._host = host
        self._port = None if port == default_port else port
        self._path = path
        self._query = query
        self._fragment = fragment
        self._str = None
        self._raw = None
        self._origin = None

    @classmethod
    def _build(
        cls,
        scheme: str,
        userinfo: str,
        host: str | None,
        port: int | None,
        path: str,
        query: str | None,
        fragment: str | None,
    ) -> URL:
        url = object.__new__(cls)
        url._set(scheme, userinfo, host, port, path, query, fragment, True)
        return url

    @property
    def scheme(self) -> str:
        """The lower-case scheme, `""` for a relative URL."""
        return self._scheme

    @property
    def userinfo(self) -> str:
        """`user:password` as it appears in the URL (percent-encoded), `""` if none."""
        return self._userinfo

    @property
    def username(self) -> str:
        """The percent-decoded user name."""
        return unquote(self._userinfo.partition(":")[0])

    @property
    def password(self) -> str:
        """The percent-decoded password."""
        return unquote(self._userinfo.partition(":")[2])

    @property
    def host(self) -> str:
        """The host in Unicode (`"中国.icom.museum"`); an IPv6 address without brackets."""
        host = self._host or ""
        if "xn--" in host and ":" not in host:
            return ".".join([_to_ulabel(label) for label in host.split(".")])
        return host

    @property
    def raw_host(self) -> bytes:
        """The host as ASCII bytes: A-labels, IPv6 without brackets."""
        return (self._host or "").encode("ascii")

    @property
    def port(self) -> int | None:
        """The explicit port, else the scheme's default (None when the scheme has none)."""
        port = self._port
        return _DEFAULT_PORTS.get(self._scheme) if port is None else port

    @property
    def authority(self) -> str:
        """`userinfo@host:port` as in the URL (port only when not the default)."""
        return self._authority(self._userinfo)

    def _authority(self, userinfo: str) -> str:
        if self._host is None:
            return ""
        authority = _host_in_authority(self._host)
        if userinfo:
            authority = f"{userinfo}@{authority}"
        if self._port is not None:
            authority = f"{authority}:{self._port}"
        return authority

    @property
    def path(self) -> str:
        """The percent-encoded path; `/` for an http(s) URL without one."""
        return self._path

    @property
    def query(self) -> str:
        """The percent-encoded query, without the `?`."""
        return self._query or ""

    @property
    def params(self) -> QueryParams:
        """The query as a read-only multi-dict."""
        return QueryParams(self._query or "")

    @property
    def full_path(self) -> str:
        """The path and `?query`: the request target of an origin-form request."""
        if self._query is None:
            return self._path
        return f"{self._path}?{self._query}"

    @property
    def fragment(self) -> str:
        """The percent-encoded fragment, without the `#`."""
        return self._fragment or ""

    @property
    def is_ssl(self) -> bool:
        """True for `https` and `wss`."""
        return self._scheme in _SSL_SCHEMES

    @property
    def is_absolute_url(self) -> bool:
        """True when the URL has a scheme."""
        return bool(self._scheme)

    @property
    def is_relative_url(self) -> bool:
        """True when the URL has no scheme."""
        return not self._scheme

    @property
    def origin(self) -> Origin:
        """The (scheme, host, port) triple the connection pool keys on."""
        origin = self._origin
        if origin is None:
            origin = self._origin = Origin(self)
        return origin

    @property
    def raw(self) -> RawURL:
        """Scheme, host, port, request target and `Host` header value, as bytes."""
        raw = self._raw
        if raw is None:
            host, port = self._host, self.port
            if not self._scheme or not host:
                raise InvalidURL("Invalid URL: a request needs an absolute URL with a host")
            if port is None:
                raise InvalidURL(f"Invalid URL: no port given and {self._scheme!r} has no default")
            header = f"[{host.partition('%')[0]}]" if ":" in host else host
            if self._port is not None:
                header = f"{header}:{self._port}"
            target = self._path if self._query is None else f"{self._path}?{self._query}"
            raw = self._raw = RawURL(
                self._scheme.encode("ascii"),
                host.encode("ascii"),
                port,
                (target or "/").encode("ascii"),
                header.encode("ascii"),
            )
        return raw

    def copy_with(
        self,
        *,
        scheme: str | None = None,
        authority: str | None = None,
        userinfo: str | None = None,
        host: str | None = None,
        port: int | None = None,
        path: str | None = None,
        query: str | None = None,
        fragment: str | None = None,
        params: QueryParamTypes | None = None,
    ) -> URL:
        """A copy with the given components replaced, each validated and normalised.

        Each value is data for its component: a `?` in `path` is encoded, not a query.
        An empty `query` or `fragment` removes it; `params` replaces the query. `None`
        keeps a component; to drop an explicit port, pass the scheme's default port.

        ```python
        >>> httpcore2.URL("http://example.org/a").copy_with(scheme="https", path="/b c")
        URL('https://example.org/b%20c')
        ```
        """
        new_scheme, new_userinfo, new_host = self._scheme, self._userinfo, self._host
        new_port, new_path, new_query = self._port, self._path, self._query
        new_fragment = self._fragment
        if scheme is not None:
            if not _SCHEME.fullmatch(scheme):
                raise InvalidURL("Invalid URL: invalid scheme")
            new_scheme = scheme.lower()
        if authority is not None:
            new_userinfo, new_host, new_port = _parse_authority(authority)
        if userinfo is not None:
            new_userinfo = _normalise_userinfo(userinfo)
        if host is not None:
            new_host = _host_argument(host)
        if port is not None:
            new_port = _check_port(port)
        if (new_userinfo or new_port is not None) and new_host is None:
            raise InvalidURL("Invalid URL: userinfo or port without a host")
        if path is not None:
            new_path = _normalise_path(path)
        if query is not None and params is not None:
            raise TypeError("copy_with() takes query= or params=, not both")
        if query is not None:
            new_query = _quote(query, _QUERY_SET) or None
        if params is not None:
            new_query = str(QueryParams(params)) or None
        if fragment is not None:
            new_fragment = _quote(fragment, _FRAGMENT_SET) or None
        return self._build(
            new_scheme, new_userinfo, new_host, new_port, new_path, new_query, new_fragment
        )

    def resolve_with(self, url: URL | str) -> URL:
        """Resolve a reference against this URL (RFC 3986 §5.2).

        As RFC 3986 allows for backward compatibility, and as browsers do, `http:g`
        against an `http` base is read as the relative reference `g`.

        ```python
        >>> httpcore2.URL("http://a/b/c/d;p?q").resolve_with("../g?y#s")
        URL('http://a/b/g?y#s')
        ```
        """
        if isinstance(url, str):
            match = _SCHEME_PREFIX.match(url)
            if (
                match is not None
                and self._scheme in _DEFAULT_PORTS
                and match.group(1).lower() == self._scheme
                and not url.startswith("//", match.end())
            ):
                url = url[match.end() :]
            url = URL(url, allow_relative=True)
        if url._scheme:
            return url
        host: str | None
        if url._host is not None:
            userinfo, host, port = url._userinfo, url._host, url._port
            path, query = url._path, url._query
        else:
            userinfo, host, port = self._userinfo, self._host, self._port
            path, query = url._path, url._query
            if not path:
                path = self._path
                if query is None:
                    query = self._query
            elif path[0] != "/":
                if self._host is not None and not self._path:
                    path = f"/{path}"
                else:
                    path = self._path[: self._path.rfind("/") + 1] + path
        return self._build(self._scheme, userinfo, host, port, path, query, url._fragment)

    join = resolve_with

    def _serialise(self, userinfo: str) -> str:
        parts = [f"{self._scheme}:" if self._scheme else ""]
        if self._host is not None:
            parts.append("//" + self._authority(userinfo))
        parts.append(self._path)
        if self._query is not None:
            parts.append(f"?{self._query}")
        if self._fragment is not None:
            parts.append(f"#{self._fragment}")
        return "".join(parts)

    def __str__(self) -> str:
        text = self._str
        if text is None:
            text = self._str = self._serialise(self._userinfo)
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._masked()!r})"

    def _masked(self) -> str:
        # `str(self)` with the password shown as `[secure]`: the form every message, repr
        # and log line shows.
        userinfo = self._userinfo
        if ":" not in userinfo:
            return str(self)
        return self._serialise(userinfo.partition(":")[0] + ":[secure]")

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            try:
                other = URL(other, allow_relative=True)
            except InvalidURL:
                return False
        if isinstance(other, URL):
            return str(self) == str(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(str(self))


class Origin:
    """The scheme, host and port of a URL: what connections are pooled by.

    The host is compared in its A-label form, so equivalent spellings are one origin.

    ```python
    >>> httpcore2.Origin("https://example.org") == httpcore2.Origin("HTTPS://EXAMPLE.ORG:443")
    True
    >>> httpcore2.Origin("https", "bücher。example")
    Origin(scheme='https', host='xn--bcher-kva.example', port=443)
    ```
    """

    __slots__ = ("_host", "_port", "_scheme")

    def __init__(
        self, url_or_scheme: str | URL, host: str | None = None, port: int | None = None
    ) -> None:
        if host is None:
            url = url_or_scheme if isinstance(url_or_scheme, URL) else URL(url_or_scheme)
            scheme, ascii_host, port = url._scheme, url._host, url.port
        else:
            if not isinstance(url_or_scheme, str) or not _SCHEME.fullmatch(url_or_scheme):
                raise InvalidURL("Invalid origin: invalid scheme")
            scheme, ascii_host = url_or_scheme.lower(), _host_argument(host)
            port = _DEFAULT_PORTS.get(scheme) if port is None else _check_port(port)
        if not scheme or not ascii_host:
            raise InvalidURL("Invalid origin: it needs a scheme and a host")
        if port is None:
            raise InvalidURL(f"Invalid origin: no port given and {scheme!r} has no default")
        self._scheme = scheme
        self._host = ascii_host
        self._port = port

    @property
    def scheme(self) -> str:
        """The lower-case scheme."""
        return self._scheme

    @property
    def host(self) -> str:
        """The host's ASCII form: A-labels; IPv6 without brackets, zone id kept."""
        return self._host

    @property
    def port(self) -> int:
        """The effective port."""
        return self._port

    @property
    def is_ssl(self) -> bool:
        """True for `https` and `wss`."""
        return self._scheme in _SSL_SCHEMES

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Origin):
            return NotImplemented
        return (self._scheme, self._host, self._port) == (other._scheme, other._host, other._port)

    def __hash__(self) -> int:
        return hash((self._scheme, self._host, self._port))

    def __str__(self) -> str:
        """The serialised origin, as in an `Origin` header: `https://example.org`."""
        text = f"{self._scheme}://{_host_in_authority(self._host)}"
        if self._port != _DEFAULT_PORTS.get(self._scheme):
            text = f"{text}:{self._port}"
        return text

    def __repr__(self) -> str:
        return f"Origin(scheme={self._scheme!r}, host={self._host!r}, port={self._port!r})"


PrimitiveData: TypeAlias = str | int | float | bool | None


class QueryParams(Mapping[str, str]):
    """An immutable, ordered multi-dict of query parameters.

    Built from a query string, a mapping (a value may be a sequence, for repeated keys),
    a list of pairs, or another `QueryParams`. `True`, `False` and `None` become `true`,
    `false` and an empty value; `str()` gives the `application/x-www-form-urlencoded` form.

    ```python
    >>> params = httpcore2.QueryParams({"q": "a b", "tag": ["x", "y"], "n": 1})
    >>> str(params)
    'q=a+b&tag=x&tag=y&n=1'
    >>> params["tag"], params.get_list("tag")
    ('x', ['x', 'y'])
    ```
    """

    __slots__ = ("_dict", "_items")

    _dict: dict[str, list[str]]
    _items: tuple[tuple[str, str], ...]

    def __init__(self, params: QueryParamTypes | None = None) -> None:
        items: list[tuple[str, str]] = []
        if isinstance(params, QueryParams):
            items = list(params._items)
        elif isinstance(params, str):
            for piece in params.split("&"):
                if piece:
                    key, _, value = piece.partition("=")
                    items.append((unquote_plus(key), unquote_plus(value)))
        elif isinstance(params, Mapping):
            for name, data in params.items():
                if isinstance(data, Sequence) and not isinstance(data, (str, bytes)):
                    items.extend((str(name), _primitive(name, item)) for item in data)
                else:
                    items.append((str(name), _primitive(name, data)))
        elif isinstance(params, Sequence) and not isinstance(params, bytes):
            for pair in params:
                if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
                    raise TypeError(
                        "Query parameters given as a list need (name, value) pairs, not "
                        f"{type(pair).__name__}"
                    )
                items.append((str(pair[0]), _primitive(pair[0], pair[1])))
        elif params is not None:
            raise TypeError(
                "Query parameters are a dict, a list of (name, value) pairs, a query string "
                f"or QueryParams, not {type(params).__name__}"
            )
        self._items = tuple(items)
        self._dict = {}
        for key, value in items:
            self._dict.setdefault(key, []).append(value)

    def __getitem__(self, key: str) -> str:
        """The first value for `key`."""
        return self._dict[key][0]

    def get_list(self, key: str) -> list[str]:
        """Every value for `key`, in order (empty if absent)."""
        return list(self._dict.get(key, ()))

    def multi_items(self) -> list[tuple[str, str]]:
        """Every `(key, value)` pair, repeated keys included, in order."""
        return list(self._items)

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict)

    def __len__(self) -> int:
        return len(self._dict)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, QueryParams):
            return NotImplemented
        return self._dict == other._dict

    def __hash__(self) -> int:
        return hash(frozenset((key, tuple(values)) for key, values in self._dict.items()))

    def __str__(self) -> str:
        return "&".join(f"{_form_encode(key)}={_form_encode(value)}" for key, value in self._items)

    def __repr__(self) -> str:
        return f"QueryParams({str(self)!r})"


QueryParamTypes: TypeAlias = (
    QueryParams
    # Values: PrimitiveData or a sequence of it, checked at run time. object, because mypy
    # infers a dict that mixes str and list values as dict[str, object].
    | Mapping[str, object]
    | Sequence[tuple[str, PrimitiveData]]
    | str
)


def _primitive(name: object, value: object) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return ""
    if not isinstance(value, (str, int, float)):
        # Sending the repr of an object is never what was meant.
        raise TypeError(
            f"The value of {name!r} is a {type(value).__name__}: values are str, int, float, "
            "bool or None, or a list of them"
        )
    return str(value)


def _merge_params(query: str | None, params: QueryParams) -> str | None:
    """Add `params` to a query; they replace existing keys, other pairs are kept as given."""
    if not params:
        return query
    kept = [
        piece
        for piece in (query or "").split("&")
        if piece and unquote_plus(piece.partition("=")[0]) not in params
    ]
    kept.append(str(params))
    return "&".join(kept)
