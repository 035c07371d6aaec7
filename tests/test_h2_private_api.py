"""The private APIs of h2 that httpcore2 relies on, pinned down.

h2 offers no public way to keep the streams a GOAWAY let through running: on GOAWAY it closes
its whole state machine and drops the frames it had queued. `_H2Connection` (in http2.py)
overrides h2's private `_receive_goaway_frame` instead. Nor does it offer a way to set its
bound on CONTINUATION frames: `_FrameBuffer` overrides the private `_update_header_buffer` of
its frame buffer and reads its `_headers_buffer`. pyproject.toml bounds h2 below its next major
version. These tests fail loudly if an h2 release stops calling those methods or changes what
the overrides rely on.
"""

from __future__ import annotations

from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.frame_buffer
import pytest
from h2.errors import ErrorCodes
from hyperframe.frame import ContinuationFrame, GoAwayFrame, HeadersFrame

from httpcore2._async.http2 import _CONFIG, _FrameBuffer, _H2Connection


def connected(
    client_class: type[_H2Connection] = _H2Connection,
) -> tuple[_H2Connection, h2.connection.H2Connection]:
    """A client and a server, in memory, past the preface, the client with streams 1 and 3."""
    client = client_class(config=_CONFIG)
    server = h2.connection.H2Connection(
        config=h2.config.H2Configuration(client_side=False, header_encoding=None)
    )
    client.initiate_connection()
    server.initiate_connection()
    for stream_id in (1, 3):
        client.send_headers(
            stream_id,
            [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"a"), (b":path", b"/")],
            end_stream=True,
        )
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    server.receive_data(client.data_to_send())
    return client, server


def test_h2_dispatches_goaway_to_the_private_method_we_override() -> None:
    assert hasattr(h2.connection.H2Connection, "_receive_goaway_frame")
    calls: list[Any] = []

    class Probe(_H2Connection):
        def _receive_goaway_frame(self, frame: Any) -> tuple[list[Any], list[h2.events.Event]]:
            calls.append(frame)
            return super()._receive_goaway_frame(frame)

    client, _ = connected(Probe)
    frame = GoAwayFrame(0, last_stream_id=1, error_code=ErrorCodes.NO_ERROR)
    (event,) = client.receive_data(frame.serialize())
    assert calls != []
    assert isinstance(event, h2.events.ConnectionTerminated)
    assert event.last_stream_id == 1
    assert event.error_code == ErrorCodes.NO_ERROR


def test_after_goaway_the_streams_it_let_through_still_receive_and_send() -> None:
    client, server = connected()
    client.reset_stream(3, ErrorCodes.CANCEL)  # queued before the GOAWAY arrives
    server.send_headers(1, [(b":status", b"200")])
    for _ in range(4):
        server.send_data(1, b"x" * 10_000)
    server.end_stream(1)
    goaway = GoAwayFrame(0, last_stream_id=1, error_code=ErrorCodes.NO_ERROR).serialize()
    events = client.receive_data(goaway + server.data_to_send())
    assert [type(event) for event in events] == [
        h2.events.ConnectionTerminated,
        h2.events.ResponseReceived,
        *[h2.events.DataReceived] * 5,  # the last one empty, with END_STREAM
        h2.events.StreamEnded,
    ]
    # The reset queued before the GOAWAY is kept, and the data can still be acknowledged.
    client.acknowledge_received_data(40_000, 1)
    received = server.receive_data(client.data_to_send())
    assert [(type(event), event.stream_id) for event in received] == [
        (h2.events.StreamReset, 3),
        (h2.events.WindowUpdated, 0),
    ]


def header_block(server: h2.connection.H2Connection, frames: int) -> bytes:
    """A response head for stream 1, in a HEADERS frame and `frames` CONTINUATION frames."""
    block = server.encoder.encode([(b":status", b"200")])
    parts = [HeadersFrame(1, data=block, flags=["END_STREAM"])]
    parts += [ContinuationFrame(1) for _ in range(frames - 1)]
    parts.append(ContinuationFrame(1, flags=["END_HEADERS"]))
    return b"".join(frame.serialize() for frame in parts)


def test_h2_has_its_own_bound_on_continuation_frames_which_ours_replaces() -> None:
    limit = h2.frame_buffer.CONTINUATION_BACKLOG
    client, server = connected()
    with pytest.raises(h2.exceptions.ProtocolError, match="continuation"):
        client.receive_data(header_block(server, limit))
    client, server = connected()
    client.incoming_buffer = _FrameBuffer(max_continuation_frames=3 * limit)
    events = client.receive_data(header_block(server, 3 * limit))
    assert [type(event) for event in events] == [h2.events.ResponseReceived, h2.events.StreamEnded]
    assert events[0].headers == [(b":status", b"200")]
