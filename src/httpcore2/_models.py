"""Headers, Request and Response: the models every layer shares."""

from __future__ import annotations

import functools
import http
import re
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, MutableMapping, Sequence
from typing import Any, Union

from ._content import (
    AsyncByteStream,
    ByteStream,
    RequestContent,
    SyncByteStream,
    encode_request_body,
)
from ._exceptions import RequestNotRead, ResponseNotRead, StreamClosed, StreamConsumed
from ._urls import URL

__all__ = ["Extensions", "HeaderTypes", "Headers", "Request", "Response"]

HeaderTypes = Union[
    "Headers",
    Mapping[str, Union[str, bytes]],
    Mapping[bytes, Union[str, bytes]],
    Sequence[tuple[Union[str, bytes], Union[str, bytes]]],
    None,
]
Extensions = MutableMapping[str, Any]

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Every control character but HTAB is forbidden in a field value (RFC 9110 §5.5).
_FORBIDDEN_IN_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_METHODS_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


@functools.lru_cache(maxsize=512)
def _parse_url(url: str | bytes) -> URL:
    # URLs are immutable: clients that send many requests to the same URLs parse each once
    # (and compute its `raw` form once).
    return URL(url)


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
            self._items = [_validated(k, v) for k, v in headers]

    @classmethod
    def from_wire(cls, raw: Iterable[tuple[bytes, bytes]]) -> Headers:
        """Build headers from pairs a protocol parser has already validated."""
        headers = cls.__new__(cls)
        headers._items = [(k, k.lower(), v) for k, v in raw]
        return headers

    @property
    def raw(self) -> list[tuple[bytes, bytes]]:
        """The headers as a list of `(name, value)` byte pairs, original case."""
        return [(k, v) for k, _, v in self._items]

    def get_list(self, name: str | bytes) -> list[str] | list[bytes]:
        """Every value of a header, in order, in the type of `name`."""
        key = _encode_header(name, "name").lower()
        values = [v for _, k, v in self._items if k == key]
        if isinstance(name, bytes):
            return values
        return [v.decode("latin-1") for v in values]

    def get(self, name: str | bytes, default: Any = None) -> Any:
        """The header's values joined with `", "`, or `default` when it is absent."""
        key = _encode_header(name, "name").lower()
        values = [v for _, k, v in self._items if k == key]
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
        return Headers(self)

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

    def __str__(self) -> str:
        return str(self.raw)

    def __repr__(self) -> str:
        return f"Headers({self.raw!r})"


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

    __slots__ = ("_content", "extensions", "headers", "method", "stream", "url")

    def __init__(
        self,
        method: str | bytes,
        url: URL | str | bytes,
        *,
        headers: HeaderTypes = None,
        content: RequestContent | None = None,
        extensions: Extensions | None = None,
    ) -> None:
        if isinstance(method, bytes):
            method = method.decode("ascii", errors="replace")
        if _TOKEN.fullmatch(method.encode("utf-8")) is None:
            raise ValueError(f"Invalid HTTP method {method!r}: it must be an RFC 9110 token.")
        self.method = method.upper()
        self.url = url if isinstance(url, URL) else _parse_url(url)
        # Always a copy: the defaults added below must not leak into the caller's headers.
        self.headers = Headers(headers)
        self.extensions: Extensions = {} if extensions is None else extensions
        self.stream, self._content = encode_request_body(content)
        self._set_default_headers(content is not None)

    def _set_default_headers(self, has_content: bool) -> None:
        items = self.headers._items
        names = {k for _, k, _ in items}
        # A URL whose scheme has no default port has no Host to derive; no transport of
        # ours sends such a request anyway (they raise UnsupportedProtocol).
        if b"host" not in names and self.url.port is not None:
            items.insert(0, (b"Host", b"host", self.url.raw.host_header))
        if b"content-length" in names or b"transfer-encoding" in names:
            return
        if self._content is None:
            items.append((b"Transfer-Encoding", b"transfer-encoding", b"chunked"))
        elif has_content or self.method in _METHODS_WITH_BODY:
            length = str(len(self._content)).encode("ascii")
            items.append((b"Content-Length", b"content-length", length))

    @property
    def content(self) -> bytes:
        """The body, once known (bytes given, or after `read()` / `aread()`)."""
        if self._content is None:
            raise RequestNotRead("The request body is a stream: call request.read() first.")
        return self._content

    def read(self) -> bytes:
        """Load a streaming body into memory, so it can be sent again (redirects, auth)."""
        if self._content is None:
            # list() first: join() would hide the stream's own TypeError behind its own.
            self._content = b"".join(list(self.stream))
            self.stream = ByteStream(self._content)
        return self._content

    async def aread(self) -> bytes:
        """Load a streaming body into memory, so it can be sent again (redirects, auth)."""
        if self._content is None:
            self._content = b"".join([chunk async for chunk in self.stream])
            self.stream = ByteStream(self._content)
        return self._content

    def __repr__(self) -> str:
        return f"<Request [{self.method!r}]>"


class Response:
    """An HTTP response.

    ```python
    >>> response = httpcore2.request("GET", "https://www.example.com/")
    >>> response
    <Response [200]>
    >>> response.status, response.protocol, response.headers[b"content-type"]
    (200, 'HTTP/1.1', b'text/html')
    ```

    A streaming response (from `stream()`) is read with `read()` / `iter_stream()` or
    their async twins, once, and must be closed; closing returns the connection to
    the pool.
    """

    __slots__ = (
        "_closed",
        "_consumed",
        "_content",
        "_live_iterator",
        "_request",
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
        self.stream: SyncByteStream | AsyncByteStream
        if content is None or isinstance(content, bytes):
            self._content: bytes | None = content or b""
            self.stream = ByteStream(self._content)
        else:
            self._content = None
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
    def content(self) -> bytes:
        """The whole body; a streaming response must be read first."""
        if self._content is None:
            raise ResponseNotRead(
                "This is a streaming response: call response.read() (or await response.aread()) "
                "before accessing .content."
            )
        return self._content

    @property
    def is_closed(self) -> bool:
        """Whether the body has been closed (its connection released)."""
        return self._closed

    @property
    def is_stream_consumed(self) -> bool:
        """Whether the body has been iterated."""
        return self._consumed

    def _start_reading(self) -> None:
        if self._consumed:
            raise StreamConsumed("The response body has already been read once.")
        if self._closed:
            raise StreamClosed("The response was closed before its body was read.")
        self._consumed = True

    def read(self) -> bytes:
        """Read and return the whole body, then release the connection."""
        if self._content is None:
            stream = _sync_stream(self.stream)
            self._start_reading()
            try:
                chunks = list(stream)
            finally:
                self.close()
            self._content = b"".join(chunks)
        return self._content

    def iter_raw(self, chunk_size: int | None = None) -> Iterator[bytes]:
        """Yield the body as it came over the wire, closing the response at the end."""
        if self._content is not None:
            yield from _rechunk([self._content], chunk_size)
            return
        stream = _sync_stream(self.stream)
        self._start_reading()
        try:
            yield from _rechunk(stream, chunk_size)
        finally:
            self.close()

    def iter_stream(self, chunk_size: int | None = None) -> Iterator[bytes]:
        """Yield the decoded body."""
        return self.iter_raw(chunk_size)

    def close(self) -> None:
        """Close the body, releasing its connection; idempotent."""
        if not self._closed:
            stream = _sync_stream(self.stream)
            self._closed = True
            stream.close()

    async def aread(self) -> bytes:
        """Read and return the whole body, then release the connection."""
        if self._content is None:
            stream = _async_stream(self.stream)
            self._start_reading()
            try:
                chunks = [chunk async for chunk in stream]
            finally:
                await self.aclose()
            self._content = b"".join(chunks)
        return self._content

    def aiter_raw(self, chunk_size: int | None = None) -> AsyncIterator[bytes]:
        """Yield the body as it came over the wire, closing the response at the end.

        Leaving the loop early is fine as long as the response is closed (`aclose()`, or
        `async with`): that finalizes the iterator too.
        """
        iterator = self._aiter_raw(chunk_size)
        self._live_iterator = iterator
        return iterator

    async def _aiter_raw(self, chunk_size: int | None) -> AsyncIterator[bytes]:
        if self._content is not None:
            for chunk in _rechunk([self._content], chunk_size):
                yield chunk
            return
        stream = _async_stream(self.stream)
        self._start_reading()
        try:
            if chunk_size is None:
                async for chunk in stream:
                    if chunk:
                        yield chunk
            else:
                buffer = _Rechunker(chunk_size)
                async for chunk in stream:
                    for piece in buffer.feed(chunk):
                        yield piece
                for piece in buffer.flush():
                    yield piece
        finally:
            self._live_iterator = None
            await self.aclose()

    def aiter_stream(self, chunk_size: int | None = None) -> AsyncIterator[bytes]:
        """Yield the decoded body."""
        return self.aiter_raw(chunk_size)

    async def aclose(self) -> None:
        """Close the body, releasing its connection; idempotent."""
        if not self._closed:
            stream = _async_stream(self.stream)
            self._closed = True
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


def _sync_stream(stream: SyncByteStream | AsyncByteStream) -> SyncByteStream:
    if not hasattr(stream, "close"):
        raise RuntimeError(
            "This response comes from an async transport: use aread(), aiter_*() and aclose()."
        )
    return stream  # type: ignore[return-value]


def _async_stream(stream: SyncByteStream | AsyncByteStream) -> AsyncByteStream:
    if not hasattr(stream, "aclose"):
        raise RuntimeError(
            "This response comes from a sync transport: use read(), iter_*() and close()."
        )
    return stream  # type: ignore[return-value]


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


def _rechunk(chunks: Iterable[bytes], chunk_size: int | None) -> Iterator[bytes]:
    if chunk_size is None:
        yield from (chunk for chunk in chunks if chunk)
        return
    buffer = _Rechunker(chunk_size)
    for chunk in chunks:
        yield from buffer.feed(chunk)
    yield from buffer.flush()
