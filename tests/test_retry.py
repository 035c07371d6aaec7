"""The retry policy (sans-IO), and waits that are cancelled (async only)."""

from __future__ import annotations

import dataclasses
import datetime

import anyio
import pytest

import httpcore2
from httpcore2._retry import IDEMPOTENT_METHODS, parse_retry_after
from tests.servers.raw import RawServerFactory, build_response, respond_with

NOW = datetime.datetime(2026, 12, 6, 12, 0, 0, tzinfo=datetime.timezone.utc)


@pytest.mark.case("S50")
def test_defaults() -> None:
    retry = httpcore2.Retry()
    assert (retry.total, retry.connect, retry.read, retry.status) == (3, None, None, None)
    assert retry.allowed_methods == IDEMPOTENT_METHODS
    assert retry.status_forcelist == frozenset()
    assert retry.respect_retry_after
    assert retry == httpcore2.Retry(3)
    assert "total=3" in repr(retry)


def test_arguments_are_checked_and_normalised() -> None:
    for name in ("connect", "read", "status", "backoff_factor", "backoff_max", "jitter"):
        with pytest.raises(ValueError, match=name):
            httpcore2.Retry(**{name: -1})
    with pytest.raises(ValueError, match="total"):
        httpcore2.Retry(-1)
    with pytest.raises(TypeError):
        httpcore2.Retry(3, 1)  # type: ignore[misc]
    retry = httpcore2.Retry(allowed_methods=["get", "Post"], status_forcelist=[503, 503])
    assert retry.allowed_methods == frozenset({"GET", "POST"})
    assert retry.status_forcelist == frozenset({503})
    assert retry.is_retry_status(503)
    assert not retry.is_retry_status(500)


def test_retry_is_immutable_and_increment_returns_a_new_policy() -> None:
    retry = httpcore2.Retry(2, read=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        retry.total = 5  # type: ignore[misc]
    once = retry.increment("read")
    assert (retry.total, retry.read) == (2, 1)
    assert (once.total, once.read, once.connect) == (1, 0, None)
    assert not once.is_exhausted
    assert once.increment("read").is_exhausted  # read below zero
    assert once.increment("connect").increment("connect").is_exhausted  # total below zero
    unlimited = httpcore2.Retry(None, status=1)
    assert not unlimited.increment("connect").increment("connect").is_exhausted
    assert unlimited.increment("status").increment("status").is_exhausted


def test_which_failures_are_retried() -> None:
    retry = httpcore2.Retry()
    assert retry.failure_kind(httpcore2.ConnectError("x")) == "connect"
    assert retry.failure_kind(httpcore2.ConnectTimeout("x")) == "connect"
    for error in (
        httpcore2.ReadError("x"),
        httpcore2.ReadTimeout("x"),
        httpcore2.WriteError("x"),
        httpcore2.WriteTimeout("x"),
        httpcore2.RemoteProtocolError("x"),
    ):
        assert retry.failure_kind(error) == "read"
    for error in (
        httpcore2.PoolTimeout("x"),
        httpcore2.LocalProtocolError("x"),
        httpcore2.UnsupportedProtocol("x"),
        httpcore2.ProxyError("x"),
        httpcore2.CloseError("x"),
        httpcore2.DecodingError("x"),
    ):
        assert retry.failure_kind(error) is None
    # Nothing was sent after a connect failure: any method. Otherwise: allowed methods only.
    assert retry.is_retryable("POST", "connect")
    assert not retry.is_retryable("POST", "read")
    assert not retry.is_retryable("PATCH", "status")
    assert retry.is_retryable("PUT", "read")


def test_backoff_doubles_and_is_capped() -> None:
    retry = httpcore2.Retry(10, backoff_factor=0.5, backoff_max=3.0)
    assert retry.backoff() == 0.0  # no retry yet
    delays = []
    for _ in range(5):
        retry = retry.increment("connect")
        delays.append(retry.backoff())
    assert delays == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_jitter_adds_up_to_its_value() -> None:
    retry = httpcore2.Retry(backoff_factor=1.0, jitter=0.5).increment("read")
    delays = {retry.backoff() for _ in range(50)}
    assert all(1.0 <= delay <= 1.5 for delay in delays)
    assert len(delays) > 1
    capped = httpcore2.Retry(backoff_factor=1.0, jitter=5.0, backoff_max=1.0).increment("read")
    assert capped.backoff() == 1.0


def test_retry_after_in_seconds_and_as_a_date() -> None:
    assert parse_retry_after(b"120") == 120.0
    assert parse_retry_after(b" 0 ") == 0.0
    assert parse_retry_after(b"Sun, 06 Dec 2026 12:00:30 GMT", NOW) == 30.0
    assert parse_retry_after(b"Sun, 06 Dec 2026 12:00:30 -0000", NOW) == 30.0  # no zone
    assert parse_retry_after(b"Sun, 06 Dec 2026 11:59:00 GMT", NOW) is None  # in the past
    assert parse_retry_after(b"Sun, 06 Dec 2026 12:00:00 GMT", NOW) is None  # now
    for malformed in (b"-5", b"1.5", b"soon", b"", "\u0663".encode()):
        assert parse_retry_after(malformed, NOW) is None
    future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    header = future.strftime("%a, %d %b %Y %H:%M:%S GMT").encode()
    seconds = parse_retry_after(header)
    assert seconds is not None
    assert 3500 < seconds <= 3600


@pytest.mark.case("S50")
def test_delay_prefers_retry_after_capped_by_backoff_max() -> None:
    retry = httpcore2.Retry(backoff_factor=2.0, backoff_max=60.0).increment("status")

    def answer(retry_after: str | None) -> httpcore2.Response:
        headers = {} if retry_after is None else {"Retry-After": retry_after}
        return httpcore2.Response(503, headers=headers)

    assert retry.delay(answer("5")) == 5.0
    assert retry.delay(answer("86400")) == 60.0
    assert retry.delay(answer("Sun, 06 Dec 2026 12:00:10 GMT"), NOW) == 10.0
    assert retry.delay(answer("Sun, 06 Dec 2026 11:00:00 GMT"), NOW) == 2.0  # past: backoff
    assert retry.delay(answer("later")) == 2.0
    assert retry.delay(answer(None)) == 2.0
    assert retry.delay(None) == 2.0
    ignoring = dataclasses.replace(retry, respect_retry_after=False)
    assert ignoring.delay(answer("5")) == 0.0  # a replaced policy starts over its backoff


@pytest.mark.anyio
async def test_a_wait_that_is_cancelled_leaves_no_connection_in_use(
    raw_server: RawServerFactory,
) -> None:
    busy = build_response(503, b"busy", [("Retry-After", "30")])
    server = raw_server(respond_with(busy, repeat=True))
    retry = httpcore2.Retry(3, status_forcelist=[503])
    async with httpcore2.RetryAdapter(httpcore2.ConnectionPool(), retry=retry) as adapter:
        waiting = anyio.Event()
        real_sleep = adapter.sleep
        delays: list[float] = []

        async def sleep(seconds: float) -> None:
            delays.append(seconds)
            waiting.set()
            await real_sleep(seconds)  # 30 s: only a cancellation ends it in time

        adapter.sleep = sleep
        request = httpcore2.Request("GET", server.url + "/")
        async with anyio.create_task_group() as group:
            group.start_soon(adapter.handle_request, request)
            await waiting.wait()
            group.cancel_scope.cancel()
        assert delays == [30.0]
        [connection] = adapter.inner.connections
        assert connection.is_idle()  # the 503 was closed before the wait
    assert len(server.connections) == 1
