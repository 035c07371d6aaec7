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

httpbin-style endpoints, for client-level tests (see below for how queries are read):

- `ANY /anything`, `ANY /anything/{anything}`: 200 JSON, the keys of `/echo` plus `url` (as the
  server saw it: scheme, `Host`, raw path and query), `args` (the query as `{name: [values]}`),
  `cookies` (the `Cookie` headers as `{name: value}`, the first of a name wins), `json` (the
  body parsed as JSON, else null), `form` (`{name: [values]}` of an
  `application/x-www-form-urlencoded` body, or of the parts without a filename of a
  `multipart/form-data` one), `files` (the parts with a filename), `parts` (every part, in
  order) and `multipart_defects` (what the stdlib `email` parser found wrong with a multipart
  body, such as `CloseBoundaryNotFoundDefect`). A part is `{name, filename, content_type,
  headers, content, length, sha256}`: `headers` are all of its headers, raw; `content` is its
  exact bytes (after any `Content-Transfer-Encoding`); `name` and `filename` are decoded
  (quoted strings, RFC 2231, raw UTF-8); `content_type` is the raw header or null. A nested
  multipart part answers 400.
- `ANY /redirect-to?url=...&status_code=302`: a 3xx (300-399) whose `Location` is exactly the
  bytes `url` percent-decodes to (raw UTF-8, spaces...).
- `ANY /redirect-chain/{n}`, `ANY /relative-redirect/{n}`, `ANY /absolute-redirect/{n}`: `n`
  hops of 302 (or `?status_code=`), then 200 `done`. Each `Location` names hop `n - 1` as
  `/redirect-chain/{n-1}`, as the relative reference `{n-1}`, and as
  `{scheme}://{Host}/absolute-redirect/{n-1}` respectively, the query carried over.
- `ANY /redirect-loop`: a 302 (or `?status_code=`) to itself (path and query), forever.
  `GET /redirect-loop/count` answers the number of hits as JSON (`5`); `GET /redirect-loop/reset`
  the same, then sets the count back to 0. The count belongs to the `App` instance, which may serve
  several servers at once (the module's `app` serves all the shared ones).
- `GET /cookies`: 200 JSON `{name: value}` of the request's cookies, as `cookies` in `/anything`.
- `GET /cookies/set?name=value&...`: 302 to `/cookies`, with `Set-Cookie: name=value; Path=/`
  for each pair.
- `GET /cookies/set-raw?set=...&set=...&location=`: each `set` value verbatim as a
  `Set-Cookie` header; a 302 to `location` if given, else 200 JSON `{"set": [values]}`.
- `GET /cookies/delete?name&...`: 302 to `/cookies`, with an expired `Set-Cookie` for each name
  (`name=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/`).
- `GET /gzip`, `/deflate` (zlib), `/deflate-raw`, `/brotli`, `/zstd`: 200 JSON
  `{"compressed": true, "method": coding}` compressed with `gzip`, `deflate`, `deflate-raw`,
  `br` or `zstd`, and that `Content-Encoding` (`deflate` for both deflates); 501 if `brotli`
  or `zstandard` is not installed. `GET /stacked?codings=gzip,br`: the same, compressed with
  each of those codings in turn, `Content-Encoding` listing them in that order.
- `GET /bomb?size=N&coding=gzip`: `N` zero bytes (at most 4 GiB) compressed with `coding`, as
  a stream: compressed chunk by chunk, never held whole, stopped when the client goes away.
- `GET /encoding/{charset}?declare=1`: `encoding_text(charset)` encoded in `charset`, as
  `text/plain; charset={charset}` (with `declare=0`, no charset parameter); an unknown charset
  answers 400. `GET /encoding/none`: `ENCODING_TEXTS[0]` in UTF-8 as `text/plain` alone.
- `GET /json`: `JSON_DOCUMENT` as `application/json`, UTF-8 with non-ASCII left unescaped.
- `GET /lines`: `LINES` in UTF-8, sent as the chunks `LINES_CHUNKS`: `\n`, `\r\n` and `\r`
  line endings, with chunks that end between `\r` and `\n` and inside multi-byte characters.
- `GET /basic-auth/{user}/{passwd}`: 200 JSON `{"authenticated": true, "user": user}` if the
  request's `Authorization` is `Basic` with those credentials (UTF-8), else 401 with
  `WWW-Authenticate: Basic realm="test"`.
- `ANY /response-headers?name=value&...`: 200 JSON `{name: [values]}` with those response
  headers (names lowercased, a name may repeat; `content-type` replaces the JSON one;
  `content-length` and `transfer-encoding` answer 400).

The queries of these endpoints are percent-decoded to bytes, `+` read as a space (as in HTML
forms). In their JSON answers, parsed text (`args`, `form`, `cookies`, names) is decoded as
UTF-8, invalid bytes replaced; raw text (headers, bodies, part contents) as latin-1.

A bad parameter answers 400, an unknown path 404, a wrong method 405. Endpoints that do not use
the request body read and discard it before answering, so the connection stays reusable.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import hashlib
import importlib
import json
import math
import threading
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, MutableMapping
from email.headerregistry import ContentDispositionHeader
from email.message import Message as MIMEPart
from functools import cached_property, lru_cache
from http import HTTPStatus
from types import ModuleType
from typing import Any, Protocol, TypeVar, cast
from urllib.parse import parse_qsl, unquote_to_bytes

import anyio
import anyio.lowlevel

__all__ = [
    "ENCODING_TEXTS",
    "HELLO",
    "JSON_DOCUMENT",
    "LINES",
    "LINES_CHUNKS",
    "MAX_BOMB_BYTES",
    "MAX_STREAM_BYTES",
    "STREAMS_SENDING",
    "App",
    "ASGIApp",
    "Receive",
    "Scope",
    "Send",
    "app",
    "encoding_text",
    "lifespan",
    "pattern_bytes",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

HELLO = b"Hello, world!"
# A token per body being streamed now, in this process (see `send_stream`): a test sees a
# stream stop once its client has gone.
STREAMS_SENDING: set[object] = set()
MAX_STREAM_BYTES = 1 << 30
MAX_BOMB_BYTES = 4 << 30
MAX_CHUNK_SIZE = 16 << 20
MAX_DELAY = 60.0
MAX_HEADERS = 100_000
MAX_HOPS = 1000
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})

# `/encoding/{charset}` sends the first of these that the charset can encode.
ENCODING_TEXTS = (
    "Grüße, Привет, Γειά, こんにちは, 你好, 안녕, שלום, €",
    "Grüße aus Köln: café, naïve, façade",
    "Zażółć gęślą jaźń",
    "Привет, мир: съешь же ещё этих булок",
    "Γειά σου, κόσμε",  # noqa: RUF001
    "こんにちは、世界",
    "你好，世界",  # noqa: RUF001
    "안녕하세요, 세계",
    "שלום עולם",
    "مرحبا بالعالم",
    "สวัสดีชาวโลก",
    "Hello, world!",  # for ASCII and its like
)

JSON_DOCUMENT: dict[str, Any] = {
    "name": "httpcore2",
    "greeting": "Grüße, こんにちは 👋",
    "numbers": [1, -2.5, 1e100],
    "nested": {"ok": True, "nothing": None},
    "empty": [],
}

LINES = (
    "plain ASCII\n"
    "Grüße aus Köln\r\n"
    "5 € in 日本語\r"
    "after a bare CR\r\n"
    "\r\n"
    "after an empty line\n"
    "no line ending at the end 🙂"
)

_PATTERN = bytes(range(256))
_ZEROS = bytes(1 << 20)
_TEXT = b"text/plain; charset=utf-8"
_JSON = b"application/json"
_OCTETS = b"application/octet-stream"
_EXPIRED = b"=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/"

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


def encoding_text(charset: str) -> str:
    """The text `/encoding/{charset}` sends: the first of `ENCODING_TEXTS` that `charset` encodes.

    Raises `LookupError` for a charset Python cannot encode text in.
    """
    for text in ENCODING_TEXTS:
        try:
            text.encode(charset)
        except UnicodeError:
            continue
        return text
    raise LookupError(f"{charset} encodes none of the texts")


def _awkward_chunks(data: bytes) -> tuple[bytes, ...]:
    # Cut after every CR, so that a CRLF straddles two chunks, and after the first byte of every
    # multi-byte UTF-8 character.
    cuts = [i + 1 for i, byte in enumerate(data) if byte == 0x0D or byte >= 0xC0]
    return tuple(data[start:end] for start, end in zip([0, *cuts], [*cuts, len(data)], strict=True))


LINES_CHUNKS = _awkward_chunks(LINES.encode())


class _HTTPError(Exception):
    """Answer with `status` and the message as a text body."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _in_range(value: _N, low: _N, high: _N) -> _N:
    if not low <= value <= high:  # also rejects NaN
        raise _HTTPError(f"{value} is not in [{low}, {high}]")
    return value


def _unquote(text: bytes) -> bytes:
    return unquote_to_bytes(text.replace(b"+", b" "))


def _form_pairs(data: bytes) -> list[tuple[bytes, bytes]]:
    """`a=1&b&c=%20` as raw `(name, value)` pairs: percent-decoded, `+` read as a space."""
    pairs = []
    for field in data.split(b"&"):
        if field:
            name, _, value = field.partition(b"=")
            pairs.append((_unquote(name), _unquote(value)))
    return pairs


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def _multidict(pairs: Iterable[tuple[bytes, bytes]]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for name, value in pairs:
        result.setdefault(_text(name), []).append(_text(value))
    return result


class _Exchange:
    """One request: its scope and channels, plus the ways this app answers."""

    def __init__(self, app: App, scope: Scope, receive: Receive, send: Send) -> None:
        self.app = app
        self.scope = scope
        self.receive = receive
        self.send = send
        self.method: str = scope["method"]
        self.query = dict(parse_qsl(scope["query_string"].decode("latin-1")))
        self.body_done = False

    @cached_property
    def params(self) -> list[tuple[bytes, bytes]]:
        """The query as raw pairs, for the endpoints that pass values on byte for byte."""
        return _form_pairs(self.scope["query_string"])

    def param_values(self, name: bytes) -> list[bytes]:
        return [value for key, value in self.params if key == name]

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.scope["headers"]:
            if key.lower() == name:
                return bytes(value)
        return None

    def number(self, text: str, *, low: float, high: float) -> float:
        try:
            value = float(text)
        except ValueError:
            raise _HTTPError(f"not a number: {text!r}") from None
        return _in_range(value, low, high)

    def integer(self, text: str, *, low: int, high: int) -> int:
        if not (text.isascii() and text.isdigit()):
            raise _HTTPError(f"not a whole number: {text!r}")
        return _in_range(int(text), low, high)

    def origin(self) -> str:
        """`{scheme}://{Host}` of the request (hypercorn fills `Host` in from `:authority`)."""
        return f"{self.scope['scheme']}://{(self.header(b'host') or b'').decode('latin-1')}"

    def target(self) -> bytes:
        """The raw path and query of the request."""
        query: bytes = self.scope["query_string"]
        return bytes(self.scope.get("raw_path") or b"") + (b"?" + query if query else b"")

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

    async def send_stream(self, chunks: Iterable[bytes]) -> None:
        """Send `chunks` and end the body, stopping early if the client goes away.

        Call it once the request body has been read, so that the next message is the
        disconnect: hypercorn would otherwise let a long stream run on for nobody. Once the
        client has gone, hypercorn's `send` no longer yields to the event loop, hence the
        checkpoint, without which the watcher would never run.
        """
        token = object()
        STREAMS_SENDING.add(token)
        try:
            async with anyio.create_task_group() as tg:

                async def stop_on_disconnect() -> None:
                    while (await self.receive())["type"] != "http.disconnect":
                        pass
                    tg.cancel_scope.cancel()

                tg.start_soon(stop_on_disconnect)
                for chunk in chunks:
                    await self.send_body(chunk)
                    await anyio.lowlevel.checkpoint()
                await self.send_body(b"", more=False)
                tg.cancel_scope.cancel()
        finally:
            STREAMS_SENDING.discard(token)

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

    async def respond_json(self, value: object, *, headers: Headers = ()) -> None:
        await self.respond(200, json.dumps(value).encode(), content_type=_JSON, headers=headers)

    async def redirect(self, status: int, location: bytes, headers: Headers = ()) -> None:
        headers = [(b"location", location), *headers]
        await self.respond(status, b"Redirecting to %s\n" % location, headers=headers)


async def _hello(ex: _Exchange, arg: str) -> None:
    await ex.respond(200, HELLO)


def _describe(ex: _Exchange, body: bytes) -> dict[str, Any]:
    scope = ex.scope
    client = scope.get("client")
    return {
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


async def _echo(ex: _Exchange, arg: str) -> None:
    await ex.respond_json(_describe(ex, await ex.read_body()))


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
    await ex.respond_json({"body_length": length, "sha256": digest.hexdigest()})


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
        raise _HTTPError(f"not a redirect status: {status}")
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
        raise _HTTPError("chunked must be 0 or 1")
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


# -- /anything -------------------------------------------------------------------------------

_MIME_PARSER = email.parser.BytesParser(policy=email.policy.HTTP)


def _request_cookies(ex: _Exchange) -> dict[str, str]:
    cookies: dict[str, str] = {}
    for key, value in ex.scope["headers"]:
        if key.lower() == b"cookie":  # HTTP/2 may split the cookies over several fields
            for pair in bytes(value).split(b";"):
                name, equals, cookie = pair.partition(b"=")
                if equals:
                    cookies.setdefault(_text(name.strip()), _text(cookie.strip()))
    return cookies


def _describe_part(part: MIMEPart, content: bytes) -> dict[str, Any]:
    disposition = part.get("content-disposition")
    params: Mapping[str, str] = (
        disposition.params if isinstance(disposition, ContentDispositionHeader) else {}
    )
    # The parser read the bytes as ASCII with surrogate escapes; undo that for the raw headers.
    headers = [
        [name, value.encode("ascii", "surrogateescape").decode("latin-1")]
        for name, value in part.raw_items()
    ]
    content_type = next((value for name, value in headers if name.lower() == "content-type"), None)
    return {
        "name": params.get("name"),
        "filename": params.get("filename"),
        "content_type": content_type,
        "headers": headers,
        "content": content.decode("latin-1"),
        "length": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
    }


def _form(content_type: bytes, body: bytes) -> dict[str, Any]:
    """The `form`, `files`, `parts` and `multipart_defects` of `/anything`."""
    mime_type = content_type.partition(b";")[0].strip().lower()
    form: dict[str, list[str]] = {}
    parts: list[dict[str, Any]] = []
    defects: list[str] = []
    if mime_type == b"application/x-www-form-urlencoded":
        form = _multidict(_form_pairs(body))
    elif mime_type == b"multipart/form-data":
        message = _MIME_PARSER.parsebytes(b"Content-Type: " + content_type + b"\r\n\r\n" + body)
        defects = [type(defect).__name__ for defect in message.defects]
        payload = message.get_payload() if message.is_multipart() else []
        for part in cast(list[MIMEPart], payload):
            content = part.get_payload(decode=True)
            if not isinstance(content, bytes):
                raise _HTTPError("nested multipart parts are not supported")
            parts.append(_describe_part(part, content))
            if parts[-1]["filename"] is None:
                form.setdefault(parts[-1]["name"] or "", []).append(_text(content))
    return {
        "form": form,
        "files": [part for part in parts if part["filename"] is not None],
        "parts": parts,
        "multipart_defects": defects,
    }


async def _anything(ex: _Exchange, arg: str) -> None:
    body = await ex.read_body()
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    answer = _describe(ex, body)
    answer.update(
        url=ex.origin() + ex.target().decode("latin-1"),
        args=_multidict(ex.params),
        cookies=_request_cookies(ex),
        json=parsed,
        **_form(ex.header(b"content-type") or b"", body),
    )
    await ex.respond_json(answer)


# -- redirects -------------------------------------------------------------------------------


def _redirect_status(ex: _Exchange) -> int:
    return ex.integer(ex.query.get("status_code", "302"), low=300, high=399)


async def _redirect_to(ex: _Exchange, arg: str) -> None:
    urls = ex.param_values(b"url")
    if not urls:
        raise _HTTPError("url is missing")
    await ex.redirect(_redirect_status(ex), urls[0])


def _hops(next_hop: Callable[[_Exchange, int], str]) -> _Endpoint:
    """An endpoint `/{name}/{n}` that redirects to `next_hop(ex, n - 1)` until `n` is 0."""

    async def hop(ex: _Exchange, arg: str) -> None:
        hops = ex.integer(arg, low=0, high=MAX_HOPS)
        if hops == 0:
            await ex.respond(200, b"done")
            return
        query: bytes = ex.scope["query_string"]
        location = next_hop(ex, hops - 1).encode() + (b"?" + query if query else b"")
        await ex.redirect(_redirect_status(ex), location)

    return hop


async def _redirect_loop(ex: _Exchange, arg: str) -> None:
    ex.app.count_loop_hit()
    await ex.redirect(_redirect_status(ex), ex.target())


async def _redirect_loop_count(ex: _Exchange, arg: str) -> None:
    await ex.respond_json(ex.app.loop_hits())


async def _redirect_loop_reset(ex: _Exchange, arg: str) -> None:
    await ex.respond_json(ex.app.loop_hits(reset=True))


# -- cookies ---------------------------------------------------------------------------------


async def _cookies(ex: _Exchange, arg: str) -> None:
    await ex.respond_json(_request_cookies(ex))


async def _cookies_set(ex: _Exchange, arg: str) -> None:
    headers = [(b"set-cookie", b"%s=%s; Path=/" % pair) for pair in ex.params]
    await ex.redirect(302, b"/cookies", headers)


async def _cookies_set_raw(ex: _Exchange, arg: str) -> None:
    cookies = ex.param_values(b"set")
    headers = [(b"set-cookie", cookie) for cookie in cookies]
    locations = ex.param_values(b"location")
    if locations:
        await ex.redirect(302, locations[0], headers)
    else:
        await ex.respond_json({"set": [_text(cookie) for cookie in cookies]}, headers=headers)


async def _cookies_delete(ex: _Exchange, arg: str) -> None:
    headers = [(b"set-cookie", name + _EXPIRED) for name, _ in ex.params]
    await ex.redirect(302, b"/cookies", headers)


# -- compression -----------------------------------------------------------------------------


class _Compressor(Protocol):
    def compress(self, data: bytes, /) -> bytes: ...

    def flush(self) -> bytes:
        """The rest of the output; the stream ends here."""
        ...


def _optional_module(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


class _Brotli:
    def __init__(self, brotli: ModuleType) -> None:
        self._compressor = brotli.Compressor(quality=5)  # 11, the default, is 100 times slower

    def compress(self, data: bytes, /) -> bytes:
        output: bytes = self._compressor.process(data)
        return output

    def flush(self) -> bytes:
        output: bytes = self._compressor.finish()
        return output


def _zlib(wbits: int) -> Callable[[], _Compressor]:
    return lambda: zlib.compressobj(9, zlib.DEFLATED, wbits)


def _brotli_factory(brotli: ModuleType | None) -> Callable[[], _Compressor] | None:
    return None if brotli is None else lambda: _Brotli(brotli)


def _zstd_factory(zstandard: ModuleType | None) -> Callable[[], _Compressor] | None:
    if zstandard is None:
        return None
    compressor = zstandard.ZstdCompressor()
    return lambda: compressor.compressobj()


# coding name -> (its `Content-Encoding` token, a new compressor; None if not installed)
_CODINGS: dict[str, tuple[bytes, Callable[[], _Compressor] | None]] = {
    "gzip": (b"gzip", _zlib(31)),
    "deflate": (b"deflate", _zlib(15)),
    "deflate-raw": (b"deflate", _zlib(-15)),
    "br": (b"br", _brotli_factory(_optional_module("brotli"))),
    "zstd": (b"zstd", _zstd_factory(_optional_module("zstandard"))),
}


def _coding(name: str) -> tuple[bytes, Callable[[], _Compressor]]:
    if name not in _CODINGS:
        raise _HTTPError(f"unknown coding: {name!r}")
    token, factory = _CODINGS[name]
    if factory is None:
        raise _HTTPError(f"{name} needs a package that is not installed", status=501)
    return token, factory


async def _send_compressed(ex: _Exchange, names: list[str]) -> None:
    codings = [_coding(name) for name in names]
    body = json.dumps({"compressed": True, "method": ",".join(names)}).encode()
    for _, factory in codings:
        compressor = factory()
        body = compressor.compress(body) + compressor.flush()
    encoding = b", ".join(token for token, _ in codings)
    await ex.respond(200, body, content_type=_JSON, headers=[(b"content-encoding", encoding)])


def _compressed(name: str) -> _Endpoint:
    async def endpoint(ex: _Exchange, arg: str) -> None:
        await _send_compressed(ex, [name])

    return endpoint


async def _stacked(ex: _Exchange, arg: str) -> None:
    names = [name.strip() for name in ex.query.get("codings", "gzip").split(",")]
    await _send_compressed(ex, names)


def _compressed_zeros(size: int, compressor: _Compressor) -> Iterable[bytes]:
    for offset in range(0, size, len(_ZEROS)):
        yield compressor.compress(_ZEROS[: size - offset])
    yield compressor.flush()


async def _bomb(ex: _Exchange, arg: str) -> None:
    size = ex.integer(ex.query.get("size", "0"), low=0, high=MAX_BOMB_BYTES)
    token, factory = _coding(ex.query.get("coding", "gzip"))
    await ex.discard_body()
    await ex.start(200, [(b"content-encoding", token)], _OCTETS)
    await ex.send_stream([] if ex.method == "HEAD" else _compressed_zeros(size, factory()))


# -- text ------------------------------------------------------------------------------------


async def _encoding(ex: _Exchange, arg: str) -> None:
    if arg == "none":
        await ex.respond(200, ENCODING_TEXTS[0].encode(), content_type=b"text/plain")
        return
    try:
        body = encoding_text(arg).encode(arg)
    except LookupError as exc:
        raise _HTTPError(f"cannot encode in {arg!r}: {exc}") from None
    declare = ex.query.get("declare", "1")
    if declare not in ("0", "1"):
        raise _HTTPError("declare must be 0 or 1")
    charset = f"; charset={arg}" if declare == "1" else ""
    await ex.respond(200, body, content_type=f"text/plain{charset}".encode())


async def _json(ex: _Exchange, arg: str) -> None:
    body = json.dumps(JSON_DOCUMENT, ensure_ascii=False).encode()
    await ex.respond(200, body, content_type=_JSON)


async def _lines(ex: _Exchange, arg: str) -> None:
    await ex.discard_body()
    await ex.start(200, [], _TEXT)
    await ex.send_stream([] if ex.method == "HEAD" else LINES_CHUNKS)


# -- auth and headers ------------------------------------------------------------------------


async def _basic_auth(ex: _Exchange, arg: str) -> None:
    user, slash, password = arg.partition("/")
    if not slash:
        raise _HTTPError("Not Found", status=404)
    scheme, _, token = (ex.header(b"authorization") or b"").partition(b" ")
    expected = base64.b64encode(f"{user}:{password}".encode())
    if scheme.lower() == b"basic" and token.strip() == expected:
        await ex.respond_json({"authenticated": True, "user": user})
    else:
        challenge = [(b"www-authenticate", b'Basic realm="test"')]
        await ex.respond(401, b"Unauthorized\n", headers=challenge)


async def _response_headers(ex: _Exchange, arg: str) -> None:
    headers = [(name.lower(), value) for name, value in ex.params]
    if any(name in (b"content-length", b"transfer-encoding") for name, _ in headers):
        raise _HTTPError("framing headers cannot be set")
    content_types = [value for name, value in headers if name == b"content-type"]
    others = [(name, value) for name, value in headers if name != b"content-type"]
    others += [(b"content-type", value) for value in content_types[1:]]
    body = json.dumps(_multidict(headers)).encode()
    content_type = content_types[0] if content_types else _JSON
    await ex.respond(200, body, content_type=content_type, headers=others)


async def _not_found(ex: _Exchange, arg: str) -> None:
    await ex.respond(404, b"Not Found\n")


_Endpoint = Callable[[_Exchange, str], Awaitable[None]]
_ANY = None
_GET = frozenset({"GET", "HEAD"})

# path (without its leading `/`) or first segment -> (allowed methods, whether a second
# segment is required (None: allowed), endpoint)
_ROUTES: dict[str, tuple[frozenset[str] | None, bool | None, _Endpoint]] = {
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
    "anything": (_ANY, None, _anything),
    "redirect-to": (_ANY, False, _redirect_to),
    "redirect-chain": (_ANY, True, _hops(lambda ex, n: f"/redirect-chain/{n}")),
    "relative-redirect": (_ANY, True, _hops(lambda ex, n: f"{n}")),
    "absolute-redirect": (_ANY, True, _hops(lambda ex, n: f"{ex.origin()}/absolute-redirect/{n}")),
    "redirect-loop": (_ANY, False, _redirect_loop),
    "redirect-loop/count": (_GET, False, _redirect_loop_count),
    "redirect-loop/reset": (_GET, False, _redirect_loop_reset),
    "cookies": (_GET, False, _cookies),
    "cookies/set": (_GET, False, _cookies_set),
    "cookies/set-raw": (_GET, False, _cookies_set_raw),
    "cookies/delete": (_GET, False, _cookies_delete),
    "gzip": (_GET, False, _compressed("gzip")),
    "deflate": (_GET, False, _compressed("deflate")),
    "deflate-raw": (_GET, False, _compressed("deflate-raw")),
    "brotli": (_GET, False, _compressed("br")),
    "zstd": (_GET, False, _compressed("zstd")),
    "stacked": (_GET, False, _stacked),
    "bomb": (_GET, False, _bomb),
    "encoding": (_GET, True, _encoding),
    "json": (_GET, False, _json),
    "lines": (_GET, False, _lines),
    "basic-auth": (_GET, True, _basic_auth),
    "response-headers": (_ANY, False, _response_headers),
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


class App:
    """The test app (an ASGI callable); see the module docstring for its endpoints.

    Each instance keeps its own `/redirect-loop` count; one instance may serve several servers.

    ```python
    with Server(App()) as server:  # a redirect-loop count that no other test touches
        ...
    ```
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()  # each server runs its event loop in a thread of its own
        self._loop_hits = 0

    def count_loop_hit(self) -> None:
        with self._lock:
            self._loop_hits += 1

    def loop_hits(self, *, reset: bool = False) -> int:
        """How many requests `/redirect-loop` has had (since the last reset)."""
        with self._lock:
            hits = self._loop_hits
            if reset:
                self._loop_hits = 0
            return hits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["type"] != "http":
            raise RuntimeError(f"unsupported ASGI scope type: {scope['type']!r}")
        ex = _Exchange(self, scope, receive, send)
        path: str = scope["path"][1:]
        route, arg = _ROUTES.get(path), ""
        if route is None:
            first, _, arg = path.partition("/")
            route = _ROUTES.get(first)
        if route is None or (route[1] is not None and route[1] != bool(arg)):
            await _not_found(ex, arg)
            return
        methods, _, endpoint = route
        if methods is not None and ex.method not in methods:
            allow = ", ".join(sorted(methods)).encode()
            await ex.respond(405, b"Method Not Allowed\n", headers=[(b"allow", allow)])
            return
        try:
            await endpoint(ex, arg)
        except _HTTPError as exc:
            await ex.respond(exc.status, f"{exc}\n".encode())


app = App()
