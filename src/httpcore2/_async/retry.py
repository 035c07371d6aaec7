"""RetryAdapter: sends a request again after a failure, as a `Retry` policy allows.

The policy (what to retry, how long to wait) is sans-IO, in `_retry.py`; this module is the
loop that drives it.
"""

from __future__ import annotations

from .._backends.auto import AutoBackend
from .._exceptions import HTTPError
from .._logging import log_retry
from .._models import Request, Response
from .._retry import Retry, RetryAttempt
from .adapters import Transport, _Adapter, _discard_body

__all__ = ["RetryAdapter"]

# For a request whose body cannot be sent twice: one attempt, whatever happens.
_NO_RETRIES = Retry(0)


class RetryAdapter(_Adapter):
    """Retries connection failures, failures before the response, and chosen statuses.

    ```python
    retry = Retry(3, backoff_factor=0.5, status_forcelist=[503])
    async with RetryAdapter(ConnectionPool(), retry=retry) as transport:
        response = await transport.handle_request(Request("GET", "https://example.org/"))
    ```

    Each attempt goes to the transport below. A retried response is closed (its body
    drained when small, so that its connection goes back to the pool) before the wait.
    When the policy runs out, the last error is raised, or the last response returned.
    `response.extensions["retries"]` lists the attempts that were retried, oldest first
    (`RetryAttempt`s; empty when the first attempt was kept). A request whose body cannot be
    sent again (an iterator, an unseekable file) is sent once, as if `Retry(0)`.
    """

    def __init__(self, inner: Transport, *, retry: Retry | None = None) -> None:
        super().__init__(inner)
        self.retry = Retry() if retry is None else retry
        self._backend = AutoBackend()

    async def handle_request(self, request: Request) -> Response:
        retry = self.retry if getattr(request.stream, "replayable", False) else _NO_RETRIES
        attempts: list[RetryAttempt] = []
        while True:
            try:
                response = await self.inner.handle_request(request)
            except HTTPError as exc:
                kind = retry.failure_kind(exc)
                if kind is None or not retry.is_retryable(request.method, kind):
                    raise
                retry = retry.increment(kind)
                if retry.is_exhausted:
                    raise
                delay = retry.delay(None)
                attempts.append(RetryAttempt(request.method, request.url, None, exc, delay))
                log_retry(request, exc, delay)
            else:
                if not (
                    retry.is_retry_status(response.status)
                    and retry.is_retryable(request.method, "status")
                ):
                    break
                next_retry = retry.increment("status")
                if next_retry.is_exhausted:
                    break
                retry = next_retry
                delay = retry.delay(response)
                attempts.append(
                    RetryAttempt(request.method, request.url, response.status, None, delay)
                )
                log_retry(request, response, delay)
                try:
                    await _discard_body(response)
                except HTTPError:
                    pass  # the body of a response that is thrown away anyway; it is closed

            await self.sleep(delay)
        response.extensions["retries"] = tuple(attempts)
        return response

    async def sleep(self, seconds: float) -> None:
        """Wait between attempts, on the running event loop (a thread sleeps on the sync
        side). Cancelling the request while it waits is safe: nothing is held meanwhile."""
        await self._backend.sleep(seconds)
