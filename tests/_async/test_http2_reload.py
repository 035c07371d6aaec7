"""HTTP/2 against a server that reloads, one scripted failure at a time: a connection closed
while an upload waits for its send window, a new connection closed before it took anything
while requests wait for it, streams refused on connections that served others, and a
connection-level write that fails while a response is complete.

Requests run at once in tasks (threads in the sync twin). tests/test_nginx_reload.py does the
same against a real nginx that reloads."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from h2.errors import ErrorCodes
from h2.settings import SettingCodes

import httpcore2
from httpcore2._async import http2  # unasync: sync=from httpcore2._sync import http2
from tests._async import test_http2_edges  # unasync: sync=from tests._sync import test_http2_edges
from tests._async.test_http2 import (  # unasync: sync=from tests._sync.test_http2 import (
    h2c_pool,
    send_window,
    wait_until,
)
from tests.servers.app import HELLO, pattern_bytes
from tests.servers.certs import TLSFiles, server_ssl_context
from tests.servers.h2 import H2Request, H2Server, H2ServerConnection, Script, respond_ok
from tests.servers.raw import RawConnection, RawServerFactory
from tests.together import (  # unasync: sync=from tests.together import (
    together,  # unasync: sync=together_threads as together,
)

FailingWrites = test_http2_edges.FailingWrites

# A PING acknowledgement (type 6, flag ACK, 8 bytes, stream 0), as the client answers a PING.
PING_ACK_HEADER = b"\x00\x00\x08\x06\x01\x00\x00\x00\x00"
# A WINDOW_UPDATE (type 8, no flags, 4 bytes) for the whole connection.
WINDOW_UPDATE_HEADER = b"\x00\x00\x04\x08\x00\x00\x00\x00\x00"


class PingAckFails(FailingWrites):
    """Once `broken`, writes that carry a frame that starts with `header` (a PING
    acknowledgement) fail with `error`; the others go out."""

    header = PING_ACK_HEADER
    error: type[httpcore2.HTTPError] = httpcore2.WriteError

    async def write(self, data: bytes, timeout: float | None = None) -> None:
        if self.broken and self.header in data:
            raise self.error("The connection is closed")
        await self.stream.write(data, timeout)


class PingAckTimesOut(PingAckFails):
    error = httpcore2.WriteTimeout


class WindowUpdateTimesOut(PingAckTimesOut):
    header = WINDOW_UPDATE_HEADER


class Backend(httpcore2.AutoBackend):
    """Each connection's stream wrapped in `kind`; with `break_first`, the writes of the
    first connection fail from the start."""

    def __init__(self, kind: type[FailingWrites] = FailingWrites, break_first: bool = False):
        super().__init__()
        self.kind = kind
        self.break_first = break_first
        self.streams: list[FailingWrites] = []

    async def connect_tcp(self, *args: Any, **kwargs: Any) -> httpcore2.NetworkStream:
        stream = self.kind(await super().connect_tcp(*args, **kwargs))
        stream.broken = self.break_first and not self.streams
        self.streams.append(stream)
        return stream


@pytest.mark.case("F22")
@pytest.mark.anyio
async def test_an_upload_on_a_connection_that_died_fails_instead_of_spinning() -> None:
    # A GET and a POST share a connection. The server closes it once the POST's first chunk
    # arrives; the GET reads the end and goes again on a new connection. The POST's body
    # then has more to send, with send window left: it must fail with the connection's
    # error, not spin asking for a window it can never use.
    def on_request(conn: H2ServerConnection, request: H2Request) -> None:
        if conn.raw.index > 0:
            conn.respond(request.stream_id)

    def on_data(conn: H2ServerConnection, request: H2Request) -> None:
        conn.close(linger=False)

    outcomes: dict[str, Any] = {}
    with H2Server(Script(on_request, on_data=on_data)) as server:

        async def body() -> AsyncIterator[bytes]:  # unasync: sync=def body() -> Iterator[bytes]:
            yield b"first chunk"
            await wait_until(lambda: len(server.connections) == 2)
            yield b"second chunk"

        async with h2c_pool() as pool:

            async def get() -> None:
                outcomes["get"] = await pool.request("GET", server.url + "/hold")

            upload = body()

            async def post() -> None:
                with pytest.raises(httpcore2.RemoteProtocolError) as raised:
                    await pool.request(
                        "POST", server.url + "/upload", content=upload, extensions={"timeout": 5}
                    )
                outcomes["post"] = raised.value

            await together(get, post)
            await upload.aclose()  # left after its second chunk: finalized here, not by the GC
    assert outcomes["get"].content == HELLO
    assert "closed the HTTP/2 connection" in str(outcomes["post"])
    first, second = server.connections  # the GET may reach the first after it closed, or not
    assert b"/upload" in first.paths()
    assert second.paths() == [b"/hold"]


@pytest.mark.case("F22")
@pytest.mark.anyio
async def test_a_wait_for_window_on_a_busy_connection_ends_at_the_write_timeout() -> None:
    # The server gives no send window and keeps the connection busy with PINGs: the upload,
    # reading them all while it waits for window, still stops at its write timeout.
    def flood(conn: H2ServerConnection) -> None:
        conn.h2.ping(b"busy now")
        conn.call_later(0.001, lambda: flood(conn))

    script = Script(
        respond_ok().on_request, {SettingCodes.INITIAL_WINDOW_SIZE: 0}, on_connect=flood
    )
    with H2Server(script) as server:
        async with h2c_pool() as pool:
            with pytest.raises(httpcore2.WriteTimeout):
                await pool.request(
                    "POST",
                    server.url + "/upload",
                    content=b"data",
                    extensions={"timeout": httpcore2.Timeout(5.0, write=0.3)},
                )
    (conn,) = server.connections
    assert conn.requests[1].body == b""


@pytest.mark.parametrize("failure", ["write-fails", "closed-before-settings"])
@pytest.mark.anyio
async def test_requests_waiting_for_a_connection_closed_in_its_handshake_go_to_another(
    failure: str,
) -> None:
    # A reloading server's old worker closes connections it has accepted: the write of our
    # preface fails, or the end arrives before the server's SETTINGS. No request was sent:
    # the one that opened the connection and the ones that waited for it all go to the next.
    def close_first(conn: H2ServerConnection) -> None:
        if conn.raw.index == 0:
            conn.h2.data_to_send()  # its SETTINGS never go out
            conn.close(linger=False)

    respond = Script(lambda conn, request: conn.respond(request.stream_id))
    if failure == "write-fails":
        backend, script = Backend(break_first=True), respond
    else:
        backend, script = Backend(), Script(respond.on_request, on_connect=close_first)
    responses: list[httpcore2.Response] = []
    with H2Server(script) as server:
        async with httpcore2.ConnectionPool(
            http1=False, http2=True, network_backend=backend
        ) as pool:

            async def get() -> None:
                responses.append(await pool.request("GET", server.url + "/"))

            await together(*[get] * 5)
    assert [response.content for response in responses] == [HELLO] * 5
    assert [len(conn.requests) for conn in server.connections] == [0, 5]


@pytest.mark.anyio
async def test_requests_waiting_for_a_connection_closed_in_its_tls_handshake_go_to_another(
    raw_server: RawServerFactory, tls_files: TLSFiles
) -> None:
    # The server accepts the first connection and closes it before the TLS handshake is
    # done: nothing was sent on it, so the requests that waited for it, and the one that
    # opened it, go to the next connection.
    tls = server_ssl_context(alpn_protocols=["h2"])
    script = Script(lambda conn, request: conn.respond(request.stream_id))
    served: list[H2ServerConnection] = []

    def handler(raw: RawConnection) -> None:
        if raw.index == 0:
            raw.close()
            return
        conn = H2ServerConnection(raw, script)
        served.append(conn)
        conn.serve(tls)

    url = raw_server(handler).url.replace("http://", "https://", 1)
    responses: list[httpcore2.Response] = []
    async with httpcore2.ConnectionPool(http2=True, verify=str(tls_files.ca_file)) as pool:

        async def get() -> None:
            responses.append(await pool.request("GET", url + "/"))

        await together(*[get] * 5)
    assert [(response.protocol, response.content) for response in responses] == [
        ("HTTP/2", HELLO)
    ] * 5
    assert [len(conn.requests) for conn in served] == [5]


@pytest.mark.case("F20")
@pytest.mark.anyio
async def test_a_request_refused_on_new_connections_that_served_others_goes_on() -> None:
    # On each of four connections the request that opened it is refused (REFUSED_STREAM)
    # while another request is answered, then GOAWAY: each connection served someone, so none
    # counts against the request as one that takes nothing; it goes on, within its pool
    # timeout, and the fifth connection answers it.
    refusing = 4

    def on_request(conn: H2ServerConnection, request: H2Request) -> None:
        if conn.raw.index >= refusing:
            conn.respond(request.stream_id)
        elif len(conn.requests) == 2:
            other = conn.stream_id(b"/other")
            conn.respond(other)
            conn.h2.reset_stream(conn.stream_id(b"/refused"), ErrorCodes.REFUSED_STREAM)
            conn.send_goaway(other)

    outcomes: list[httpcore2.Response] = []
    with H2Server(Script(on_request)) as server:
        async with h2c_pool() as pool:

            async def refused() -> None:
                outcomes.append(await pool.request("GET", server.url + "/refused"))

            def opened_by_refused(index: int) -> Callable[[], bool]:
                connections = server.connections
                return lambda: (
                    len(connections) > index and connections[index].paths() == [b"/refused"]
                )

            async def others() -> None:
                for index in range(refusing):
                    # Sent once the refused request has opened the next connection.
                    await wait_until(opened_by_refused(index))
                    other = await pool.request("GET", server.url + "/other")
                    assert other.content == HELLO

            await together(refused, others)
    assert [response.content for response in outcomes] == [HELLO]
    assert [conn.paths() for conn in server.connections] == [
        *[[b"/refused", b"/other"]] * refusing,
        [b"/refused"],
    ]


@pytest.mark.case("F19")
@pytest.mark.anyio
async def test_an_unwritable_upload_goes_again_once_the_goaway_refuses_it() -> None:
    # The server answers a GET's head, then (a little later) the rest of its body, a GOAWAY
    # that lets only the GET through, and the end of the connection. A POST sent on the same
    # connection meanwhile cannot be written (the server is gone): what the server sent is
    # read all the same, so the GET completes and the POST, which the GOAWAY says was never
    # processed, goes to a new connection, although its method is not idempotent.
    def on_request(conn: H2ServerConnection, request: H2Request) -> None:
        if conn.raw.index > 0:
            conn.respond(request.stream_id)
        elif request.path == b"/first":
            conn.h2.send_headers(request.stream_id, [(b":status", b"200")])

            def finish() -> None:
                conn.h2.send_data(request.stream_id, b"first", end_stream=True)
                conn.send_goaway(request.stream_id)
                conn.close(linger=False)

            conn.call_later(0.2, finish)

    backend = Backend()
    with H2Server(Script(on_request)) as server:
        async with httpcore2.ConnectionPool(
            http1=False, http2=True, network_backend=backend
        ) as pool:
            async with pool.stream("GET", server.url + "/first") as first:
                backend.streams[0].broken = True
                upload = await pool.request("POST", server.url + "/upload", content=b"data")
                assert await first.aread() == b"first"
    assert upload.content == HELLO
    assert [conn.paths() for conn in server.connections] == [[b"/first"], [b"/upload"]]


@pytest.mark.case("F19")
@pytest.mark.parametrize(
    ("kind", "upload_error"),
    [(PingAckFails, httpcore2.RemoteProtocolError), (PingAckTimesOut, httpcore2.WriteTimeout)],
    ids=["write-error", "write-timeout"],
)
@pytest.mark.anyio
async def test_a_complete_response_is_read_though_a_write_for_the_connection_fails(
    kind: type[PingAckFails], upload_error: type[httpcore2.HTTPError]
) -> None:
    # A response's head arrives; later its body, its end and a PING arrive together, while
    # an upload on the same connection waits for its body, and the server closes the
    # connection. The PING's acknowledgement cannot be written (the server went, or the write
    # timed out): the complete response is read all the same; the upload, which still needs
    # the connection, fails (with the end of the connection, or with the timeout).
    read: list[bytes] = []

    def on_request(conn: H2ServerConnection, request: H2Request) -> None:
        conn.h2.send_headers(request.stream_id, [(b":status", b"200")])  # the body later

    def on_data(conn: H2ServerConnection, request: H2Request) -> None:
        conn.h2.send_data(conn.stream_id(b"/complete"), b"all of it", end_stream=True)
        conn.h2.ping(b"liveness")
        conn.close(linger=False)

    async def body() -> AsyncIterator[bytes]:  # unasync: sync=def body() -> Iterator[bytes]:
        yield b"first chunk"
        await wait_until(lambda: bool(read))
        yield b"second chunk"

    backend = Backend(kind, break_first=True)
    with H2Server(Script(on_request, on_data=on_data)) as server:
        async with httpcore2.ConnectionPool(
            http1=False, http2=True, network_backend=backend
        ) as pool:
            async with pool.stream("GET", server.url + "/complete") as response:
                chunks = body()

                async def upload() -> None:
                    with pytest.raises(upload_error):
                        await pool.request("POST", server.url + "/upload", content=chunks)

                async def read_response() -> None:
                    read.append(await response.aread())

                await together(upload, read_response)
                await chunks.aclose()  # left after its second chunk: finalized here
    assert read == [b"all of it"]
    assert len(server.connections) == 1


@pytest.mark.case("F22")
@pytest.mark.anyio
async def test_a_window_update_that_times_out_costs_no_body_whose_end_has_arrived(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Small windows, so that reading the body gives the connection window back at once; the
    # write of that WINDOW_UPDATE times out, which fails the connection, but the body and its
    # end are all here: the read succeeds.
    monkeypatch.setattr(http2, "STREAM_WINDOW", 2**17)
    monkeypatch.setattr(http2, "CONNECTION_WINDOW", 2**17)
    body = pattern_bytes(100_000)
    backend = Backend(WindowUpdateTimesOut)
    with H2Server(respond_ok(body)) as server:
        async with httpcore2.ConnectionPool(
            http1=False, http2=True, network_backend=backend
        ) as pool:
            async with pool.stream("GET", server.url + "/") as response:
                backend.streams[0].broken = True
                stream_id = response.extensions["stream_id"]
                await wait_until(lambda: send_window(server.connections[0], stream_id) is None)
                assert await response.aread() == body
            assert pool.connections == []  # the connection failed, and left the pool
