"""The auth flows, sans-IO: Basic (RFC 7617), Digest (RFC 7616) vectors, challenge parsing."""

from __future__ import annotations

import base64
import hashlib

import pytest

import httpcore2
from httpcore2 import _auth
from httpcore2._auth import parse_challenges, to_auth

RFC_NONCE = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
RFC_OPAQUE = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"
RFC_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"


def challenge_response(value: str, status: int = 401) -> httpcore2.Response:
    return httpcore2.Response(status, headers={"WWW-Authenticate": value})


def answer(
    auth: httpcore2.Auth, challenge: str, url: str = "http://example.org/dir/index.html"
) -> httpcore2.Request:
    """The request the flow sends after `challenge`."""
    flow = auth.auth_flow(httpcore2.Request("GET", url))
    first = next(flow)
    assert "authorization" not in first.headers
    return flow.send(challenge_response(challenge))


def params_of(request: httpcore2.Request) -> dict[str, str]:
    [(scheme, params)] = parse_challenges([request.headers[b"authorization"]])
    assert scheme == "digest"
    return params


def test_basic_auth_header() -> None:
    auth = httpcore2.BasicAuth("user", "pässword")
    assert auth.header == b"Basic " + base64.b64encode("user:pässword".encode())
    request = next(to_auth(("user", "pässword")).auth_flow(httpcore2.Request("GET", "http://a/")))
    assert request.headers[b"authorization"] == auth.header
    assert to_auth((b"user", b"p")).header == b"Basic " + base64.b64encode(b"user:p")  # type: ignore[attr-defined]
    assert to_auth(auth) is auth


def test_credentials_never_show_in_repr() -> None:
    assert repr(httpcore2.BasicAuth("user", "secret")) == "BasicAuth([secure])"
    assert repr(httpcore2.DigestAuth("user", "secret")) == "DigestAuth([secure])"


@pytest.mark.parametrize("auth", ["user:password", ("user",), ("a", "b", "c")])
def test_other_auth_values_are_refused(auth: object) -> None:
    with pytest.raises(TypeError, match="tuple or an Auth"):
        to_auth(auth)  # type: ignore[arg-type]


def test_the_base_flow_sends_the_request_as_it_is() -> None:
    request = httpcore2.Request("GET", "http://a/")
    assert list(httpcore2.Auth().auth_flow(request)) == [request]


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        # RFC 7616 §3.9.1.
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_digest_rfc7616_examples(
    monkeypatch: pytest.MonkeyPatch, algorithm: str, expected: str
) -> None:
    monkeypatch.setattr(_auth, "_cnonce", lambda: RFC_CNONCE.encode())
    challenge = (
        f'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={algorithm}, '
        f'nonce="{RFC_NONCE}", opaque="{RFC_OPAQUE}"'
    )
    sent = answer(httpcore2.DigestAuth("Mufasa", "Circle of Life"), challenge)
    assert params_of(sent) == {
        "username": "Mufasa",
        "realm": "http-auth@example.org",
        "uri": "/dir/index.html",
        "algorithm": algorithm,
        "nonce": RFC_NONCE,
        "nc": "00000001",
        "cnonce": RFC_CNONCE,
        "qop": "auth",
        "response": expected,
        "opaque": RFC_OPAQUE,
    }


def test_digest_without_qop_uses_the_rfc2069_form(monkeypatch: pytest.MonkeyPatch) -> None:
    sent = answer(httpcore2.DigestAuth("u", "p"), 'Digest realm="r", nonce="n"')
    params = params_of(sent)
    ha1 = hashlib.md5(b"u:r:p").hexdigest()
    ha2 = hashlib.md5(b"GET:/dir/index.html").hexdigest()
    assert params["response"] == hashlib.md5(f"{ha1}:n:{ha2}".encode()).hexdigest()
    assert "qop" not in params
    assert "nc" not in params
    assert "opaque" not in params


def test_digest_auth_int_hashes_the_body(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_auth, "_cnonce", lambda: b"c")
    auth = httpcore2.DigestAuth("u", "p")
    flow = auth.auth_flow(httpcore2.Request("POST", "http://a/x?y=1", content=b"body"))
    next(flow)
    sent = flow.send(challenge_response('Digest realm="r", nonce="n", qop="auth-int"'))
    ha1 = hashlib.md5(b"u:r:p").hexdigest()
    ha2 = hashlib.md5(b"POST:/x?y=1:" + hashlib.md5(b"body").hexdigest().encode()).hexdigest()
    expected = hashlib.md5(f"{ha1}:n:00000001:c:auth-int:{ha2}".encode()).hexdigest()
    assert params_of(sent)["response"] == expected


def test_digest_names_that_are_not_plain_ascii_use_the_extended_form() -> None:
    sent = answer(httpcore2.DigestAuth("Jäsøn", "p"), 'Digest realm="r", nonce="n"')
    assert b"username*=UTF-8''J%C3%A4s%C3%B8n," in sent.headers[b"authorization"]
    sent = answer(httpcore2.DigestAuth("a\tb", "p"), 'Digest realm="r", nonce="n"')
    assert b"username*=UTF-8''a%09b," in sent.headers[b"authorization"]


def test_digest_values_are_quoted() -> None:
    sent = answer(httpcore2.DigestAuth('a"b', "p"), r'Digest realm="x\"y\\z", nonce="n"')
    assert sent.headers["authorization"].startswith(r'Digest username="a\"b", realm="x\"y\\z"')


def test_digest_nonce_count_goes_on_across_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    auth = httpcore2.DigestAuth("u", "p")
    answer(auth, 'Digest realm="r", nonce="n", qop="auth"', "http://a/")
    # Not yet kept: the answer has not been accepted.
    assert (
        "authorization" not in next(auth.auth_flow(httpcore2.Request("GET", "http://a/"))).headers
    )
    flow = auth.auth_flow(httpcore2.Request("GET", "http://a/"))
    next(flow)
    sent = flow.send(challenge_response('Digest realm="r", nonce="n", qop="auth"'))
    with pytest.raises(StopIteration):
        flow.send(httpcore2.Response(200))
    assert params_of(sent)["nc"] == "00000001"
    for count in ("00000002", "00000003"):
        up_front = next(auth.auth_flow(httpcore2.Request("GET", "http://a/")))
        assert params_of(up_front)["nc"] == count
    # Another origin has no challenge yet.
    assert (
        "authorization" not in next(auth.auth_flow(httpcore2.Request("GET", "http://b/"))).headers
    )


@pytest.mark.case("S09")
def test_digest_answers_a_challenge_once() -> None:
    auth = httpcore2.DigestAuth("u", "wrong")
    flow = auth.auth_flow(httpcore2.Request("GET", "http://a/"))
    next(flow)
    flow.send(challenge_response('Digest realm="r", nonce="1"'))
    with pytest.raises(StopIteration):
        flow.send(challenge_response('Digest realm="r", nonce="2"'))


def test_digest_answers_a_stale_challenge_once_more() -> None:
    auth = httpcore2.DigestAuth("u", "p")
    flow = auth.auth_flow(httpcore2.Request("GET", "http://a/"))
    next(flow)
    flow.send(challenge_response('Digest realm="r", nonce="1"'))
    again = flow.send(challenge_response('Digest realm="r", nonce="2", stale=TRUE'))
    assert params_of(again)["nonce"] == "2"
    with pytest.raises(StopIteration):
        flow.send(challenge_response('Digest realm="r", nonce="3", stale=true'))


@pytest.mark.parametrize(
    "challenge",
    [
        'Basic realm="r"',
        'Digest realm="r"',  # no nonce
        'Digest realm="r", nonce="n", algorithm=SHA-1',
        'Digest realm="r", nonce="n", qop="auth-conf"',
    ],
)
def test_digest_leaves_challenges_it_cannot_answer(challenge: str) -> None:
    flow = httpcore2.DigestAuth("u", "p").auth_flow(httpcore2.Request("GET", "http://a/"))
    next(flow)
    with pytest.raises(StopIteration):
        flow.send(challenge_response(challenge))


def test_digest_picks_the_first_challenge_it_can_answer() -> None:
    header = (
        'Basic realm="b", Digest realm="r", nonce="1", algorithm=UNKNOWN, '
        'Digest realm="r", nonce="2", algorithm=SHA-256-sess, qop="auth"'
    )
    params = params_of(answer(httpcore2.DigestAuth("u", "p"), header))
    assert (params["nonce"], params["algorithm"]) == ("2", "SHA-256-SESS")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([b'Basic realm="a b"'], [("basic", {"realm": "a b"})]),
        (
            [b"Newauth realm=apps, type=1, Basic realm=simple"],
            [("newauth", {"realm": "apps", "type": "1"}), ("basic", {"realm": "simple"})],
        ),
        ([b"Bearer", b'Digest NONCE="x\\"y"'], [("bearer", {}), ("digest", {"nonce": 'x"y'})]),
        ([b"Negotiate abc==", b"Basic"], [("negotiate", {}), ("basic", {})]),
        ([b'=oops, Basic realm="r"'], []),
        ([b""], []),
    ],
)
def test_parse_challenges(values: list[bytes], expected: list[tuple[str, dict[str, str]]]) -> None:
    assert parse_challenges(values) == expected
