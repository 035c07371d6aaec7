"""Client: the application-level API over the adapter stack."""

from __future__ import annotations

import contextlib
import inspect  # unasync: remove
import logging
import os
import ssl
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from .._arguments import check_auth, check_bool, check_client_arguments, check_cookies
from .._auth import AuthTypes
from .._config import (
    DEFAULT_LIMITS,
    DEFAULT_TIMEOUT,
    CertTypes,
    Limits,
    PoolLimits,
    Timeout,
    TimeoutTypes,
    VerifyTypes,
)
from .._content import AsyncIteratorStream, RequestContent, aprime_body, encode_request
from .._cookies import Cookies, CookieTypes
from .._decoders import accept_encoding
from .._environment import ca_bundle
from .._exceptions import InvalidURL
from .._fast_engine import HTTP1EngineName
from .._logging import log_response, logger
from .._models import (
    Extensions,
    Headers,
    HeaderTypes,
    Request,
    Response,
    copy_request,
    parse_url,
)
from .._proxies import Proxy
from .._retry import Retry
from .._urls import URL, QueryParams, QueryParamTypes
from .adapters import AuthAdapter, CookieAdapter, EnvironmentAdapter, RedirectAdapter, Transport
from .connection_pool import ConnectionPool
from .retry import RetryAdapter

__all__ = ["Client"]

_UNSET: Any = object()
_MERGED_URLS_KEPT = 512
EventHook = Callable[..., Any]


def _default_headers() -> Headers:
    from .. import __version__

    return Headers(
        {
            "User-Agent": f"python-httpcore2/{__version__}",
            "Accept": "*/*",
            "Accept-Encoding": accept_encoding(),
        }
    )


class Client:
    """An HTTP client: connection pooling, redirects, cookies, auth and defaults.

    ```python
    async with httpcore2.Client(base_url="https://api.example.org", timeout=10.0) as client:
        response = await client.get("/users", params={"page": 2})
        response.raise_for_status()
        users = response.json()
    ```

    Its stack is a `RedirectAdapter` over an `EnvironmentAdapter` over an `AuthAdapter`
    over a `CookieAdapter` over a `ConnectionPool`; `transport=` puts any transport in the
    pool's place. `retries=` (a `Retry`, or an int: that many connection retries) adds a
    `RetryAdapter` right above it. The same code runs on asyncio and on trio.
    """

    def __init__(
        self,
        *,
        auth: AuthTypes | None = None,
        params: QueryParamTypes | None = None,
        headers: HeaderTypes = None,
        cookies: CookieTypes | None = None,
        verify: VerifyTypes = True,
        cert: CertTypes | None = None,
        ssl_context: ssl.SSLContext | None = None,
        http1: bool = True,
        http2: bool = False,
        http1_engine: HTTP1EngineName | None = None,
        proxy: Proxy | URL | str | None = None,
        timeout: TimeoutTypes = DEFAULT_TIMEOUT,
        pool_limits: PoolLimits | None = None,
        limits: Limits | None = None,
        max_redirects: int = 20,
        follow_redirects: bool = True,
        base_url: URL | str = "",
        transport: Transport | None = None,
        trust_env: bool = True,
        event_hooks: Mapping[str, list[EventHook]] | None = None,
        retries: Retry | int | None = None,
    ) -> None:
        check_client_arguments(
            auth=auth,
            cookies=cookies,
            verify=verify,
            cert=cert,
            ssl_context=ssl_context,
            pool_limits=pool_limits,
            max_redirects=max_redirects,
            follow_redirects=follow_redirects,
            transport=transport,
            close_method="aclose",
        )
        for name, value in (("proxy", proxy), ("limits", limits)):
            if value is not None and transport is not None:
                raise ValueError(
                    f"{name}= configures the client's own pool: not usable with transport="
                )
        hooks = dict(event_hooks or {})
        unknown = set(hooks) - {"request", "response"}
        if unknown:
            raise ValueError(f"Unknown event hooks {sorted(unknown)}: use 'request' or 'response'.")
        self._request_hooks = list(hooks.get("request", []))
        self._response_hooks = list(hooks.get("response", []))
        self._base_url = _as_base_url(base_url)
        self._params = QueryParams(params)
        self._headers = _default_headers()
        self._headers.update(headers)
        self._timeout = Timeout.coerce(timeout)
        self._follow_redirects = follow_redirects
        if transport is None:
            if trust_env and verify is True and ssl_context is None:
                # The trust store the environment names, unless one was chosen here.
                verify = ca_bundle(os.environ) or True
            transport = ConnectionPool(
                ssl_context=ssl_context,
                verify=verify,
                cert=cert,
                http1=http1,
                http2=http2,
                http1_engine=http1_engine,
                pool_limits=pool_limits,
                limits=DEFAULT_LIMITS if limits is None else limits,
                proxy=proxy,
            )
        if retries is not None:
            # Right above the pool: each redirect hop is retried on its own, with the
            # headers (credentials, cookies) the layers above gave it.
            if isinstance(retries, int):
                retries = Retry(retries, read=0, status=0)
            transport = RetryAdapter(transport, retry=retries)
        # Cookies below auth: every request of an auth flow (a challenge's answer, a token
        # request) carries the jar's cookies, and the cookies its responses set are kept.
        self._cookie_adapter = CookieAdapter(transport, cookies=cookies)
        self._transport = RedirectAdapter(
            EnvironmentAdapter(AuthAdapter(self._cookie_adapter, auth=auth), trust_env=trust_env),
            max_redirects=max_redirects,
        )
        self._merged_urls: dict[str, URL] = {}
        self._closed = False

    @property
    def cookies(self) -> Cookies:
        """The client's cookie jar: sent where they match, updated by every response."""
        return self._cookie_adapter.cookies

    @property
    def headers(self) -> Headers:
        """The headers sent with every request (a request's own headers win)."""
        return self._headers

    @property
    def params(self) -> QueryParams:
        """Query parameters added to every request URL."""
        return self._params

    @property
    def base_url(self) -> URL | None:
        """The URL that relative request URLs are joined to."""
        return self._base_url

    @property
    def timeout(self) -> Timeout:
        """The default timeouts."""
        return self._timeout

    @property
    def is_closed(self) -> bool:
        """Whether the client has been closed."""
        return self._closed

    # Building requests.

    def build_request(
        self,
        method: str | bytes,
        url: URL | str,
        *,
        params: QueryParamTypes | None = None,
        headers: HeaderTypes = None,
        cookies: CookieTypes | None = None,
        content: RequestContent | None = None,
        data: Any = None,
        files: Any = None,
        json: Any = None,
        extensions: Extensions | None = None,
    ) -> Request:
        """A request with the client's base URL, params and headers merged in.

        Cookies given here are sent as a `Cookie` header on this request (and dropped if
        a redirect leaves its origin); the client's own cookies are added per hop.
        """
        if cookies is not None:
            check_cookies(cookies)
        body_headers: dict[str, str] = {}
        body = content
        # The helpers run only when they have something to do: a bare GET skips them.
        if data is not None or files is not None or json is not None:
            body_headers, body = encode_request(content=content, data=data, files=files, json=json)
        merged = self._headers
        if body_headers or headers is not None or cookies:
            # Request() copies the headers it is given: a copy here only to merge into.
            merged = Headers(merged)
            if body_headers:
                merged.update(body_headers)
            if headers is not None:
                merged.update(headers)
            if cookies:
                merged["Cookie"] = "; ".join(
                    f"{name}={value}" for name, value in Cookies(cookies).items()
                )
        # The base URL and the client's params never change: each URL string is merged once.
        full_url = None if params or type(url) is not str else self._merged_urls.get(url)
        if full_url is None:
            full_url = self._merge_url(url, params)
        return Request(
            method,
            full_url,
            headers=merged,
            content=body,
            extensions=_copy_extensions(extensions) if extensions else None,
        )

    def prepare_request(self, request: Request) -> Request:
        """Merge the client's base URL, params and headers into a request built by hand.

        A relative URL (`Request("GET", URL("/users", allow_relative=True))`) is joined to
        the base URL; the request's own headers win over the client's.
        """
        headers = Headers(self._headers)
        headers.update(request.headers)
        prepared = Request(
            request.method,
            self._merge_url(request.url, None),
            headers=headers,
            extensions=request.extensions,
        )
        prepared.stream, prepared._content = request.stream, request._content
        return prepared

    def _merge_url(self, url: URL | str, params: QueryParamTypes | None) -> URL:
        if params or not isinstance(url, str):
            return self._join_url(url, params)
        # Not merged before (`build_request` looks in the cache first): kept for next time.
        if len(self._merged_urls) >= _MERGED_URLS_KEPT:
            self._merged_urls.clear()
        merged = self._merged_urls[url] = self._join_url(url, None)
        return merged

    def _join_url(self, url: URL | str, params: QueryParamTypes | None) -> URL:
        merged = url if isinstance(url, URL) else parse_url(url, allow_relative=True)
        if merged.is_relative_url:
            if self._base_url is None:
                raise InvalidURL(
                    f"Invalid URL {str(merged)!r}: a relative URL needs a client with "
                    "base_url=, or give an absolute URL such as 'https://example.org/path'"
                )
            merged = self._base_url.join(str(merged).lstrip("/"))
        if self._params:
            merged = URL(merged, params=self._params)
        if params:
            merged = URL(merged, params=params)
        return merged

    # Sending requests.

    async def send(
        self,
        request: Request,
        *,
        stream: bool = False,
        auth: AuthTypes | None = None,
        follow_redirects: bool | None = None,
        timeout: TimeoutTypes = _UNSET,
    ) -> Response:
        """Send a request through the stack; the body is read unless `stream=True`."""
        # Sent as a copy: the options must not stick to the caller's request.
        return await self._send(
            copy_request(request),
            stream=stream,
            auth=auth,
            follow_redirects=follow_redirects,
            timeout=timeout,
        )

    async def _send(
        self,
        request: Request,
        *,
        stream: bool,
        auth: AuthTypes | None,
        follow_redirects: bool | None,
        timeout: TimeoutTypes,
    ) -> Response:
        # `request` is this call's own (a copy, or built for it): the options go into it.
        if self._closed:
            raise RuntimeError("Cannot send a request: the client has been closed.")
        extensions = request.extensions
        if timeout is not _UNSET or "timeout" not in extensions:
            chosen = self._timeout if timeout is _UNSET else Timeout.coerce(timeout)
            extensions["timeout"] = chosen.as_dict()
        if follow_redirects is None:
            follow_redirects = self._follow_redirects
        else:
            check_bool("follow_redirects", follow_redirects)
        extensions["follow_redirects"] = follow_redirects
        if auth is not None:
            check_auth(auth)
            extensions["auth"] = auth
        if type(request.stream) is AsyncIteratorStream:
            # Its first chunk is taken now: a body of the wrong type fails before the head is sent.
            await aprime_body(request.stream)
        for hook in self._request_hooks:
            await _call(hook, request)
        started = time.perf_counter()
        response = await self._transport.handle_request(request)
        response._started_at = started
        if logger.isEnabledFor(logging.INFO):
            log_response(response, time.perf_counter() - started)
        try:
            for hook in self._response_hooks:
                await _call(hook, response)
            if not stream:
                await response.aread()
        except BaseException:
            await response.aclose()
            raise
        return response

    async def request(
        self,
        method: str | bytes,
        url: URL | str,
        *,
        params: QueryParamTypes | None = None,
        headers: HeaderTypes = None,
        cookies: CookieTypes | None = None,
        content: RequestContent | None = None,
        data: Any = None,
        files: Any = None,
        json: Any = None,
        auth: AuthTypes | None = None,
        timeout: TimeoutTypes = _UNSET,
        follow_redirects: bool | None = None,
        extensions: Extensions | None = None,
    ) -> Response:
        """Send a request and read the response body.

        ```python
        response = await client.request("POST", "/items", json={"name": "widget"})
        ```
        """
        request = self.build_request(
            method,
            url,
            params=params,
            headers=headers,
            cookies=cookies,
            content=content,
            data=data,
            files=files,
            json=json,
            extensions=extensions,
        )
        if type(self).send is not Client.send:
            # A subclass's own send() sees every request, those built here too.
            return await self.send(
                request, auth=auth, follow_redirects=follow_redirects, timeout=timeout
            )
        # Built for this call alone: sent without the copy that `send()` makes.
        return await self._send(
            request, stream=False, auth=auth, follow_redirects=follow_redirects, timeout=timeout
        )

    @contextlib.asynccontextmanager
    async def stream(
        self,
        method: str | bytes,
        url: URL | str,
        *,
        params: QueryParamTypes | None = None,
        headers: HeaderTypes = None,
        cookies: CookieTypes | None = None,
        content: RequestContent | None = None,
        data: Any = None,
        files: Any = None,
        json: Any = None,
        auth: AuthTypes | None = None,
        timeout: TimeoutTypes = _UNSET,
        follow_redirects: bool | None = None,
        extensions: Extensions | None = None,
    ) -> AsyncIterator[Response]:
        """Send a request and yield the response with its body unread; closes it after.

        ```python
        async with client.stream("GET", "/big-file") as response:
            async for chunk in response.aiter_stream():
                ...
        ```
        """
        request = self.build_request(
            method,
            url,
            params=params,
            headers=headers,
            cookies=cookies,
            content=content,
            data=data,
            files=files,
            json=json,
            extensions=extensions,
        )
        send = self._send if type(self).send is Client.send else self.send  # as in request()
        response = await send(
            request, stream=True, auth=auth, follow_redirects=follow_redirects, timeout=timeout
        )
        try:
            yield response
        finally:
            await response.aclose()

    async def get(self, url: URL | str, **kwargs: Any) -> Response:
        """Send a GET request; keyword arguments as for `request()`."""
        return await self.request("GET", url, **kwargs)

    async def options(self, url: URL | str, **kwargs: Any) -> Response:
        """Send an OPTIONS request; keyword arguments as for `request()`."""
        return await self.request("OPTIONS", url, **kwargs)

    async def head(self, url: URL | str, **kwargs: Any) -> Response:
        """Send a HEAD request; keyword arguments as for `request()`."""
        return await self.request("HEAD", url, **kwargs)

    async def post(self, url: URL | str, **kwargs: Any) -> Response:
        """Send a POST request; keyword arguments as for `request()`."""
        return await self.request("POST", url, **kwargs)

    async def put(self, url: URL | str, **kwargs: Any) -> Response:
        """Send a PUT request; keyword arguments as for `request()`."""
        return await self.request("PUT", url, **kwargs)

    async def patch(self, url: URL | str, **kwargs: Any) -> Response:
        """Send a PATCH request; keyword arguments as for `request()`."""
        return await self.request("PATCH", url, **kwargs)

    async def delete(self, url: URL | str, **kwargs: Any) -> Response:
        """Send a DELETE request; keyword arguments as for `request()`."""
        return await self.request("DELETE", url, **kwargs)

    async def aclose(self) -> None:
        """Close the client and every connection it holds."""
        if not self._closed:
            self._closed = True
            await self._transport.aclose()

    async def __aenter__(self) -> Client:
        if self._closed:
            raise RuntimeError("Cannot open a client that has been closed.")
        return self

    async def __aexit__(self, *args: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        base_url = "" if self._base_url is None else f"base_url={self._base_url._masked()!r}, "
        state = "closed" if self._closed else "open"
        return f"<{type(self).__name__} [{base_url}timeout={self._timeout!r}, {state}]>"


def _copy_extensions(extensions: Extensions) -> Extensions:
    if not isinstance(extensions, Mapping):
        raise TypeError(
            f"extensions= takes a dict (such as {{'timeout': 10.0}}), not "
            f"{type(extensions).__name__}"
        )
    return dict(extensions)


def _as_base_url(base_url: URL | str) -> URL | None:
    if not base_url:
        return None
    url = base_url if isinstance(base_url, URL) else URL(base_url)
    # The base URL's path is a prefix: "/v1" + "users" is "/v1/users", not "/users".
    return url.copy_with(path=url.path.rstrip("/") + "/")


async def _call(hook: EventHook, argument: Any) -> None:
    # Hooks of an async client may be plain functions or coroutine functions.
    result = hook(argument)  # unasync: sync=hook(argument)
    if inspect.isawaitable(result):  # unasync: remove
        await result  # unasync: remove
