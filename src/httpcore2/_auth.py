"""Authentication as sans-IO flows: Basic (RFC 7617), Digest (RFC 7616) and your own.

An `Auth` is a generator that yields the requests to send and receives their responses:

```python
flow = auth.auth_flow(request)
request = next(flow)
while True:
    response = send(request)          # the only I/O, done by AuthAdapter (sync or async)
    try:
        request = flow.send(response)
    except StopIteration:
        break                         # `response` is the answer
```

One flow class therefore serves both worlds. The adapter runs a flow only for the origin
its credentials belong to (see `AuthAdapter`).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import threading
from collections.abc import Callable, Generator
from typing import Union
from urllib.parse import quote

from ._models import Request, Response
from ._urls import Origin

__all__ = ["Auth", "AuthTypes", "BasicAuth", "DigestAuth", "FlowType", "to_auth"]

FlowType = Generator[Request, Response, None]


class Auth:
    """The base of every authentication scheme: subclass it and write `auth_flow`.

    ```python
    class TokenAuth(httpcore2.Auth):
        def __init__(self, token: str) -> None:
            self.token = token

        def auth_flow(self, request):
            request.headers["Authorization"] = f"Bearer {self.token}"
            yield request
    ```

    `auth_flow(request)` is a generator: it yields each request to send and receives its
    response (`response = yield request`). The last response it received when it returns
    is the one handed back to the caller. The request it is given is a copy, free to
    change; it may also yield new `Request`s (to fetch a token first, say).
    Set `requires_request_body` when the flow reads `request.content` (the body is loaded
    before the flow starts) and `requires_response_body` when it reads a response's body
    (each response is read before it is sent into the flow). The same flow works with
    `Client` and `SyncClient`.
    """

    requires_request_body = False
    requires_response_body = False

    def auth_flow(self, request: Request) -> FlowType:
        """Yield the requests to send; receive each one's response."""
        yield request


class BasicAuth(Auth):
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

    def auth_flow(self, request: Request) -> FlowType:
        """Send the credentials up front: Basic needs no challenge."""
        request.headers["Authorization"] = self._header
        yield request

    def __repr__(self) -> str:
        return "BasicAuth([secure])"


AuthTypes = Union[Auth, tuple[Union[str, bytes], Union[str, bytes]]]


def to_auth(auth: AuthTypes) -> Auth:
    """An `Auth` from an `Auth` or a `(username, password)` tuple (Basic)."""
    if isinstance(auth, Auth):
        return auth
    if isinstance(auth, tuple) and len(auth) == 2:
        return BasicAuth(*auth)
    raise TypeError(
        f"auth must be a (username, password) tuple or an Auth, not {type(auth).__name__}"
    )


def _to_bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8")


# Digest (RFC 7616).

_HASHES: dict[str, Callable[[bytes], str]] = {
    "MD5": lambda data: hashlib.md5(data, usedforsecurity=False).hexdigest(),
    "SHA-256": lambda data: hashlib.sha256(data).hexdigest(),
    "SHA-512-256": lambda data: hashlib.new("sha512_256", data).hexdigest(),
    # Not in RFC 7616, but offered by servers such as httpbin.
    "SHA-512": lambda data: hashlib.sha512(data).hexdigest(),
}
# An auth-param: name=token or name="quoted string" (with backslash escapes).
_PARAM = re.compile(r'\s*([!#$%&\'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,"]*)\s*,?')
_SCHEME = re.compile(r"\s*,?\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)(?=\s|,|$)")
# The token68 form of credentials (`Negotiate abc==`): skipped, as no flow here reads it.
_TOKEN68 = re.compile(r"\s*[A-Za-z0-9._~+/-]+=*\s*(?:,|$)")
_NEEDS_QUOTING = re.compile(r'["\\]')


def parse_challenges(values: list[bytes]) -> list[tuple[str, dict[str, str]]]:
    """The challenges of `WWW-Authenticate` headers: `[(scheme, {param: value})]`, in order.

    Scheme and parameter names are lower-cased; quoted values are unescaped. A header may
    carry several challenges separated by commas (RFC 9110 §11.6.1).
    """
    challenges: list[tuple[str, dict[str, str]]] = []
    for value in values:
        text = value.decode("latin-1")
        position = 0
        while position < len(text):
            param = _PARAM.match(text, position)
            if param is not None and challenges:
                name, raw = param.group(1).lower(), param.group(2)
                if raw.startswith('"'):
                    raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
                challenges[-1][1][name] = raw
                position = param.end()
                continue
            scheme = _SCHEME.match(text, position)
            if scheme is None:
                break  # not a challenge: ignore the rest of this header
            challenges.append((scheme.group(1).lower(), {}))
            position = scheme.end()
            token68 = _TOKEN68.match(text, position)
            if token68 is not None:
                position = token68.end()
    return challenges


class _Challenge:
    """A Digest challenge as received, with its nonce count (shared by the requests that
    answer it, so that each sends the next count)."""

    __slots__ = (
        "_lock",
        "algorithm",
        "count",
        "nonce",
        "opaque",
        "qop",
        "realm",
        "stale",
        "userhash",
    )

    def __init__(self, params: dict[str, str]) -> None:
        self.realm = params.get("realm", "")
        self.nonce = params["nonce"]
        self.opaque = params.get("opaque")
        self.algorithm = params.get("algorithm", "MD5").upper()
        self.qop = _choose_qop(params.get("qop"))
        self.userhash = params.get("userhash", "").lower() == "true"
        self.stale = params.get("stale", "").lower() == "true"
        self.count = 0
        self._lock = threading.Lock()

    def next_count(self) -> int:
        with self._lock:
            self.count += 1
            return self.count


def _choose_qop(offered: str | None) -> str | None:
    """`auth` when offered (it needs no body), else `auth-int`; "" when neither is usable;
    `None` when the server offered no qop (the RFC 2069 form)."""
    if offered is None:
        return None
    options = {option.strip().lower() for option in offered.split(",")}
    if "auth" in options:
        return "auth"
    return "auth-int" if "auth-int" in options else ""


def _digest_challenge(response: Response) -> _Challenge | None:
    """The first Digest challenge of a 401 that this module can answer, if any."""
    values = [value for name, value in response.headers if name.lower() == b"www-authenticate"]
    for scheme, params in parse_challenges(values):
        algorithm = params.get("algorithm", "MD5").upper().removesuffix("-SESS")
        usable = algorithm in _HASHES and _choose_qop(params.get("qop")) != ""
        if scheme == "digest" and "nonce" in params and usable:
            return _Challenge(params)
    return None


class DigestAuth(Auth):
    """HTTP Digest credentials (RFC 7616), answering a server's challenge.

    ```python
    client = httpcore2.Client(auth=httpcore2.DigestAuth("user", "password"))
    ```

    Algorithms MD5, SHA-256 and SHA-512-256 with their `-sess` variants (and SHA-512 as
    some servers offer it); qop `auth` and `auth-int`; `userhash`. The first request goes
    without credentials; a 401 with a Digest challenge is answered once. The challenge is
    then kept per origin, so later requests of the same client answer it up front with the
    next nonce count; a `stale=true` challenge (the nonce expired, the password was right)
    is answered once more.
    """

    # To send the body again after a challenge, and to hash it for qop=auth-int.
    requires_request_body = True

    def __init__(self, username: str | bytes, password: str | bytes) -> None:
        self._username = _to_bytes(username)
        self._password = _to_bytes(password)
        self._challenges: dict[Origin, _Challenge] = {}

    def auth_flow(self, request: Request) -> FlowType:
        """Answer a 401 Digest challenge, once (twice if the nonce was stale)."""
        origin = request.url.origin
        known = self._challenges.get(origin)
        if known is not None:
            request.headers["Authorization"] = self._authorization(request, known)
        response = yield request
        answered = stale_answered = False
        while response.status == 401:
            challenge = _digest_challenge(response)
            if challenge is None:
                return
            if answered:
                # The credentials were refused; a stale nonce is the one excuse, taken once.
                if not challenge.stale or stale_answered:
                    return
                stale_answered = True
            answered = True
            request.headers["Authorization"] = self._authorization(request, challenge)
            response = yield request
            if response.status != 401:
                # Answered up front by the next requests of this client, nonce count going on.
                self._challenges[origin] = challenge

    def _authorization(self, request: Request, challenge: _Challenge) -> bytes:
        hash_ = _HASHES[challenge.algorithm.removesuffix("-SESS")]
        realm = challenge.realm.encode("utf-8")
        nonce = challenge.nonce.encode("utf-8")
        count = challenge.next_count()
        nc = b"%08x" % count
        cnonce = _cnonce()
        uri = request.url.raw.target
        ha1 = hash_(self._username + b":" + realm + b":" + self._password)
        if challenge.algorithm.endswith("-SESS"):
            ha1 = hash_(b":".join((ha1.encode("ascii"), nonce, cnonce)))
        a2 = request.method.encode("ascii") + b":" + uri
        if challenge.qop == "auth-int":
            a2 += b":" + hash_(request.content).encode("ascii")
        ha2 = hash_(a2).encode("ascii")
        if challenge.qop is None:
            digest = hash_(b":".join((ha1.encode("ascii"), nonce, ha2)))
        else:
            qop = challenge.qop.encode("ascii")
            digest = hash_(b":".join((ha1.encode("ascii"), nonce, nc, cnonce, qop, ha2)))
        if challenge.userhash:
            username = ("username", hash_(self._username + b":" + realm), True)
        else:
            username = _username_param(self._username)
        params = [
            username,
            ("realm", challenge.realm, True),
            ("nonce", challenge.nonce, True),
            ("uri", uri.decode("ascii"), True),
            ("response", digest, True),
            ("algorithm", challenge.algorithm, False),
        ]
        if challenge.opaque is not None:
            params.append(("opaque", challenge.opaque, True))
        if challenge.qop is not None:
            params += [
                ("qop", challenge.qop, False),
                ("nc", nc.decode("ascii"), False),
                ("cnonce", cnonce.decode("ascii"), True),
            ]
        if challenge.userhash:
            params.append(("userhash", "true", False))
        text = ", ".join(
            f"{name}={_quote(value) if quoted else value}" for name, value, quoted in params
        )
        return b"Digest " + text.encode("utf-8")

    def __repr__(self) -> str:
        return "DigestAuth([secure])"


def _cnonce() -> bytes:
    return os.urandom(16).hex().encode("ascii")


def _username_param(username: bytes) -> tuple[str, str, bool]:
    """`username="..."`, or for a name that is not plain ASCII `username*=UTF-8''...`
    (RFC 7616 §3.4.4, with the encoding of RFC 8187)."""
    try:
        text = username.decode("ascii")
    except UnicodeDecodeError:
        return ("username*", "UTF-8''" + quote(username, safe=""), False)
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in text):
        return ("username*", "UTF-8''" + quote(username, safe=""), False)
    return ("username", text, True)


def _quote(value: str) -> str:
    return '"' + _NEEDS_QUOTING.sub(r"\\\g<0>", value) + '"'
