"""Request and response body streams, and the encoders behind `data=`, `files=` and `json=`.

A body is a stream of bytes that a transport iterates, sync (`for`) or async
(`async for`). Bytes and seekable files can be iterated again (a redirect or an auth
retry replays them); iterators cannot, and say so with `StreamConsumed`.
"""

from __future__ import annotations

import io
import json as jsonlib
import mimetypes
import os
import re
import stat
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Generator,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from typing import IO, Any, Protocol, Union, cast, runtime_checkable

from ._exceptions import StreamConsumed
from ._urls import QueryParams

__all__ = [
    "AsyncByteStream",
    "AsyncIteratorStream",
    "ByteStream",
    "FileContent",
    "FileStream",
    "FileTypes",
    "IteratorStream",
    "MultipartStream",
    "RequestContent",
    "RequestData",
    "RequestFiles",
    "SyncByteStream",
    "aprime_body",
    "encode_request",
    "encode_request_body",
    "prime_body",
]

CHUNK_SIZE = 64 * 1024

RequestContent = Union[bytes, str, Iterable[bytes], AsyncIterable[bytes], IO[bytes]]
# Form fields: each value a str, bytes, int, float, bool or None, or a list of them.
RequestData = Mapping[str, Any]
FileContent = Union[bytes, str, IO[bytes]]
FileTypes = Union[
    FileContent,
    tuple[Union[str, None], FileContent],
    tuple[Union[str, None], FileContent, Union[str, None]],
    tuple[Union[str, None], FileContent, Union[str, None], Mapping[str, str]],
]
RequestFiles = Union[Mapping[str, FileTypes], Sequence[tuple[str, FileTypes]]]


@runtime_checkable
class SyncByteStream(Protocol):
    """A body a sync transport can iterate; `close()` releases what it holds."""

    def __iter__(self) -> Iterator[bytes]: ...

    def close(self) -> None: ...


@runtime_checkable
class AsyncByteStream(Protocol):
    """A body an async transport can iterate; `aclose()` releases what it holds."""

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...


class ByteStream:
    """A body held in memory: iterable any number of times, sync and async."""

    __slots__ = ("content",)

    replayable = True

    def __init__(self, content: bytes) -> None:
        self.content = content

    def __iter__(self) -> Generator[bytes, None, None]:
        if self.content:
            yield self.content

    async def __aiter__(self) -> AsyncGenerator[bytes, None]:
        if self.content:
            yield self.content

    def close(self) -> None:
        pass

    async def aclose(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"<ByteStream [{len(self.content)} bytes]>"


class IteratorStream:
    """A body from a sync iterable of bytes; iterable once.

    The first chunk is taken when the stream is made, so that a body of the wrong type
    fails before anything is sent: a list is checked whole, an iterator up to its first
    chunk. An async transport iterates it too, calling `next()` from the event loop, so
    the iterator must not block for long.
    """

    __slots__ = ("_consumed", "_first", "_iterator")

    replayable = False

    def __init__(self, iterable: Iterable[bytes]) -> None:
        if isinstance(iterable, (list, tuple)):
            for item in iterable:
                _check_chunk(item, iterable)
        self._iterator = iter(iterable)
        self._first = _check_chunk(next(self._iterator, b""), iterable)
        self._consumed = False

    def __iter__(self) -> Generator[bytes, None, None]:
        self._start()
        if self._first:
            yield self._first
        for chunk in self._iterator:
            yield _check_chunk(chunk)

    async def __aiter__(self) -> AsyncGenerator[bytes, None]:
        for chunk in self:
            yield chunk

    def _start(self) -> None:
        if self._consumed:
            raise StreamConsumed(
                "The request body is an iterator that was already sent once and cannot be "
                "replayed; pass bytes, or call request.read() first."
            )
        self._consumed = True

    def close(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


class AsyncIteratorStream:
    """A body from an async iterable of bytes; iterable once, by async transports only.

    `aprime_body()` takes its first chunk before the request is sent (the async `Client`
    does it), so that a body of the wrong type fails before anything is sent.
    """

    __slots__ = ("_consumed", "_first", "_iterable", "_iterator")

    replayable = False

    def __init__(self, iterable: AsyncIterable[bytes]) -> None:
        self._iterable = iterable
        self._iterator: AsyncIterator[bytes] | None = None
        self._first = b""
        self._consumed = False

    def __iter__(self) -> Generator[bytes, None, None]:
        raise TypeError(_ASYNC_BODY_IN_SYNC_WORLD)

    async def _prime(self) -> None:
        if self._iterator is None:
            self._iterator = self._iterable.__aiter__()
            async for chunk in self._iterator:
                try:
                    self._first = _check_chunk(chunk, self._iterable)
                except TypeError:
                    # Finalized now, on this event loop, not by the garbage collector.
                    aclose = getattr(self._iterator, "aclose", None)
                    if aclose is not None:
                        await aclose()
                    raise
                break

    async def __aiter__(self) -> AsyncGenerator[bytes, None]:
        if self._consumed:
            raise StreamConsumed(
                "The request body is an async iterator that was already sent once and cannot "
                "be replayed; pass bytes, or call await request.aread() first."
            )
        self._consumed = True
        await self._prime()
        assert self._iterator is not None
        if self._first:
            yield self._first
        async for chunk in self._iterator:
            yield _check_chunk(chunk)

    def close(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


_ASYNC_BODY_IN_SYNC_WORLD = (
    "This request body is an async iterator: send it with an async transport "
    "(Client, ConnectionPool), not a sync one."
)


async def aprime_body(stream: RequestStream) -> None:
    """Take the first chunk of an async iterator body now, before the request head is sent,
    so that a body of the wrong type fails while nothing is on the wire yet."""
    if type(stream) is AsyncIteratorStream:
        await stream._prime()


def prime_body(stream: RequestStream) -> None:
    """The sync side of `aprime_body()`: an async iterator body cannot be sent here, which
    is said before anything is sent. (Sync iterators take their first chunk when made.)"""
    if type(stream) is AsyncIteratorStream:
        raise TypeError(_ASYNC_BODY_IN_SYNC_WORLD)


class FileStream:
    """A body from a binary file object, read in 64 KiB blocks, never line by line.

    A seekable file is rewound to where it started each time the body is sent again.
    """

    __slots__ = ("_consumed", "_file", "_start")

    def __init__(self, file: IO[bytes]) -> None:
        if isinstance(file, io.TextIOBase):
            raise TypeError("Request bodies from files need a binary file: open it with 'rb'.")
        self._file = file
        self._consumed = False
        self._start = _tell(file)

    @property
    def replayable(self) -> bool:
        return self._start is not None

    def __iter__(self) -> Generator[bytes, None, None]:
        self._rewind()
        yield from self.rest()

    def _rewind(self) -> None:
        if self._consumed:
            if self._start is None:
                raise StreamConsumed("The request body is an unseekable file already sent once.")
            self._file.seek(self._start)
        self._consumed = True

    def rest(self) -> Generator[bytes, None, None]:
        """The blocks from the file's current position to its end."""
        read = self._file.read
        while chunk := read(CHUNK_SIZE):
            yield _check_chunk(chunk)

    def start_regular_file(self) -> tuple[IO[bytes], int] | None:
        """Start sending a regular file (rewound, as iterating does): the file and its
        length from here, which the kernel can send itself. `None`, and nothing started,
        for any other file."""
        size = self.regular_file_size()
        if size is None:
            return None
        self._rewind()
        return self._file, size

    async def __aiter__(self) -> AsyncGenerator[bytes, None]:
        for chunk in self:
            yield chunk

    def size(self) -> int | None:
        """The bytes from the start position to the end, when the file can seek there and back."""
        if self._start is None:
            return None
        try:
            self._file.seek(0, io.SEEK_END)
            end = self._file.tell()
            self._file.seek(self._start)
        except (AttributeError, OSError):
            # Some file-likes that say they can seek cannot seek from the end.
            return None
        return end - self._start

    def regular_file_size(self) -> int | None:
        """What a regular file holds from the start position: the body's length, known
        before it is read. `None` for pipes, sockets, devices and file objects without a
        descriptor, whose length only reading to the end tells."""
        if self._start is None:
            return None
        try:
            info = os.fstat(self._file.fileno())
        except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both
            return None
        if not stat.S_ISREG(info.st_mode):
            return None
        return max(info.st_size - self._start, 0)

    def close(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


def _tell(file: IO[bytes]) -> int | None:
    try:
        return file.tell() if file.seekable() else None
    except (AttributeError, OSError):
        return None


def _check_chunk(chunk: Any, body: object = None) -> bytes:
    if isinstance(chunk, (bytes, bytearray, memoryview)):
        return bytes(chunk)
    kind = type(chunk).__name__
    hint = ": encode text to bytes first" if isinstance(chunk, str) else ""
    if isinstance(body, (list, tuple)):
        hint = hint or " (did you mean json=?)"
        raise TypeError(
            f"Request content given as a {type(body).__name__} must hold bytes, not {kind}{hint}"
        )
    raise TypeError(f"Request body iterators must yield bytes, not {kind}{hint}")


class MultipartStream:
    """A `multipart/form-data` body (RFC 7578): the form fields, then the files.

    Files are streamed in 64 KiB blocks, never read whole. `content_length` is known when
    every part's size is (bytes, seekable files); the body can be sent again (a redirect,
    an auth retry) when every file is seekable, each rewound to where it started.

    ```python
    >>> with open("report.pdf", "rb") as file:
    ...     body = MultipartStream({"title": "Q3"}, {"report": file})
    ...     body.content_type, body.content_length
    ('multipart/form-data; boundary=0f4c...', 48213)
    ```

    A file is given as `file`, `(filename, file)`, `(filename, file, content_type)` or
    `(filename, file, content_type, headers)`, where `file` is bytes, str (sent as UTF-8)
    or a binary file object. The part's `Content-Type` is guessed from the filename when
    not given.
    """

    __slots__ = ("_consumed", "_files", "_segments", "boundary", "content_length")

    def __init__(
        self,
        data: RequestData | None = None,
        files: RequestFiles | None = None,
        *,
        boundary: str | None = None,
    ) -> None:
        if boundary is None:
            boundary = os.urandom(16).hex()
        elif _BOUNDARY.fullmatch(boundary) is None:
            raise ValueError(
                f"Invalid multipart boundary {boundary!r}: use 1 to 70 letters, digits or ' + _ - ."
            )
        self.boundary = boundary
        delimiter = b"--" + boundary.encode("ascii") + b"\r\n"
        segments: list[bytes | FileStream] = []
        for name, value in _form_fields(data or {}).multi_items():
            head = delimiter + _disposition(name, None) + b"\r\n\r\n"
            segments.append(head + value.encode("utf-8", "surrogateescape") + b"\r\n")
        for pair in files.items() if isinstance(files, Mapping) else files or ():
            if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
                raise TypeError(
                    f"files= given as a list takes (name, file) pairs, not {type(pair).__name__}"
                )
            head, body = _file_part(str(pair[0]), pair[1])
            segments += [delimiter + head + b"\r\n\r\n", body, b"\r\n"]
        segments.append(b"--" + boundary.encode("ascii") + b"--\r\n")

        # Adjacent bytes become one chunk: one write for all that is in memory. Every file
        # sits between two non-empty byte runs, so no chunk is empty.
        self._segments: list[bytes | FileStream] = []
        pending: list[bytes] = []
        length: int | None = 0
        for segment in segments:
            if isinstance(segment, bytes):
                pending.append(segment)
                size: int | None = len(segment)
            else:
                self._segments += [b"".join(pending), segment]
                pending = []
                size = segment.size()
            length = None if length is None or size is None else length + size
        self._segments.append(b"".join(pending))
        self._files = [segment for segment in segments if isinstance(segment, FileStream)]
        self._consumed = False
        self.content_length = length

    @property
    def content_type(self) -> str:
        """The `Content-Type` header value, boundary included."""
        return f"multipart/form-data; boundary={self.boundary}"

    @property
    def replayable(self) -> bool:
        return all(file.replayable for file in self._files)

    def __iter__(self) -> Generator[bytes, None, None]:
        if self._consumed and not self.replayable:
            # Checked up front: failing at the file would leave a half-sent body.
            raise StreamConsumed(
                "The multipart body holds an unseekable file that was already sent once and "
                "cannot be replayed; pass bytes or a seekable file."
            )
        self._consumed = True
        for segment in self._segments:
            if isinstance(segment, bytes):
                yield segment
            else:
                yield from segment

    async def __aiter__(self) -> AsyncGenerator[bytes, None]:
        for chunk in self:
            yield chunk

    def close(self) -> None:
        pass

    async def aclose(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"<MultipartStream [boundary={self.boundary!r}, length={self.content_length}]>"


# RFC 2046 boundary characters that need no quoting in the Content-Type parameter.
_BOUNDARY = re.compile(r"[0-9A-Za-z'+_.\-]{1,70}")
# The WHATWG HTML form-data rule for names and filenames; everything else goes as UTF-8.
_DISPOSITION_ESCAPES = str.maketrans({'"': "%22", "\r": "%0D", "\n": "%0A"})
_OCTET_STREAM = "application/octet-stream"


def _form_fields(data: RequestData) -> QueryParams:
    # Bytes values travel as str by surrogateescape: both the form encoder and the multipart
    # encoder turn them back into the very same bytes.
    return QueryParams(
        {
            name: [_text(item) for item in value]
            if isinstance(value, Sequence) and not isinstance(value, (str, bytes))
            else _text(value)
            for name, value in data.items()
        }
    )


def _text(value: Any) -> Any:
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value


def _disposition(name: str, filename: str | None) -> bytes:
    value = f'form-data; name="{name.translate(_DISPOSITION_ESCAPES)}"'
    if filename is not None:
        value += f'; filename="{filename.translate(_DISPOSITION_ESCAPES)}"'
    return b"Content-Disposition: " + value.encode("utf-8", "surrogateescape")


def _file_part(name: str, value: FileTypes) -> tuple[bytes, bytes | FileStream]:
    """The head (without its blank line) and the body of one file part."""
    content_type: str | None = None
    extra: Mapping[str, str] = {}
    if isinstance(value, tuple):
        if not 2 <= len(value) <= 4:
            raise TypeError(
                f"The file {name!r} is a tuple of {len(value)} items: give (filename, file), "
                "(filename, file, content_type) or (filename, file, content_type, headers)."
            )
        parts: tuple[Any, ...] = value
        filename, file = parts[:2]
        if len(parts) > 2:
            content_type = parts[2]
        if len(parts) == 4:
            extra = parts[3]
    else:
        file = value
        path = getattr(value, "name", None)
        filename = os.path.basename(os.fsdecode(path)) if isinstance(path, (str, bytes)) else None
        filename = filename or "upload"

    # Imported here: _models imports this module.
    from ._models import Headers

    fields = list(extra.items())
    if not any(key.lower() == "content-type" for key, _ in fields):
        guessed = mimetypes.guess_type(filename)[0] if filename else None
        fields.insert(0, ("Content-Type", content_type or guessed or _OCTET_STREAM))
    # Headers() refuses CR, LF and other control characters, and names that are not tokens.
    head = _disposition(name, filename)
    for key, field in Headers(fields).raw:
        head += b"\r\n" + key + b": " + field
    return head, _file_body(name, file)


def _file_body(name: str, file: FileContent) -> bytes | FileStream:
    if isinstance(file, str):
        return file.encode("utf-8")
    if isinstance(file, bytes):
        return file
    if hasattr(file, "read"):
        return FileStream(file)
    raise TypeError(
        f"The file {name!r} must be bytes, str or a binary file object, not {type(file).__name__}."
    )


def _with_length(content_type: str, body: bytes) -> dict[str, str]:
    return {"Content-Type": content_type, "Content-Length": str(len(body))}


def encode_request(
    content: RequestContent | None = None,
    data: RequestData | None = None,
    files: RequestFiles | None = None,
    json: Any = None,
    *,
    boundary: str | None = None,
) -> tuple[dict[str, str], RequestContent | None]:
    """The headers to add and the body to send for a client's `content=`, `data=`, `files=`
    and `json=` arguments.

    `content` passes through unchanged, with no headers. `json` is compact UTF-8 JSON;
    `data` alone is `application/x-www-form-urlencoded`; `files` (with `data` as extra
    fields) is a streamed `multipart/form-data` body, with `Content-Length` when every
    part's size is known. `boundary` fixes the multipart boundary (random otherwise).
    """
    if content is not None and (data is not None or files is not None or json is not None):
        raise TypeError(
            "Give the request body one way: content= (bytes, str, a file or an iterator), "
            "or data=, files= and json=, not content= with them."
        )
    if json is not None and (data is not None or files is not None):
        raise TypeError(
            "json= cannot be combined with data= or files=: send form fields with data=, "
            "files with files=, and JSON alone with json=."
        )
    if data is not None and not isinstance(data, Mapping):
        raise TypeError(
            f"data= takes a mapping of form fields, not {type(data).__name__}: send raw "
            "bytes, text, a file or an iterator with content=."
        )
    if files is not None:
        if not isinstance(files, (Mapping, list, tuple)):
            raise TypeError(
                "files= takes a dict of field names to files, or a list of (name, file) pairs, "
                f"not {type(files).__name__}"
            )
        stream = MultipartStream(data, files, boundary=boundary)
        headers = {"Content-Type": stream.content_type}
        if stream.content_length is not None:
            headers["Content-Length"] = str(stream.content_length)
        return headers, stream
    if data is not None:
        body = str(_form_fields(data)).encode("ascii")
        return _with_length("application/x-www-form-urlencoded", body), body
    if json is not None:
        text = jsonlib.dumps(json, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        body = text.encode("utf-8")
        return _with_length("application/json", body), body
    return {}, content


RequestStream = Union[ByteStream, IteratorStream, AsyncIteratorStream, FileStream, MultipartStream]


def encode_request_body(content: RequestContent | None) -> tuple[RequestStream, bytes | None]:
    """Turn request content into a stream, plus the bytes when the whole body is known."""
    if content is None:
        return ByteStream(b""), b""
    if isinstance(content, bytes):
        return ByteStream(content), content
    if isinstance(content, str):
        data = content.encode("utf-8")
        return ByteStream(data), data
    if isinstance(content, (bytearray, memoryview)):
        view = memoryview(content)
        if not view.c_contiguous:
            data = bytes(view)
            return ByteStream(data), data
        # Sent as it is, without a copy: a view of its bytes, one byte per item, which every
        # layer that sends a body takes as it takes bytes (`len()` counts bytes, and writes,
        # joins and `%` formatting accept any buffer). `Request.content` copies it on demand.
        data = cast(bytes, view.cast("B"))
        return ByteStream(data), data
    if isinstance(content, MultipartStream):
        return content, None
    if isinstance(content, Mapping):
        raise TypeError(
            f"content= takes bytes, str, a binary file or an iterator of bytes, not "
            f"{type(content).__name__}: did you mean json= or data=?"
        )
    if hasattr(content, "read"):
        return FileStream(content), None  # type: ignore[arg-type]
    if isinstance(content, AsyncIterable):
        return AsyncIteratorStream(content), None
    if isinstance(content, Iterable):
        return IteratorStream(content), None
    raise TypeError(
        f"Request content must be bytes, str, a binary file or an iterator of bytes, "
        f"not {type(content).__name__}."
    )
