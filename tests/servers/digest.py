"""A WSGI app that demands Digest authentication (RFC 7616), for what httpbin lacks.

httpbin offers MD5, SHA-256 and SHA-512 without `-sess` and without `userhash`; this app
offers any RFC 7616 algorithm, `-sess` included, `userhash`, and nonces that go stale after a
number of uses. It checks the nonce count: each must be higher than the last one seen for
its nonce.

```python
app = DigestApp("user", "pass", algorithm="SHA-512-256-sess", userhash=True)
with WSGIServer(app) as server:
    ...
```
"""

from __future__ import annotations

import hashlib
import itertools
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["DigestApp"]

REALM = "digest@test"
_HASHES: dict[str, Callable[[bytes], Any]] = {
    "MD5": hashlib.md5,
    "SHA-256": hashlib.sha256,
    "SHA-512-256": lambda data: hashlib.new("sha512_256", data),
}
_PARAM = re.compile(r'([a-z*]+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')


class DigestApp:
    """Answers 200 `ok` to a valid Digest `Authorization`, else 401 with a challenge.

    `nonce_uses` bounds how many requests one nonce authenticates; past it the challenge
    says `stale=true`. `answers` counts the 401s sent.
    """

    def __init__(
        self,
        username: str,
        password: str,
        *,
        algorithm: str = "MD5",
        qop: str = "auth",
        userhash: bool = False,
        nonce_uses: int | None = None,
    ) -> None:
        self.username = username
        self.password = password
        self.algorithm = algorithm
        self.qop = qop
        self.userhash = userhash
        self.nonce_uses = nonce_uses
        self.answers = 0
        self._lock = threading.Lock()
        self._nonces: dict[str, list[int]] = {}  # nonce -> counts seen
        self._counter = itertools.count()

    def _hash(self, data: str | bytes) -> str:
        raw = data.encode("utf-8") if isinstance(data, str) else data
        name = self.algorithm.upper().removesuffix("-SESS")
        return str(_HASHES[name](raw).hexdigest())

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        verdict = self._check(environ, body)
        if verdict == "ok":
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
            return [b"ok"]
        with self._lock:
            self.answers += 1
            nonce = f"n{next(self._counter)}"
            self._nonces[nonce] = []
        challenge = (
            f'Digest realm="{REALM}", nonce="{nonce}", qop="{self.qop}", '
            f'algorithm={self.algorithm}, opaque="opaque-value"'
        )
        if self.userhash:
            challenge += ", userhash=true"
        if verdict == "stale":
            challenge += ", stale=true"
        start_response(
            "401 Unauthorized",
            [("WWW-Authenticate", challenge), ("Content-Length", "0")],
        )
        return [b""]

    def _check(self, environ: dict[str, Any], body: bytes) -> str:
        header = environ.get("HTTP_AUTHORIZATION", "")
        if not header.startswith("Digest "):
            return "missing"
        params = {
            match.group(1): match.group(2) if match.group(2) is not None else match.group(3)
            for match in _PARAM.finditer(header[7:])
        }
        nonce = params.get("nonce", "")
        with self._lock:
            seen = self._nonces.get(nonce)
            if seen is None:
                return "unknown nonce"
            count = int(params.get("nc", "0"), 16)
            if seen and count <= seen[-1]:
                return "replayed count"
            if self.nonce_uses is not None and len(seen) >= self.nonce_uses:
                return "stale"
            seen.append(count)
        expected_user = self._hash(f"{self.username}:{REALM}") if self.userhash else self.username
        if params.get("username") != expected_user or params.get("opaque") != "opaque-value":
            return "wrong user"
        ha1 = self._hash(f"{self.username}:{REALM}:{self.password}")
        if self.algorithm.upper().endswith("-SESS"):
            ha1 = self._hash(f"{ha1}:{nonce}:{params['cnonce']}")
        path = environ["PATH_INFO"] + (
            "?" + environ["QUERY_STRING"] if environ.get("QUERY_STRING") else ""
        )
        a2 = f"{environ['REQUEST_METHOD']}:{path}"
        if params.get("qop") == "auth-int":
            a2 += ":" + self._hash(body)
        expected = self._hash(
            f"{ha1}:{nonce}:{params.get('nc')}:{params.get('cnonce')}:{params.get('qop')}:"
            + self._hash(a2)
        )
        return "ok" if params.get("uri") == path and params.get("response") == expected else "bad"
