"""A plain ASGI app that the loopback servers run; no web framework involved.

Endpoints (`HEAD` is accepted wherever `GET` is, and answers with the headers only):

- `GET /`: 200 `text/plain`, `Hello, world!`.
- `ANY /echo`: 200 JSON describing the request: `method`, `path`, `raw_path`, `query`,
  `headers` (`[[name, value], ...]` in the order received, names lowercase), `body` (latin-1),
  `body_length`, `http_version` (`"1.1"` or `"2"`), `scheme`, `client` (`[host, port]`, so two
  requests with the same client port came over the same connection).
- `ANY /echo_body`: 200 `application/octet-stream`, the request body streamed back as it arrives,
  with the request's `Content-Length` if it had one (chunked otherwise).
- `ANY /digest`: 200 JSON `{"body_length", "sha256"}` of the request body, never held whole in
  memory: the endpoint for large uploads.
- `GET /status/{code}`: that status (200-599) with a short text body; no body for 204 and 304.
- `GET /redirect/{code}?location=/`: a 301/302/303/307/308 to `location`.
- `GET /delay/{seconds}`: waits (float seconds, at most 60), then `Hello, world!`.
- `GET /stream/{n}?chunk_size=65536&chunked=1`: exactly `n` bytes (at most 1 GiB) of
  `pattern_bytes(n)`; `chunked=0` sends a `Content-Length`.
- `GET /slow_body?delay=1.0`: `Content-Length: 13`, `Hello, ` at once, `world!` after `delay` s.
- `GET /headers/{n}`: `Hello, world!` with `n` extra headers `x-h-{i}: {i}` for `i` in `range(n)`.

A bad parameter answers 400, an unknown path 404, a wrong method 405. Endpoints that do not use
the request body read and discard it before answering, so the connection stays reusable.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, MutableMapping
from functools import lru_cache
from http import HTTPStatus
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import anyio

__all__ = [
    "HELLO",
    "MAX_STREAM_BYTES",
    "ASGIApp",
    "Receive",
    "Scope",
    "Send",
    "app",
    "lifespan",
    "pattern_bytes",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

HELLO = b"Hello, world!"
MAX_STREAM_BYTES = 1 << 30
MAX_CHUNK_SIZE = 16 << 20
MAX_DELAY = 60.0
MAX_HEADERS = 100_000
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})

_PATTERN = bytes(range(256))
_TEXT = b"text/plain; charset=utf-8"
_JSON = b"application/json"
_OCTETS = b"application/octet-stream"

Headers = Iterable[tuple[bytes, bytes]]
_N = TypeVar("_N", int, float)


def pattern_bytes(n: int, offset: int = 0) -> bytes:
    """Bytes `offset` to `offset + n` of the endless pattern `0x00 0x01 .. 0xff 0x00 ..`.

    `/stream/{n}` sends `pattern_bytes(n)`, so a test can check a download byte for byte.
    """
    start = offset % 256
    return (_PATTERN * ((start + n) // 256 + 1))[start : start + n]


# A stream sends the same few chunks over and over (one per `offset % 256`), so build each once.
_pattern_chunk = lru_cache(maxsize=64)(pattern_bytes)


class _BadRequest(Exception):
    pass


def _in_range(value: _N, low: _N, high: _N) -> _N:
    if not low <= value <= high:  # also rejects NaN
        raise _BadRequest(f"{value} is not in [{low}, {high}]")
    return value


class _Exchange:
    """One request: its scope and channels, plus the ways this app answers."""

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope
        self.receive = receive
        self.send = send
        self.method: str = scope["method"]
        self.query = dict(parse_qsl(scope["query_string"].decode("latin-1")))
        self.body_done = False

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.scope["headers"]:
            if key.lower() == name:
                return bytes(value)
        return None

    def number(self, text: str, *, low: float, high: float) -> float:
        try:
            value = float(text)
        except ValueError:
            raise _BadRequest(f"not a number: {text!r}") from None
        return _in_range(value, low, high)

    def integer(self, text: str, *, low: int, high: int) -> int:
        if not (text.isascii() and text.isdigit()):
            raise _BadRequest(f"not a whole number: {text!r}")
        return _in_range(int(text), low, high)

    async def body_chunks(self) -> AsyncIterator[bytes]:
        """The rest of the request body; nothing once it has been read."""
        while not self.body_done:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                self.body_done = True
                return
            self.body_done = not message.get("more_body", False)
            body: bytes = message.get("body", b"")
            if body:
                yield body

    async def read_body(self) -> bytes:
        return b"".join([chunk async for chunk in self.body_chunks()])

    async def discard_body(self) -> None:
        async for _ in self.body_chunks():
            pass

    async def start(self, status: int, headers: Headers, content_type: bytes) -> None:
        await self.send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", content_type), *headers],
            }
        )

    async def send_body(self, chunk: bytes, *, more: bool = True) -> None:
        if chunk or not more:
            await self.send({"type": "http.response.body", "body": chunk, "more_body": more})

    async def respond(
        self,
        status: int,
        body: bytes = b"",
        *,
        content_type: bytes = _TEXT,
        headers: Headers = (),
    ) -> None:
        """Answer with a fixed body, after reading and discarding the request body."""
        await self.discard_body()
        if status not in (204, 304):
            headers = [*headers, (b"content-length", b"%d" % len(body))]
        await self.start(status, headers, content_type)
        await self.send_body(b"" if self.method == "HEAD" else body, more=False)


async def _hello(ex: _Exchange, arg: str) -> None:
    await ex.respond(200, HELLO)


async def _echo(ex: _Exchange, arg: str) -> None:
    scope = ex.scope
    body = await ex.read_body()
    client = scope.get("client")
    echo = {
        "method": ex.method,
        "path": scope["path"],
        "raw_path": bytes(scope.get("raw_path") or b"").decode("latin-1"),
        "query": scope["query_string"].decode("latin-1"),
        "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]],
        "body": body.decode("latin-1"),
        "body_length": len(body),
        "http_version": scope["http_version"],
        "scheme": scope["scheme"],
        "client": list(client) if client else None,
    }
    await ex.respond(200, json.dumps(echo).encode(), content_type=_JSON)


async def _echo_body(ex: _Exchange, arg: str) -> None:
    length = ex.header(b"content-length")
    headers = [] if length is None else [(b"content-length", length)]
    # Read on regardless of how fast the client takes the echo, so that a client which writes
    # its whole body before reading the response cannot deadlock against this endpoint.
    sender, receiver = anyio.create_memory_object_stream[bytes](math.inf)

    async def pump() -> None:
        async with sender:
            async for chunk in ex.body_chunks():
                sender.send_nowait(chunk)

    async with anyio.create_task_group() as tg:
        tg.start_soon(pump)
        await ex.start(200, headers, _OCTETS)
        async with receiver:
            async for chunk in receiver:
                if ex.method != "HEAD":
                    await ex.send_body(chunk)
    await ex.send_body(b"", more=False)


async def _digest(ex: _Exchange, arg: str) -> None:
    digest = hashlib.sha256()
    length = 0
    async for chunk in ex.body_chunks():
        digest.update(chunk)
        length += len(chunk)
    answer = {"body_length": length, "sha256": digest.hexdigest()}
    await ex.respond(200, json.dumps(answer).encode(), content_type=_JSON)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


async def _status(ex: _Exchange, arg: str) -> None:
    status = ex.integer(arg, low=200, high=599)
    await ex.respond(status, f"{status} {_phrase(status)}\n".encode())


async def _redirect(ex: _Exchange, arg: str) -> None:
    status = ex.integer(arg, low=300, high=399)
    if status not in REDIRECT_CODES:
        raise _BadRequest(f"not a redirect status: {status}")
    location = ex.query.get("location", "/")
    headers = [(b"location", location.encode("latin-1"))]
    await ex.respond(status, f"Redirecting to {location}\n".encode(), headers=headers)


async def _delay(ex: _Exchange, arg: str) -> None:
    seconds = ex.number(arg, low=0.0, high=MAX_DELAY)
    await ex.discard_body()
    await anyio.sleep(seconds)
    await ex.respond(200, HELLO)


async def _stream(ex: _Exchange, arg: str) -> None:
    size = ex.integer(arg, low=0, high=MAX_STREAM_BYTES)
    chunk_size = ex.integer(ex.query.get("chunk_size", "65536"), low=1, high=MAX_CHUNK_SIZE)
    chunked = ex.query.get("chunked", "1")
    if chunked not in ("0", "1"):
        raise _BadRequest("chunked must be 0 or 1")
    await ex.discard_body()
    headers = [(b"content-length", b"%d" % size)] if chunked == "0" else []
    await ex.start(200, headers, _OCTETS)
    if ex.method != "HEAD":
        for offset in range(0, size, chunk_size):
            await ex.send_body(_pattern_chunk(min(chunk_size, size - offset), offset % 256))
    await ex.send_body(b"", more=False)


async def _slow_body(ex: _Exchange, arg: str) -> None:
    seconds = ex.number(ex.query.get("delay", "1.0"), low=0.0, high=MAX_DELAY)
    await ex.discard_body()
    await ex.start(200, [(b"content-length", b"%d" % len(HELLO))], _TEXT)
    if ex.method != "HEAD":
        await ex.send_body(HELLO[:7])
        await anyio.sleep(seconds)
        await ex.send_body(HELLO[7:])
    await ex.send_body(b"", more=False)


async def _headers(ex: _Exchange, arg: str) -> None:
    count = ex.integer(arg, low=0, high=MAX_HEADERS)
    headers = [(b"x-h-%d" % i, b"%d" % i) for i in range(count)]
    await ex.respond(200, HELLO, headers=headers)


_Endpoint = Callable[[_Exchange, str], Awaitable[None]]
_ANY = None
_GET = frozenset({"GET", "HEAD"})

# first path segment -> (allowed methods, whether a second segment is required, endpoint)
_ROUTES: dict[str, tuple[frozenset[str] | None, bool, _Endpoint]] = {
    "": (_GET, False, _hello),
    "echo": (_ANY, False, _echo),
    "echo_body": (_ANY, False, _echo_body),
    "digest": (_ANY, False, _digest),
    "status": (_GET, True, _status),
    "redirect": (_GET, True, _redirect),
    "delay": (_GET, True, _delay),
    "stream": (_GET, True, _stream),
    "slow_body": (_GET, False, _slow_body),
    "headers": (_GET, True, _headers),
}


async def lifespan(
    receive: Receive, send: Send, on_startup: Callable[[], object] | None = None
) -> None:
    """Run an ASGI lifespan scope that has nothing to set up, calling `on_startup` once started."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
            if on_startup is not None:
                on_startup()
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """The test app; see the module docstring for its endpoints."""
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    if scope["type"] != "http":
        raise RuntimeError(f"unsupported ASGI scope type: {scope['type']!r}")
    ex = _Exchange(scope, receive, send)
    first, _, arg = scope["path"][1:].partition("/")
    route = _ROUTES.get(first)
    if route is None or route[1] != bool(arg):
        await ex.respond(404, b"Not Found\n")
        return
    methods, _, endpoint = route
    if methods is not None and ex.method not in methods:
        allow = ", ".join(sorted(methods)).encode()
        await ex.respond(405, b"Method Not Allowed\n", headers=[(b"allow", allow)])
        return
    try:
        await endpoint(ex, arg)
    except _BadRequest as exc:
        await ex.respond(400, f"{exc}\n".encode())
