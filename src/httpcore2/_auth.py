"""Credentials sent by the auth layer: HTTP Basic (RFC 7617)."""

from __future__ import annotations

import base64
from typing import Union

__all__ = ["AuthTypes", "BasicAuth", "auth_header"]


class BasicAuth:
    """HTTP Basic credentials, sent with every request to the origin they are for.

    ```python
    client = httpcore2.Client(auth=httpcore2.BasicAuth("user", "password"))
    ```

    A `(username, password)` tuple means the same. Both are encoded as UTF-8.
    """

    __slots__ = ("_header",)

    def __init__(self, username: str | bytes, password: str | bytes) -> None:
        credentials = _to_bytes(username) + b":" + _to_bytes(password)
        self._header = b"Basic " + base64.b64encode(credentials)

    @property
    def header(self) -> bytes:
        """The value of the `Authorization` header."""
        return self._header

    def __repr__(self) -> str:
        return "BasicAuth([secure])"


AuthTypes = Union[BasicAuth, tuple[Union[str, bytes], Union[str, bytes]]]


def auth_header(auth: AuthTypes) -> bytes:
    """The `Authorization` header value for `auth`."""
    if isinstance(auth, BasicAuth):
        return auth.header
    if isinstance(auth, tuple) and len(auth) == 2:
        return BasicAuth(*auth).header
    raise TypeError(
        f"auth must be a (username, password) tuple or a BasicAuth, not {type(auth).__name__}"
    )


def _to_bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8")
