"""Headers, Request and Response, without any I/O."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Generator

import pytest

import httpcore2
from httpcore2 import Headers, Request, Response
from tests.streams import AsyncStream, SyncStream

# --- helpers ------------------------------------------------------------------------------


async def agen(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


# --- Headers: construction and validation -------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        {"Content-Type": "text/plain", "X-Id": "7"},
        {b"Content-Type": b"text/plain", b"X-Id": b"7"},
        [("Content-Type", "text/plain"), ("X-Id", "7")],
        [(b"Content-Type", b"text/plain"), (b"X-Id", b"7")],
        (("Content-Type", b"text/plain"), (b"X-Id", "7")),
        Headers([("Content-Type", "text/plain"), ("X-Id", "7")]),
    ],
    ids=["dict-str", "dict-bytes", "list-str", "list-bytes", "mixed", "headers"],
)
def test_headers_accept_every_documented_source(source: httpcore2.Headers) -> None:
    headers = Headers(source)
    assert list(headers) == [(b"Content-Type", b"text/plain"), (b"X-Id", b"7")]
    assert headers["content-type"] == "text/plain"


def test_empty_headers() -> None:
    headers = Headers()
    assert len(headers) == 0
    assert list(headers) == []
    assert headers == []
    assert Headers(None).raw == []


def test_headers_from_headers_is_a_copy() -> None:
    original = Headers({"A": "1"})
    copy = Headers(original)
    copy.add("B", "2")
    assert original.raw == [(b"A", b"1")]


def test_non_ascii_str_is_rejected_with_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"not ASCII.*pass bytes"):
        Headers({"X-Name": "Zoë"})
    with pytest.raises(ValueError, match="not ASCII"):
        Headers({"Nämé": "x"})


def test_non_ascii_bytes_values_are_kept_and_read_as_latin_1() -> None:
    headers = Headers({b"X-Name": "Zoë".encode("latin-1")})
    assert headers[b"x-name"] == b"Zo\xeb"
    assert headers["x-name"] == "Zoë"


@pytest.mark.parametrize("name", [1, None, 2.5])
def test_names_of_other_types_are_rejected(name: object) -> None:
    with pytest.raises(TypeError, match="must be str or bytes"):
        Headers([(name, "x")])  # type: ignore[arg-type]


def test_values_of_other_types_are_rejected() -> None:
    with pytest.raises(TypeError, match="values must be str or bytes, not int"):
        Headers({"X-Count": 3})  # type: ignore[arg-type]


@pytest.mark.case("S15")
@pytest.mark.parametrize(
    "value",
    [
        "a\r\nX-Injected: 1",
        "a\rb",
        "a\nb",
        "a\x00b",
        "a\x01b",
        "a\x1fb",
        "a\x7fb",
        b"a\r\nb",
        "x\n",
        "\r\nx",
    ],
)
def test_control_characters_in_values_are_rejected(value: str | bytes) -> None:
    with pytest.raises(ValueError, match="control characters are not allowed"):
        Headers({"X-Test": value})  # type: ignore[arg-type]


@pytest.mark.case("S15")
@pytest.mark.parametrize(
    "name",
    ["X Test", "X-Test:", "X\r\nTest", "X\x00", "", " X-Test", "X-Test ", "X(Test)", "X\tTest"],
)
def test_names_that_are_not_tokens_are_rejected(name: str) -> None:
    with pytest.raises(ValueError, match="Invalid header name"):
        Headers({name: "x"})


@pytest.mark.case("S15")
def test_htab_is_allowed_inside_values_and_optional_whitespace_is_stripped() -> None:
    headers = Headers({"X-Test": " \t a\tb  c \t"})
    assert headers.raw == [(b"X-Test", b"a\tb  c")]


def test_every_token_character_is_allowed_in_names() -> None:
    name = "!#$%&'*+-.^_`|~09AZaz"
    assert Headers({name: "x"}).raw == [(name.encode(), b"x")]


@pytest.mark.case("S15")
def test_mutators_validate_too() -> None:
    headers = Headers()
    with pytest.raises(ValueError, match="control characters"):
        headers["X-Test"] = "a\r\nb"
    with pytest.raises(ValueError, match="control characters"):
        headers.add("X-Test", "a\nb")
    with pytest.raises(ValueError, match="Invalid header name"):
        headers.setdefault("X Test", "a")
    with pytest.raises(ValueError, match="Invalid header name"):
        headers.update({"X:Test": "a"})
    assert headers.raw == []


def test_headers_from_the_wire_keep_raw_pairs() -> None:
    headers = Headers._from_wire([(b"CONTENT-type", b"a"), (b"x", b"b")])
    assert headers.raw == [(b"CONTENT-type", b"a"), (b"x", b"b")]
    assert headers["Content-Type"] == "a"


# --- Headers: reading --------------------------------------------------------------------


@pytest.fixture
def repeated() -> Headers:
    return Headers(
        [
            ("Content-Type", "text/html"),
            ("Set-Cookie", "a=1"),
            ("Accept", "*/*"),
            ("set-cookie", "b=2"),
        ]
    )


def test_iteration_yields_byte_pairs_in_wire_order(repeated: Headers) -> None:
    assert list(repeated) == [
        (b"Content-Type", b"text/html"),
        (b"Set-Cookie", b"a=1"),
        (b"Accept", b"*/*"),
        (b"set-cookie", b"b=2"),
    ]
    assert [name for name, _ in repeated] == [
        b"Content-Type",
        b"Set-Cookie",
        b"Accept",
        b"set-cookie",
    ]
    assert repeated.raw == list(repeated)


def test_headers_compare_equal_to_a_list_of_pairs(repeated: Headers) -> None:
    assert repeated == list(repeated)
    assert repeated == [
        ("Content-Type", "text/html"),
        ("Set-Cookie", "a=1"),
        ("Accept", "*/*"),
        ("set-cookie", "b=2"),
    ]
    assert repeated != list(repeated)[::-1]
    assert repeated != [(b"Content-Type", b"text/html")]
    # Names keep their case, so a differently cased list is a different list.
    assert Headers({"A": "1"}) != [(b"a", b"1")]


def test_headers_equality_with_headers_and_other_types() -> None:
    assert Headers({"A": "1"}) == Headers([(b"A", b"1")])
    assert Headers({"A": "1"}) != Headers({"A": "2"})
    assert Headers({"A": "1"}) != {"A": "1"}
    assert Headers({"A": "1"}) != (("A", "1"),)
    assert Headers({"A": "1"}) != "[(b'A', b'1')]"
    # A list that is not a valid header list is simply unequal, it does not raise.
    assert Headers({"A": "1"}) != [1, 2]
    assert Headers({"A": "1"}) != [("A", "1\n")]


def test_headers_are_unhashable() -> None:
    with pytest.raises(TypeError):
        hash(Headers())


def test_str_prints_the_list_of_pairs_and_repr_names_the_class() -> None:
    headers = Headers({"Content-Type": "text/plain"})
    assert str(headers) == "[(b'Content-Type', b'text/plain')]"
    assert repr(headers) == "Headers([(b'Content-Type', b'text/plain')])"


def test_print_shows_the_list(capsys: pytest.CaptureFixture[str]) -> None:
    print(Headers([(b"Server", b"x")]))
    assert capsys.readouterr().out == "[(b'Server', b'x')]\n"


def test_lookup_answers_in_the_type_asked(repeated: Headers) -> None:
    assert repeated["content-type"] == "text/html"
    assert repeated["CONTENT-TYPE"] == "text/html"
    assert repeated[b"content-type"] == b"text/html"
    assert repeated[b"Content-Type"] == b"text/html"
    assert repeated.get("Accept") == "*/*"
    assert repeated.get(b"accept") == b"*/*"


def test_repeated_headers_are_joined(repeated: Headers) -> None:
    assert repeated["set-cookie"] == "a=1, b=2"
    assert repeated[b"SET-COOKIE"] == b"a=1, b=2"


def test_get_list_returns_every_value_in_the_type_asked(repeated: Headers) -> None:
    assert repeated.get_list("Set-Cookie") == ["a=1", "b=2"]
    assert repeated.get_list(b"set-cookie") == [b"a=1", b"b=2"]
    assert repeated.get_list("missing") == []
    assert repeated.get_list(b"missing") == []


def test_missing_headers(repeated: Headers) -> None:
    assert repeated.get("missing") is None
    assert repeated.get("missing", "fallback") == "fallback"
    with pytest.raises(KeyError):
        repeated["missing"]
    with pytest.raises(KeyError):
        repeated[b"missing"]


def test_an_empty_value_is_present_not_missing() -> None:
    headers = Headers({"X-Empty": ""})
    assert headers["x-empty"] == ""
    assert headers.get("x-empty", "fallback") == ""


def test_keys_values_items_and_multi_items(repeated: Headers) -> None:
    assert repeated.keys() == ["content-type", "set-cookie", "accept"]
    assert repeated.values() == ["text/html", "a=1, b=2", "*/*"]
    assert repeated.items() == [
        ("content-type", "text/html"),
        ("set-cookie", "a=1, b=2"),
        ("accept", "*/*"),
    ]
    assert repeated.multi_items() == [
        ("content-type", "text/html"),
        ("set-cookie", "a=1"),
        ("accept", "*/*"),
        ("set-cookie", "b=2"),
    ]


def test_contains_is_case_insensitive_and_false_for_other_types(repeated: Headers) -> None:
    assert "content-type" in repeated
    assert "CONTENT-TYPE" in repeated
    assert b"Set-Cookie" in repeated
    assert "missing" not in repeated
    assert b"missing" not in repeated
    assert 1 not in repeated
    assert None not in repeated
    assert ("Accept", "*/*") not in repeated


def test_len_counts_every_field(repeated: Headers) -> None:
    assert len(repeated) == 4


# --- Headers: writing --------------------------------------------------------------------


def test_setitem_replaces_every_value_and_keeps_the_first_position(repeated: Headers) -> None:
    repeated["SET-COOKIE"] = "c=3"
    assert repeated.raw == [
        (b"Content-Type", b"text/html"),
        (b"SET-COOKIE", b"c=3"),
        (b"Accept", b"*/*"),
    ]


def test_setitem_appends_a_new_header(repeated: Headers) -> None:
    repeated[b"X-New"] = b"1"
    assert repeated.raw[-1] == (b"X-New", b"1")
    assert len(repeated) == 5


def test_delitem_removes_every_value(repeated: Headers) -> None:
    del repeated["set-cookie"]
    assert repeated.raw == [(b"Content-Type", b"text/html"), (b"Accept", b"*/*")]
    del repeated[b"ACCEPT"]
    assert repeated.raw == [(b"Content-Type", b"text/html")]


def test_delitem_of_a_missing_header_raises_key_error(repeated: Headers) -> None:
    with pytest.raises(KeyError, match="missing"):
        del repeated["missing"]
    assert len(repeated) == 4


def test_add_appends_beside_existing_values(repeated: Headers) -> None:
    repeated.add("Accept", "text/plain")
    assert repeated.get_list("accept") == ["*/*", "text/plain"]
    assert repeated.raw[-1] == (b"Accept", b"text/plain")


def test_setdefault_sets_only_absent_headers(repeated: Headers) -> None:
    repeated.setdefault("accept", "text/plain")
    repeated.setdefault("X-New", "1")
    assert repeated["accept"] == "*/*"
    assert repeated["x-new"] == "1"
    assert len(repeated) == 5


def test_update_replaces_named_headers_and_keeps_the_rest(repeated: Headers) -> None:
    repeated.update({"set-cookie": "z=26", "X-New": "1"})
    assert repeated.raw == [
        (b"Content-Type", b"text/html"),
        (b"Accept", b"*/*"),
        (b"set-cookie", b"z=26"),
        (b"X-New", b"1"),
    ]
    repeated.update([("X-New", "2"), ("x-new", "3")])
    assert repeated.get_list("x-new") == ["2", "3"]
    repeated.update()
    assert len(repeated) == 5


def test_copy_is_independent(repeated: Headers) -> None:
    copy = repeated.copy()
    assert copy == repeated
    copy["Accept"] = "text/plain"
    copy.add("X-New", "1")
    del copy["content-type"]
    assert repeated["accept"] == "*/*"
    assert "x-new" not in repeated
    assert "content-type" in repeated


# --- Request ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "expected"),
    [("GET", "GET"), ("get", "GET"), ("Post", "POST"), (b"put", "PUT"), ("M-SEARCH", "M-SEARCH")],
)
def test_method_is_upper_cased(method: str | bytes, expected: str) -> None:
    assert Request(method, "http://example.org/").method == expected


@pytest.mark.case("S16")
@pytest.mark.parametrize(
    "method",
    [
        "GET / HTTP/1.1\r\nX: y",
        "GET / HTTP/1.1\r\nX: y\r\n",
        "GET ",
        "G T",
        "GET\t",
        "GET\n",
        "G\x00T",
        "",
        "GÉT",
        b"G\xc9T",
        b"GET\r\n",
        "GET(",
    ],
)
def test_method_must_be_a_token(method: str | bytes) -> None:
    with pytest.raises(ValueError, match="Invalid HTTP method"):
        Request(method, "http://example.org/")


@pytest.mark.case("S16")
@pytest.mark.case("S16")
@pytest.mark.parametrize("method", ["GET / HTTP/1.1\r\nX: y", "G T", "GET\n", "", "GÉT"])
def test_a_method_set_later_is_checked_too(method: str) -> None:
    # Both HTTP/1.1 engines and HTTP/2 write the method as they find it on the request.
    request = Request("GET", "http://example.org/")
    with pytest.raises(ValueError, match="Invalid HTTP method"):
        request.method = method
    with pytest.raises(TypeError, match="must be a str"):
        request.method = 5  # type: ignore[assignment]
    assert request.method == "GET"
    request.method = b"post"
    assert request.method == "POST"


def test_method_is_checked_before_anything_else() -> None:
    # S16: the injected method is reported even when the URL, headers and body are bad too.
    with pytest.raises(ValueError, match="Invalid HTTP method") as info:
        Request(
            "GET / HTTP/1.1\r\nX: y",
            "http://exa mple.org/",
            headers={"Bad\n": "x"},
            content=object(),  # type: ignore[arg-type]
        )
    assert not isinstance(info.value, httpcore2.InvalidURL)


@pytest.mark.parametrize(
    "url",
    ["http://example.org/a?b", b"http://example.org/a?b", httpcore2.URL("http://example.org/a?b")],
)
def test_url_is_parsed_from_str_bytes_or_url(url: str | bytes | httpcore2.URL) -> None:
    request = Request("GET", url)
    assert isinstance(request.url, httpcore2.URL)
    assert request.url == "http://example.org/a?b"


def test_a_url_instance_is_used_as_is() -> None:
    url = httpcore2.URL("http://example.org/")
    assert Request("GET", url).url is url


def test_invalid_url_raises_invalid_url() -> None:
    with pytest.raises(httpcore2.InvalidURL):
        Request("GET", "http://exa mple.org/")


@pytest.mark.case("S14")
@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("http://example.org/", b"example.org"),
        ("http://Example.ORG:80/", b"example.org"),
        ("https://example.org:443/", b"example.org"),
        ("http://example.org:443/", b"example.org:443"),
        ("https://example.org:8443/x", b"example.org:8443"),
        ("http://127.0.0.1:5000/", b"127.0.0.1:5000"),
        ("http://[::1]:8080/", b"[::1]:8080"),
        ("https://[::1]/", b"[::1]"),
        ("http://user:secret@example.org/", b"example.org"),
    ],
)
def test_host_comes_from_the_url(url: str, host: bytes) -> None:
    request = Request("GET", url, headers={"Accept": "*/*"})
    assert request.headers.raw == [(b"Host", host), (b"Accept", b"*/*")]


@pytest.mark.parametrize("name", ["Host", "host", b"HOST"])
def test_a_given_host_header_is_kept(name: str | bytes) -> None:
    request = Request("GET", "http://example.org/", headers=[(name, "other.example")])  # type: ignore[arg-type]
    assert request.headers.get_list("host") == ["other.example"]


def test_a_headers_instance_given_to_a_request_is_not_modified() -> None:
    # Reusing one Headers object for several requests must not carry the first request's
    # Host or Content-Length over to the next one.
    shared = Headers({"Accept": "*/*"})
    first = Request("POST", "http://a.example/", headers=shared, content=b"abc")
    second = Request("GET", "http://b.example/", headers=shared)
    assert shared.raw == [(b"Accept", b"*/*")]
    assert first.headers.raw == [
        (b"Host", b"a.example"),
        (b"Accept", b"*/*"),
        (b"Content-Length", b"3"),
    ]
    assert second.headers.raw == [(b"Host", b"b.example"), (b"Accept", b"*/*")]


@pytest.mark.parametrize(
    ("method", "content", "framing"),
    [
        ("GET", None, []),
        ("HEAD", None, []),
        ("DELETE", None, []),
        ("OPTIONS", None, []),
        ("POST", None, [(b"Content-Length", b"0")]),
        ("PUT", None, [(b"Content-Length", b"0")]),
        ("PATCH", None, [(b"Content-Length", b"0")]),
        ("post", None, [(b"Content-Length", b"0")]),
        ("GET", b"", [(b"Content-Length", b"0")]),
        ("POST", b"hello", [(b"Content-Length", b"5")]),
        ("DELETE", b"hello", [(b"Content-Length", b"5")]),
        ("POST", "héllo", [(b"Content-Length", b"6")]),
        ("POST", bytearray(b"abc"), [(b"Content-Length", b"3")]),
        ("POST", memoryview(b"abcd"), [(b"Content-Length", b"4")]),
        ("POST", iter([b"a", b"b"]), [(b"Transfer-Encoding", b"chunked")]),
        ("POST", [b"a", b"b"], [(b"Transfer-Encoding", b"chunked")]),
        ("POST", io.BytesIO(b"file"), [(b"Transfer-Encoding", b"chunked")]),
    ],
)
def test_framing_headers(method: str, content: object, framing: list[tuple[bytes, bytes]]) -> None:
    request = Request(method, "http://example.org/", content=content)  # type: ignore[arg-type]
    assert request.headers.raw == [(b"Host", b"example.org"), *framing]


def test_an_async_iterator_body_is_chunked() -> None:
    request = Request("POST", "http://example.org/", content=agen(b"a"))
    assert request.headers.raw == [(b"Host", b"example.org"), (b"Transfer-Encoding", b"chunked")]


@pytest.mark.parametrize("name", ["Content-Length", "content-length"])
def test_a_given_content_length_replaces_chunked(name: str) -> None:
    request = Request("POST", "http://example.org/", headers={name: "2"}, content=iter([b"ab"]))
    assert request.headers.raw == [(b"Host", b"example.org"), (name.encode(), b"2")]


def test_a_given_transfer_encoding_replaces_content_length() -> None:
    request = Request(
        "POST", "http://example.org/", headers={"Transfer-Encoding": "chunked"}, content=b"ab"
    )
    assert request.headers.raw == [(b"Host", b"example.org"), (b"Transfer-Encoding", b"chunked")]


def test_a_given_content_length_is_not_duplicated_for_bytes() -> None:
    request = Request(
        "POST", "http://example.org/", headers={"Content-Length": "5"}, content=b"hello"
    )
    assert request.headers.get_list("content-length") == ["5"]


@pytest.mark.parametrize(
    ("content", "body"),
    [(None, b""), (b"raw", b"raw"), ("tëxt", "tëxt".encode()), (bytearray(b"ba"), b"ba")],
)
def test_content_of_a_known_body(content: object, body: bytes) -> None:
    request = Request("POST", "http://example.org/", content=content)  # type: ignore[arg-type]
    assert request.content == body
    assert request.read() == body
    assert b"".join(request.stream) == body


def test_content_of_a_streaming_body_needs_read() -> None:
    request = Request("POST", "http://example.org/", content=iter([b"a", b"b"]))
    with pytest.raises(httpcore2.RequestNotRead, match=r"request.read\(\)"):
        _ = request.content


def test_read_loads_a_stream_and_makes_it_replayable() -> None:
    request = Request("POST", "http://example.org/", content=iter([b"ab", b"cd"]))
    assert request.read() == b"abcd"
    assert request.content == b"abcd"
    assert request.read() == b"abcd"
    assert list(request.stream) == [b"abcd"]
    assert list(request.stream) == [b"abcd"]


def test_read_of_an_async_body_from_sync_code_is_a_clear_error() -> None:
    request = Request("POST", "http://example.org/", content=agen(b"a"))
    with pytest.raises(TypeError, match="async iterator"):
        request.read()


@pytest.mark.anyio
async def test_aread_loads_an_async_stream_and_makes_it_replayable() -> None:
    request = Request("POST", "http://example.org/", content=agen(b"ab", b"cd"))
    assert await request.aread() == b"abcd"
    assert request.content == b"abcd"
    assert await request.aread() == b"abcd"
    assert [chunk async for chunk in request.stream] == [b"abcd"]
    assert list(request.stream) == [b"abcd"]


@pytest.mark.anyio
async def test_aread_loads_a_sync_stream() -> None:
    request = Request("POST", "http://example.org/", content=iter([b"a", b"b"]))
    assert await request.aread() == b"ab"
    assert list(request.stream) == [b"ab"]


def test_extensions() -> None:
    assert Request("GET", "http://example.org/").extensions == {}
    extensions = {"timeout": {"read": 1.0}}
    assert Request("GET", "http://example.org/", extensions=extensions).extensions is extensions


def test_request_repr_names_the_method() -> None:
    assert "GET" in repr(Request("get", "http://example.org/"))


# --- Response: metadata -------------------------------------------------------------------


def test_status_and_its_alias() -> None:
    response = Response(404)
    assert response.status == 404
    assert response.status_code == 404


def test_response_defaults() -> None:
    response = Response(204)
    assert response.headers == []
    assert response.extensions == {}
    assert response.history == []
    assert response.content == b""
    assert not response.is_closed


def test_response_headers() -> None:
    headers = Headers({"Server": "x"})
    assert Response(200, headers=headers).headers is headers
    assert Response(200, headers={"Server": "x"}).headers == [(b"Server", b"x")]


@pytest.mark.parametrize(
    ("status", "extensions", "phrase"),
    [
        (200, {}, "OK"),
        (404, {}, "Not Found"),
        (503, {}, "Service Unavailable"),
        (599, {}, ""),
        (299, {}, ""),
        (200, {"reason_phrase": b"Fine"}, "Fine"),
        (599, {"reason_phrase": b"Custom"}, "Custom"),
        (200, {"reason_phrase": b""}, "OK"),
        (200, {"reason_phrase": b"Caf\xe9"}, "Caf\ufffd"),
    ],
)
def test_reason_phrase(status: int, extensions: dict[str, bytes], phrase: str) -> None:
    assert Response(status, extensions=extensions).reason_phrase == phrase


@pytest.mark.parametrize(
    ("extensions", "protocol"),
    [
        ({}, "HTTP/1.1"),
        ({"http_version": b"HTTP/1.1"}, "HTTP/1.1"),
        ({"http_version": b"HTTP/2"}, "HTTP/2"),
        ({"http_version": b"HTTP/1.0"}, "HTTP/1.0"),
    ],
)
def test_protocol(extensions: dict[str, bytes], protocol: str) -> None:
    assert Response(200, extensions=extensions).protocol == protocol


def test_request_and_url_without_a_request_raise() -> None:
    response = Response(200)
    with pytest.raises(RuntimeError, match="no request"):
        _ = response.request
    with pytest.raises(RuntimeError, match="no request"):
        _ = response.url


def test_request_and_url() -> None:
    request = Request("GET", "http://example.org/a")
    response = Response(200, request=request)
    assert response.request is request
    assert response.url == "http://example.org/a"
    other = Request("GET", "http://example.org/b")
    response.request = other
    assert response.request is other
    assert response.url == "http://example.org/b"


def test_response_repr() -> None:
    assert repr(Response(200)) == "<Response [200]>"
    assert repr(Response(503, content=SyncStream([]))) == "<Response [503]>"


# --- Response: body, sync -----------------------------------------------------------------


def test_bytes_content_is_available_at_once() -> None:
    response = Response(200, content=b"Hello")
    assert response.content == b"Hello"
    assert response.read() == b"Hello"
    assert list(response.iter_stream()) == [b"Hello"]
    # Known bytes can be iterated again.
    assert list(response.iter_raw(2)) == [b"He", b"ll", b"o"]


def test_empty_bytes_content_yields_no_chunks() -> None:
    assert list(Response(200).iter_raw()) == []
    assert list(Response(200).iter_raw(4)) == []


def test_streaming_content_must_be_read_first() -> None:
    response = Response(200, content=SyncStream([b"a"]))
    with pytest.raises(httpcore2.ResponseNotRead, match=r"response.read\(\)"):
        _ = response.content


def test_read_loads_the_body_and_closes_the_stream() -> None:
    stream = SyncStream([b"Hello, ", b"world!"])
    response = Response(200, content=stream)
    assert not response.is_stream_consumed
    assert response.read() == b"Hello, world!"
    assert response.content == b"Hello, world!"
    assert response.is_closed
    assert response.is_stream_consumed
    assert stream.closes == 1
    # Reading again returns the same body without touching the stream.
    assert response.read() == b"Hello, world!"
    assert list(response.iter_raw()) == [b"Hello, world!"]
    assert stream.closes == 1


@pytest.mark.parametrize(
    ("chunks", "chunk_size", "expected"),
    [
        ([b"abc", b"defgh", b"", b"ij"], None, [b"abc", b"defgh", b"ij"]),
        ([b"abc", b"defgh", b"", b"ij"], 4, [b"abcd", b"efgh", b"ij"]),
        ([b"abcdefgh"], 4, [b"abcd", b"efgh"]),
        ([b"abcdefghi"], 4, [b"abcd", b"efgh", b"i"]),
        ([b"a", b"b", b"c", b"d", b"e"], 2, [b"ab", b"cd", b"e"]),
        ([b"abc"], 1, [b"a", b"b", b"c"]),
        ([b"abc"], 100, [b"abc"]),
        ([], 3, []),
        ([b""], None, []),
    ],
)
def test_iter_raw_rechunks_to_exact_sizes(
    chunks: list[bytes], chunk_size: int | None, expected: list[bytes]
) -> None:
    for method in ("iter_raw", "iter_stream"):
        response = Response(200, content=SyncStream(chunks))
        assert list(getattr(response, method)(chunk_size)) == expected
        assert response.is_closed


@pytest.mark.parametrize("chunk_size", [0, -1])
def test_chunk_size_must_be_positive(chunk_size: int) -> None:
    with pytest.raises(ValueError, match="chunk_size"):
        list(Response(200, content=SyncStream([b"abc"])).iter_raw(chunk_size))
    with pytest.raises(ValueError, match="chunk_size"):
        list(Response(200, content=b"abc").iter_raw(chunk_size))


def test_a_stream_is_consumed_once() -> None:
    response = Response(200, content=SyncStream([b"a"]))
    assert list(response.iter_stream()) == [b"a"]
    with pytest.raises(httpcore2.StreamConsumed):
        list(response.iter_stream())
    with pytest.raises(httpcore2.StreamConsumed):
        response.read()
    # Iterating does not keep the body: only read() does.
    with pytest.raises(httpcore2.ResponseNotRead):
        _ = response.content


def test_reading_after_close_raises_stream_closed() -> None:
    stream = SyncStream([b"a"])
    response = Response(200, content=stream)
    response.close()
    assert response.is_closed
    with pytest.raises(httpcore2.StreamClosed):
        response.read()
    with pytest.raises(httpcore2.StreamClosed):
        list(response.iter_raw())


def test_close_is_idempotent() -> None:
    stream = SyncStream([b"a"])
    response = Response(200, content=stream)
    response.close()
    response.close()
    assert stream.closes == 1


def test_stopping_iteration_early_closes_the_response() -> None:
    stream = SyncStream([b"a", b"b", b"c"])
    response = Response(200, content=stream)
    chunks = response.iter_raw()
    assert isinstance(chunks, Generator)
    assert next(chunks) == b"a"
    assert not response.is_closed
    chunks.close()
    assert response.is_closed
    assert stream.closes == 1


def test_context_manager_closes_the_response() -> None:
    stream = SyncStream([b"a"])
    with Response(200, content=stream) as response:
        assert not response.is_closed
    assert response.is_closed
    assert stream.closes == 1


def test_reading_an_async_response_from_sync_code_is_a_clear_error() -> None:
    response = Response(200, content=AsyncStream([b"a"]))
    with pytest.raises(RuntimeError, match=r"aread\(\)"):
        response.read()
    with pytest.raises(RuntimeError, match=r"aread\(\)"):
        list(response.iter_raw())


# --- Response: body, async ----------------------------------------------------------------


@pytest.mark.anyio
async def test_aread_loads_the_body_and_closes_the_stream() -> None:
    stream = AsyncStream([b"Hello, ", b"world!"])
    response = Response(200, content=stream)
    assert await response.aread() == b"Hello, world!"
    assert response.content == b"Hello, world!"
    assert response.is_closed
    assert response.is_stream_consumed
    assert stream.closes == 1
    assert await response.aread() == b"Hello, world!"
    assert [chunk async for chunk in response.aiter_raw(5)] == [b"Hello", b", wor", b"ld!"]
    assert stream.closes == 1


@pytest.mark.anyio
async def test_aread_of_bytes_content() -> None:
    response = Response(200, content=b"abc")
    assert await response.aread() == b"abc"
    assert [chunk async for chunk in response.aiter_stream()] == [b"abc"]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("chunks", "chunk_size", "expected"),
    [
        ([b"abc", b"defgh", b"ij"], None, [b"abc", b"defgh", b"ij"]),
        ([b"abc", b"defgh", b"", b"ij"], 4, [b"abcd", b"efgh", b"ij"]),
        ([b"abcdefgh"], 4, [b"abcd", b"efgh"]),
        ([b"a", b"b", b"c", b"d", b"e"], 2, [b"ab", b"cd", b"e"]),
        ([b"abc"], 100, [b"abc"]),
        ([], 3, []),
    ],
)
async def test_aiter_raw_rechunks_to_exact_sizes(
    chunks: list[bytes], chunk_size: int | None, expected: list[bytes]
) -> None:
    for method in ("aiter_raw", "aiter_stream"):
        stream = AsyncStream(chunks)
        response = Response(200, content=stream)
        assert [chunk async for chunk in getattr(response, method)(chunk_size)] == expected
        assert response.is_closed
        assert stream.closes == 1


@pytest.mark.anyio
async def test_sync_and_async_iteration_yield_the_same_chunks() -> None:
    # The transport may hand over empty chunks; both worlds must present the same body.
    chunks = [b"a", b"", b"b"]
    sync_chunks = list(Response(200, content=SyncStream(chunks)).iter_raw())
    async_chunks = [c async for c in Response(200, content=AsyncStream(chunks)).aiter_raw()]
    assert async_chunks == sync_chunks == [b"a", b"b"]


@pytest.mark.anyio
async def test_an_async_stream_is_consumed_once() -> None:
    response = Response(200, content=AsyncStream([b"a"]))
    assert [chunk async for chunk in response.aiter_raw()] == [b"a"]
    with pytest.raises(httpcore2.StreamConsumed):
        await response.aread()
    with pytest.raises(httpcore2.StreamConsumed):
        [chunk async for chunk in response.aiter_stream()]


@pytest.mark.anyio
async def test_areading_after_aclose_raises_stream_closed() -> None:
    stream = AsyncStream([b"a"])
    response = Response(200, content=stream)
    await response.aclose()
    await response.aclose()
    assert stream.closes == 1
    with pytest.raises(httpcore2.StreamClosed):
        await response.aread()


@pytest.mark.anyio
async def test_async_context_manager_closes_the_response() -> None:
    stream = AsyncStream([b"a"])
    async with Response(200, content=stream) as response:
        assert not response.is_closed
    assert response.is_closed
    assert stream.closes == 1


@pytest.mark.anyio
async def test_reading_a_sync_response_from_async_code_is_a_clear_error() -> None:
    response = Response(200, content=SyncStream([b"a"]))
    with pytest.raises(RuntimeError, match=r"read\(\)"):
        await response.aread()
    with pytest.raises(RuntimeError, match=r"read\(\)"):
        [chunk async for chunk in response.aiter_raw()]


@pytest.mark.anyio
async def test_a_mistaken_sync_read_leaves_the_async_response_usable() -> None:
    # `async with response: response.read()` must not leak the connection: after the
    # error, the async body can still be read and its stream is released.
    stream = AsyncStream([b"body"])
    response = Response(200, content=stream)
    with pytest.raises(RuntimeError):
        response.read()
    assert await response.aread() == b"body"
    assert stream.closes == 1


@pytest.mark.anyio
async def test_a_mistaken_sync_close_still_lets_aclose_release_the_stream() -> None:
    stream = AsyncStream([b"body"])
    response = Response(200, content=stream)
    with pytest.raises(RuntimeError, match=r"aclose\(\)"):
        response.close()
    await response.aclose()
    assert stream.closes == 1


@pytest.mark.anyio
async def test_a_mistaken_aclose_still_lets_close_release_the_stream() -> None:
    stream = SyncStream([b"body"])
    response = Response(200, content=stream)
    with pytest.raises(RuntimeError, match=r"close\(\)"):
        await response.aclose()
    response.close()
    assert stream.closes == 1


def test_only_names_can_be_in_headers() -> None:
    headers = Headers({"a": "1"})
    assert 5 not in headers
    assert None not in headers
    assert "é" not in headers  # no header name can be non-ASCII, so it is simply absent
