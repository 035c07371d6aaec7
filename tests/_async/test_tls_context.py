"""TLS context ownership: a context of the user's is never changed, and the protocol spoken is
the one the handshake selected, so pools that share a context cannot upset each other."""

from __future__ import annotations

import pytest

import httpcore2
from tests.servers.asgi_server import Server


@pytest.mark.anyio
async def test_pools_sharing_a_context_keep_what_they_asked_for(tls_server: Server) -> None:
    # The context offers only http/1.1: an HTTP/2 pool given it must not widen the offer
    # for the HTTP/1.1 pool beside it (which would then speak HTTP/1.1 into h2).
    context = httpcore2.create_ssl_context(verify=str(tls_server.ca_file))
    async with httpcore2.ConnectionPool(ssl_context=context, http2=True) as h2_pool:
        async with httpcore2.ConnectionPool(ssl_context=context, http2=False) as h1_pool:
            first = await h2_pool.request("GET", tls_server.url + "/")
            second = await h1_pool.request("GET", tls_server.url + "/")
    assert (first.protocol, first.content) == ("HTTP/1.1", b"Hello, world!")
    assert (second.protocol, second.content) == ("HTTP/1.1", b"Hello, world!")


@pytest.mark.anyio
async def test_a_context_offering_h2_serves_http2_pools_only(tls_server: Server) -> None:
    context = httpcore2.create_ssl_context(
        verify=str(tls_server.ca_file), alpn_protocols=("h2", "http/1.1")
    )
    async with httpcore2.ConnectionPool(ssl_context=context, http2=True) as h2_pool:
        async with httpcore2.ConnectionPool(ssl_context=context) as h1_pool:
            response = await h2_pool.request("GET", tls_server.url + "/")
            assert response.protocol == "HTTP/2"
            with pytest.raises(httpcore2.UnsupportedProtocol, match="'h2'") as info:
                await h1_pool.request("GET", tls_server.url + "/")
            assert info.value.request is not None
            assert h1_pool.connections == []


@pytest.mark.anyio
async def test_http2_only_refuses_an_http11_handshake(http11_only_tls_server: Server) -> None:
    server = http11_only_tls_server
    context = httpcore2.create_ssl_context(
        verify=str(server.ca_file), alpn_protocols=("h2", "http/1.1")
    )
    async with httpcore2.ConnectionPool(ssl_context=context, http1=False, http2=True) as pool:
        with pytest.raises(httpcore2.UnsupportedProtocol, match=r"'http/1\.1'"):
            await pool.request("GET", server.url + "/")


@pytest.mark.case("S34")
@pytest.mark.anyio
async def test_pools_of_their_own_offer_what_they_speak(tls_server: Server) -> None:
    ca = str(tls_server.ca_file)
    async with httpcore2.ConnectionPool(verify=ca, http2=True) as h2_pool:
        async with httpcore2.ConnectionPool(verify=ca) as h1_pool:
            assert (await h2_pool.request("GET", tls_server.url + "/")).protocol == "HTTP/2"
            assert (await h1_pool.request("GET", tls_server.url + "/")).protocol == "HTTP/1.1"
