"""Fuzz targets for HTTP/1.1 responses: arbitrary and mutated bytes, through every engine and
through a raw loopback server into the full client.

Invariants: only documented exceptions (`RemoteProtocolError` from an engine; `HTTPError` or
`StreamError` from a client), never a hang, never another exception type; and for well-formed
responses an engine gives the same events as h11 itself (the differential check any second
engine must pass). Each runs a few derandomized examples here; `scripts/fuzz` runs them long.
"""

from __future__ import annotations

import gzip
import itertools
import threading
from collections.abc import Iterator

import anyio
import h11
import pytest
from hypothesis import given
from hypothesis import strategies as st

import httpcore2
from httpcore2._http11_engine import END_OF_BODY, HTTP11Engine, ResponseHead, Trailers
from tests.fuzzing import fuzz_settings
from tests.servers.raw import RawConnection, RawServer
from tests.test_http11_engine import ENGINES, receive, send

# How long one example may take before it counts as a hang (a read stall is cut sooner by
# the client's own read timeout).
HANG_LIMIT = 10.0
READ_TIMEOUT = 2.0

_GZIPPED = gzip.compress(b"hello", mtime=0)

# Well-formed responses to start mutating from: the framings and the unusual cases.
CORPUS = [
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\nX-T: 1\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n\r\nclose-delimited body",
    b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
    b"HTTP/1.1 204 No Content\r\n\r\n",
    b'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n',
    b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s"
    % (len(_GZIPPED), _GZIPPED),
    b"HTTP/1.1 200 OK\r\nSet-Cookie: a=b; Path=/\r\nX-Many: 1\r\nX-Many: 2\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\nContent-Length: 3\r\n\r\n\xc3\xa9!",
]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A corpus response with a few byte-level mutations."""
    data = bytearray(draw(st.sampled_from(CORPUS)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "repeat"]))
        if action == "flip" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif action == "insert":
            data[at:at] = draw(
                st.one_of(
                    st.binary(min_size=1, max_size=8),
                    st.sampled_from([b"\r\n", b"\n", b"\r", b" ", b":", b"\x00", b"0", b"\t"]),
                )
            )
        elif action == "delete":
            del data[at : at + draw(st.integers(1, 8))]
        elif action == "truncate":
            del data[at:]
        else:
            data[at:at] = data[at : at + draw(st.integers(1, 16))]
    return bytes(data)


# The corpus as it is too: a target must also get through the well-formed responses.
response_bytes = st.one_of(st.sampled_from(CORPUS), st.binary(max_size=300), mutated())


@st.composite
def well_formed(draw: st.DrawFn) -> bytes:
    """A valid response: any final status, token headers, a body framed by length or chunks."""
    status = draw(st.sampled_from([200, 201, 203, 206, 301, 400, 404, 418, 500, 599]))
    reason = draw(st.text("ABCxyz -", max_size=12)).encode()
    names = st.text("abcXYZ-", min_size=1, max_size=10).filter(
        lambda name: name.lower() not in ("content-length", "transfer-encoding", "connection")
    )
    headers = draw(st.lists(st.tuples(names, st.text("abc 123/;=", max_size=20)), max_size=6))
    body = draw(st.binary(max_size=200))
    head = b"HTTP/1.1 %d %s\r\n" % (status, reason)
    head += b"".join(b"%s: %s\r\n" % (k.encode(), v.strip().encode()) for k, v in headers)
    if draw(st.booleans()):
        return head + b"Content-Length: %d\r\n\r\n" % len(body) + body
    chunks = draw(st.lists(st.binary(min_size=1, max_size=50), max_size=5))
    framed = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks)
    return head + b"Transfer-Encoding: chunked\r\n\r\n" + framed + b"0\r\n\r\n"


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({cut % (len(data) + 1) for cut in cuts} | {0, len(data)})
    return [data[start:end] for start, end in itertools.pairwise(points)]


def _events(engine: HTTP11Engine, pieces: list[bytes]) -> list[object]:
    """Drive `engine` through a GET's response, `pieces` then EOF; end at END_OF_BODY."""
    send(engine, httpcore2.Request("GET", "http://example.com/"))
    engine.end_of_body()
    events: list[object] = []
    for piece in [*pieces, b""]:
        events += [bytes(e) if type(e) is memoryview else e for e in receive(engine, piece)]
        if events and events[-1] is END_OF_BODY:
            return events
    raise AssertionError(f"no end at the end of the stream: {events[-5:]}")


engines = pytest.mark.parametrize("engine_class", ENGINES)


@engines
@fuzz_settings(150)
@given(response_bytes, st.lists(st.integers(0, 400), max_size=6))
@pytest.mark.case("F28")
def test_engine_takes_any_bytes(
    engine_class: type[HTTP11Engine], data: bytes, cuts: list[int]
) -> None:
    engine = engine_class()
    try:
        events = _events(engine, _split(data, cuts))
    except httpcore2.RemoteProtocolError:
        return
    assert isinstance(events[-2 if len(events) > 1 else 0], (ResponseHead, bytes, Trailers))
    engine.start_next_exchange()


def _h11_events(data: bytes) -> list[object]:
    connection = h11.Connection(h11.CLIENT)
    connection.send(h11.Request(method="GET", target="/", headers=[("Host", "example.com")]))
    connection.send(h11.EndOfMessage())
    connection.receive_data(data)
    connection.receive_data(b"")
    events: list[object] = []
    while True:
        event = connection.next_event()
        if isinstance(event, h11.Response):
            events.append((event.status_code, event.reason, event.headers.raw_items()))
        elif isinstance(event, h11.Data):
            events.append(bytes(event.data))
        elif isinstance(event, h11.EndOfMessage):
            return events


def _merged(events: list[object]) -> list[object]:
    """Adjacent body pieces joined: engines may split data differently."""
    merged: list[object] = []
    for event in events:
        if isinstance(event, bytes) and merged and isinstance(merged[-1], bytes):
            merged[-1] += event
        elif event is not END_OF_BODY and not (isinstance(event, bytes) and not event):
            merged.append(event)
    return merged


@engines
@fuzz_settings(100)
@given(well_formed(), st.lists(st.integers(0, 400), max_size=6))
def test_engine_gives_the_same_events_as_h11(
    engine_class: type[HTTP11Engine], data: bytes, cuts: list[int]
) -> None:
    ours = [
        (event.status, event.reason, event.headers) if isinstance(event, ResponseHead) else event
        for event in _events(engine_class(), _split(data, cuts))
    ]
    assert ours[-1] is END_OF_BODY
    assert _merged(ours) == _merged(_h11_events(data))


# --- The full client, over a raw loopback server ----------------------------------------


class Script:
    """What the server answers to the next connection: one response, then close."""

    def __init__(self) -> None:
        self.response = b""

    def handler(self, conn: RawConnection) -> None:
        conn.recv_request()
        conn.send(self.response)


@pytest.fixture(scope="module")
def script() -> Iterator[tuple[Script, str]]:
    scripted = Script()
    with RawServer(scripted.handler) as server:
        yield scripted, server.url


ALLOWED = (httpcore2.HTTPError, httpcore2.StreamError)


async def _fetch_async(url: str) -> None:
    async with httpcore2.Client(timeout=READ_TIMEOUT, retries=0, trust_env=False) as client:
        with anyio.fail_after(HANG_LIMIT):
            try:
                response = await client.get(url)
                await response.aread()
                response.text  # noqa: B018 - decoding is part of the target
            except ALLOWED:
                pass


def _fetch_sync(url: str) -> None:
    failure: list[BaseException] = []

    def run() -> None:
        with httpcore2.SyncClient(timeout=READ_TIMEOUT, retries=0, trust_env=False) as client:
            try:
                response = client.get(url)
                response.read()
                response.text  # noqa: B018 - decoding is part of the target
            except ALLOWED:
                pass
            except BaseException as exc:
                failure.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(HANG_LIMIT)
    assert not worker.is_alive(), "the request hung"
    if failure:
        raise failure[0]


@pytest.mark.parametrize("flavour", ["asyncio", "trio", "sync"])
@fuzz_settings(60)
@given(data=response_bytes)
@pytest.mark.case("F28")
def test_client_takes_any_response_bytes(
    script: tuple[Script, str], flavour: str, data: bytes
) -> None:
    scripted, url = script
    scripted.response = data
    if flavour == "sync":
        _fetch_sync(url + "/")
    else:
        anyio.run(_fetch_async, url + "/", backend=flavour)
