"""Checks of the clients' arguments, made where they are given, for both worlds.

A wrong type raises `TypeError` naming the argument and what it takes, when the client
is made or the request is built: never an `AttributeError` from deep inside, and never
after part of the request was sent.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from http.cookiejar import CookieJar
from typing import Any

from ._config import PoolLimits
from ._cookies import Cookies

__all__ = [
    "check_auth",
    "check_bool",
    "check_client_arguments",
    "check_cookies",
]


def check_client_arguments(
    *,
    auth: Any,
    cookies: Any,
    verify: Any,
    cert: Any,
    ssl_context: Any,
    pool_limits: Any,
    max_redirects: Any,
    follow_redirects: Any,
    transport: Any,
    close_method: str,
) -> None:
    """Check what a client's constructor was given (`close_method`: `aclose` or `close`)."""
    check_auth(auth)
    check_cookies(cookies)
    check_bool("follow_redirects", follow_redirects)
    if isinstance(max_redirects, bool) or not isinstance(max_redirects, int):
        raise TypeError(f"max_redirects= takes an int, not {type(max_redirects).__name__}")
    if max_redirects < 0:
        raise ValueError(f"max_redirects={max_redirects} must not be negative")
    if pool_limits is not None and not isinstance(pool_limits, PoolLimits):
        raise TypeError(
            f"pool_limits= takes a PoolLimits, such as PoolLimits(max_connections=10), not "
            f"{type(pool_limits).__name__}"
        )
    if transport is not None and not (
        callable(getattr(transport, "handle_request", None))
        and callable(getattr(transport, close_method, None))
    ):
        raise TypeError(
            f"transport= takes a transport (with handle_request() and {close_method}()), such "
            f"as a connection pool or an adapter, not {type(transport).__name__}"
        )
    _check_tls(verify, cert, ssl_context)


def _check_tls(verify: Any, cert: Any, ssl_context: Any) -> None:
    if isinstance(verify, ssl.SSLContext):
        raise TypeError(
            "verify= takes True, False or the path of a CA bundle: pass an ssl.SSLContext "
            "as ssl_context= instead"
        )
    if not isinstance(verify, (bool, str, os.PathLike)):
        raise TypeError(
            "verify= takes True, False or the path of a CA bundle (for your own "
            f"ssl.SSLContext, use ssl_context=), not {type(verify).__name__}"
        )
    if ssl_context is not None and not isinstance(ssl_context, ssl.SSLContext):
        raise TypeError(f"ssl_context= takes an ssl.SSLContext, not {type(ssl_context).__name__}")
    if cert is None:
        return
    files = cert[:2] if isinstance(cert, tuple) else (cert,)
    for file in files:
        if not isinstance(file, (str, os.PathLike)):
            raise TypeError(
                "cert= takes the path of a PEM file, or a (certificate, key) or "
                f"(certificate, key, password) tuple of paths, not {type(file).__name__}"
            )
        if not os.path.isfile(file):
            raise FileNotFoundError(f"cert= file {os.fsdecode(file)!r} does not exist")


def check_bool(name: str, value: Any) -> None:
    """`value` must be a real bool: `"no"` is true, which is never what was meant."""
    if not isinstance(value, bool):
        raise TypeError(f"{name}= takes True or False, not {value!r}")


def check_auth(auth: Any) -> None:
    """`auth` must be `None`, a `(username, password)` pair of str or bytes, or an auth
    object (`BasicAuth`, or a flow with `auth_flow()`)."""
    if auth is None or hasattr(auth, "header") or hasattr(auth, "auth_flow"):
        return
    if isinstance(auth, tuple) and len(auth) == 2:
        for part, value in zip(("username", "password"), auth, strict=True):
            if not isinstance(value, (str, bytes)):
                raise TypeError(
                    f"auth= (username, password): the {part} must be str or bytes, not "
                    f"{type(value).__name__}"
                )
        return
    raise TypeError(
        "auth= takes a (username, password) tuple or an auth object such as "
        f"BasicAuth(username, password), not {type(auth).__name__}"
    )


def check_cookies(cookies: Any) -> None:
    """`cookies` must be `None`, `Cookies`, a `CookieJar`, a dict of str or a list of str pairs."""
    if cookies is None or isinstance(cookies, (Cookies, CookieJar)):
        return
    if isinstance(cookies, Mapping):
        pairs = list(cookies.items())
    elif isinstance(cookies, (list, tuple)):
        pairs = list(cookies)
    else:
        raise TypeError(
            "cookies= takes a dict of names to values, a list of (name, value) pairs, "
            f"Cookies or a CookieJar, not {type(cookies).__name__}"
        )
    for pair in pairs:
        # Values are never echoed: they are often session secrets.
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
            raise TypeError(
                f"cookies= given as a list takes (name, value) pairs, not {type(pair).__name__}"
            )
        name, value = pair
        if not isinstance(name, str):
            raise TypeError(f"cookies= names are str, not {type(name).__name__}")
        if not isinstance(value, str):
            raise TypeError(
                f"cookies= values are str: the value of {name!r} is {type(value).__name__}"
            )
