"""The `httpcore2` logger: INFO per response and retry, DEBUG per connection event, no secrets."""

from __future__ import annotations

import base64
import logging
import re

import pytest

import httpcore2
from tests.servers.asgi_server import Server

SECRETS = ["pa55word", "s3cr3t-auth", "c00kie-value"]


def messages(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "httpcore2" and record.levelno == level
    ]


@pytest.mark.anyio
async def test_one_info_line_per_response(server: Server, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="httpcore2")
    async with httpcore2.Client(base_url=server.url) as client:
        await client.get("/")
        await client.get("/status/404")
        async with client.stream("GET", "/stream/10"):
            pass
    port = server.url.rsplit(":", 1)[1]
    lines = messages(caplog, logging.INFO)
    patterns = [
        rf'GET http://127\.0\.0\.1:{port}/ "HTTP/1\.1 200 OK" \d+\.\d{{3}} s',
        rf'GET http://127\.0\.0\.1:{port}/status/404 "HTTP/1\.1 404 Not Found" \d+\.\d{{3}} s',
        rf'GET http://127\.0\.0\.1:{port}/stream/10 "HTTP/1\.1 200 OK" \d+\.\d{{3}} s',
    ]
    for line, pattern in zip(lines, patterns, strict=True):
        assert re.fullmatch(pattern, line), line
    assert messages(caplog, logging.DEBUG) == []


@pytest.mark.anyio
async def test_connection_events_at_debug(
    tls_server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="httpcore2")
    async with httpcore2.Client(verify=str(tls_server.ca_file)) as client:
        await client.get(tls_server.url + "/")
        await client.get(tls_server.url + "/")
    lines = [line.split(": ", 1) for line in messages(caplog, logging.DEBUG)]
    [connection] = {name for name, _ in lines}
    assert [event for _, event in lines] == [
        f"connected to {tls_server.url}",
        "TLS TLSv1.3, ALPN http/1.1",
        f"reused for {tls_server.url}",
        "closed",
    ]
    assert re.fullmatch(r"Connection 0x[0-9a-f]+", connection)


@pytest.mark.anyio
async def test_credentials_and_cookies_never_reach_the_logs(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="httpcore2")
    url = server.url.replace("http://", "http://user:pa55word@")
    retry = httpcore2.Retry(1, status_forcelist=[503], backoff_max=0.0)
    async with httpcore2.Client(
        auth=("user", "s3cr3t-auth"), cookies={"session": "c00kie-value"}, retries=retry
    ) as client:
        await client.post(url + "/echo", content=b"body")
        await client.get(url + "/status/503")
    assert len(messages(caplog, logging.INFO)) == 3  # two responses and a retry
    failures = [httpcore2.ConnectError("refused")]

    def handler(request: httpcore2.Request) -> httpcore2.Response:
        if failures:
            raise failures.pop()
        return httpcore2.Response(200)

    async with httpcore2.Client(
        transport=httpcore2.MockTransport(handler), retries=1, auth=("user", "s3cr3t-auth")
    ) as client:
        await client.get(url + "/again")
    assert messages(caplog, logging.INFO)[-2].endswith("/again in 0.00 s after ConnectError")
    text = caplog.text
    basic = base64.b64encode(b"user:s3cr3t-auth").decode()
    for secret in [*SECRETS, basic, "Authorization", "Cookie"]:
        assert secret not in text


@pytest.mark.anyio
async def test_nothing_is_formatted_when_the_level_is_off(
    server: Server, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.WARNING, logger="httpcore2")
    logger = logging.getLogger("httpcore2")

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("logged while the level is off")

    for level in ("debug", "info"):
        monkeypatch.setattr(logger, level, refuse)
    monkeypatch.setattr(httpcore2._logging, "safe_url", refuse)
    retry = httpcore2.Retry(1, status_forcelist=[503], backoff_max=0.0)
    async with httpcore2.Client(base_url=server.url, retries=retry) as client:
        assert (await client.get("/status/503")).status == 503
        assert (await client.get("/")).status == 200


@pytest.mark.anyio
async def test_a_scripted_tls_connection_logs_too(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="httpcore2")
    backend = httpcore2.MockBackend([b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"])
    async with httpcore2.ConnectionPool(network_backend=backend) as pool:
        await pool.request("GET", "https://example.com/")
    assert any(line.endswith("TLS TLSv1.3, ALPN None") for line in messages(caplog, logging.DEBUG))


# unasync: remove-begin
def test_a_backend_without_an_ssl_object_still_logs(caplog: pytest.LogCaptureFixture) -> None:
    # Written once: this checks the log helper alone.
    caplog.set_level(logging.DEBUG, logger="httpcore2")

    class Plain:
        def get_extra_info(self, info: str) -> None:
            return None

    httpcore2._logging.log_tls(object(), Plain())
    assert messages(caplog, logging.DEBUG)[0].endswith("TLS None, ALPN None")
    url = httpcore2.URL("https://user:pw@example.org/a?b=1")
    assert httpcore2._logging.safe_url(url) == "https://example.org/a?b=1"


# unasync: remove-end
