"""Headers, Request and Response: the models every layer shares."""

from __future__ import annotations

import codecs
import datetime
import functools
import http
import inspect
import io
import json
import re
import time
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    MutableMapping,
    Sequence,
)
from typing import Any, Protocol, TypeVar, Union

from ._config import DEFAULT_LIMITS
from ._content import (
    AsyncByteStream,
    ByteStream,
    RequestContent,
    RequestStream,
    SyncByteStream,
    encode_request_body,
)
from ._cookies import Cookies, extract_cookies
from ._decoders import (
    ContentDecoder,
    LineDecoder,
    TextDecoder,
    charset_from_content_type,
    content_decoder,
    decode_text,
)
from ._exceptions import (
    HTTPStatusError,
    RequestNotRead,
    ResponseNotRead,
    StreamClosed,
    StreamConsumed,
)
from ._urls import URL

__all__ = ["Extensions", "HeaderTypes", "Headers", "Request", "Response"]

# Names and values are str or bytes. The values (and the pairs) are typed Any because mypy
# infers a dict mixing str and bytes values as dict[str, Sequence[object]], and a list mixing
# (str, str) and (bytes, bytes) pairs as pairs of Sequence[object]; each name and value is
# checked at run time anyway.
HeaderTypes = Union[
    "Headers",
    Mapping[str, Any],
    Mapping[bytes, Any],
    Sequence[tuple[Any, Any]],
    None,
]
Extensions = MutableMapping[str, Any]

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Every control character but HTAB is forbidden in a field value (RFC 9110 §5.5).
_FORBIDDEN_IN_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_METHODS_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})
_FRAMING_HEADERS = frozenset({b"content-length", b"transfer-encoding"})
# Tokens, known without a look at each character.
_STANDARD_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"})
# The credentials a request carries, shown as `[secure]` by `repr()` and `str()` so that
# they do not reach logs and tracebacks. (`Set-Cookie` is shown: a response's cookies are
# what one prints headers to see.)
_SECRET_HEADERS = frozenset({b"authorization", b"proxy-authorization", b"cookie"})
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


@functools.lru_cache(maxsize=512)
def parse_url(url: str | bytes, allow_relative: bool = False) -> URL:
    """`URL(url)`, cached: URLs are immutable, so code that sends many requests to the
    same URLs parses each once (and computes its `raw` form once)."""
    return URL(url, allow_relative=allow_relative)


def _encode_header(value: str | bytes, kind: str) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        try:
            return value.encode("ascii")
        except UnicodeEncodeError:
            raise ValueError(
                f"Header {kind} {value!r} is not ASCII: encode it explicitly and pass bytes."
            ) from None
    raise TypeError(f"Header {kind}s must be str or bytes, not {type(value).__name__}.")


def _validated(name: str | bytes, value: str | bytes) -> tuple[bytes, bytes, bytes]:
    raw_name = _encode_header(name, "name")
    raw_value = _encode_header(value, "value").strip(b" \t")
    if _TOKEN.fullmatch(raw_name) is None:
        raise ValueError(f"Invalid header name {raw_name!r}: it must be an RFC 9110 token.")
    if _FORBIDDEN_IN_VALUE.search(raw_value) is not None:
        raise ValueError(
            f"Invalid header value for {raw_name!r}: CR, LF, NUL and other control "
            "characters are not allowed."
        )
    return raw_name, raw_name.lower(), raw_value


class Headers:
    """An ordered, case-insensitive multi-dict of HTTP headers that keeps the raw bytes.

    Iterating yields `(name, value)` byte pairs in wire order, so headers compare equal
    to, and print as, a list of pairs. Lookups answer in the type they are asked in.

    ```python
    >>> headers = Headers({"Content-Type": "application/json"})
    >>> headers["content-type"]
    'application/json'
    >>> headers[b"Content-Type"]
    b'application/json'
    >>> list(headers)
    [(b'Content-Type', b'application/json')]
    ```
    """

    __slots__ = ("_items",)

    def __init__(self, headers: HeaderTypes = None) -> None:
        # Each item is (raw name, lower-cased name, value).
        self._items: list[tuple[bytes, bytes, bytes]]
        if headers is None:
            self._items = []
        elif isinstance(headers, Headers):
            self._items = list(headers._items)
        elif isinstance(headers, Mapping):
            self._items = [_validated(k, v) for k, v in headers.items()]
        else:
            try:
                self._items = [_validated(k, v) for k, v in headers]
            except (TypeError, ValueError):
                # Checked only now, to keep the common case fast: a message that names
                # the argument rather than an unpacking error.
                _check_pairs(headers)
                raise

    @classmethod
    def _from_wire(cls, raw: Iterable[tuple[bytes, bytes]]) -> Headers:
        """Build headers from pairs a protocol parser has already validated. Private: the
        pairs are not checked, so nothing from a caller may come this way."""
        headers = cls.__new__(cls)
        # Loops rather than comprehensions here and below: in these hot paths, for the
        # few headers a message has, the comprehension's own call costs more than it saves.
        items = headers._items = []
        for k, v in raw:
            items.append((k, k.lower(), v))
        return headers

    @property
    def raw(self) -> list[tuple[bytes, bytes]]:
        """The headers as a list of `(name, value)` byte pairs, original case."""
        return [(k, v) for k, _, v in self._items]

    def get_list(self, name: str | bytes) -> list[str] | list[bytes]:
        """Every value of a header, in order, in the type of `name`."""
        key = name.lower() if type(name) is bytes else _encode_header(name, "name").lower()
        values = []
        for _, k, v in self._items:
            if k == key:
                values.append(v)
        if isinstance(name, bytes):
            return values
        return [v.decode("latin-1") for v in values]

    def get(self, name: str | bytes, default: Any = None) -> Any:
        """The header's values joined with `", "`, or `default` when it is absent."""
        key = name.lower() if type(name) is bytes else _encode_header(name, "name").lower()
        values = []
        for _, k, v in self._items:
            if k == key:
                values.append(v)
        if not values:
            return default
        joined = values[0] if len(values) == 1 else b", ".join(values)
        return joined if isinstance(name, bytes) else joined.decode("latin-1")

    def __getitem__(self, name: str | bytes) -> Any:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str) and not name.isascii():
            return False
        if not isinstance(name, (str, bytes)):
            return False
        key = _encode_header(name, "name").lower()
        return any(k == key for _, k, _ in self._items)

    def keys(self) -> list[str]:
        """The distinct header names, lower-cased, in first-seen order."""
        return list(dict.fromkeys(k.decode("latin-1") for _, k, _ in self._items))

    def values(self) -> list[str]:
        """The value of each distinct header, repeated headers joined with `", "`."""
        return [value for _, value in self.items()]

    def items(self) -> list[tuple[str, str]]:
        """`(name, value)` str pairs per distinct header, repeated headers joined."""
        merged: dict[str, list[str]] = {}
        for _, k, v in self._items:
            merged.setdefault(k.decode("latin-1"), []).append(v.decode("latin-1"))
        return [(k, ", ".join(v)) for k, v in merged.items()]

    def multi_items(self) -> list[tuple[str, str]]:
        """Every `(name, value)` as str, lower-cased names, repeated headers kept apart."""
        return [(k.decode("latin-1"), v.decode("latin-1")) for _, k, v in self._items]

    def __setitem__(self, name: str | bytes, value: str | bytes) -> None:
        item = _validated(name, value)
        key = item[1]
        index = next((i for i, (_, k, _) in enumerate(self._items) if k == key), None)
        self._items = [entry for entry in self._items if entry[1] != key]
        self._items.insert(len(self._items) if index is None else index, item)

    def __delitem__(self, name: str | bytes) -> None:
        key = _encode_header(name, "name").lower()
        kept = [entry for entry in self._items if entry[1] != key]
        if len(kept) == len(self._items):
            raise KeyError(name)
        self._items = kept

    def add(self, name: str | bytes, value: str | bytes) -> None:
        """Append a header, keeping any others of the same name."""
        self._items.append(_validated(name, value))

    def setdefault(self, name: str | bytes, value: str | bytes) -> None:
        """Set a header only when it is absent."""
        if name not in self:
            self._items.append(_validated(name, value))

    def update(self, headers: HeaderTypes = None) -> None:
        """Replace each header named in `headers` by the values given there."""
        incoming = Headers(headers)
        names = {k for _, k, _ in incoming._items}
        self._items = [entry for entry in self._items if entry[1] not in names]
        self._items.extend(incoming._items)

    def copy(self) -> Headers:
        """An independent copy."""
        # Without __init__: every request sent through a client is copied (see copy_request).
        copied = Headers.__new__(Headers)
        copied._items = list(self._items)
        return copied

    def __iter__(self) -> Iterator[tuple[bytes, bytes]]:
        return ((k, v) for k, _, v in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return self.raw == other.raw
        if isinstance(other, list):
            try:
                return self.raw == Headers(other).raw
            except (TypeError, ValueError):
                return False
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def _masked(self) -> list[tuple[bytes, bytes]]:
        return [(k, b"[secure]" if key in _SECRET_HEADERS else v) for k, key, v in self._items]

    def __str__(self) -> str:
        # The list of pairs, with credentials (Authorization, Cookie...) shown as [secure].
        return str(self._masked())

    def __repr__(self) -> str:
        return f"Headers({self._masked()!r})"


def _check_pairs(headers: object) -> None:
    """Raise a clear `TypeError` if `headers` is not a list of `(name, value)` pairs."""
    if isinstance(headers, (str, bytes)) or not isinstance(headers, Iterable):
        raise TypeError(
            f"headers= takes a dict or a list of (name, value) pairs, not {type(headers).__name__}"
        ) from None
    for item in headers:
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise TypeError(
                f"headers= given as a list takes (name, value) pairs, not {type(item).__name__}"
            ) from None


class Request:
    """An HTTP request.

    ```python
    request = Request("POST", "https://example.org/upload", content=b"data")
    request.headers  # [(b'Host', b'example.org'), (b'Content-Length', b'4')]
    ```

    The body may be bytes, str (sent as UTF-8), an iterator or async iterator of bytes,
    or a binary file (read in 64 KiB chunks). Bytes get `Content-Length`; iterators and
    files get `Transfer-Encoding: chunked` unless you set `Content-Length` yourself.
    `Host` always comes from the URL unless you set it.
    """

    __slots__ = ("_content", "_method", "extensions", "headers", "stream", "url")

    def __init__(
        self,
        method: str | bytes,
        url: URL | str | bytes,
        *,
        headers: HeaderTypes = None,
        content: RequestContent | None = None,
        extensions: Extensions | None = None,
    ) -> None:
        if type(method) is str and method in _STANDARD_METHODS:
            # Valid and upper case as it is: the setter's checks are skipped.
            self._method = method
        else:
            self.method = method
        if isinstance(url, URL):
            self.url = url
        else:
            # URL() says what it takes; the cache would fail first on an unhashable value.
            self.url = parse_url(url) if isinstance(url, (str, bytes)) else URL(url)
        # Always a copy: the defaults added below must not leak into the caller's headers.
        self.headers = Headers(headers)
        if extensions is None:
            extensions = {}
        elif type(extensions) is not dict and not isinstance(extensions, MutableMapping):
            raise TypeError(
                f"extensions= takes a dict (such as {{'timeout': 10.0}}), not "
                f"{type(extensions).__name__}"
            )
        self.extensions: Extensions = extensions
        self.stream: RequestStream
        self._content: bytes | None
        if content is None:
            self.stream, self._content = ByteStream(b""), b""  # no call for the common case
        else:
            self.stream, self._content = encode_request_body(content)
        # The default headers: inline, as this runs for every request. A loop rather than
        # a set of the names: cheaper for the few headers a request has.
        items = self.headers._items
        has_host = has_framing = False
        for _, name, _ in items:
            if name == b"host":
                has_host = True
            elif name in _FRAMING_HEADERS:
                has_framing = True
        if not has_host:
            url = self.url
            # The raw form is computed once per URL (and `parse_url` caches URLs). A URL
            # whose scheme has no default port has no Host to derive; no transport of ours
            # sends such a request anyway (they raise UnsupportedProtocol).
            raw = url._raw
            if raw is None and url.port is not None:
                raw = url.raw
            if raw is not None:
                items.insert(0, (b"Host", b"host", raw.host_header))
        if has_framing:
            return
        if self._content is None:
            items.append((b"Transfer-Encoding", b"transfer-encoding", b"chunked"))
        elif content is not None or self._method in _METHODS_WITH_BODY:
            length = str(len(self._content)).encode("ascii")
            items.append((b"Content-Length", b"content-length", length))

    @property
    def method(self) -> str:
        """The method, upper case. It is checked when set, here too: the transports write
        it on the wire as it is."""
        return self._method

    @method.setter
    def method(self, method: str | bytes) -> None:
        if isinstance(method, bytes):
            method = method.decode("ascii", errors="replace")
        elif not isinstance(method, str):
            raise TypeError(
                f"The method must be a str such as 'GET' or 'POST', not {type(method).__name__}"
            )
        if method not in _STANDARD_METHODS and _TOKEN.fullmatch(method.encode("utf-8")) is None:
            raise ValueError(f"Invalid HTTP method {method!r}: it must be an RFC 9110 token.")
        self._method = method.upper()

    @property
    def content(self) -> bytes:
        """The body, once known (bytes given, or after `read()` / `aread()`)."""
        if self._content is None:
            raise RequestNotRead("The request body is a stream: call request.read() first.")
        return self._known_content()

    def _known_content(self) -> bytes:
        content = self._content
        assert content is not None
        if type(content) is not bytes:
            # A bytearray or memoryview body is sent without a copy (see
            # `encode_request_body`); asked for as bytes, it is copied, once.
            self._content = content = bytes(content)
        return content

    def read(self) -> bytes:
        """Load a streaming body into memory, so it can be sent again (redirects, auth)."""
        if self._content is None:
            # list() first: join() would hide the stream's own TypeError behind its own.
            self._content = b"".join(list(self.stream))
            self.stream = ByteStream(self._content)
        return self._known_content()

    async def aread(self) -> bytes:
        """Load a streaming body into memory, so it can be sent again (redirects, auth)."""
        if self._content is None:
            self._content = b"".join([chunk async for chunk in self.stream])
            self.stream = ByteStream(self._content)
        return self._known_content()

    def __repr__(self) -> str:
        return f"<Request({self.method!r}, {self.url._masked()!r})>"


def copy_request(request: Request) -> Request:
    """A copy with headers and extensions of its own, for a layer to change freely; the
    body is shared."""
    # Slot by slot: `copy.copy` goes through `__reduce_ex__`, which costs as much as
    # building a new request.
    copied = Request.__new__(Request)
    copied._method = request._method
    copied.url = request.url
    copied.headers = request.headers.copy()
    copied.extensions = dict(request.extensions)
    copied.stream = request.stream
    copied._content = request._content
    return copied


class Response:
    """An HTTP response.

    ```python
    >>> response = httpcore2.request("GET", "https://www.example.com/")
    >>> response
    <Response [200]>
    >>> response.status, response.protocol, response.headers[b"content-type"]
    (200, 'HTTP/1.1', b'text/html')
    >>> response.raise_for_status().text[:15]
    '<!doctype html>'
    ```

    The body is decompressed per `Content-Encoding` (`content`, `read()`, `iter_stream()`,
    `text`, `json()`); `iter_raw()` gives the bytes as they came. A streaming response (from
    `stream()`) is read once, with `read()` or an `iter_*()` method or their async twins,
    and must be closed; closing returns the connection to the pool.
    """

    __slots__ = (
        "_closed",
        "_closed_at",
        "_consumed",
        "_content",
        "_encoding",
        "_live_iterator",
        "_next",
        "_raw",
        "_request",
        "_started_at",
        "_text",
        "extensions",
        "headers",
        "history",
        "status",
        "stream",
    )

    def __init__(
        self,
        status: int,
        *,
        headers: HeaderTypes = None,
        content: bytes | SyncByteStream | AsyncByteStream | None = None,
        extensions: Extensions | None = None,
        request: Request | None = None,
    ) -> None:
        self.status = status
        self.headers = headers if isinstance(headers, Headers) else Headers(headers)
        self.extensions: Extensions = {} if extensions is None else extensions
        self._request = request
        self.history: list[Response] = []
        self._closed = False
        self._consumed = False
        self._live_iterator: Any = None
        # Set by a redirect adapter that did not follow this redirect: sends the next hop.
        self._next: Any = None
        self._encoding: str | None = None
        self._text: str | None = None
        # A time.perf_counter() value, set by the client that sends the request.
        self._started_at: float | None = None
        self._closed_at: float | None = None
        self.stream: SyncByteStream | AsyncByteStream
        # `_raw` is the body as it came, when it is all in memory; `_content` is the body
        # decoded, once known. Without a content coding they are the same object.
        self._raw: bytes | None
        self._content: bytes | None
        if content is None or isinstance(content, bytes):
            self._raw = content or b""
            self._content = None if b"content-encoding" in self.headers else self._raw
            self.stream = ByteStream(self._raw)
        else:
            self._raw = self._content = None
            self.stream = content

    @property
    def status_code(self) -> int:
        """Alias of `status`."""
        return self.status

    @property
    def reason_phrase(self) -> str:
        """The reason phrase the server sent, or the standard one for the status."""
        phrase = self.extensions.get("reason_phrase")
        if phrase:
            return bytes(phrase).decode("ascii", errors="replace")
        try:
            return http.HTTPStatus(self.status).phrase
        except ValueError:
            return ""

    @property
    def protocol(self) -> str:
        """`"HTTP/1.1"` or `"HTTP/2"` (`"HTTP/1.0"` for old servers)."""
        return bytes(self.extensions.get("http_version", b"HTTP/1.1")).decode("ascii")

    @property
    def request(self) -> Request:
        """The request this response answers."""
        if self._request is None:
            raise RuntimeError("This response has no request attached.")
        return self._request

    @request.setter
    def request(self, request: Request) -> None:
        self._request = request

    @property
    def url(self) -> URL:
        """The URL of the request this response answers."""
        return self.request.url

    @property
    def is_success(self) -> bool:
        """Whether the status is 2xx."""
        return 200 <= self.status < 300

    @property
    def cookies(self) -> Cookies:
        """The cookies this response sets (`Set-Cookie`), as the request's URL scopes them."""
        cookies = Cookies()
        extract_cookies(cookies, self)
        return cookies

    @property
    def is_redirect(self) -> bool:
        """Whether this is a redirect to follow: 301, 302, 303, 307 or 308 with a `Location`."""
        return self.status in _REDIRECT_STATUSES and b"location" in self.headers

    @property
    def is_error(self) -> bool:
        """Whether the status is 4xx or 5xx."""
        return 400 <= self.status < 600

    def next(self) -> Response:
        """Send the next request of a redirect chain that was not followed."""
        response: Response = self._next_hop(is_async=False)(self)
        return response

    async def anext(self) -> Response:
        """Send the next request of a redirect chain that was not followed."""
        response: Response = await self._next_hop(is_async=True)(self)
        return response

    def _next_hop(self, *, is_async: bool) -> Any:
        if self._next is None:
            raise RuntimeError(
                "There is no next request: only a redirect returned with "
                "follow_redirects=False has one."
            )
        # Checked before the call: a coroutine called from sync code would never run, and
        # would hold the connection until the garbage collector found it.
        if inspect.iscoroutinefunction(self._next) != is_async:
            if is_async:
                raise RuntimeError(
                    "This response comes from a sync transport: use response.next(), not anext()."
                )
            raise RuntimeError(
                "This response comes from an async transport: use await response.anext(), "
                "not next()."
            )
        return self._next

    def raise_for_status(self) -> Response:
        """Raise `HTTPStatusError` for a 4xx or 5xx response; return the response otherwise.

        ```python
        data = client.get(url).raise_for_status().json()
        ```
        """
        if not self.is_error:
            return self
        kind = "Client error" if self.status < 500 else "Server error"
        status = f"{self.status} {self.reason_phrase}".rstrip()
        request = self.request
        raise HTTPStatusError(
            f"{kind} '{status}' for url '{request.url._masked()}'", request=request, response=self
        )

    @property
    def elapsed(self) -> datetime.timedelta:
        """The time from sending the request to closing the response (its body read)."""
        if self._started_at is None:
            raise RuntimeError(
                "This response was not timed: only the responses of a client have .elapsed."
            )
        if self._closed_at is None:
            raise RuntimeError(
                ".elapsed is known once the response is closed: read or close it first."
            )
        return datetime.timedelta(seconds=self._closed_at - self._started_at)

    @property
    def encoding(self) -> str:
        """The text encoding: the one set, else the `Content-Type` charset, else UTF-8."""
        if self._encoding is not None:
            return self._encoding
        return charset_from_content_type(self.headers.get("content-type")) or "utf-8"

    @encoding.setter
    def encoding(self, encoding: str) -> None:
        codecs.lookup(encoding)  # an unknown encoding fails here, not when decoding
        self._encoding = encoding
        self._text = None

    @property
    def content(self) -> bytes:
        """The whole body, decoded; a streaming response must be read first."""
        if self._content is None:
            if self._raw is None:
                raise ResponseNotRead(
                    "This is a streaming response: call response.read() (or await "
                    "response.aread()) before accessing .content."
                )
            self._content = b"".join(_known(self._raw, _bytes(self._decoder(True), None)))
        return self._content

    @property
    def text(self) -> str:
        """The body as text, decoded with `encoding`; a streaming response must be read first.

        Undecodable bytes become U+FFFD, and a UTF-8 byte order mark is dropped.
        """
        if self._text is None:
            self._text = decode_text(self.content, self.encoding)
        return self._text

    def json(self, **kwargs: Any) -> Any:
        """The body parsed as JSON; `kwargs` go to `json.loads()`.

        A body that is not JSON raises `json.JSONDecodeError`, whose message also gives the
        status, the content type and the URL of the response.
        """
        try:
            return json.loads(self.text, **kwargs)
        except json.JSONDecodeError as exc:
            content_type = self.headers.get("content-type", "no Content-Type")
            where = "" if self._request is None else f" from {self._request.url._masked()}"
            raise json.JSONDecodeError(
                f"{exc.msg} (the body of a {self.status} response{where}, {content_type}, "
                "is not JSON)",
                exc.doc,
                exc.pos,
            ) from exc

    @property
    def is_closed(self) -> bool:
        """Whether the body has been closed (its connection released)."""
        return self._closed

    @property
    def is_stream_consumed(self) -> bool:
        """Whether the body has been iterated."""
        return self._consumed

    def _start_reading(self, is_async: bool) -> Any:
        """The body's stream, to be read now: of the caller's world, not read or closed."""
        stream = self.stream
        # The world checked inline, not by a helper: one call less per response.
        if not hasattr(stream, "aclose" if is_async else "close"):
            raise RuntimeError(_WRONG_WORLD[is_async])
        if self._consumed:
            raise StreamConsumed("The response body has already been read once.")
        if self._closed:
            raise StreamClosed("The response was closed before its body was read.")
        self._consumed = True
        return stream

    def _decoder(self, in_memory: bool = False) -> ContentDecoder | None:
        # The scan first: it keeps reading a body without a coding as cheap as it can be.
        for _, name, _ in self.headers._items:
            if name == b"content-encoding":
                limits = self.extensions.get("limits", DEFAULT_LIMITS)
                return content_decoder(
                    self.headers, request=self._request, in_memory=in_memory, limits=limits
                )
        return None

    def _in_memory(self, decode: bool) -> tuple[bytes | None, bool]:
        # The body if it is in memory (None: read the stream), and whether to decode it.
        if decode and self._content is not None:
            return self._content, False
        return self._raw, decode

    def _iterate(
        self, decode: bool, pipeline: Callable[[ContentDecoder | None], _Pipeline[_T] | None]
    ) -> Iterator[_T]:
        body, decode = self._in_memory(decode)
        if body is not None:
            yield from _known(body, pipeline(self._decoder() if decode else None))
            return
        stream: SyncByteStream = self._start_reading(is_async=False)
        try:
            steps = pipeline(self._decoder() if decode else None)
            if steps is None:
                chunks: Iterable[Any] = stream
                yield from (chunk for chunk in chunks if chunk)
            else:
                feed = steps.feed
                for chunk in stream:
                    yield from feed(chunk)
                yield from steps.flush()
        finally:
            self.close()

    def read(self) -> bytes:
        """Read and return the whole body, decoded, then release the connection."""
        if self._content is None:
            if self._raw is not None:
                return self.content
            stream: SyncByteStream = self._start_reading(is_async=False)
            # The body goes into one buffer, whatever its chunking (a list of chunks costs
            # some 40 bytes per chunk: 60 times the body for one-byte chunks). `getvalue()`
            # hands over that buffer without a copy, so the peak stays near the body's size.
            body = io.BytesIO()
            write = body.write
            try:
                decoder = self._decoder(True)
                if decoder is None:
                    for chunk in stream:
                        write(chunk)
                else:
                    for chunk in stream:
                        for piece in decoder.decode(chunk):
                            write(piece)
                    decoder.flush()
            finally:
                self.close()
            self._content = body.getvalue()
            if decoder is None:
                self._raw = self._content
        return self._content

    def iter_raw(self, chunk_size: int | None = None) -> Iterator[bytes]:
        """Yield the body as it came over the wire, closing the response at the end."""
        return self._iterate(False, lambda decoder: _bytes(decoder, chunk_size))

    def iter_stream(self, chunk_size: int | None = None) -> Iterator[bytes]:
        """Yield the body decoded (decompressed), closing the response at the end."""
        return self._iterate(True, lambda decoder: _bytes(decoder, chunk_size))

    def iter_text(self, chunk_size: int | None = None) -> Iterator[str]:
        """Yield the body as text, decoded with `encoding`; `chunk_size` counts bytes."""
        encoding = self.encoding
        return self._iterate(True, lambda decoder: _Text(_Bytes(decoder, chunk_size), encoding))

    def iter_lines(self) -> Iterator[str]:
        """Yield the lines of the text, split on `\\n`, `\\r\\n` and `\\r`, without them."""
        encoding = self.encoding
        return self._iterate(True, lambda decoder: _Lines(_Text(_Bytes(decoder, None), encoding)))

    def close(self) -> None:
        """Close the body, releasing its connection; idempotent."""
        if not self._closed:
            stream: Any = self.stream
            # The world checked inline, as in `_start_reading()`: this runs for every response.
            if not hasattr(stream, "close"):
                raise RuntimeError(_WRONG_WORLD[False])
            self._closed = True
            if self._started_at is not None:
                self._closed_at = time.perf_counter()
            stream.close()

    async def aread(self) -> bytes:
        """Read and return the whole body, decoded, then release the connection."""
        if self._content is None:
            if self._raw is not None:
                return self.content
            stream: AsyncByteStream = self._start_reading(is_async=True)
            body = io.BytesIO()  # one buffer, as in `read()`
            write = body.write
            try:
                decoder = self._decoder(True)
                if decoder is None:
                    async for chunk in stream:
                        write(chunk)
                else:
                    async for chunk in stream:
                        for piece in decoder.decode(chunk):
                            write(piece)
                    decoder.flush()
            finally:
                await self.aclose()
            self._content = body.getvalue()
            if decoder is None:
                self._raw = self._content
        return self._content

    def _aiterate(
        self, decode: bool, pipeline: Callable[[ContentDecoder | None], _Pipeline[_T] | None]
    ) -> AsyncIterator[_T]:
        iterator = self._aiterate_body(decode, pipeline)
        self._live_iterator = iterator
        return iterator

    async def _aiterate_body(
        self, decode: bool, pipeline: Callable[[ContentDecoder | None], _Pipeline[_T] | None]
    ) -> AsyncIterator[_T]:
        body, decode = self._in_memory(decode)
        if body is not None:
            for piece in _known(body, pipeline(self._decoder() if decode else None)):
                yield piece
            return
        stream: AsyncByteStream = self._start_reading(is_async=True)
        try:
            steps = pipeline(self._decoder() if decode else None)
            if steps is None:
                chunks: AsyncIterable[Any] = stream
                async for chunk in chunks:
                    if chunk:
                        yield chunk
            else:
                feed = steps.feed
                async for chunk in stream:
                    for piece in feed(chunk):
                        yield piece
                for piece in steps.flush():
                    yield piece
        finally:
            self._live_iterator = None
            await self.aclose()

    def aiter_raw(self, chunk_size: int | None = None) -> AsyncIterator[bytes]:
        """Yield the body as it came over the wire, closing the response at the end.

        Leaving the loop early is fine as long as the response is closed (`aclose()`, or
        `async with`): that finalizes the iterator too. The same goes for every `aiter_*()`.
        """
        return self._aiterate(False, lambda decoder: _bytes(decoder, chunk_size))

    def aiter_stream(self, chunk_size: int | None = None) -> AsyncIterator[bytes]:
        """Yield the body decoded (decompressed), closing the response at the end."""
        return self._aiterate(True, lambda decoder: _bytes(decoder, chunk_size))

    def aiter_text(self, chunk_size: int | None = None) -> AsyncIterator[str]:
        """Yield the body as text, decoded with `encoding`; `chunk_size` counts bytes."""
        encoding = self.encoding
        return self._aiterate(True, lambda decoder: _Text(_Bytes(decoder, chunk_size), encoding))

    def aiter_lines(self) -> AsyncIterator[str]:
        """Yield the lines of the text, split on `\\n`, `\\r\\n` and `\\r`, without them."""
        encoding = self.encoding
        return self._aiterate(True, lambda decoder: _Lines(_Text(_Bytes(decoder, None), encoding)))

    async def aclose(self) -> None:
        """Close the body, releasing its connection; idempotent."""
        if not self._closed:
            stream: Any = self.stream
            # The world checked inline, as in `_start_reading()`: this runs for every response.
            if not hasattr(stream, "aclose"):
                raise RuntimeError(_WRONG_WORLD[True])
            self._closed = True
            if self._started_at is not None:
                self._closed_at = time.perf_counter()
            await stream.aclose()
        iterator, self._live_iterator = self._live_iterator, None
        if iterator is not None:
            # An `async for` left early: finalize its generator now, on this event loop.
            await iterator.aclose()

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *args: object) -> None:
        self.close()

    async def __aenter__(self) -> Response:
        return self

    async def __aexit__(self, *args: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<Response [{self.status}]>"


# By whether the caller is async: the error for a body of the other world.
_WRONG_WORLD = {
    False: "This response comes from an async transport: use aread(), aiter_*() and aclose().",
    True: "This response comes from a sync transport: use read(), iter_*() and close().",
}


# --- body pipelines: what the sync and async iterators share --------------------------------


_T = TypeVar("_T", covariant=True)


class _Pipeline(Protocol[_T]):
    """Turns the chunks of a body, as they arrive, into what an `iter_*()` method yields."""

    def feed(self, chunk: bytes) -> Iterable[_T]: ...

    def flush(self) -> Iterable[_T]: ...


def _known(body: bytes, pipeline: _Pipeline[_T] | None) -> Iterator[Any]:
    """What an iterator yields for a body already in memory."""
    if pipeline is None:
        if body:
            yield body
        return
    yield from pipeline.feed(body)
    yield from pipeline.flush()


class _Rechunker:
    """Regroups a stream of byte chunks into chunks of exactly `size` (the last may be short)."""

    __slots__ = ("_buffer", "_size")

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("chunk_size must be a positive integer")
        self._size = size
        self._buffer = bytearray()

    def feed(self, chunk: bytes) -> list[bytes]:
        self._buffer += chunk
        size = self._size
        if len(self._buffer) < size:
            return []
        cut = len(self._buffer) - len(self._buffer) % size
        pieces = [bytes(self._buffer[i : i + size]) for i in range(0, cut, size)]
        del self._buffer[:cut]
        return pieces

    def flush(self) -> list[bytes]:
        rest = bytes(self._buffer)
        self._buffer.clear()
        return [rest] if rest else []


class _Bytes:
    """Body bytes, decoded when a content decoder is given, regrouped when a size is."""

    __slots__ = ("_decoder", "_rechunker")

    def __init__(self, decoder: ContentDecoder | None, chunk_size: int | None) -> None:
        self._decoder = decoder
        self._rechunker = None if chunk_size is None else _Rechunker(chunk_size)

    def feed(self, chunk: bytes) -> Iterator[bytes]:
        pieces: Iterable[bytes] = (chunk,) if self._decoder is None else self._decoder.decode(chunk)
        rechunker = self._rechunker
        for piece in pieces:
            if rechunker is None:
                if piece:
                    yield piece
            else:
                yield from rechunker.feed(piece)

    def flush(self) -> Iterable[bytes]:
        if self._decoder is not None:
            self._decoder.flush()
        return () if self._rechunker is None else self._rechunker.flush()


def _bytes(decoder: ContentDecoder | None, chunk_size: int | None) -> _Bytes | None:
    # None: the chunks as they come, which the iterators pass on without a pipeline.
    if decoder is None and chunk_size is None:
        return None
    return _Bytes(decoder, chunk_size)


class _Text:
    """Body text, decoded incrementally: a character split across chunks is kept whole."""

    __slots__ = ("_bytes", "_decoder")

    def __init__(self, pieces: _Bytes, encoding: str) -> None:
        self._bytes = pieces
        self._decoder = TextDecoder(encoding)

    def feed(self, chunk: bytes) -> Iterator[str]:
        for piece in self._bytes.feed(chunk):
            text = self._decoder.decode(piece)
            if text:
                yield text

    def flush(self) -> Iterator[str]:
        for piece in self._bytes.flush():
            text = self._decoder.decode(piece)
            if text:
                yield text
        text = self._decoder.flush()
        if text:
            yield text


class _Lines:
    """Body lines, split across chunk boundaries."""

    __slots__ = ("_lines", "_text")

    def __init__(self, text: _Text) -> None:
        self._text = text
        self._lines = LineDecoder()

    def feed(self, chunk: bytes) -> Iterator[str]:
        for text in self._text.feed(chunk):
            yield from self._lines.decode(text)

    def flush(self) -> Iterator[str]:
        for text in self._text.flush():
            yield from self._lines.decode(text)
        yield from self._lines.flush()
