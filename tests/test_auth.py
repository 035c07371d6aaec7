"""Basic credentials (RFC 7617)."""

from __future__ import annotations

import base64

import pytest

import httpcore2
from httpcore2._auth import auth_header


def test_basic_auth_header() -> None:
    auth = httpcore2.BasicAuth("user", "pässword")
    assert auth.header == b"Basic " + base64.b64encode("user:pässword".encode())
    assert auth_header(auth) == auth_header(("user", "pässword")) == auth.header
    assert auth_header((b"user", b"p")) == b"Basic " + base64.b64encode(b"user:p")


def test_credentials_never_show_in_repr() -> None:
    assert repr(httpcore2.BasicAuth("user", "secret")) == "BasicAuth([secure])"


@pytest.mark.parametrize("auth", ["user:password", ("user",), ("a", "b", "c")])
def test_other_auth_values_are_refused(auth: object) -> None:
    with pytest.raises(TypeError, match="tuple or a BasicAuth"):
        auth_header(auth)  # type: ignore[arg-type]
