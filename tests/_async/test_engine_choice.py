"""`http1_engine` reaches every HTTP/1.1 connection of a pool, and of a client's pool.

The engines differ on what they accept: a control character in a header value passes h11
and not the fast engine, so the outcome shows which engine parsed the response.
"""

from __future__ import annotations

import pytest

import httpcore2
from httpcore2._fast_engine import HTTP1EngineName
from tests.servers.raw import RawServerFactory, respond_with

CONTROL = b"HTTP/1.1 200 OK\r\nX-Odd: a\x01b\r\nContent-Length: 2\r\n\r\nok"
QUICK = {"timeout": {"connect": 2.0, "read": 2.0, "write": 2.0, "pool": 2.0}}


@pytest.mark.parametrize(("engine", "accepted"), [(None, False), ("fast", False), ("h11", True)])
@pytest.mark.anyio
async def test_the_pool_parses_with_the_engine_it_is_given(
    engine: HTTP1EngineName | None, accepted: bool
) -> None:
    backend = httpcore2.MockBackend([CONTROL])
    async with httpcore2.ConnectionPool(network_backend=backend, http1_engine=engine) as pool:
        if accepted:
            response = await pool.request("GET", "http://example.com/")
            assert response.content == b"ok"
        else:
            with pytest.raises(httpcore2.RemoteProtocolError, match="control character"):
                await pool.request("GET", "http://example.com/")


@pytest.mark.parametrize(("engine", "accepted"), [(None, False), ("h11", True)])
@pytest.mark.anyio
async def test_the_client_passes_the_engine_to_its_pool(
    raw_server: RawServerFactory, engine: HTTP1EngineName | None, accepted: bool
) -> None:
    server = raw_server(respond_with(CONTROL))
    async with httpcore2.Client(http1_engine=engine, trust_env=False) as client:
        if accepted:
            response = await client.get(server.url + "/", extensions=QUICK)
            assert response.content == b"ok"
        else:
            with pytest.raises(httpcore2.RemoteProtocolError):
                await client.get(server.url + "/", extensions=QUICK)


def test_an_unknown_engine_is_refused_at_once() -> None:
    with pytest.raises(ValueError, match=r"Unknown HTTP/1\.1 engine"):
        httpcore2.Client(http1_engine="llhttp")  # type: ignore[arg-type]
