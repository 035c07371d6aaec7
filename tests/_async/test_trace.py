"""The `trace` request extension: every step of a request, on real servers, sync and async
callbacks alike, with `.failed` events for the step that failed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import httpcore2
from tests.servers.asgi_server import Server
from tests.servers.raw import RawServerFactory, never_respond, reset_mid_body

QUICK = {"timeout": {"connect": 5.0, "read": 0.2, "write": 5.0, "pool": 5.0}}
Events = list[tuple[str, dict[str, Any]]]

HTTP11_EXCHANGE = [
    "http11.send_request_headers.started",
    "http11.send_request_headers.complete",
    "http11.send_request_body.started",
    "http11.send_request_body.complete",
    "http11.receive_response_headers.started",
    "http11.receive_response_headers.complete",
    "http11.receive_response_body.started",
    "http11.receive_response_body.complete",
    "http11.response_closed.started",
    "http11.response_closed.complete",
]
CONNECT = ["connection.connect_tcp.started", "connection.connect_tcp.complete"]
START_TLS = ["connection.start_tls.started", "connection.start_tls.complete"]


def plain_recorder(events: Events) -> Callable[[str, dict[str, Any]], None]:
    def trace(name: str, info: dict[str, Any]) -> None:
        events.append((name, info))

    return trace


def awaitable_recorder(events: Events) -> Callable[[str, dict[str, Any]], Any]:
    async def trace(name: str, info: dict[str, Any]) -> None:
        events.append((name, info))

    return trace


RECORDERS = {"plain": plain_recorder, "awaitable": awaitable_recorder}


def names(events: Events) -> list[str]:
    return [name for name, _ in events]


@pytest.mark.anyio
@pytest.mark.parametrize("callback", sorted(RECORDERS))
async def test_every_step_of_an_https_request(callback: str, tls_server: Server) -> None:
    events: Events = []
    extensions = {"trace": RECORDERS[callback](events)}
    async with httpcore2.ConnectionPool(verify=str(tls_server.ca_file)) as pool:
        first = await pool.request("GET", tls_server.url + "/", extensions=extensions)
        second = await pool.request(
            "POST", tls_server.url + "/echo", content=[b"a", b"b"], extensions=extensions
        )
    assert first.content == b"Hello, world!"
    assert second.status == 200
    assert names(events) == CONNECT + START_TLS + HTTP11_EXCHANGE + HTTP11_EXCHANGE
    info = dict(events)
    assert info["connection.connect_tcp.started"] == {"host": b"127.0.0.1", "port": tls_server.port}
    started = {"server_hostname": "127.0.0.1", "session_offered": False}
    assert info["connection.start_tls.started"] == started
    assert info["connection.start_tls.complete"]["stream"].get_extra_info("ssl_object")
    assert info["connection.start_tls.complete"]["session_reused"] is False
    assert events[4][1]["request"] is first.request  # send_request_headers.started
    head = events[9][1]  # the first receive_response_headers.complete
    assert head["http_version"] == b"HTTP/1.1"
    assert (head["status"], head["reason_phrase"]) == (200, first.extensions["reason_phrase"])
    assert (b"content-type", b"text/plain; charset=utf-8") in head["headers"]


@pytest.mark.anyio
async def test_a_failed_connect(unused_port: int) -> None:
    events: Events = []
    async with httpcore2.ConnectionPool() as pool:
        with pytest.raises(httpcore2.ConnectError) as info:
            await pool.request(
                "GET",
                f"http://127.0.0.1:{unused_port}/",
                extensions={"trace": plain_recorder(events)},
            )
    assert names(events) == ["connection.connect_tcp.started", "connection.connect_tcp.failed"]
    assert events[-1][1] == {"exception": info.value}


@pytest.mark.anyio
async def test_a_failed_tls_handshake(wrong_host_tls_server: Server) -> None:
    events: Events = []
    async with httpcore2.ConnectionPool(verify=str(wrong_host_tls_server.ca_file)) as pool:
        with pytest.raises(httpcore2.ConnectError) as info:
            await pool.request(
                "GET", wrong_host_tls_server.url, extensions={"trace": plain_recorder(events)}
            )
    assert names(events)[2:] == ["connection.start_tls.started", "connection.start_tls.failed"]
    assert events[-1][1] == {"exception": info.value}


@pytest.mark.anyio
async def test_a_response_that_never_comes(raw_server: RawServerFactory) -> None:
    server = raw_server(never_respond())
    events: Events = []
    async with httpcore2.ConnectionPool() as pool:
        with pytest.raises(httpcore2.ReadTimeout) as info:
            await pool.request(
                "GET", server.url + "/", extensions={**QUICK, "trace": plain_recorder(events)}
            )
    assert names(events)[-2:] == [
        "http11.receive_response_headers.started",
        "http11.receive_response_headers.failed",
    ]
    assert events[-1][1] == {"exception": info.value}


@pytest.mark.anyio
async def test_a_body_cut_short(raw_server: RawServerFactory) -> None:
    server = raw_server(reset_mid_body(content_length=1000, sent=100))
    events: Events = []
    async with httpcore2.ConnectionPool() as pool:
        extensions = {**QUICK, "trace": plain_recorder(events)}
        async with pool.stream("GET", server.url + "/", extensions=extensions) as response:
            with pytest.raises((httpcore2.ReadError, httpcore2.RemoteProtocolError)) as info:
                await response.aread()
    assert names(events)[-4:] == [
        "http11.receive_response_body.started",
        "http11.receive_response_body.failed",
        "http11.response_closed.started",
        "http11.response_closed.complete",
    ]
    assert events[-3][1] == {"exception": info.value}


class BodyWriteFails(httpcore2.MockStream):
    """The server answers early and stops reading after the head: the body write fails."""

    failed = False

    async def write(self, data: bytes, timeout: float | None = None) -> None:
        if self.written:
            self.failed = True
            raise httpcore2.WriteError("Broken pipe")
        self.written.append(data)

    def is_readable(self) -> bool:
        return self.failed


@pytest.mark.anyio
async def test_a_body_the_server_did_not_want() -> None:
    answer = b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n"
    connection = httpcore2.HTTP11Connection(BodyWriteFails([answer]))
    events: Events = []
    request = httpcore2.Request(
        "PUT",
        "http://example.com/",
        content=iter([b"x" * 1000] * 3),
        extensions={**QUICK, "trace": plain_recorder(events)},
    )
    response = await connection.handle_request(request)
    assert response.status == 413
    assert names(events) == [
        "http11.send_request_headers.started",
        "http11.send_request_headers.complete",
        "http11.send_request_body.started",
        "http11.send_request_body.failed",
        "http11.receive_response_headers.started",
        "http11.receive_response_headers.complete",
    ]
    assert isinstance(events[3][1]["exception"], httpcore2.WriteError)
    await response.aclose()
