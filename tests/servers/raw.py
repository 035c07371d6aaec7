"""A raw-socket server that answers with canned bytes, for misbehaving-server tests.

`RawServer(handler)` listens on loopback and runs `handler(conn)` in a thread of its own for
each connection it accepts. The handler reads requests and writes whatever bytes the test needs;
`conn.received` keeps every byte read from the client and `server.connections` every accepted
connection, so a test can assert exactly what went over the wire and how many connections were
opened. When the handler returns, the connection is closed with a FIN.

```python
with RawServer(respond_with(build_response(body=b"hi"), keep_open=False)) as server:
    ...  # GET server.url + "/" and check the response
assert len(server.connections) == 1
assert server.connections[0].received.startswith(b"GET / HTTP/1.1\\r\\n")
```

Leaving the `with` block (or `stop()`) stops accepting, shuts down every connection still open
(so blocked handlers see EOF or a failed send) and joins all threads. An exception a handler
raised is re-raised there, except `OSError`s, which a client that hangs up causes on purpose:
those are kept in `conn.error`.
"""

from __future__ import annotations

import itertools
import select
import socket
import struct
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from http import HTTPStatus
from typing import Protocol

from .app import HELLO, pattern_bytes
from .lifecycle import Lifecycle

__all__ = [
    "CONTINUE",
    "OK",
    "Handler",
    "RawConnection",
    "RawServer",
    "RawServerFactory",
    "build_response",
    "close_after",
    "close_delimited",
    "endless_continue",
    "informational",
    "never_accepting_listener",
    "never_respond",
    "reset_mid_body",
    "respond_with",
    "short_body",
]

JOIN_TIMEOUT = 5.0
_READ_SIZE = 65536


def build_response(
    status: int = 200,
    body: bytes = HELLO,
    headers: Sequence[tuple[str, str]] = (),
    *,
    reason: str | None = None,
    content_length: int | bool = True,
) -> bytes:
    """The bytes of an HTTP/1.1 response.

    `content_length=True` adds `Content-Length: len(body)`, an int sends that (wrong) length
    instead, and `False` sends none.
    """
    if reason is None:
        reason = HTTPStatus(status).phrase
    lines = [f"HTTP/1.1 {status} {reason}", *(f"{name}: {value}" for name, value in headers)]
    if content_length is not False:
        length = len(body) if content_length is True else content_length
        lines.append(f"Content-Length: {length}")
    return "\r\n".join([*lines, "", ""]).encode("latin-1") + body


OK = build_response()
CONTINUE = build_response(100, b"", content_length=False)


class _EndOfStream(Exception):
    pass


class RawConnection:
    """One accepted connection, as its handler sees it.

    Reading: `recv_request()` (or `recv_head()` then `recv_body(head)`) and `recv()`. Writing:
    `send()`. Ending: `close()` (FIN), `reset()` (RST), `shutdown_write()` (half-close).
    """

    def __init__(self, sock: socket.socket, index: int, stopping: threading.Event) -> None:
        self.sock = sock
        self.index = index
        self.received = bytearray()
        self.error: OSError | None = None
        self._stopping = stopping
        self._buffer = bytearray()  # read from the socket, not yet returned to the handler
        self._lock = threading.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"<RawConnection #{self.index} received={len(self.received)} closed={self.closed}>"

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def stopping(self) -> bool:
        """True once the server is stopping."""
        return self._stopping.is_set()

    def pause(self, seconds: float) -> bool:
        """Sleep, but wake up when the server stops; True if the whole time passed."""
        return not self._stopping.wait(seconds)

    def recv(self) -> bytes:
        """The next bytes from the client (what `recv_*` read ahead first); b"" at EOF."""
        if self._buffer:
            return self._take(len(self._buffer))
        return self._read()

    def recv_head(self) -> bytes:
        """A request line and headers, up to and including the blank line.

        Returns what there was if the client closed first: b"" if nothing.
        """
        try:
            return self._read_until(b"\r\n\r\n")
        except _EndOfStream:
            return self._take(len(self._buffer))

    def recv_body(self, head: bytes) -> bytes:
        """The body `head` announces (`Content-Length` or chunked), raw as it was framed.

        Returns what there was if the client closed first.
        """
        parts: list[bytes] = []
        try:
            chunked, length = _framing(head)
            if chunked:
                self._read_chunked(parts)
            elif length:
                parts.append(self._read_exactly(length))
        except _EndOfStream:
            parts.append(self._take(len(self._buffer)))
        return b"".join(parts)

    def recv_request(self) -> bytes:
        """A whole request, head and body, as raw bytes; b"" if the client closed instead."""
        head = self.recv_head()
        return head + self.recv_body(head) if head else b""

    def wait_for_close(self) -> None:
        """Read (and record) until the client closes the connection or the server stops."""
        while self.recv():
            pass

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def shutdown_write(self) -> None:
        """Send a FIN but keep reading."""
        self.sock.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        """Close with a FIN. Bytes the client already sent are read (and recorded) first,
        because closing a socket with unread data makes the kernel send a RST instead."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self.sock.setblocking(False)
            try:
                while data := self.sock.recv(_READ_SIZE):
                    self.received += data
            except OSError:  # nothing more to read, or the client reset
                pass
            self.sock.close()

    def reset(self) -> None:
        """Close with a RST (`SO_LINGER` on, timeout 0)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.sock.close()

    def _abort(self) -> None:
        # Called from the server's thread to unblock a handler stuck in recv() or send().
        with self._lock:
            if not self._closed:
                try:
                    self.sock.shutdown(socket.SHUT_RDWR)
                except OSError:  # already disconnected
                    pass

    def _read(self) -> bytes:
        data = self.sock.recv(_READ_SIZE)
        self.received += data
        return data

    def _fill(self) -> None:
        data = self._read()
        if not data:
            raise _EndOfStream
        self._buffer += data

    def _take(self, size: int) -> bytes:
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def _read_until(self, marker: bytes) -> bytes:
        start = 0
        while (end := self._buffer.find(marker, start)) < 0:
            start = max(0, len(self._buffer) - len(marker) + 1)
            self._fill()
        return self._take(end + len(marker))

    def _read_exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            self._fill()
        return self._take(size)

    def _read_chunked(self, parts: list[bytes]) -> None:
        while True:
            line = self._read_until(b"\r\n")
            parts.append(line)
            size = int(line.split(b";", 1)[0], 16)
            if size == 0:
                break
            parts.append(self._read_exactly(size + 2))
        while (line := self._read_until(b"\r\n")) != b"\r\n":  # trailers
            parts.append(line)
        parts.append(line)


def _framing(head: bytes) -> tuple[bool, int]:
    """(chunked, content length) of a request head."""
    chunked, length = False, 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"transfer-encoding":
            chunked = value.strip().lower().endswith(b"chunked")
        elif name == b"content-length":
            length = int(value)
    return chunked, length


Handler = Callable[[RawConnection], None]


class RawServer(Lifecycle):
    """Accepts connections on `host` (default `127.0.0.1`, or `::1`) at a free port, each served
    by `handler` in its own thread. See the module docstring for an example.
    """

    def __init__(self, handler: Handler, *, host: str = "127.0.0.1") -> None:
        self.handler = handler
        self.host = host
        self.port = 0
        self.connections: list[RawConnection] = []
        self._stopping = threading.Event()
        # While running: the thread accepting connections, and a socket that wakes it up.
        self._accepting: tuple[threading.Thread, socket.socket] | None = None
        self._threads: list[threading.Thread] = []  # one per connection
        self._errors: list[BaseException] = []
        self._sockets = ExitStack()  # the listener and the pair that wakes the accept loop

    @property
    def url(self) -> str:
        """`http://{host}:{port}`, with the host in brackets when it is IPv6."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def __repr__(self) -> str:
        return f"<RawServer {self.url} connections={len(self.connections)}>"

    def start(self) -> None:
        """Listen on a free port and start accepting (once: a stopped server stays stopped)."""
        if self._accepting is not None or self._stopping.is_set():
            raise RuntimeError("a RawServer can be started once")
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        with ExitStack() as stack:
            listener = stack.enter_context(socket.socket(family, socket.SOCK_STREAM))
            listener.bind((self.host, 0))
            listener.listen(64)
            listener.setblocking(False)
            wake_reader, wake_writer = map(stack.enter_context, socket.socketpair())
            self._sockets = stack.pop_all()
        self.port = listener.getsockname()[1]
        name = f"raw server {self.url}"
        thread = self._spawn(self._accept_loop, listener, wake_reader, name=name)
        self._accepting = thread, wake_writer

    def stop(self) -> None:
        """Stop accepting, abort open connections, join every thread, re-raise handler errors."""
        accepting, self._accepting = self._accepting, None
        if accepting is None:
            return
        accept_thread, wake_writer = accepting
        self._stopping.set()
        try:
            wake_writer.send(b"\0")
            accept_thread.join()
            for conn in self.connections:
                conn._abort()
            for thread in self._threads:
                thread.join(JOIN_TIMEOUT)
                if thread.is_alive():
                    raise RuntimeError(f"{thread.name} did not finish within {JOIN_TIMEOUT} s")
        finally:
            self._sockets.close()
        if self._errors:
            raise self._errors[0]

    def _spawn(self, target: Callable[..., None], *args: object, name: str) -> threading.Thread:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        return thread

    def _accept_loop(self, listener: socket.socket, wake_reader: socket.socket) -> None:
        while True:
            readable, _, _ = select.select([listener, wake_reader], [], [])
            if wake_reader in readable:
                return
            try:
                sock, _ = listener.accept()
            except BlockingIOError:  # the client gave up before we got to it
                continue
            sock.setblocking(True)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = RawConnection(sock, len(self.connections), self._stopping)
            self.connections.append(conn)
            name = f"raw handler #{conn.index} {self.url}"
            self._threads.append(self._spawn(self._serve, conn, name=name))

    def _serve(self, conn: RawConnection) -> None:
        try:
            self.handler(conn)
        except OSError as exc:
            conn.error = exc
        except BaseException as exc:
            self._errors.append(exc)
        finally:
            conn.close()


class RawServerFactory(Protocol):
    """The `raw_server` fixture: starts a `RawServer` that is stopped at teardown."""

    def __call__(self, handler: Handler, *, host: str = ...) -> RawServer: ...


def respond_with(*responses: bytes, keep_open: bool = True, repeat: bool = False) -> Handler:
    """Answer the requests on each connection with `responses`, one each, in order.

    Then, with `keep_open`, hold the connection open (reading, never answering) until the client
    closes it; otherwise close it. With `repeat`, cycle through `responses` for as long as the
    client sends requests.
    """

    def handler(conn: RawConnection) -> None:
        for response in itertools.cycle(responses) if repeat else responses:
            if not conn.recv_request():
                return
            conn.send(response)
        if keep_open:
            conn.wait_for_close()

    return handler


def never_respond() -> Handler:
    """Read requests and never answer (for read timeouts)."""
    return respond_with()


def close_after(n: int, response: bytes = OK, *, on_next_request: bool = False) -> Handler:
    """Answer `n` requests on each connection as a keep-alive server, then close it (F01/F02).

    The close comes right after the n-th response (an idle keep-alive connection the server
    dropped), or with `on_next_request` once the next request has been read, unanswered (a
    server that closed just as the client reused the connection).
    """
    answer = respond_with(*[response] * n, keep_open=False)

    def handler(conn: RawConnection) -> None:
        answer(conn)
        if on_next_request:
            conn.recv_request()

    return handler


def reset_mid_body(content_length: int = 1000, sent: int = 100, delay: float = 0.0) -> Handler:
    """Announce `content_length` bytes, send `sent` of them, wait `delay` s, then RST (F03).

    The body is `pattern_bytes(content_length)`.
    """

    def handler(conn: RawConnection) -> None:
        if conn.recv_request():
            body = pattern_bytes(sent)
            conn.send(build_response(body=body, content_length=content_length))
            conn.pause(delay)
            conn.reset()

    return handler


def short_body(content_length: int = 100, body: bytes = HELLO) -> Handler:
    """Announce `content_length` bytes, send only `body`, then close with a FIN (F04)."""
    return respond_with(build_response(body=body, content_length=content_length), keep_open=False)


def close_delimited(body: bytes = HELLO) -> Handler:
    """A response with neither Content-Length nor chunking, ended by closing (F06)."""
    response = build_response(body=body, headers=[("Connection", "close")], content_length=False)
    return respond_with(response, keep_open=False)


def informational(*statuses: int, final: bytes = OK) -> Handler:
    """Send a 1xx response for each of `statuses` (default 100 and 103), then `final` (F08)."""
    interim = [
        build_response(status, b"", content_length=False) for status in statuses or (100, 103)
    ]
    return respond_with(b"".join(interim) + final)


def endless_continue() -> Handler:
    """Answer with `100 Continue` responses until the client hangs up (S25)."""
    burst = CONTINUE * 64

    def handler(conn: RawConnection) -> None:
        if conn.recv_request():
            while not conn.stopping:
                conn.send(burst)

    return handler


@contextmanager
def never_accepting_listener(
    host: str = "127.0.0.1", fill: int = 3, port: int = 0
) -> Iterator[tuple[str, int]]:
    """Yield the address of a listener that never accepts and whose backlog is full (F11).

    Linux drops a SYN to a listener whose accept queue is full, so a new connection attempt
    hangs until the client's connect timeout, without any non-routable address. The listener
    has `listen(0)`, and `fill` client sockets are connected to it first to fill the queue.
    It listens on `port`, or on a free one.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with ExitStack() as stack:
        listener = stack.enter_context(socket.socket(family, socket.SOCK_STREAM))
        listener.bind((host, port))
        listener.listen(0)
        address: tuple[str, int] = listener.getsockname()[:2]
        for _ in range(fill):
            client = stack.enter_context(socket.socket(family, socket.SOCK_STREAM))
            client.setblocking(False)
            client.connect_ex(address)
        yield address
