"""The TLS session cache: bounded, least recently used first out, thread-safe; and the one
that `httpcore2.request()` and `httpcore2.stream()` share from call to call."""

from __future__ import annotations

import ssl
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import httpcore2
from httpcore2 import _config
from httpcore2._tls_sessions import (
    SHARED_CAPACITY,
    SHARED_SESSIONS,
    TLSSessionCache,
    renews,
    session_key,
)
from tests.servers.asgi_server import Server


class FakeSession:
    def __init__(self, *, has_ticket: bool = True, id: bytes = b"") -> None:
        self.has_ticket = has_ticket
        self.id = id


class FakeTLS:
    """What the cache reads from a TLS object: its session."""

    def __init__(self, session: FakeSession | None) -> None:
        self.session = session


def save(cache: TLSSessionCache, key: Any, session: FakeSession | None) -> None:
    cache.save(key, FakeTLS(session))  # type: ignore[arg-type]


def test_the_least_recently_used_session_goes_first() -> None:
    cache = TLSSessionCache(2)
    one, two, three = FakeSession(), FakeSession(), FakeSession()
    save(cache, ("one",), one)
    save(cache, ("two",), two)
    assert cache.get(("one",)) is one  # now the most recently used
    save(cache, ("three",), three)
    assert len(cache) == 2
    assert cache.get(("two",)) is None
    assert cache.get(("one",)) is one
    assert cache.get(("three",)) is three


def test_a_newer_session_replaces_the_older() -> None:
    cache = TLSSessionCache(2)
    old, new = FakeSession(), FakeSession()
    save(cache, ("key",), old)
    save(cache, ("key",), new)
    assert cache.get(("key",)) is new
    assert len(cache) == 1


@pytest.mark.parametrize(
    ("session", "kept"),
    [
        (None, False),  # a closed connection
        (FakeSession(has_ticket=False, id=b""), False),  # TLS 1.3 before its tickets
        (FakeSession(has_ticket=False, id=b"\x01" * 32), True),  # TLS 1.2, by session id
        (FakeSession(has_ticket=True), True),
    ],
)
def test_only_resumable_sessions_are_kept(session: FakeSession | None, kept: bool) -> None:
    cache = TLSSessionCache(2)
    save(cache, ("key",), session)
    assert (cache.get(("key",)) is not None) is kept


def test_threads_share_a_cache() -> None:
    cache = TLSSessionCache(8)
    start = threading.Barrier(4)

    def work(name: int) -> None:
        start.wait()
        for round in range(2000):
            save(cache, (name, round % 16), FakeSession())
            cache.get((name, (round + 1) % 16))

    threads = [threading.Thread(target=work, args=(name,)) for name in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(cache) == 8


@pytest.mark.case("S35")
def test_the_key_holds_every_tls_setting() -> None:
    context = ssl.create_default_context()
    key = session_key(context, "example.com", b"example.com", 443, None)
    assert key == session_key(context, "example.com", b"example.com", 443, None)
    others = [
        session_key(ssl.create_default_context(), "example.com", b"example.com", 443, None),
        session_key(context, "other.example", b"example.com", 443, None),
        session_key(context, "example.com", b"other.example", 443, None),
        session_key(context, "example.com", b"example.com", 8443, None),
        session_key(context, "example.com", b"example.com", 443, "a proxy"),
    ]
    assert key not in others
    context.check_hostname = False
    assert session_key(context, "example.com", b"example.com", 443, None) != key


@pytest.mark.case("S35")
@pytest.mark.parametrize("call", ["request", "stream"])
def test_the_top_level_functions_resume_from_call_to_call(
    tls_server: Server, ca_file: Path, monkeypatch: pytest.MonkeyPatch, call: str
) -> None:
    # The functions trust certifi's bundle; make their default context trust the test CA.
    context = httpcore2.create_ssl_context(verify=str(ca_file))
    monkeypatch.setattr(_config, "_default_context", lambda alpn_protocols: context)
    reused = []
    for _ in range(3):
        if call == "request":
            response = httpcore2.request("GET", tls_server.url)
        else:
            with httpcore2.stream("GET", tls_server.url) as response:
                response.read()
        assert response.content == b"Hello, world!"
        reused.append(response.extensions["tls_session_reused"])
    assert reused == [False, True, True]
    assert 1 <= len(SHARED_SESSIONS) <= SHARED_CAPACITY


class AgedSession:
    def __init__(self, age: float, lifetime: int) -> None:
        self.time = int(time.time() - age)
        self.timeout = lifetime


@pytest.mark.parametrize(
    ("age", "reused", "replaced"),
    [
        (None, False, True),  # nothing was offered: keep the first session
        (10, False, True),  # refused: keep the full handshake's session
        (10, True, False),  # resumed: keep offering the same one
        (200, True, True),  # resumed, but past half its lifetime (300 s)
    ],
)
def test_a_session_is_replaced_after_a_full_handshake_or_half_its_lifetime(
    age: float | None, reused: bool, replaced: bool
) -> None:
    offered = None if age is None else AgedSession(age, 300)
    assert renews(offered, reused) is replaced  # type: ignore[arg-type]
