"""RetryAdapter against loopback servers that fail on purpose, and in the client's stack."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

import httpcore2
from tests.servers.asgi_server import Server
from tests.servers.raw import OK, RawConnection, RawServerFactory, build_response

QUICK = {"timeout": {"connect": 2.0, "read": 2.0, "write": 2.0, "pool": 2.0}}


def reset_before_response(conn: RawConnection) -> None:
    """Close with a RST: not a byte of the response."""
    conn.reset()


def never_answer(conn: RawConnection) -> None:
    """Never answer, until the client gives up and closes."""
    conn.wait_for_close()


def short_503(conn: RawConnection) -> None:
    """A 503 whose body ends (FIN) 96 bytes short of its `Content-Length`."""
    conn.send(build_response(503, b"busy", content_length=100))


def unavailable(retry_after: str | None = "7", body: bytes = b"busy") -> bytes:
    headers = [] if retry_after is None else [("Retry-After", retry_after)]
    return build_response(503, body, headers)


class Script:
    """A raw-server handler: the n-th request of the server (over all its connections) gets
    the n-th step, the last step repeating. A step is the bytes of a response, or a function
    that answers (or not) and ends the connection."""

    def __init__(self, *steps: bytes | Callable[[RawConnection], None]) -> None:
        self.steps = list(steps)
        self.requests = 0
        self._lock = threading.Lock()

    def __call__(self, conn: RawConnection) -> None:
        while conn.recv_request():
            with self._lock:
                self.requests += 1
                step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
            if not isinstance(step, bytes):
                step(conn)
                return
            conn.send(step)


def fake_sleep(adapter: httpcore2.RetryAdapter) -> list[float]:
    """Make the adapter's waits instant, and return the list of the delays it asked for."""
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)

    adapter.sleep = sleep
    return delays


def in_use(pool: httpcore2.ConnectionPool) -> list[Any]:
    return [connection for connection in pool.connections if not connection.is_idle()]


@pytest.mark.anyio
async def test_503_with_retry_after_is_retried_after_the_delay_it_asks_for(
    raw_server: RawServerFactory,
) -> None:
    script = Script(unavailable("7"), unavailable("7"), OK)
    server = raw_server(script)
    retry = httpcore2.Retry(3, status_forcelist=[503], backoff_factor=1.0)
    async with httpcore2.RetryAdapter(httpcore2.ConnectionPool(), retry=retry) as adapter:
        delays = fake_sleep(adapter)
        response = await adapter.handle_request(
            httpcore2.Request("GET", server.url + "/", extensions=QUICK)
        )
        assert response.status == 200
        assert await response.aread() == b"Hello, world!"
        assert script.requests == 3
        assert delays == [7.0, 7.0]
        attempts = response.extensions["retries"]
        assert [(attempt.status, attempt.error, attempt.delay) for attempt in attempts] == [
            (503, None, 7.0),
            (503, None, 7.0),
        ]
        # The 503s were drained and closed: their connection served every attempt.
        assert len(server.connections) == 1
        assert in_use(adapter.inner) == []


@pytest.mark.case("S50")
@pytest.mark.anyio
async def test_retry_after_is_capped_and_backoff_grows(raw_server: RawServerFactory) -> None:
    script = Script(unavailable("3600"), unavailable(None), unavailable(None), OK)
    server = raw_server(script)
    retry = httpcore2.Retry(3, status_forcelist=[503], backoff_factor=0.5, backoff_max=30.0)
    async with httpcore2.RetryAdapter(httpcore2.ConnectionPool(), retry=retry) as adapter:
        delays = fake_sleep(adapter)
        response = await adapter.handle_request(
            httpcore2.Request("GET", server.url + "/", extensions=QUICK)
        )
        await response.aread()
        assert response.status == 200
        assert delays == [30.0, 1.0, 2.0]
        assert script.requests == 4


@pytest.mark.anyio
async def test_when_statuses_run_out_the_last_response_is_returned(
    raw_server: RawServerFactory,
) -> None:
    script = Script(unavailable("1"))
    server = raw_server(script)
    retry = httpcore2.Retry(2, status_forcelist=[503])
    async with httpcore2.RetryAdapter(httpcore2.ConnectionPool(), retry=retry) as adapter:
        delays = fake_sleep(adapter)
        response = await adapter.handle_request(
            httpcore2.Request("GET", server.url + "/", extensions=QUICK)
        )
        assert response.status == 503
        assert await response.aread() == b"busy"
        assert script.requests == 3
        assert delays == [1.0, 1.0]
        assert len(response.extensions["retries"]) == 2
        assert in_use(adapter.inner) == []


@pytest.mark.anyio
async def test_a_discarded_body_that_fails_does_not_stop_the_retry(
    raw_server: RawServerFactory,
) -> None:
    script = Script(short_503, OK)
    server = raw_server(script)
    retry = httpcore2.Retry(3, status_forcelist=[503])
    async with httpcore2.RetryAdapter(httpcore2.ConnectionPool(), retry=retry) as adapter:
        fake_sleep(adapter)
        response = await adapter.handle_request(
            httpcore2.Request("GET", server.url + "/", extensions=QUICK)
        )
        await response.aread()
        assert response.status == 200
        assert [attempt.status for attempt in response.extensions["retries"]] == [503]
        assert len(server.connections) == 2
        assert in_use(adapter.inner) == []


@pytest.mark.anyio
async def test_a_reset_before_the_response_is_retried(raw_server: RawServerFactory) -> None:
    script = Script(reset_before_response, reset_before_response, OK)
    server = raw_server(script)
    retry = httpcore2.Retry(3, backoff_factor=0.1)
    async with httpcore2.RetryAdapter(httpcore2.ConnectionPool(), retry=retry) as adapter:
        delays = fake_sleep(adapter)
        response = await adapter.handle_request(
            httpcore2.Request("GET", server.url + "/", extensions=QUICK)
        )
        assert await response.aread() == b"Hello, world!"
        assert script.requests == 3
        assert delays == [0.1, 0.2]
        errors = [attempt.error for attempt in response.extensions["retries"]]
        assert all(isinstance(error, httpcore2.TransportError) for error in errors)
        assert len(errors) == 2
        assert in_use(adapter.inner) == []


@pytest.mark.anyio
async def test_when_read_retries_run_out_the_last_error_is_raised(
    raw_server: RawServerFactory,
) -> None:
    script = Script(reset_before_response)
    server = raw_server(script)
    retry = httpcore2.Retry(5, read=1)
    async with httpcore2.RetryAdapter(httpcore2.ConnectionPool(), retry=retry) as adapter:
        delays = fake_sleep(adapter)
        with pytest.raises((httpcore2.ReadError, httpcore2.RemoteProtocolError)) as info:
            await adapter.handle_request(
                httpcore2.Request("GET", server.url + "/", extensions=QUICK)
            )
        assert info.value.request.url == server.url + "/"
        assert script.requests == 2
        assert delays == [0.0]
        assert adapter.inner.connections == []


@pytest.mark.anyio
async def test_a_slow_first_byte_times_out_and_is_retried(raw_server: RawServerFactory) -> None:
    script = Script(never_answer, OK)
    server = raw_server(script)
    slow = {"timeout": {"connect": 2.0, "read": 0.2, "write": 2.0, "pool": 2.0}}
    async with httpcore2.RetryAdapter(httpcore2.ConnectionPool()) as adapter:
        fake_sleep(adapter)
        response = await adapter.handle_request(
            httpcore2.Request("GET", server.url + "/", extensions=slow)
        )
        assert await response.aread() == b"Hello, world!"
        [attempt] = response.extensions["retries"]
        assert isinstance(attempt.error, httpcore2.ReadTimeout)
        assert script.requests == 2
        assert in_use(adapter.inner) == []


@pytest.mark.anyio
async def test_a_slow_first_byte_every_time_raises_read_timeout(
    raw_server: RawServerFactory,
) -> None:
    script = Script(never_answer)
    server = raw_server(script)
    slow = {"timeout": {"connect": 2.0, "read": 0.1, "write": 2.0, "pool": 2.0}}
    async with httpcore2.RetryAdapter(httpcore2.ConnectionPool(), retry=httpcore2.Retry(1)) as t:
        fake_sleep(t)
        with pytest.raises(httpcore2.ReadTimeout):
            await t.handle_request(httpcore2.Request("GET", server.url + "/", extensions=slow))
        assert script.requests == 2
        assert t.inner.connections == []


@pytest.mark.anyio
@pytest.mark.case("F12")
async def test_connection_refused_is_retried_then_raised(unused_port: int) -> None:
    url = f"http://127.0.0.1:{unused_port}/"
    retry = httpcore2.Retry(2, backoff_factor=0.25)
    async with httpcore2.RetryAdapter(httpcore2.ConnectionPool(), retry=retry) as adapter:
        delays = fake_sleep(adapter)
        with pytest.raises(httpcore2.ConnectError):
            await adapter.handle_request(httpcore2.Request("GET", url, extensions=QUICK))
        assert delays == [0.25, 0.5]
        # Nothing was sent: a POST is retried too.
        delays.clear()
        with pytest.raises(httpcore2.ConnectError):
            await adapter.handle_request(
                httpcore2.Request("POST", url, content=b"x", extensions=QUICK)
            )
        assert delays == [0.25, 0.5]
        assert adapter.inner.connections == []


@pytest.mark.case("S50")
@pytest.mark.anyio
async def test_methods_not_allowed_and_bodies_not_replayable_are_sent_once(
    raw_server: RawServerFactory,
) -> None:
    script = Script(unavailable("1"), reset_before_response, unavailable("1"), OK)
    server = raw_server(script)
    retry = httpcore2.Retry(3, status_forcelist=[503])
    async with httpcore2.RetryAdapter(httpcore2.ConnectionPool(), retry=retry) as adapter:
        delays = fake_sleep(adapter)
        # POST is not idempotent: its 503 and its reset reach the caller as they are.
        response = await adapter.handle_request(
            httpcore2.Request("POST", server.url + "/", content=b"x", extensions=QUICK)
        )
        assert response.status == 503
        assert response.extensions["retries"] == ()
        await response.aclose()
        with pytest.raises((httpcore2.ReadError, httpcore2.RemoteProtocolError)):
            await adapter.handle_request(
                httpcore2.Request("POST", server.url + "/", content=b"x", extensions=QUICK)
            )
        # PUT is idempotent, but an iterator body cannot be sent twice.
        response = await adapter.handle_request(
            httpcore2.Request("PUT", server.url + "/", content=iter([b"x"]), extensions=QUICK)
        )
        assert response.status == 503
        assert response.extensions["retries"] == ()
        await response.aclose()
        assert delays == []
        assert script.requests == 3
        # A PUT with a bytes body is retried.
        response = await adapter.handle_request(
            httpcore2.Request("PUT", server.url + "/", content=b"x", extensions=QUICK)
        )
        assert response.status == 200
        assert script.requests == 4
        await response.aclose()
        assert in_use(adapter.inner) == []


@pytest.mark.anyio
async def test_errors_that_are_not_worth_retrying_are_raised_at_once(
    wrong_host_tls_server: Server,
) -> None:
    pool = httpcore2.ConnectionPool(verify=str(wrong_host_tls_server.ca_file))
    async with httpcore2.RetryAdapter(pool) as adapter:
        delays = fake_sleep(adapter)
        with pytest.raises(httpcore2.UnsupportedProtocol):
            await adapter.handle_request(httpcore2.Request("GET", "ftp://127.0.0.1/"))
        with pytest.raises(httpcore2.ConnectError, match="certificate verify failed"):
            await adapter.handle_request(
                httpcore2.Request("GET", wrong_host_tls_server.url + "/", extensions=QUICK)
            )
        assert delays == []


@pytest.mark.anyio
async def test_the_real_wait_is_short_with_a_small_backoff(raw_server: RawServerFactory) -> None:
    script = Script(unavailable(None), OK)
    server = raw_server(script)
    retry = httpcore2.Retry(1, status_forcelist=[503], backoff_factor=0.01)
    async with httpcore2.RetryAdapter(httpcore2.ConnectionPool(), retry=retry) as adapter:
        response = await adapter.handle_request(
            httpcore2.Request("GET", server.url + "/", extensions=QUICK)
        )
        await response.aread()
        assert response.status == 200
        assert [attempt.delay for attempt in response.extensions["retries"]] == [0.01]


@pytest.mark.anyio
async def test_client_retries_sit_below_redirects_and_auth() -> None:
    seen: list[tuple[str, str | None]] = []
    failures = {"/b": 2}

    def handler(request: httpcore2.Request) -> httpcore2.Response:
        path = request.url.path
        seen.append((path, request.headers.get("authorization")))
        if path == "/a":
            return httpcore2.Response(302, headers={"Location": "/b"})
        if failures[path]:
            failures[path] -= 1
            return httpcore2.Response(503, headers={"Retry-After": "0"})
        return httpcore2.Response(200, content=b"done")

    retry = httpcore2.Retry(3, status_forcelist=[503])
    async with httpcore2.Client(
        transport=httpcore2.MockTransport(handler), retries=retry, auth=("user", "secret")
    ) as client:
        response = await client.get("http://example.org/a")
    assert response.text == "done"
    # Each hop is retried on its own, and every attempt carries the credentials.
    assert [path for path, _ in seen] == ["/a", "/b", "/b", "/b"]
    assert all(authorization is not None for _, authorization in seen)
    assert [hop.status for hop in response.history] == [302]
    assert response.history[0].extensions["retries"] == ()
    assert [attempt.status for attempt in response.extensions["retries"]] == [503, 503]


@pytest.mark.anyio
async def test_client_retries_int_means_connection_retries_only() -> None:
    calls: list[str] = []

    def handler(request: httpcore2.Request) -> httpcore2.Response:
        calls.append(request.url.path)
        if len(calls) <= 2:
            raise httpcore2.ConnectError("refused")
        if request.url.path == "/reset":
            raise httpcore2.ReadError("reset")
        return httpcore2.Response(503)

    async with httpcore2.Client(transport=httpcore2.MockTransport(handler), retries=2) as client:
        response = await client.get("http://example.org/")
        assert response.status == 503  # not a connection failure: returned as it is
        assert len(calls) == 3
        with pytest.raises(httpcore2.ReadError):
            await client.get("http://example.org/reset")
        assert len(calls) == 4
    async with httpcore2.Client(transport=httpcore2.MockTransport(handler)) as client:
        response = await client.get("http://example.org/")
        assert "retries" not in response.extensions  # no RetryAdapter unless asked for
