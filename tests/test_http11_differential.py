"""The fast HTTP/1.1 engine against h11, the reference: generated and mutated responses.

Each response is fed to both engines in pieces, split at every byte boundary (at random
boundaries for long ones); both must give the same events (body bytes joined, since how
the body is cut into pieces is each engine's business) and the same reuse decision, or
both must raise `RemoteProtocolError`. The fast engine may also reject a response that h11
accepts, but only for the documented reasons (`stricter_than_h11`).

The run in the suite is short and derandomized; set `HTTPCORE2_FUZZ_EXAMPLES` (or run
`scripts/fuzz-engine --minutes N`) for a long one.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Callable, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import httpcore2
from httpcore2._fast_engine import FastEngine
from httpcore2._http11_engine import END_OF_BODY, H11Engine, HTTP11Engine
from tests.test_http11_engine import receive, send

EXAMPLES = int(os.environ.get("HTTPCORE2_FUZZ_EXAMPLES", "60"))
# Inputs up to this long are split at every byte boundary; longer ones at random ones.
EVERY_BOUNDARY = 96
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize="HTTPCORE2_FUZZ_EXAMPLES" not in os.environ,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

Outcome = tuple[object, ...]


def run(engine_class: Callable[[], HTTP11Engine], method: str, pieces: list[bytes]) -> Outcome:
    """Feed `pieces` (then EOF) to a new engine: the events and reuse, or the error."""
    engine = engine_class()
    send(engine, httpcore2.Request(method, "http://a/"))
    engine.end_of_body()
    events: list[object] = []
    try:
        for piece in [*pieces, b""]:
            for event in receive(engine, piece):
                if isinstance(event, (bytes, memoryview)):
                    if events and type(events[-1]) is bytes:
                        events[-1] += event
                    else:
                        events.append(bytes(event))
                else:
                    events.append(event)
                if event is END_OF_BODY:
                    return ("ok", tuple(events), engine.start_next_exchange())
    except httpcore2.RemoteProtocolError:
        return ("error", "RemoteProtocolError")
    return ("incomplete", tuple(events))


def stricter_than_h11(data: bytes) -> bool:
    """Whether `data` has something the fast engine rejects on purpose and h11 accepts."""
    return bool(
        re.search(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", data)  # control characters
        or re.search(rb"\r(?!\n)", data)  # bare CR (h11 takes one in a chunk extension)
        or re.search(rb"\n[ \t]", data)  # obs-fold
        or re.search(rb"(?:^|\n)HTTP/[02-9]\.", data)  # not HTTP/1.x
        or re.search(rb"[0-9A-Fa-f]{16}", data)  # a chunk size of 2**63 or more
    )


def splits(data: bytes, seed: int) -> Iterator[list[bytes]]:
    yield [data]
    yield [data[i : i + 1] for i in range(len(data))]
    if len(data) <= EVERY_BOUNDARY:
        boundaries: list[int] = list(range(1, len(data)))
    else:
        boundaries = random.Random(seed).sample(range(1, len(data)), EVERY_BOUNDARY)
    for i in boundaries:
        yield [data[:i], data[i:]]


def check(method: str, data: bytes) -> None:
    for pieces in splits(data, seed=len(data)):
        reference = run(H11Engine, method, pieces)
        fast = run(FastEngine, method, pieces)
        if fast != reference:
            assert fast[0] == "error", (pieces, reference, fast)
            assert stricter_than_h11(data), (pieces, reference, fast)


# Well-formed responses, then mutated ones.

TOKEN = st.text(
    "abcdefghijklmnopqrstuvwxyz-ABCXYZ0123456789!#$%&'*+.^_`|~", min_size=1, max_size=12
)
VALUE = st.text('abcdefghijklmnopqrstuvwxyz ABC0123456789,;=/:\t"()', max_size=20)
BODY = st.binary(max_size=40).map(lambda b: bytes(0x61 + c % 26 for c in b))
FRAMING = st.sampled_from(["length", "chunked", "eof", "both", "short", "long", "none"])
STATUS = st.sampled_from([100, 103, 200, 201, 204, 206, 301, 304, 404, 500, 599])


@st.composite
def responses(draw: st.DrawFn) -> tuple[str, bytes]:
    eol = draw(st.sampled_from([b"\r\n"] * 5 + [b"\n"]))
    version = draw(st.sampled_from([b"1.1", b"1.1", b"1.0"]))
    informational = b"HTTP/" + version + b" 103 Early Hints" + eol + b"Link: </a>" + eol + eol
    parts = [informational] * draw(st.integers(0, 2))
    status = draw(STATUS.filter(lambda s: s >= 200))
    reason = draw(st.sampled_from([b" OK", b"", b" ", b" Not\tFound", b" caf\xc3\xa9"]))
    parts.append(b"HTTP/%s %d%s" % (version, status, reason) + eol)
    fields = [
        (draw(TOKEN).encode(), draw(VALUE).strip(" \t").encode())
        for _ in range(draw(st.integers(0, 4)))
    ]
    body = draw(BODY)
    framing = draw(FRAMING)
    if framing in ("length", "short", "long", "both"):
        length = len(body) + {"short": -1, "long": 1}.get(framing, 0)
        value = draw(st.sampled_from([b"%d", b"%d, %d", b"0%d"]))
        fields.append((b"Content-Length", value.replace(b"%d", str(max(length, 0)).encode())))
    if framing in ("chunked", "both"):
        fields.append(
            (
                draw(st.sampled_from([b"Transfer-Encoding", b"transfer-encoding"])),
                draw(st.sampled_from([b"chunked", b"Chunked"])),
            )
        )
        chunks = b""
        rest = body
        while rest:
            size = draw(st.integers(1, len(rest)))
            ext = draw(st.sampled_from([b"", b"", b";a=b", b";x", b" "]))
            size_line_end = draw(st.sampled_from([b"\r\n"] * 6 + [b"\n", b"\r"]))
            data_end = draw(st.sampled_from([b"\r\n"] * 6 + [b"XX", b"\n", b"\rX", b""]))
            chunks += b"%x%s%s%s%s" % (size, ext, size_line_end, rest[:size], data_end)
            rest = rest[size:]
        trailers = draw(st.sampled_from([b"", b"X-Trailer: 1" + eol]))
        body = chunks + b"0\r\n" + trailers + eol
    if draw(st.booleans()):
        fields.append((b"Connection", draw(st.sampled_from([b"close", b"keep-alive", b"Close"]))))
    draw(st.randoms()).shuffle(fields)
    parts.extend(name + b": " + value + eol for name, value in fields)
    parts.append(eol)
    parts.append(body)
    if draw(st.booleans()):
        parts.append(draw(st.sampled_from([b"HTTP/1.1 200 OK\r\n\r\n", b"x", b"\r\n"])))
    method = draw(st.sampled_from(["GET", "GET", "GET", "HEAD"]))
    return method, b"".join(parts)


INTERESTING = [
    b"\r",
    b"\n",
    b"\r\n",
    b"\x00",
    b" ",
    b"\t",
    b":",
    b";",
    b",",
    b"0",
    b"f",
    b"\x7f",
    b"\x01",
    b"\x80",
    b"-",
    b"9" * 21,
    b"HTTP/1.1 ",
    b"\r\n\r\n",
]


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    method, data = draw(responses())
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["insert", "delete", "replace", "truncate"]))
        if action == "insert":
            data = data[:at] + draw(st.sampled_from(INTERESTING)) + data[at:]
        elif action == "delete":
            data = data[:at] + data[at + draw(st.integers(1, 4)) :]
        elif action == "replace":
            data = data[:at] + draw(st.sampled_from(INTERESTING)) + data[at + 1 :]
        else:
            data = data[:at]
    return method, data


@FUZZ
@given(responses())
def test_well_formed_responses_give_the_same_events(case: tuple[str, bytes]) -> None:
    check(*case)


@FUZZ
@given(mutated())
def test_mutated_responses_give_the_same_events_or_errors(case: tuple[str, bytes]) -> None:
    check(*case)


@pytest.mark.parametrize(
    "data",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        b"HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n5;a=b\r\nhello\r\n0\r\nX: 1\n\n",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\n\r\nbody",
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabcextra",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\rX",
    ],
    ids=["length", "chunked-lf", "informational-http10", "duplicate-length", "bad-chunk-end"],
)
def test_fixed_responses_agree_at_every_boundary(data: bytes) -> None:
    check("GET", data)


@pytest.mark.parametrize(
    "data",
    [
        b"HTTP/1.1 200 OK\r\nX: a\r\n folded\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: a\x01b\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;a\rb\r\nx\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8000000000000000\r\n",
    ],
    ids=["obs-fold", "control", "http2-version", "cr-in-chunk-extension", "huge-chunk"],
)
def test_fast_engine_is_stricter_than_h11_on_purpose(data: bytes) -> None:
    assert accepts(H11Engine, data)
    assert not accepts(FastEngine, data)
    assert stricter_than_h11(data)


def accepts(engine_class: Callable[[], HTTP11Engine], data: bytes) -> bool:
    """Whether the engine takes `data` without an error (it may wait for more)."""
    engine = engine_class()
    send(engine, httpcore2.Request("GET", "http://a/"))
    engine.end_of_body()
    try:
        receive(engine, data)
    except httpcore2.RemoteProtocolError:
        return False
    return True
