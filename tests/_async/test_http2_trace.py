"""The `trace` extension on HTTP/2: one started/complete (or failed) pair per step, in order,
awaited when the callable is async."""

from __future__ import annotations

from typing import Any

import pytest
from h2.errors import ErrorCodes

import httpcore2
from tests.servers.app import HELLO
from tests.servers.h2 import H2Server, close_mid_body, reset_stream, respond_ok


def steps(*names: str) -> list[str]:
    return [f"http2.{name}.{phase}" for name in names for phase in ("started", "complete")]


class Recorder:
    """A trace callable that records the `http2.*` events, through a coroutine on the async
    side (whose result the connection must await for the event to be recorded)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, name: str, info: dict[str, Any]) -> Any:
        # Other layers' events are not this file's business (nor, yet, awaited).
        return self.record(name, info) if name.startswith("http2.") else None

    async def record(self, name: str, info: dict[str, Any]) -> None:
        self.events.append((name, info))

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.events]


@pytest.mark.anyio
async def test_a_get_and_a_post_over_http2_emit_each_step() -> None:
    first, second = Recorder(), Recorder()
    with H2Server(respond_ok()) as server:
        async with httpcore2.ConnectionPool(http1=False, http2=True) as pool:
            get = await pool.request("GET", server.url + "/", extensions={"trace": first})
            post = await pool.request(
                "POST", server.url + "/", content=b"body", extensions={"trace": second}
            )
    assert get.content == post.content == HELLO
    response_steps = steps("receive_response_headers", "receive_response_body", "response_closed")
    assert first.names == [
        *steps("send_connection_init", "send_request_headers"),
        *response_steps,
    ]
    assert second.names == [*steps("send_request_headers", "send_request_body"), *response_steps]
    (name, info), *rest = second.events
    assert name == "http2.send_request_headers.started"
    assert info == {"request": post.request, "stream_id": 3}
    assert all(info["stream_id"] == 3 for _, info in rest if "stream_id" in info)
    complete = dict(first.events)["http2.receive_response_headers.complete"]
    assert complete["return_value"][0] == 200


@pytest.mark.anyio
async def test_a_failed_step_emits_failed_with_the_exception() -> None:
    recorder = Recorder()
    with H2Server(reset_stream(1, ErrorCodes.INTERNAL_ERROR)) as server:
        async with httpcore2.ConnectionPool(http1=False, http2=True) as pool:
            with pytest.raises(httpcore2.RemoteProtocolError) as info:
                await pool.request("GET", server.url + "/", extensions={"trace": recorder})
    assert recorder.names[-2:] == [
        "http2.receive_response_headers.started",
        "http2.receive_response_headers.failed",
    ]
    assert recorder.events[-1][1] == {"exception": info.value}


@pytest.mark.anyio
async def test_a_body_cut_short_emits_receive_response_body_failed() -> None:
    recorder = Recorder()
    with H2Server(close_mid_body()) as server:
        async with httpcore2.ConnectionPool(http1=False, http2=True) as pool:
            async with pool.stream("GET", server.url + "/", extensions={"trace": recorder}) as r:
                with pytest.raises(httpcore2.RemoteProtocolError) as info:
                    await r.aread()
    assert recorder.names[-4:] == [
        "http2.receive_response_body.started",
        "http2.receive_response_body.failed",
        "http2.response_closed.started",
        "http2.response_closed.complete",
    ]
    assert recorder.events[-3][1] == {"exception": info.value}
