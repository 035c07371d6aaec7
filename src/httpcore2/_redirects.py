"""The redirect policy (RFC 9110 §15.4), sans-IO: where a redirect goes and what is sent there.

`RedirectAdapter` (sync and async) loops over these two functions; they do no I/O:

```python
location = redirect_location(response)  # None: not a redirect, hand the response back
if location is not None:
    request, stripped = build_redirect_request(request, response, location, stripped=stripped)
```
"""

from __future__ import annotations

import re

from ._exceptions import (
    InvalidURL,
    RemoteProtocolError,
    StreamConsumed,
    TooManyRedirects,
    UnsupportedProtocol,
)
from ._models import Headers, Request, Response
from ._urls import _SCHEME_PREFIX, URL, Origin

__all__ = [
    "REDIRECT_STATUSES",
    "build_redirect_request",
    "leaves_origin",
    "redirect_location",
    "too_many_redirects",
]

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

_FOLLOWED_SCHEMES = frozenset({"http", "https"})
# Sent on behalf of the user to one origin; never carried to another (RELIABILITY S01-S07).
_CREDENTIAL_HEADERS = frozenset({b"authorization", b"proxy-authorization", b"cookie"})
# The body headers go with the body when a redirect turns the request into a GET (S10).
_BODY_HEADERS = frozenset({b"content-length", b"content-type", b"transfer-encoding"})
# `//user:password@` in a Location that is not a valid URL, to mask before quoting it.
_PASSWORD_IN_LOCATION = re.compile(r"(//[^/?#@:]*:)[^/?#@]*@")
# The hops a TooManyRedirects message lists at most (the first ones and the last ones).
_HOPS_SHOWN = 6


def redirect_location(response: Response) -> URL | None:
    """The absolute URL a redirect response points to, or None if it is not a redirect.

    `Location` is resolved against the request URL (RFC 3986 §5), whose fragment carries
    over when the new URL has none. Raises `RemoteProtocolError` for a `Location` that is
    not a URL (or several that disagree), and `UnsupportedProtocol` for a target that is
    not http or https.
    """
    if response.status not in REDIRECT_STATUSES:
        return None
    values = {
        value.strip(b" \t") for name, value in response.headers if name.lower() == b"location"
    }
    if not values:
        return None
    request = response.request
    if len(values) > 1:
        raise RemoteProtocolError(
            f"The server sent a {response.status} redirect with several different Location "
            "headers; it is not followed.",
            request=request,
        )
    # Non-ASCII bytes are UTF-8 in practice; any that are not are percent-encoded exactly as
    # they were sent (surrogateescape), rather than guessed at.
    location = values.pop().decode("utf-8", "surrogateescape")
    prefix = _SCHEME_PREFIX.match(location)
    scheme = prefix.group(1).lower() if prefix else request.url.scheme
    if scheme not in _FOLLOWED_SCHEMES:
        raise UnsupportedProtocol(
            f"Refusing to follow the {response.status} redirect to a {scheme!r} URL: only "
            "http and https redirects are followed.",
            request=request,
        )
    try:
        url = request.url.join(location)
    except InvalidURL as exc:
        shown = _PASSWORD_IN_LOCATION.sub(r"\1[secure]@", location)
        raise RemoteProtocolError(
            f"The server sent a {response.status} redirect with an invalid Location header "
            f"{shown!r}: {exc}",
            request=request,
        ) from exc
    if not url.fragment and request.url.fragment:
        url = url.copy_with(fragment=request.url.fragment)
    return url


def build_redirect_request(
    request: Request, response: Response, location: URL, *, stripped: bool
) -> tuple[Request, bool]:
    """The next request of a redirect chain, and whether credentials are stripped from now on.

    - **Method** (RFC 9110 §15.4, as browsers do): 303 turns every method but HEAD into GET,
      301 and 302 turn POST into GET; 307 and 308 keep the method.
    - **Body**: dropped with `Content-Length`, `Content-Type` and `Transfer-Encoding` when
      the method is turned into GET; otherwise sent again, which needs bytes or a seekable
      file: a streamed body raises `StreamConsumed` rather than go out empty.
    - **Host** is computed from the new URL on every hop, even if the user set one.
    - **Credentials**: `Authorization`, `Proxy-Authorization` and `Cookie` (every copy) are
      dropped when the origin changes, except from `http://host` to `https://host` on the
      default ports, and from then on for the rest of the chain: pass the returned flag as
      `stripped` for the next hop.
    - **Extensions** carry over; `sni_hostname` only while the host stays the same.
    """
    method = request.method
    to_get = (response.status == 303 and method != "HEAD") or (
        response.status in (301, 302) and method == "POST"
    )
    if not to_get and not getattr(request.stream, "replayable", False) and request._content is None:
        raise StreamConsumed(
            "The request body is a stream that was already sent and cannot be sent again to "
            f"follow the {response.status} redirect; pass bytes or call request.read() / "
            "await request.aread() first."
        )
    stripped = stripped or leaves_origin(request.url.origin, location.origin)
    dropped = {b"host"}
    if to_get:
        dropped |= _BODY_HEADERS
    if stripped:
        dropped |= _CREDENTIAL_HEADERS
    headers = Headers._from_wire((k, v) for k, v in request.headers if k.lower() not in dropped)
    extensions = dict(request.extensions)
    if location.raw_host != request.url.raw_host:
        extensions.pop("sni_hostname", None)
    next_request = Request(
        "GET" if to_get else method, location, headers=headers, extensions=extensions
    )
    if not to_get:
        next_request.stream = request.stream
        next_request._content = request._content
    return next_request, stripped


def leaves_origin(old: Origin, new: Origin) -> bool:
    """Whether credentials for `old` must not go to `new`: any change of scheme, host or
    port, but for the upgrade of `http://host` to `https://host` on the default ports."""
    if old == new:
        return False
    # The one exception is how sites move to TLS: the credentials go over a safer channel
    # to the same server.
    upgrade = old.scheme == "http" and new.scheme == "https" and (old.port, new.port) == (80, 443)
    return not (upgrade and old.host == new.host)


def too_many_redirects(
    request: Request, history: list[Response], max_redirects: int
) -> TooManyRedirects:
    """The error for a chain longer than `max_redirects`: where it started, the hops it went
    through (passwords masked), and what to do about it."""
    urls = [hop.request.url._masked() for hop in history] + [request.url._masked()]
    if len(urls) > _HOPS_SHOWN:
        half = _HOPS_SHOWN // 2
        urls = [*urls[:half], f"... {len(urls) - _HOPS_SHOWN} more ...", *urls[-half:]]
    return TooManyRedirects(
        f"Exceeded max_redirects={max_redirects}: {' -> '.join(urls)} redirects again. "
        "Raise max_redirects=, or pass follow_redirects=False to get the redirect "
        "response back and follow it yourself (response.next()).",
        request=request,
    )
