"""The adapters: transports that wrap a transport and add one behaviour each.

A `Client` stacks them: redirects over the environment over cookies over auth over the
connection pool. Each adapter also works alone over any transport. The policy
(which redirect, which cookie, which credentials) lives in sans-IO modules shared by both
worlds; this module only drives it.
"""

from __future__ import annotations

import os
from typing import Any, Protocol

from .._auth import Auth, AuthTypes, BasicAuth, to_auth
from .._cookies import Cookies, CookieTypes, _table, cookie_header, extract_cookies
from .._environment import Environment
from .._models import Request, Response, copy_request
from .._redirects import (
    REDIRECT_STATUSES,
    build_redirect_request,
    leaves_origin,
    redirect_location,
    too_many_redirects,
)
from .._urls import URL

__all__ = [
    "AuthAdapter",
    "CookieAdapter",
    "EnvironmentAdapter",
    "RedirectAdapter",
    "Transport",
]

# A redirect response's body is drained (undecoded) up to this size so that its
# connection can be reused; a longer one is closed instead (S30).
MAX_REDIRECT_DRAIN = 64 * 1024


class Transport(Protocol):
    """Anything with `handle_request()` and `aclose()`: a pool, an adapter, a mock."""

    async def handle_request(self, request: Request) -> Response: ...

    async def aclose(self) -> None: ...


class _Adapter:
    """Wraps `inner`; closing the adapter closes it."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner

    async def aclose(self) -> None:
        """Close the transport underneath."""
        await self.inner.aclose()

    async def __aenter__(self) -> Any:
        return self

    async def __aexit__(self, *args: object) -> None:
        await self.aclose()


class RedirectAdapter(_Adapter):
    """Follows redirects (RFC 9110 §15.4) in a loop, keeping the `history`.

    ```python
    stack = RedirectAdapter(CookieAdapter(ConnectionPool()), max_redirects=5)
    response = await stack.handle_request(Request("GET", "https://example.org/"))
    ```

    The request extension `follow_redirects` (default True) turns following off for one
    request: the 3xx is returned, and `await response.anext()` sends the next hop.
    Credentials are dropped when the chain leaves the first origin (see `_redirects.py`).
    """

    def __init__(self, inner: Transport, *, max_redirects: int = 20) -> None:
        super().__init__(inner)
        if max_redirects < 0:
            raise ValueError("max_redirects must not be negative")
        self.max_redirects = max_redirects

    async def handle_request(self, request: Request) -> Response:
        follow = request.extensions.get("follow_redirects", True)
        history: list[Response] = []
        while True:
            response = await self.inner.handle_request(request)
            if not follow:
                # Returned as it is; `anext()` works out and sends the next hop, if any.
                response._next = self._send_next
                break
            if response.status not in REDIRECT_STATUSES:
                break  # most responses: known without a call
            try:
                location = redirect_location(response)
                if location is None:
                    break
                if len(history) >= self.max_redirects:
                    raise too_many_redirects(request, history, self.max_redirects)
                request = _next_hop(request, response, location)
            except Exception:
                # A redirect that cannot be followed (too many, another scheme, a bad
                # Location) must not keep its connection.
                await response.aclose()
                raise
            await _discard_body(response)
            history.append(response)
        response.history = history
        return response

    async def _send_next(self, response: Response) -> Response:
        location = redirect_location(response)
        if location is None:
            raise RuntimeError(f"{response!r} is not a redirect: there is no next request.")
        # The next response comes in the state this one was in: read, or still streaming.
        was_read = response.is_stream_consumed or response.is_closed
        await _discard_body(response)
        next_response = await self.handle_request(_next_hop(response.request, response, location))
        next_response.history = [*response.history, response]
        if was_read:
            await next_response.aread()
        return next_response


def _next_hop(request: Request, response: Response, location: URL) -> Request:
    """The next request, carrying what the chain knows: where it started (auth is only
    re-applied there) and whether credentials were stripped (they stay stripped)."""
    extensions = request.extensions
    stripped = bool(extensions.get("credentials_stripped", False))
    origin = extensions.get("redirect_origin") or request.url.origin
    next_request, stripped = build_redirect_request(request, response, location, stripped=stripped)
    next_request.extensions["credentials_stripped"] = stripped
    next_request.extensions["redirect_origin"] = origin
    return next_request


async def _discard_body(response: Response) -> None:
    """Drain a small body (so the connection can be reused), or close a large one."""
    drained = 0
    if response.is_stream_consumed:
        await response.aclose()
        return
    async for chunk in response.aiter_raw():
        drained += len(chunk)
        if drained > MAX_REDIRECT_DRAIN:
            break
    await response.aclose()


class EnvironmentAdapter(_Adapter):
    """Applies the environment to each request: the proxy and the `.netrc` credentials.

    ```python
    stack = EnvironmentAdapter(AuthAdapter(ConnectionPool()))
    ```

    The variables (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`, `NO_PROXY`, `NETRC`) and the
    netrc file are read once, when the adapter is built. For every request, and so for
    every hop of a redirect chain, it chooses the proxy (the request extension `proxy`,
    read by the pool) and looks up the host in `.netrc` (the extension `netrc`, read by
    `AuthAdapter` when no other credentials apply). The CA variables are read by the
    client when it builds its pool. With `trust_env=False`, or an environment that names no
    proxy and no netrc file, requests pass through unchanged.
    """

    def __init__(self, inner: Transport, *, trust_env: bool = True) -> None:
        super().__init__(inner)
        self.trust_env = trust_env
        self._environment = Environment(os.environ) if trust_env else None

    async def handle_request(self, request: Request) -> Response:
        environment = self._environment
        extensions = request.extensions
        if environment is None or (
            # Nothing to choose, nothing chosen before: no copy needed.
            environment.empty and "proxy" not in extensions and "netrc" not in extensions
        ):
            return await self.inner.handle_request(request)
        request = copy_request(request)
        extensions = request.extensions
        # Decided anew for this hop: what an earlier hop chose must not carry over.
        extensions["proxy"] = environment.proxy_for(request.url)
        extensions["netrc"] = environment.credentials_for(request.url)
        return await self.inner.handle_request(request)


class CookieAdapter(_Adapter):
    """Sends the cookies that match each request and stores those each response sets.

    ```python
    cookies = Cookies({"session": "abc"})
    stack = CookieAdapter(ConnectionPool(), cookies=cookies)
    ```

    Under a `RedirectAdapter` it sees every hop: cookies set by a redirect are stored,
    and each hop gets the cookies of its own origin.
    """

    def __init__(self, inner: Transport, *, cookies: CookieTypes | None = None) -> None:
        super().__init__(inner)
        self.cookies = cookies if isinstance(cookies, Cookies) else Cookies(cookies)

    async def handle_request(self, request: Request) -> Response:
        cookies = self.cookies
        # An empty jar is known from its table, without asking `Cookies.__bool__` (which
        # walks for a live cookie: `cookie_header` does that walk anyway).
        if _table(cookies._jar):
            request = _with_jar_cookies(cookies, request)
        response = await self.inner.handle_request(request)
        # Most responses set no cookie: a scan of the names, no call.
        for _, name, _ in response.headers._items:
            if name == b"set-cookie":
                extract_cookies(cookies, response)
                break
        return response


def _with_jar_cookies(cookies: Cookies, request: Request) -> Request:
    """A copy of `request` that also carries the jar's matching cookies (`request` itself
    when none match).

    A copy, because the redirect layer builds the next hop from this request: the jar's
    cookies are chosen anew for every hop, and a user's own `Cookie` header is kept apart.
    """
    from_jar = cookie_header(cookies, request.url)
    if from_jar is None:
        return request
    sent = copy_request(request)
    headers = sent.headers
    own = headers.get(b"cookie")
    if own is None:
        headers.add("Cookie", from_jar)
    else:
        # The user's own cookies first, in one header (RFC 6265 §5.4: a single Cookie).
        del headers[b"cookie"]
        headers[b"cookie"] = own + b"; " + from_jar
    return sent


class AuthAdapter(_Adapter):
    """Authenticates requests by running an `Auth` flow (Basic, Digest or your own).

    ```python
    stack = AuthAdapter(ConnectionPool(), auth=DigestAuth("user", "password"))
    ```

    The credentials, first found wins: the request extension `auth` (per request), the
    user and password of the request URL, the adapter's `auth`, and the `netrc` extension
    (set by `EnvironmentAdapter`). Extension and adapter credentials belong to the origin
    a redirect chain started on: hops elsewhere are sent without them, and no challenge
    from another origin is answered. The caller's request is never changed: the flow works
    on a copy.
    """

    def __init__(self, inner: Transport, *, auth: AuthTypes | None = None) -> None:
        super().__init__(inner)
        self.auth = None if auth is None else to_auth(auth)

    async def handle_request(self, request: Request) -> Response:
        extensions = request.extensions
        if (
            # No credentials from any source: known without a call (most requests).
            self.auth is None
            and extensions.get("auth") is None
            and extensions.get("netrc") is None
            and not request.url._userinfo
        ):
            return await self.inner.handle_request(request)
        auth = _credentials(request, self.auth)
        if auth is None:
            return await self.inner.handle_request(request)
        request = copy_request(request)
        if auth.requires_request_body:
            await request.aread()
        flow = auth.auth_flow(request)
        request = next(flow)
        while True:
            response = await self.inner.handle_request(request)
            try:
                if auth.requires_response_body:
                    await response.aread()
                request = flow.send(response)
            except StopIteration:
                return response
            except BaseException:
                await response.aclose()
                raise
            await _discard_body(response)


def _credentials(request: Request, default: Auth | None) -> Auth | None:
    """The `Auth` for this request, or None (see `AuthAdapter`)."""
    extensions = request.extensions
    url = request.url
    chosen = extensions.get("auth")
    if chosen is None and url._userinfo:  # not the property: this runs for every request
        return BasicAuth(url.username, url.password)
    if chosen is None:
        chosen = default
    if chosen is not None:
        origin = extensions.get("redirect_origin")
        if origin is not None and leaves_origin(origin, url.origin):
            return None
        return to_auth(chosen)
    # Looked up for this very host by the environment adapter.
    netrc = extensions.get("netrc")
    return None if netrc is None else BasicAuth(*netrc)
