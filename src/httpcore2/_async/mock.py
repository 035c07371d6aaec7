"""A scripted network backend for unit tests of the connection state machines."""

from __future__ import annotations

import ssl
from typing import Any

from .._exceptions import ReadError, WriteError
from .network import NetworkBackend, NetworkStream

__all__ = ["MockBackend", "MockStream"]


class MockStream(NetworkStream):
    """Replays scripted reads and records every write.

    ```python
    stream = MockStream([b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\n", b"hi"])
    ```
    """

    def __init__(self, reads: list[bytes], *, alpn_protocol: str | None = None) -> None:
        self._reads = list(reads)
        self._alpn_protocol = alpn_protocol
        self.written: list[bytes] = []
        self.closed = False
        self.tls_hostname: str | None = None

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if self.closed:
            raise ReadError("The mock stream is closed")
        if not self._reads:
            return b""
        data = self._reads.pop(0)
        if len(data) > max_bytes:
            self._reads.insert(0, data[max_bytes:])
            data = data[:max_bytes]
        return data

    async def write(self, data: bytes, timeout: float | None = None) -> None:
        if self.closed:
            raise WriteError("The mock stream is closed")
        self.written.append(data)

    async def aclose(self) -> None:
        self.closed = True

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None,
        timeout: float | None,
        session: ssl.SSLSession | None = None,
    ) -> NetworkStream:
        self.tls_hostname = server_hostname
        return self

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object" and self.tls_hostname is not None:
            return _MockSSLObject(self._alpn_protocol)
        return None

    def is_readable(self) -> bool:
        return self.closed


class _MockSSLObject:
    session = None  # nothing to resume
    session_reused = False

    def __init__(self, alpn_protocol: str | None) -> None:
        self._alpn_protocol = alpn_protocol

    def selected_alpn_protocol(self) -> str | None:
        return self._alpn_protocol

    def version(self) -> str:
        return "TLSv1.3"


class MockBackend(NetworkBackend):
    """Hands out one `MockStream` per connection, each replaying the same scripted reads.

    ```python
    backend = MockBackend([b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nhi"])
    async with ConnectionPool(network_backend=backend) as pool:
        response = await pool.request("GET", "https://example.com/")
    ```
    """

    def __init__(self, reads: list[bytes], *, alpn_protocol: str | None = None) -> None:
        self._reads = reads
        self._alpn_protocol = alpn_protocol
        self.streams: list[MockStream] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
    ) -> NetworkStream:
        return self._new_stream()

    async def connect_unix_socket(self, path: str, timeout: float | None = None) -> NetworkStream:
        return self._new_stream()

    def _new_stream(self) -> MockStream:
        stream = MockStream(self._reads, alpn_protocol=self._alpn_protocol)
        self.streams.append(stream)
        return stream

    async def sleep(self, seconds: float) -> None:
        pass
