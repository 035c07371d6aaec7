"""The RFC 7616 Digest test app against an independent client, curl: where curl and httpcore2
both pass the app (`tests/_async/test_auth.py`), they agree with each other on `-sess` and
`userhash`, which httpbin does not offer. (curl 7.x answers neither `qop=auth-int` nor
SHA-512-256.)"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.servers.digest import DigestApp
from tests.servers.wsgi import WSGIServer


@pytest.mark.parametrize("algorithm", ["MD5", "MD5-sess", "SHA-256", "SHA-256-sess"])
@pytest.mark.parametrize("userhash", [False, True])
def test_curl_passes_the_digest_app(algorithm: str, userhash: bool) -> None:
    curl = shutil.which("curl")
    assert curl is not None, "curl is needed (.ci/run installs it)"
    app = DigestApp("Mufasa", "Circle of Life", algorithm=algorithm, userhash=userhash)
    options = ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-d", "body", "--digest"]
    with WSGIServer(app) as server:
        result = subprocess.run(
            [curl, *options, "-u", "Mufasa:Circle of Life", server.url + "/doe.json?x=1"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
    assert result.stdout == "200"
    assert app.answers == 1
