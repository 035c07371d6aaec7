"""Response body decoding, sans-IO: content codings, text, lines.

Content codings (`Content-Encoding`) are undone in bounded steps: whatever the compression
ratio, one step yields at most about `STEP` bytes, and the decoded total of a body is capped
by `Limits.max_decompressed_size`. A body read whole into memory is also held to a compression
ratio (`Limits.max_in_memory_ratio`), so that a small body cannot fill memory up to that cap.

`gzip` and `deflate` use `zlib`; `br` needs `brotli` or `brotlicffi` (1.2 or later, which can
bound their output); `zstd` uses `compression.zstd` (Python 3.14), else `backports.zstd`,
else `zstandard`.
"""

from __future__ import annotations

import codecs
import functools
import importlib
import re
import zlib
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

from ._config import DEFAULT_LIMITS, Limits
from ._exceptions import DecodingError

if TYPE_CHECKING:
    from ._models import Headers, Request

__all__ = [
    "IN_MEMORY_RATIO_FROM",
    "STEP",
    "ContentDecoder",
    "LineDecoder",
    "TextDecoder",
    "accept_encoding",
    "charset_from_content_type",
    "content_decoder",
    "decode_text",
]

# Reading a body into memory (`read()`, `content`) without a `max_decompressed_size` of the
# request's own: past the first 16 MiB, the decoded body may be at most
# `Limits.max_in_memory_ratio` (100) times the size of what came over the wire. Text and JSON
# compress 3 to 30 fold; a gzip bomb 1,000 fold, br and zstd far more.
IN_MEMORY_RATIO_FROM = 16 << 20
STEP = 64 * 1024


def _try_import(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _import_first(*names: str) -> ModuleType | None:
    return next((module for module in map(_try_import, names) if module is not None), None)


def _bounded_brotli(module: ModuleType | None) -> ModuleType | None:
    # Before 1.2, brotli and brotlicffi cannot bound the output of one call: a few bytes
    # could inflate to gigabytes at once. Such a version counts as not installed.
    if module is not None and hasattr(module.Decompressor, "can_accept_more_data"):
        return module
    return None


_brotli = _bounded_brotli(_import_first("brotli", "brotlicffi"))
_zstd = _import_first("compression.zstd", "backports.zstd")
_zstandard = _import_first("zstandard")


class _Codec(Protocol):
    """One content coding, undone a bounded step at a time.

    `step(data)` takes new input only when `more` is false; otherwise it is called with
    `b""` to get the next part of the output of the input it already has.
    """

    more: bool

    def step(self, data: bytes) -> bytes: ...

    def finish(self) -> None: ...


def _truncated(coding: str) -> DecodingError:
    return DecodingError(f"The {coding} response body ended before its compressed data did.")


def _is_zlib_header(data: bytes) -> bool:
    # RFC 1950: method 8 (deflate), a window of at most 32 KiB, and a check sum of 31.
    return data[0] & 0x0F == 8 and data[0] >> 4 <= 7 and (data[0] << 8 | data[1]) % 31 == 0


class _Zlib:
    """`gzip` (members may follow one another, NUL padding between them is skipped), or
    `deflate`, whose first two bytes tell a zlib stream (RFC 9110) from raw deflate (which
    some servers send)."""

    __slots__ = ("_coding", "_obj", "_pending", "more")

    def __init__(self, coding: str) -> None:
        self._coding = coding
        # None before the data starts, and for gzip between members.
        self._obj: zlib._Decompress | None = None
        self._pending = b""
        self.more = False

    def step(self, data: bytes) -> bytes:
        data = self._pending + data
        self.more = False
        obj = self._obj
        if obj is None:
            if self._coding == "gzip":
                data = data.lstrip(b"\0")
                wbits = zlib.MAX_WBITS | 16
            elif len(data) < 2:
                self._pending = data
                return b""
            else:
                wbits = zlib.MAX_WBITS if _is_zlib_header(data) else -zlib.MAX_WBITS
            if not data:
                self._pending = b""
                return b""
            obj = self._obj = zlib.decompressobj(wbits)
        try:
            out = obj.decompress(data, STEP)
        except zlib.error as exc:
            raise DecodingError(f"Invalid {self._coding} response body: {exc}") from exc
        if obj.eof:
            self._pending = obj.unused_data
            if self._coding == "gzip":
                self._obj = None
            elif self._pending:
                raise DecodingError("Unexpected data after the end of the deflate response body.")
        else:
            self._pending = obj.unconsumed_tail
        self.more = bool(self._pending) or len(out) == STEP
        return out

    def finish(self) -> None:
        if self._pending or (self._obj is not None and not self._obj.eof):
            raise _truncated(self._coding)


class _Brotli:
    __slots__ = ("_error", "_obj", "_started", "more")

    def __init__(self, module: ModuleType) -> None:
        self._obj = module.Decompressor()
        self._error: type[Exception] = module.error
        self._started = False
        self.more = False

    def step(self, data: bytes) -> bytes:
        self._started = self._started or bool(data)
        try:
            # The output may pass the limit by the decoder's buffer growth (up to ~32 KiB).
            out: bytes = self._obj.process(data, output_buffer_limit=STEP)
        except self._error as exc:
            raise DecodingError(f"Invalid br response body: {exc}") from exc
        # Output may be pending even when the decoder would accept input: ask again until a
        # call gives nothing (or the stream is complete).
        obj = self._obj
        self.more = not obj.is_finished() and (bool(out) or not obj.can_accept_more_data())
        return out

    def finish(self) -> None:
        if self._started and not self._obj.is_finished():
            raise _truncated("br")


class _Zstd:
    """`zstd` through the `compression.zstd` API; a body may hold several frames."""

    __slots__ = ("_module", "_obj", "_pending", "more")

    def __init__(self, module: ModuleType) -> None:
        self._module = module
        self._obj: Any = None  # a ZstdDecompressor: one per frame
        self._pending = b""
        self.more = False

    def step(self, data: bytes) -> bytes:
        data = self._pending + data
        self._pending = b""
        obj = self._obj
        if obj is None or obj.eof:
            if not data:
                return b""
            obj = self._obj = self._module.ZstdDecompressor()
        try:
            out: bytes = obj.decompress(data, STEP)
        except self._module.ZstdError as exc:
            raise DecodingError(f"Invalid zstd response body: {exc}") from exc
        if obj.eof:
            self._pending = obj.unused_data
            self.more = bool(self._pending)
        else:
            self.more = not obj.needs_input
        return out

    def finish(self) -> None:
        if self._obj is not None and not self._obj.eof:
            raise _truncated("zstd")


class _NeedInput(Exception):
    """The zstandard reader has used up the input pushed so far."""


class _Feed:
    """What zstandard's pull reader reads from: the chunk we last pushed, once."""

    __slots__ = ("data",)

    def __init__(self) -> None:
        self.data = b""

    def read(self, size: int) -> bytes:
        data, self.data = self.data, b""
        if not data:
            # Raising (not returning b"", which would mean the end) keeps the reader
            # usable: it reads only when it has produced nothing yet, so nothing is lost.
            raise _NeedInput
        return data


class _Zstandard:
    """`zstd` through the `zstandard` package, whose only bounded API is a pull reader.

    It cannot tell whether the last frame was complete, so a truncated body goes unnoticed
    (unless the framing of the response notices it).
    """

    __slots__ = ("_error", "_feed", "_reader", "more")

    def __init__(self, module: ModuleType) -> None:
        self._feed = _Feed()
        self._reader = module.ZstdDecompressor().stream_reader(
            self._feed, read_size=STEP, read_across_frames=True
        )
        self._error: type[Exception] = module.ZstdError
        self.more = False

    def step(self, data: bytes) -> bytes:
        self._feed.data = data
        try:
            out: bytes = self._reader.read1(STEP)
        except _NeedInput:
            out = b""
        except self._error as exc:
            raise DecodingError(f"Invalid zstd response body: {exc}") from exc
        self.more = bool(out)
        return out

    def finish(self) -> None:
        pass


def _codecs() -> dict[str, Callable[[], _Codec]]:
    factories: dict[str, Callable[[], _Codec]] = {
        "gzip": lambda: _Zlib("gzip"),
        "x-gzip": lambda: _Zlib("gzip"),  # RFC 9110 §8.4.1.3
        "deflate": lambda: _Zlib("deflate"),
    }
    if _brotli is not None:
        factories["br"] = lambda: _Brotli(_brotli)
    if _zstd is not None:
        factories["zstd"] = lambda: _Zstd(_zstd)
    elif _zstandard is not None:
        factories["zstd"] = lambda: _Zstandard(_zstandard)
    return factories


_CODECS = _codecs()
_ACCEPT_ENCODING = ", ".join(name for name in _CODECS if name != "x-gzip")


def accept_encoding() -> str:
    """The `Accept-Encoding` value for the codings this installation can decode."""
    return _ACCEPT_ENCODING


class ContentDecoder:
    """Undoes the content codings of one response body, in bounded steps.

    ```python
    decoder = content_decoder(response.headers, request=response.request)
    for chunk in wire_chunks:
        for piece in decoder.decode(chunk):  # each piece at most about STEP bytes
            ...
    decoder.flush()  # raises DecodingError if the body was truncated
    ```
    """

    __slots__ = ("_codecs", "_max_ratio", "_max_size", "_received", "_request", "_total")

    def __init__(
        self,
        codecs: list[_Codec],
        *,
        max_size: int,
        max_ratio: int | None = None,
        request: Request | None = None,
    ) -> None:
        self._codecs = codecs  # outermost coding (the last one applied) first
        self._max_size = max_size
        # Decoded bytes per received byte, checked past IN_MEMORY_RATIO_FROM decoded bytes.
        self._max_ratio = max_ratio
        self._request = request
        self._total = 0
        self._received = 0

    def decode(self, data: bytes) -> Iterator[bytes]:
        """Yield the decoded form of `data`, in pieces of at most about `STEP` bytes."""
        self._received += len(data)
        # Not `map_exceptions()`: a context manager per chunk would cost more than the
        # decoding of a small body.
        try:
            yield from self._through(0, data)
        except DecodingError as exc:
            exc._request = self._request  # our codecs raise it without one
            raise

    def _through(self, index: int, data: bytes) -> Iterator[bytes]:
        if index == len(self._codecs):
            total = self._total = self._total + len(data)
            if total > self._max_size:
                raise DecodingError(
                    f"The decoded response body is larger than max_decompressed_size "
                    f"({self._max_size} bytes)."
                )
            ratio = self._max_ratio
            if ratio and total > IN_MEMORY_RATIO_FROM and total > ratio * self._received:
                raise DecodingError(
                    f"The response body inflates more than {ratio}-fold ({total} bytes from "
                    f"{self._received}) and was being read into memory: stream it with "
                    "iter_stream(), or set the request's max_decompressed_size to allow it."
                )
            yield data
            return
        codec = self._codecs[index]
        out = codec.step(data)
        while True:
            if out:
                yield from self._through(index + 1, out)
            if not codec.more:
                return
            out = codec.step(b"")

    def flush(self) -> None:
        """Check, at the end of the body, that no coding was cut short."""
        try:
            for codec in self._codecs:
                codec.finish()
        except DecodingError as exc:
            exc._request = self._request
            raise


def content_decoder(
    headers: Headers,
    *,
    request: Request | None = None,
    in_memory: bool = False,
    limits: Limits = DEFAULT_LIMITS,
) -> ContentDecoder | None:
    """A decoder for the body these response headers describe, or None to keep it as is.

    None when there is no coding to undo (no `Content-Encoding`, or only `identity`) and
    when a coding is not one we can decode: such a body is left exactly as it came.
    Codings are counted across every `Content-Encoding` line, and more than
    `limits.max_codings` raise `DecodingError`. The size cap is the request's
    `max_decompressed_size` extension, else `limits.max_decompressed_size` and, for a body
    read `in_memory`, the compression ratio cap `limits.max_in_memory_ratio` too.
    """
    # Every Content-Encoding line, joined with ", ".
    value: str | None = headers.get("content-encoding")
    if value is None:
        return None
    count, codings = _codings(value)
    if count > limits.max_codings:
        raise DecodingError(
            f"The response has {count} content codings; at most {limits.max_codings} "
            "are decoded (Limits.max_codings).",
            request=request,
        )
    if not codings:
        return None
    chosen = None if request is None else request.extensions.get("max_decompressed_size")
    return ContentDecoder(
        [_CODECS[coding]() for coding in codings],
        max_size=limits.max_decompressed_size if chosen is None else chosen,
        max_ratio=limits.max_in_memory_ratio if in_memory and chosen is None else None,
        request=request,
    )


def _parse_codings(value: str) -> tuple[int, tuple[str, ...]]:
    """How many codings a `Content-Encoding` value lists, and those to undo, outermost
    first (none when one is unknown)."""
    listed = [token for token in (part.strip().lower() for part in value.split(",")) if token]
    codings = [coding for coding in listed if coding != "identity"]
    if any(coding not in _CODECS for coding in codings):
        codings = []
    return len(listed), tuple(reversed(codings))


_parse_short_codings = functools.lru_cache(maxsize=64)(_parse_codings)


def _codings(value: str) -> tuple[int, tuple[str, ...]]:
    # Servers send the same few short values: those are parsed once. A long one is parsed
    # each time, so that a server cannot fill the cache with large strings.
    return _parse_short_codings(value) if len(value) <= 64 else _parse_codings(value)


# --- text ---------------------------------------------------------------------------------

_CHARSET = re.compile(r';\s*charset\s*=\s*"?([^";\s]+)', re.IGNORECASE)


def charset_from_content_type(content_type: str | None) -> str | None:
    """The `charset` of a `Content-Type` value (lower-cased), if Python knows the codec."""
    if not content_type:
        return None
    match = _CHARSET.search(content_type)
    if match is None:
        return None
    charset = match.group(1).lower()
    try:
        codecs.lookup(charset)
    except LookupError:
        return None
    return charset


_BOMS = {
    "utf-16": (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE),
    "utf-32": (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE),
}


def _codec_name(encoding: str, head: bytes) -> str:
    # `head` is the start of the text (4 bytes, or all of a shorter text).
    name = codecs.lookup(encoding).name
    if name == "utf-8":
        # A UTF-8 byte order mark is not part of the text (WHATWG Encoding): drop it.
        return "utf-8-sig"
    if name in _BOMS and not head.startswith(_BOMS[name]):
        # Without a byte order mark UTF-16 and UTF-32 are big-endian (RFC 2781 §4.3);
        # Python's incremental decoders would raise instead.
        return f"{name}-be"
    return encoding


def decode_text(content: bytes, encoding: str) -> str:
    """`content` decoded with `encoding`, errors replaced by U+FFFD, a UTF-8 BOM dropped."""
    return content.decode(_codec_name(encoding, content[:4]), errors="replace")


class TextDecoder:
    """Decodes a body chunk by chunk; a character split across chunks is kept whole.

    ```python
    decoder = TextDecoder("utf-8")
    decoder.decode(b"caf\\xc3") + decoder.decode(b"\\xa9") + decoder.flush()  # 'café'
    ```
    """

    __slots__ = ("_decoder", "_encoding", "_head")

    def __init__(self, encoding: str) -> None:
        self._encoding = encoding
        self._head = b""
        self._decoder: codecs.IncrementalDecoder | None = None
        if codecs.lookup(encoding).name not in _BOMS:
            self._decoder = codecs.getincrementaldecoder(_codec_name(encoding, b""))("replace")

    def decode(self, data: bytes, final: bool = False) -> str:
        if self._decoder is None:
            # UTF-16 or UTF-32: the first bytes, kept until they tell the byte order.
            data = self._head + data
            if len(data) < 4 and not final:
                self._head = data
                return ""
            codec = _codec_name(self._encoding, data[:4])
            self._decoder = codecs.getincrementaldecoder(codec)("replace")
        return self._decoder.decode(data, final)

    def flush(self) -> str:
        return self.decode(b"", final=True)


_NEWLINE = re.compile(r"\r\n|\r|\n")


class LineDecoder:
    """Splits text into lines on `\\n`, `\\r\\n` and `\\r`, across chunk boundaries.

    Lines come without their line break; a last line without one is returned by `flush()`.

    ```python
    lines = LineDecoder()
    lines.decode("a\\r") + lines.decode("\\nb\\nc") + lines.flush()  # ['a', 'b', 'c']
    ```
    """

    __slots__ = ("_cr", "_partial")

    def __init__(self) -> None:
        self._partial: list[str] = []  # the start of a line not yet ended
        self._cr = False  # the text so far ended with "\r", maybe half of "\r\n"

    def decode(self, text: str) -> list[str]:
        if self._cr:
            text = "\r" + text
        self._cr = text.endswith("\r")
        if self._cr:
            text = text[:-1]
        lines = _NEWLINE.split(text)
        if len(lines) == 1:
            self._partial.append(text)
            return []
        if self._partial:
            lines[0] = "".join(self._partial) + lines[0]
        self._partial = [lines.pop()]
        return lines

    def flush(self) -> list[str]:
        line = "".join(self._partial)
        ended, self._cr, self._partial = self._cr, False, []
        return [line] if line or ended else []
