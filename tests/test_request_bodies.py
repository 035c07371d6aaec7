"""Request bodies from `data=`, `files=` and `json=`: the bytes on the wire and their framing."""

from __future__ import annotations

import email.parser
import email.policy
import gzip
import io
import json
import os
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

import httpcore2
from httpcore2 import QueryParams, Request, StreamConsumed
from httpcore2._content import (
    CHUNK_SIZE,
    AsyncByteStream,
    FileStream,
    MultipartStream,
    SyncByteStream,
    encode_request,
    encode_request_body,
)
from tests.servers.asgi_server import Server

BOUNDARY = "BOUNDARY"


def body_of(stream: Any) -> bytes:
    return b"".join(stream)


async def abody_of(stream: AsyncByteStream) -> bytes:
    return b"".join([chunk async for chunk in stream])


def multipart(data: Any = None, files: Any = None) -> tuple[dict[str, str], MultipartStream]:
    headers, stream = encode_request(data=data, files=files, boundary=BOUNDARY)
    assert isinstance(stream, MultipartStream)
    return headers, stream


def part(head: str, body: bytes = b"") -> bytes:
    return f"--{BOUNDARY}\r\n{head}\r\n\r\n".encode() + body + b"\r\n"


def field(name: str, value: bytes) -> bytes:
    return part(f'Content-Disposition: form-data; name="{name}"', value)


END = f"--{BOUNDARY}--\r\n".encode()


def parse_multipart(content_type: str, body: bytes) -> list[EmailMessage]:
    """Read a multipart body back with the standard library's MIME parser."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    assert isinstance(message, EmailMessage)
    assert message.is_multipart()
    return list(message.iter_parts())  # type: ignore[arg-type]


class RecordingFile(io.BytesIO):
    """A seekable binary file that records the size asked of every read."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.reads: list[int | None] = []

    def read(self, size: int | None = -1) -> bytes:
        self.reads.append(size)
        return super().read(size)


class Pipe:
    """A binary file that can only be read forward, like a pipe or a socket file."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)
        self.reads: list[int] = []

    def read(self, size: int = -1) -> bytes:
        self.reads.append(size)
        return self._data.read(size)

    def seekable(self) -> bool:
        return False


# --- content= and nothing at all ---------------------------------------------------------


def gen() -> Iterator[bytes]:
    yield b"x"


@pytest.mark.parametrize("content", [b"raw", "text", io.BytesIO(b"file"), gen(), [b"a"]])
def test_content_passes_through_unchanged_without_headers(content: Any) -> None:
    headers, body = encode_request(content=content)
    assert headers == {}
    assert body is content


def test_no_body_at_all() -> None:
    assert encode_request() == ({}, None)


# --- json= -------------------------------------------------------------------------------


def test_json_is_compact_utf8() -> None:
    headers, body = encode_request(json={"a": [1, 2.5, True, None], "é": "ü €"})
    assert body == '{"a":[1,2.5,true,null],"é":"ü €"}'.encode()
    assert headers == {"Content-Type": "application/json", "Content-Length": str(len(body))}
    assert headers["Content-Length"] == "37"  # bytes, not the 33 characters


@pytest.mark.parametrize(
    ("value", "body"), [([], b"[]"), (0, b"0"), ("", b'""'), (False, b"false")]
)
def test_falsy_json_values_are_still_sent(value: Any, body: bytes) -> None:
    assert encode_request(json=value)[1] == body


@pytest.mark.parametrize("value", [float("nan"), float("inf"), [float("-inf")]])
def test_json_refuses_values_json_cannot_represent(value: Any) -> None:
    with pytest.raises(ValueError, match="JSON compliant"):
        encode_request(json=value)


def test_json_none_means_no_body() -> None:
    assert encode_request(json=None) == ({}, None)


# --- data= (form) ------------------------------------------------------------------------


def test_form_encoding_of_lists_none_bool_numbers_and_text() -> None:
    data = {
        "q": "a b&c=d",
        "tag": ["x", "y"],
        "pair": ("1", 2),
        "none": None,
        "yes": True,
        "no": False,
        "n": 1,
        "f": 2.5,
        "é": "€",
    }
    headers, body = encode_request(data=data)
    assert body == (
        b"q=a+b%26c%3Dd&tag=x&tag=y&pair=1&pair=2&none=&yes=true&no=false&n=1&f=2.5"
        b"&%C3%A9=%E2%82%AC"
    )
    assert headers == {
        "Content-Type": "application/x-www-form-urlencoded",
        "Content-Length": str(len(body)),
    }
    # The very encoding of query strings.
    assert body == str(QueryParams(data)).encode()


def test_form_bytes_values_are_encoded_byte_for_byte() -> None:
    _, body = encode_request(data={"raw": b"\xff\x00 a", "list": [b"\xc3\xa9", "é"]})
    assert body == b"raw=%FF%00+a&list=%C3%A9&list=%C3%A9"


def test_empty_form_is_an_empty_body_with_its_type() -> None:
    headers, body = encode_request(data={})
    assert body == b""
    assert headers == {"Content-Type": "application/x-www-form-urlencoded", "Content-Length": "0"}


@pytest.mark.parametrize("data", [b"raw", "text", [("a", "b")], io.BytesIO(b"x")])
def test_data_that_is_not_a_mapping_points_to_content(data: Any) -> None:
    with pytest.raises(TypeError, match=f"not {type(data).__name__}.*content="):
        encode_request(data=data)


# --- conflicts ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "arguments",
    [
        {"content": b"x", "data": {"a": "1"}},
        {"content": b"x", "files": {"f": b"1"}},
        {"content": b"x", "json": {}},
        {"content": "", "data": {}},
    ],
)
def test_content_with_another_body_is_refused(arguments: dict[str, Any]) -> None:
    with pytest.raises(TypeError, match="one way"):
        encode_request(**arguments)


@pytest.mark.parametrize(
    "arguments",
    [{"json": {}, "data": {"a": "1"}}, {"json": [], "files": {"f": b"1"}}, {"json": 0, "data": {}}],
)
def test_json_with_form_or_files_is_refused(arguments: dict[str, Any]) -> None:
    with pytest.raises(TypeError, match=r"json= cannot be combined"):
        encode_request(**arguments)


# --- files= (multipart) ------------------------------------------------------------------


def test_multipart_exact_bytes() -> None:
    headers, stream = multipart(
        data={"name": "Ada", "tags": ["x", "y"], "empty": None, "flag": True, "raw": b"\xff"},
        files={
            "text": ("a.txt", "héllo"),
            "blob": ("b.bin", io.BytesIO(b"\x00\r\n--"), "application/x-custom", {"X-Note": "1"}),
        },
    )
    expected = (
        field("name", b"Ada")
        + field("tags", b"x")
        + field("tags", b"y")
        + field("empty", b"")
        + field("flag", b"true")
        + field("raw", b"\xff")
        + part(
            'Content-Disposition: form-data; name="text"; filename="a.txt"\r\n'
            "Content-Type: text/plain",
            "héllo".encode(),
        )
        + part(
            'Content-Disposition: form-data; name="blob"; filename="b.bin"\r\n'
            "Content-Type: application/x-custom\r\n"
            "X-Note: 1",
            b"\x00\r\n--",
        )
        + END
    )
    assert body_of(stream) == expected
    assert headers == {
        "Content-Type": "multipart/form-data; boundary=BOUNDARY",
        "Content-Length": str(len(expected)),
    }
    assert stream.content_length == len(expected)


def test_a_standard_mime_parser_reads_the_body_back() -> None:
    headers, stream = encode_request(
        data={"field": "välue"},
        files=[("up", ("ü.bin", b"\x00\xff\r\n", "application/octet-stream"))],
    )
    parts = parse_multipart(headers["Content-Type"], body_of(stream))
    assert [p.get_param("name", header="content-disposition") for p in parts] == ["field", "up"]
    assert parts[0].get_payload(decode=True) == "välue".encode()
    assert parts[1].get_filename() == "ü.bin"
    assert parts[1].get_payload(decode=True) == b"\x00\xff\r\n"


def test_files_as_a_list_of_pairs_may_repeat_a_name() -> None:
    _, stream = multipart(files=[("f", ("1.txt", b"one")), ("f", ("2.txt", b"two"))])
    parts = parse_multipart("multipart/form-data; boundary=BOUNDARY", body_of(stream))
    assert [p.get_filename() for p in parts] == ["1.txt", "2.txt"]
    assert [p.get_param("name", header="content-disposition") for p in parts] == ["f", "f"]


def test_data_alone_with_empty_files_is_multipart() -> None:
    headers, stream = multipart(data={"a": "1"}, files={})
    assert body_of(stream) == field("a", b"1") + END
    assert headers["Content-Type"] == "multipart/form-data; boundary=BOUNDARY"
    assert list(stream) == [field("a", b"1") + END]  # all in memory: one chunk, one write


def test_a_multipart_stream_without_files() -> None:
    assert body_of(MultipartStream(boundary=BOUNDARY)) == END
    assert body_of(MultipartStream({"a": 1}, boundary=BOUNDARY)) == field("a", b"1") + END


@pytest.mark.case("S18")
@pytest.mark.parametrize(
    ("name", "filename", "escaped_name", "escaped_filename"),
    [
        ('a"\r\nX: y', 'b"\r\nX: y', "a%22%0D%0AX: y", "b%22%0D%0AX: y"),
        ("é", "résumé €.pdf", "é", "résumé €.pdf"),
        ("back\\slash", "C:\\x.txt", "back\\slash", "C:\\x.txt"),
    ],
)
def test_names_and_filenames_are_escaped_the_whatwg_way(
    name: str, filename: str, escaped_name: str, escaped_filename: str
) -> None:
    _, stream = multipart(data={name: "v"}, files={name: (filename, b"")})
    body = body_of(stream)
    disposition = f'Content-Disposition: form-data; name="{escaped_name}"'
    assert f"{disposition}\r\n\r\nv\r\n".encode() in body
    assert f'{disposition}; filename="{escaped_filename}"\r\n'.encode() in body
    # S18: the caller's CR LF never starts a header line of its own.
    assert b"\r\nX: y" not in body


@pytest.mark.case("S18")
@pytest.mark.parametrize(
    "value",
    [
        ("a.txt", b"", "text/plain\r\nX-Injected: 1"),
        ("a.txt", b"", None, {"X-Note": "1\r\nX-Injected: 1"}),
        ("a.txt", b"", None, {"X-Note": "1\nX-Injected: 1"}),
        ("a.txt", b"", None, {"X-Note\r\nX-Injected": "1"}),
        ("a.txt", b"", None, {"Bad Name": "1"}),
    ],
)
def test_cr_lf_in_part_headers_is_refused(value: Any) -> None:
    with pytest.raises(ValueError, match="Invalid header"):
        multipart(files={"f": value})


@pytest.mark.parametrize(
    ("value", "content_type"),
    [
        (("a.txt", b""), "text/plain"),
        (("a.png", b""), "image/png"),
        (("a.unknown-extension", b""), "application/octet-stream"),
        (("", b""), "application/octet-stream"),
        (("a.txt", b"", "text/csv"), "text/csv"),
        (("a.txt", b"", None), "text/plain"),
        (("a.txt", b"", ""), "text/plain"),
        (("a.txt", b"", None, {}), "text/plain"),
    ],
)
def test_part_content_type_given_or_guessed_from_the_filename(
    value: Any, content_type: str
) -> None:
    _, stream = multipart(files={"f": value})
    assert f"\r\nContent-Type: {content_type}\r\n\r\n".encode() in body_of(stream)


def test_a_content_type_in_the_part_headers_wins() -> None:
    _, stream = multipart(
        files={"f": ("a.txt", b"x", "text/csv", {"X-A": "1", "content-type": "text/html"})}
    )
    head = body_of(stream).split(b"\r\n\r\n")[0]
    assert head.endswith(b'filename="a.txt"\r\nX-A: 1\r\ncontent-type: text/html')


def test_no_filename_parameter_when_the_filename_is_none() -> None:
    _, stream = multipart(files={"f": (None, b"x")})
    assert body_of(stream) == (
        part(
            'Content-Disposition: form-data; name="f"\r\nContent-Type: application/octet-stream',
            b"x",
        )
        + END
    )


def test_default_filenames(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_bytes(b"{}")
    with path.open("rb") as by_str, open(bytes(path), "rb") as by_bytes:
        _, stream = multipart(
            files=[("a", by_str), ("b", by_bytes), ("c", io.BytesIO(b"")), ("d", b""), ("e", "")]
        )
        parts = parse_multipart("multipart/form-data; boundary=BOUNDARY", body_of(stream))
    assert [p.get_filename() for p in parts] == [
        "report.json",
        "report.json",
        "upload",
        "upload",
        "upload",
    ]
    assert parts[0].get_content_type() == "application/json"
    assert parts[2].get_content_type() == "application/octet-stream"


def test_a_file_descriptor_name_is_not_a_filename(tmp_path: Path) -> None:
    path = tmp_path / "data.txt"
    path.write_bytes(b"x")
    with path.open("rb") as named, open(named.fileno(), "rb", closefd=False) as by_fd:
        assert by_fd.name == named.fileno()
        _, stream = multipart(files={"f": by_fd})
        assert b'filename="upload"' in body_of(stream)


@pytest.mark.parametrize("size", [1, 5])
def test_file_tuples_of_the_wrong_size_are_refused(size: int) -> None:
    value: tuple[Any, ...] = ("a.txt", b"", None, {}, "extra")[:size]
    with pytest.raises(TypeError, match=f"tuple of {size} items"):
        multipart(files={"f": value})


@pytest.mark.parametrize("file", [123, None, [b"chunk"]])
def test_file_contents_of_the_wrong_type_are_refused(file: Any) -> None:
    message = f"'f' must be bytes, str or a binary file object, not {type(file).__name__}"
    with pytest.raises(TypeError, match=message):
        multipart(files={"f": ("a.txt", file)})


def test_text_files_are_refused() -> None:
    with pytest.raises(TypeError, match="binary file"):
        multipart(files={"f": io.StringIO("text")})


@pytest.mark.parametrize("boundary", ["", "x" * 71, "a b", 'a"b', "a\r\nb", "a;b", "é"])
def test_invalid_boundaries_are_refused(boundary: str) -> None:
    with pytest.raises(ValueError, match="Invalid multipart boundary"):
        encode_request(files={}, boundary=boundary)


def test_a_valid_boundary_may_use_every_allowed_character() -> None:
    boundary = "az09AZ'+_.-" + "x" * 59
    headers, _ = encode_request(files={}, boundary=boundary)
    assert headers["Content-Type"] == f"multipart/form-data; boundary={boundary}"


def test_the_default_boundary_is_random_hex() -> None:
    first = MultipartStream(files={}).boundary
    second = MultipartStream(files={}).boundary
    assert len(first) == 32
    int(first, 16)
    assert first != second


# --- streaming files ---------------------------------------------------------------------


def test_files_are_read_in_64_kib_blocks_never_whole() -> None:
    data = bytes(range(256)) * 1000  # 256,000 bytes
    file = RecordingFile(data)
    headers, stream = multipart(files={"f": ("f.bin", file)})
    assert file.reads == []  # sizing the file does not read it
    chunks = list(stream)
    assert file.reads == [CHUNK_SIZE] * 5
    assert max(len(chunk) for chunk in chunks) <= CHUNK_SIZE
    assert data in b"".join(chunks)
    assert headers["Content-Length"] == str(len(b"".join(chunks)))


def test_in_memory_parts_around_a_file_are_sent_as_single_chunks() -> None:
    _, stream = multipart(data={"a": "1"}, files={"f": ("f.bin", io.BytesIO(b"DATA"))})
    head, data, tail = list(stream)
    assert head.startswith(field("a", b"1"))
    assert head.endswith(b"Content-Type: application/octet-stream\r\n\r\n")
    assert data == b"DATA"
    assert tail == b"\r\n" + END


def test_content_length_of_a_real_file_counts_from_its_position(tmp_path: Path) -> None:
    path = tmp_path / "upload.bin"
    path.write_bytes(b"skip:" + b"z" * 100_000)
    with path.open("rb") as file:
        file.seek(5)
        headers, stream = multipart(files={"f": file})
        assert file.tell() == 5  # sizing put it back
        body = body_of(stream)
    assert int(headers["Content-Length"]) == len(body) == stream.content_length
    assert b"skip:" not in body
    assert b"z" * 100_000 + b"\r\n" + END in body


@pytest.mark.parametrize("payload", [b"data", b""], ids=["pipe", "empty-pipe"])
def test_unseekable_files_are_sent_chunked_and_once(payload: bytes) -> None:
    headers, stream = multipart(data={"a": "1"}, files={"f": ("f.bin", Pipe(payload))})
    assert "Content-Length" not in headers
    assert stream.content_length is None
    assert not stream.replayable
    assert body_of(stream).endswith(b"\r\n\r\n" + payload + b"\r\n" + END)
    # Refused at the first chunk: not a half-sent body.
    with pytest.raises(StreamConsumed, match="unseekable file"):
        next(iter(stream))


class NoSeekFromEnd(io.BytesIO):
    """Says it can seek, and does forward and back, but not from the end."""

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_END:
            raise io.UnsupportedOperation("can't do nonzero end-relative seeks")
        return super().seek(offset, whence)


def test_a_file_that_cannot_seek_from_the_end_is_chunked_but_replayable() -> None:
    file = NoSeekFromEnd(b"data " * 20_000)
    file.seek(5)
    headers, stream = multipart(files={"f": ("f.txt", file)})
    assert "Content-Length" not in headers
    assert stream.replayable
    first = body_of(stream)
    assert first.endswith(b"\r\n\r\n" + b"data " * 19_999 + b"\r\n" + END)
    assert body_of(stream) == first


def test_a_decompressing_file_is_sized_by_its_decompressed_bytes(tmp_path: Path) -> None:
    # Its fileno() is the compressed file's: sizing by seek/tell, not fstat, gets it right.
    path = tmp_path / "data.gz"
    path.write_bytes(gzip.compress(b"unpacked " * 10_000))
    with gzip.open(path, "rb") as file:
        assert os.fstat(file.fileno()).st_size == path.stat().st_size < 1_000
        headers, stream = multipart(files={"f": ("f.txt", file)})
        body = body_of(stream)
        assert int(headers["Content-Length"]) == len(body)
        assert b"unpacked " * 10_000 + b"\r\n" + END in body


def test_replay_rewinds_every_file() -> None:
    first_file, second_file = io.BytesIO(b"one"), io.BytesIO(b"two")
    _, stream = multipart(data={"a": "1"}, files={"x": first_file, "y": ("y", second_file)})
    assert stream.replayable
    first = body_of(stream)
    assert body_of(stream) == first
    assert b"one" in first
    assert b"two" in first


@pytest.mark.anyio
async def test_async_iteration_gives_the_same_bytes_and_replays() -> None:
    _, stream = multipart(data={"a": "1"}, files={"f": ("f.bin", io.BytesIO(b"x" * 100_000))})
    sync_body = body_of(stream)
    assert await abody_of(stream) == sync_body
    assert await abody_of(stream) == sync_body


@pytest.mark.anyio
async def test_async_iteration_of_an_unseekable_file_is_once() -> None:
    _, stream = multipart(files={"f": ("f.bin", Pipe(b"data"))})
    assert b"data" in await abody_of(stream)
    with pytest.raises(StreamConsumed):
        await abody_of(stream)


@pytest.mark.anyio
async def test_multipart_stream_serves_both_interfaces() -> None:
    _, stream = multipart(files={})
    assert isinstance(stream, SyncByteStream)
    assert isinstance(stream, AsyncByteStream)
    assert stream.close() is None  # type: ignore[func-returns-value]
    assert await stream.aclose() is None  # type: ignore[func-returns-value]
    assert repr(stream) == "<MultipartStream [boundary='BOUNDARY', length=14]>"


# --- FileStream.size ---------------------------------------------------------------------


def test_file_stream_size() -> None:
    file = io.BytesIO(b"0123456789")
    file.seek(3)
    assert FileStream(file).size() == 7
    assert file.tell() == 3
    assert FileStream(Pipe(b"data")).size() is None  # type: ignore[arg-type]


# --- into a Request ----------------------------------------------------------------------


def test_request_takes_the_multipart_stream_as_is_and_its_length() -> None:
    headers, content = multipart(data={"a": "1"}, files={"f": ("f.txt", io.BytesIO(b"x"))})
    assert encode_request_body(content) == (content, None)
    request = Request("POST", "http://example.org/", headers=headers, content=content)
    assert request.stream is content
    assert request.headers["Content-Length"] == headers["Content-Length"]
    assert "Transfer-Encoding" not in request.headers
    assert request.read() == body_of(content)


def test_request_with_an_unseekable_file_is_chunked() -> None:
    headers, content = multipart(files={"f": ("f.txt", Pipe(b"x"))})
    request = Request("POST", "http://example.org/", headers=headers, content=content)
    assert request.headers["Transfer-Encoding"] == "chunked"
    assert "Content-Length" not in request.headers
    assert request.headers["Content-Type"] == "multipart/form-data; boundary=BOUNDARY"


@pytest.mark.parametrize(
    "arguments",
    [{"json": {"a": 1}}, {"data": {"a": "1"}}],
    ids=["json", "form"],
)
def test_request_with_a_known_body(arguments: dict[str, Any]) -> None:
    headers, content = encode_request(**arguments)
    request = Request("POST", "http://example.org/", headers=headers, content=content)
    assert request.content == content
    assert request.headers.get_list("Content-Length") == [str(len(request.content))]


# --- on the wire -------------------------------------------------------------------------


def echoed(response: httpcore2.Response) -> tuple[dict[str, list[str]], bytes]:
    data = json.loads(response.content)
    headers: dict[str, list[str]] = {}
    for name, value in data["headers"]:
        headers.setdefault(name, []).append(value)
    return headers, data["body"].encode("latin-1")


def upload(file: Any) -> tuple[dict[str, str], MultipartStream]:
    return multipart(data={"note": "é"}, files={"f": ("data.bin", file)})


@pytest.mark.anyio
@pytest.mark.parametrize("seekable", [True, False], ids=["sized", "chunked"])
async def test_the_server_receives_the_multipart_body(server: Server, seekable: bool) -> None:
    payload = bytes(range(256)) * 800
    expected = body_of(upload(payload)[1])
    headers, stream = upload(io.BytesIO(payload) if seekable else Pipe(payload))
    async with httpcore2.ConnectionPool() as pool:
        response = await pool.request("POST", server.url + "/echo", headers=headers, content=stream)
    received_headers, received = echoed(response)
    assert received == expected
    if seekable:
        assert received_headers["content-length"] == [str(len(expected))]
    else:
        assert received_headers["transfer-encoding"] == ["chunked"]
    parts = parse_multipart(received_headers["content-type"][0], received)
    assert parts[1].get_filename() == "data.bin"
    assert parts[1].get_payload(decode=True) == payload


def test_the_server_receives_the_multipart_body_sync(server: Server, tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"\x00\xff" * 50_000)
    expected = body_of(upload(path.read_bytes())[1])
    with path.open("rb") as file, httpcore2.SyncConnectionPool() as pool:
        headers, stream = upload(file)
        # The same stream twice on one pool: what a 307 redirect or an auth retry does.
        for _ in range(2):
            response = pool.request("POST", server.url + "/echo", headers=headers, content=stream)
            received_headers, received = echoed(response)
            assert received == expected
            assert received_headers["content-length"] == [str(len(expected))]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("arguments", "body"),
    [
        ({"data": {"a": ["1", "2"], "b": None}}, b"a=1&a=2&b="),
        ({"json": {"é": [1]}}, '{"é":[1]}'.encode()),
    ],
    ids=["form", "json"],
)
async def test_the_server_receives_form_and_json_bodies(
    server: Server, arguments: dict[str, Any], body: bytes
) -> None:
    headers, content = encode_request(**arguments)
    async with httpcore2.ConnectionPool() as pool:
        response = await pool.request(
            "POST", server.url + "/echo", headers=headers, content=content
        )
    received_headers, received = echoed(response)
    assert received == body
    assert received_headers["content-type"] == [headers["Content-Type"]]
    assert received_headers["content-length"] == [str(len(body))]
