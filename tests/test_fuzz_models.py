"""Property tests (hypothesis) for the models: `URL`, `Headers`, cookies, multipart bodies.

Each runs a few derandomized examples here; `scripts/fuzz` runs them with many random ones.
"""

from __future__ import annotations

import email.parser
import email.policy
import string

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import httpcore2
from httpcore2._content import MultipartStream
from httpcore2._cookies import add_cookie_header, extract_cookies
from tests.fuzzing import fuzz_settings

# --- URL ---------------------------------------------------------------------------------

# RFC 3986 §5.4: every reference, resolved against this base, and the result it gives.
RFC3986_BASE = "http://a/b/c/d;p?q"
RFC3986_NORMAL = [
    ("g:h", "g:h"),
    ("g", "http://a/b/c/g"),
    ("./g", "http://a/b/c/g"),
    ("g/", "http://a/b/c/g/"),
    ("/g", "http://a/g"),
    ("//g", "http://g"),
    ("?y", "http://a/b/c/d;p?y"),
    ("g?y", "http://a/b/c/g?y"),
    ("#s", "http://a/b/c/d;p?q#s"),
    ("g#s", "http://a/b/c/g#s"),
    ("g?y#s", "http://a/b/c/g?y#s"),
    (";x", "http://a/b/c/;x"),
    ("g;x", "http://a/b/c/g;x"),
    ("g;x?y#s", "http://a/b/c/g;x?y#s"),
    ("", "http://a/b/c/d;p?q"),
    (".", "http://a/b/c/"),
    ("./", "http://a/b/c/"),
    ("..", "http://a/b/"),
    ("../", "http://a/b/"),
    ("../g", "http://a/b/g"),
    ("../..", "http://a/"),
    ("../../", "http://a/"),
    ("../../g", "http://a/g"),
]
RFC3986_ABNORMAL = [
    ("../../../g", "http://a/g"),
    ("../../../../g", "http://a/g"),
    ("/./g", "http://a/g"),
    ("/../g", "http://a/g"),
    ("g.", "http://a/b/c/g."),
    (".g", "http://a/b/c/.g"),
    ("g..", "http://a/b/c/g.."),
    ("..g", "http://a/b/c/..g"),
    ("./../g", "http://a/b/g"),
    ("./g/.", "http://a/b/c/g/"),
    ("g/./h", "http://a/b/c/g/h"),
    ("g/../h", "http://a/b/c/h"),
    ("g;x=1/./y", "http://a/b/c/g;x=1/y"),
    ("g;x=1/../y", "http://a/b/c/y"),
    ("g?y/./x", "http://a/b/c/g?y/./x"),
    ("g?y/../x", "http://a/b/c/g?y/../x"),
    ("g#s/./x", "http://a/b/c/g#s/./x"),
    ("g#s/../x", "http://a/b/c/g#s/../x"),
    # §5.4.2 allows either reading; `URL.join` documents the backward-compatible one.
    ("http:g", "http://a/b/c/g"),
]


@pytest.mark.parametrize(("reference", "expected"), RFC3986_NORMAL + RFC3986_ABNORMAL)
def test_join_matches_rfc3986_examples(reference: str, expected: str) -> None:
    # Compared through `URL(expected)`: an http URL's empty path is serialised as "/".
    joined = httpcore2.URL(RFC3986_BASE).join(reference)
    assert str(joined) == str(httpcore2.URL(expected))
    assert joined == httpcore2.URL(expected)


def test_rfc3986_empty_path_is_the_only_normalisation() -> None:
    assert [
        (reference, expected)
        for reference, expected in RFC3986_NORMAL + RFC3986_ABNORMAL
        if str(httpcore2.URL(RFC3986_BASE).join(reference)) != expected
    ] == [("//g", "http://g")]


_label = st.text(string.ascii_lowercase + string.digits + "-", min_size=1, max_size=12).filter(
    lambda label: not label.startswith("-") and not label.endswith("-")
)
hosts = st.one_of(
    st.lists(_label, min_size=1, max_size=4).map(".".join),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda address: f"[{address}]"),
    st.text(alphabet="abcéßüж日本", min_size=1, max_size=8),
)
url_texts = st.builds(
    lambda scheme, userinfo, host, port, path, query, fragment: (
        f"{scheme}://{userinfo}{host}{port}{path}{query}{fragment}"
    ),
    st.sampled_from(["http", "https", "HTTP", "hTTps"]),
    st.one_of(st.just(""), st.text(max_size=10).map(lambda text: text.replace("@", "") + "@")),
    hosts,
    st.one_of(st.just(""), st.integers(0, 65535).map(lambda port: f":{port}")),
    st.text(max_size=30).map(lambda text: "/" + text.replace("?", "").replace("#", "")),
    st.one_of(st.just(""), st.text(max_size=20).map(lambda text: "?" + text.replace("#", ""))),
    st.one_of(st.just(""), st.text(max_size=20).map(lambda text: "#" + text)),
)


def _parse(text: str) -> httpcore2.URL:
    try:
        return httpcore2.URL(text)
    except httpcore2.InvalidURL:
        assume(False)
        raise  # unreachable: assume(False) raises


@fuzz_settings(100)
@given(url_texts)
def test_url_parse_str_parse_is_stable(text: str) -> None:
    url = _parse(text)
    again = httpcore2.URL(str(url))
    assert again == url
    assert str(again) == str(url)
    assert again.raw == url.raw
    # What goes on the wire is printable ASCII without spaces.
    assert all(0x21 <= byte <= 0x7E for byte in url.raw.target)


@fuzz_settings(100)
@given(st.one_of(st.text(), st.text().map(lambda text: "http://" + text)))
def test_any_text_parses_or_raises_invalid_url(text: str) -> None:
    try:
        url = httpcore2.URL(text, allow_relative=True)
    except httpcore2.InvalidURL:
        return
    assert httpcore2.URL(str(url), allow_relative=True) == url


@fuzz_settings(80)
@given(url_texts, st.text(max_size=30))
def test_join_gives_a_stable_url(base_text: str, reference: str) -> None:
    base = _parse(base_text)
    try:
        joined = base.join(reference)
    except httpcore2.InvalidURL:
        return
    assert httpcore2.URL(str(joined)) == joined


# --- Headers -----------------------------------------------------------------------------

tokens = st.text(string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~", min_size=1, max_size=20)
# Visible ASCII and inner spaces and tabs; Headers strips them at both ends.
field_values = st.text(string.printable.strip() + " \t", max_size=40).map(lambda v: v.strip(" \t"))
header_pairs = st.lists(st.tuples(tokens, field_values), max_size=8)


@fuzz_settings(80)
@given(header_pairs)
def test_headers_from_pairs_keep_order_and_bytes(pairs: list[tuple[str, str]]) -> None:
    headers = httpcore2.Headers(pairs)
    assert headers.raw == [(name.encode(), value.encode()) for name, value in pairs]
    assert httpcore2.Headers(headers.raw) == headers
    assert httpcore2.Headers(headers) == headers


@fuzz_settings(80)
@given(st.dictionaries(tokens, field_values, max_size=8))
def test_headers_from_a_dict(mapping: dict[str, str]) -> None:
    headers = httpcore2.Headers(mapping)
    assert headers.raw == [(name.encode(), value.encode()) for name, value in mapping.items()]


@fuzz_settings(80)
@given(header_pairs, tokens)
def test_header_lookup_ignores_case(pairs: list[tuple[str, str]], name: str) -> None:
    headers = httpcore2.Headers(pairs)
    expected = [value for key, value in pairs if key.lower() == name.lower()]
    for spelling in (name, name.lower(), name.upper(), name.swapcase()):
        assert headers.get_list(spelling) == expected
        assert headers.get_list(spelling.encode()) == [value.encode() for value in expected]
        assert (spelling in headers) == bool(expected)
        assert headers.get(spelling) == (", ".join(expected) if expected else None)


_forbidden = st.sampled_from(["\r", "\n", "\x00", "\r\n"])


@st.composite
def with_forbidden(draw: st.DrawFn, text: st.SearchStrategy[str]) -> str:
    """`text` with CR, LF or NUL inserted somewhere, the ends included."""
    base = draw(text)
    at = draw(st.integers(0, len(base)))
    return base[:at] + draw(_forbidden) + base[at:]


@pytest.mark.case("S15")
@fuzz_settings(100)
@given(tokens, with_forbidden(field_values), st.booleans())
def test_cr_lf_nul_in_a_value_are_always_rejected(name: str, value: str, as_bytes: bool) -> None:
    raw_value: str | bytes = value.encode() if as_bytes else value
    with pytest.raises(ValueError, match="control characters"):
        httpcore2.Headers([(name, raw_value)])
    with pytest.raises(ValueError, match="control characters"):
        httpcore2.Headers({name: raw_value})
    headers = httpcore2.Headers()
    for setter in (headers.__setitem__, headers.add, headers.setdefault):
        with pytest.raises(ValueError, match="control characters"):
            setter(name, raw_value)
    with pytest.raises(ValueError, match="control characters"):
        headers.update({name: raw_value})
    with pytest.raises(ValueError, match="control characters"):
        httpcore2.Request("GET", "http://example.com/", headers={name: raw_value})
    assert headers.raw == []


@pytest.mark.case("S15")
@fuzz_settings(80)
@given(with_forbidden(tokens), field_values)
def test_cr_lf_nul_in_a_name_are_always_rejected(name: str, value: str) -> None:
    with pytest.raises(ValueError, match="token"):
        httpcore2.Headers([(name, value)])
    with pytest.raises(ValueError, match="token"):
        httpcore2.Headers({name.encode(): value})


# --- Cookies -----------------------------------------------------------------------------

ORIGIN = "https://www.example.com/a/b"
_cookie_octets = st.characters(codec="ascii", exclude_characters=';,\\"')
# `__Secure-` and `__Host-` names come with rules of their own (RFC 6265bis §4.1.3).
cookie_names = st.text(string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~", min_size=1).filter(
    lambda name: not name.lower().startswith(("__secure-", "__host-"))
)
cookie_values = st.text(
    string.ascii_letters + string.digits + "!#$%&'()*+-./:<=>?@[]^_`{|}~", max_size=30
)
set_cookie_attributes = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "Secure",
                "HttpOnly",
                "Path=/",
                "Path=/a",
                "Path=",
                "Domain=example.com",
                "Domain=.www.example.com",
                "Domain=other.test",
                "Domain=",
                "Max-Age=0",
                "Max-Age=-1",
                "Max-Age=99999999999999999999",
                "Expires=Wed, 09 Jun 2021 10:18:14 GMT",
                "Expires=Fri, 31 Dec 9999 23:59:59 GMT",
                "Expires=Thu, 01 Jan 1970 00:00:00 GMT",
                "Expires=garbage",
                "SameSite=Lax",
                "SameSite=bogus",
            ]
        ),
        st.text(_cookie_octets, max_size=20),
    ),
    max_size=5,
)


def _response_with(set_cookies: list[bytes], url: str = ORIGIN) -> httpcore2.Response:
    headers = httpcore2.Headers._from_wire([(b"Set-Cookie", line) for line in set_cookies])
    return httpcore2.Response(200, headers=headers, request=httpcore2.Request("GET", url))


@pytest.mark.case("S48")
@fuzz_settings(100)
@given(st.lists(st.one_of(st.binary(max_size=80), st.text(max_size=80).map(str.encode))))
def test_any_set_cookie_bytes_are_stored_or_ignored(lines: list[bytes]) -> None:
    # Extracting never raises: a line the rules refuse is ignored.
    cookies = httpcore2.Cookies()
    extract_cookies(cookies, _response_with(lines))
    request = httpcore2.Request("GET", ORIGIN)
    add_cookie_header(cookies, request)
    for name in cookies:
        assert cookies.get(name, domain=None) is not None or len(cookies.jar) > 1


@fuzz_settings(100)
@given(cookie_names, cookie_values, set_cookie_attributes)
def test_set_cookie_with_any_attributes_never_raises(
    name: str, value: str, attributes: list[str]
) -> None:
    line = "; ".join([f"{name}={value}", *attributes]).encode()
    cookies = httpcore2.Cookies()
    extract_cookies(cookies, _response_with([line]))
    add_cookie_header(cookies, httpcore2.Request("GET", ORIGIN))


@fuzz_settings(80)
@given(st.dictionaries(cookie_names, cookie_values, min_size=1, max_size=10))
def test_set_cookie_then_cookie_header_round_trips(pairs: dict[str, str]) -> None:
    cookies = httpcore2.Cookies()
    lines = [f"{name}={value}; Path=/".encode() for name, value in pairs.items()]
    extract_cookies(cookies, _response_with(lines))
    assert dict(cookies) == pairs
    request = httpcore2.Request("GET", "https://www.example.com/")
    add_cookie_header(cookies, request)
    sent = [item.partition("=") for item in request.headers["Cookie"].split("; ")]
    assert {name: value for name, _, value in sent} == pairs


# --- Multipart ---------------------------------------------------------------------------

# Backslash is left out: RFC 7578 parsers (and `email`) read it as a quoted-pair escape, the
# HTML form-data rule (which browsers and httpcore2 follow) sends it as it is.
part_names = st.text(
    st.characters(exclude_characters="\\", exclude_categories=["Cc", "Cs"]), min_size=1, max_size=20
)
_ESCAPES = str.maketrans({'"': "%22", "\r": "%0D", "\n": "%0A"})


def _parse_multipart(content_type: str, body: bytes) -> list[email.message.Message]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    assert message.is_multipart()
    assert not message.defects
    return list(message.iter_parts())  # type: ignore[attr-defined]


@fuzz_settings(80)
@given(
    st.lists(st.tuples(part_names, st.text(max_size=40)), max_size=5),
    st.lists(
        st.tuples(
            part_names,
            part_names,
            st.binary(max_size=200),
            st.sampled_from([None, "text/plain", "application/octet-stream", "image/png"]),
        ),
        max_size=4,
    ),
)
def test_multipart_body_parses_back_with_the_email_package(
    fields: list[tuple[str, str]], files: list[tuple[str, str, bytes, str | None]]
) -> None:
    # RFC 2046 asks for at least one part.
    assume(fields or files)
    # Fields as pairs keep repeated names apart; `data=` takes a mapping of lists for that.
    data: dict[str, list[str]] = {}
    for name, value in fields:
        data.setdefault(name, []).append(value)
    stream = MultipartStream(
        data,
        [
            (name, (filename, content) if ctype is None else (filename, content, ctype))
            for name, filename, content, ctype in files
        ],
    )
    body = b"".join(stream)
    assert len(body) == stream.content_length
    parts = _parse_multipart(stream.content_type, body)
    expected_fields = [(name, value) for name, values in data.items() for value in values]
    assert len(parts) == len(expected_fields) + len(files)
    for part, (name, value) in zip(parts, expected_fields, strict=False):
        assert part.get_param("name", header="content-disposition") == name.translate(_ESCAPES)
        assert part.get_param("filename", header="content-disposition") is None
        assert part.get_payload(decode=True) == value.encode()
    for part, (name, filename, content, ctype) in zip(
        parts[len(expected_fields) :], files, strict=True
    ):
        assert part.get_param("name", header="content-disposition") == name.translate(_ESCAPES)
        assert part.get_param("filename", header="content-disposition") == filename.translate(
            _ESCAPES
        )
        assert part.get_payload(decode=True) == content
        if ctype is not None:
            assert part.get_content_type() == ctype
