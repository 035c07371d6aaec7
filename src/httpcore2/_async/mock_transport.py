"""MockTransport: a transport that answers from a function, for tests."""

from __future__ import annotations

from typing import Any

from .._exceptions import HTTPError
from .._models import Request, Response
from .._router import MockHandler

__all__ = ["MockTransport"]


class MockTransport:
    """A transport that calls `handler(request)` for each request and returns its response.

    ```python
    def handler(request: Request) -> Response:
        return Response(200, content=b"Hello, world!")

    async with Client(transport=MockTransport(handler)) as client:
        response = await client.get("https://example.org/")
    ```

    On the async side the handler may be a plain or an `async` function; on the sync side
    (`SyncMockTransport`) a plain one. It sees the request with its body read
    (`request.content`), as a server would; a body that cannot be sent twice (an iterator)
    raises `StreamConsumed` the second time, as it would on the wire. The response it
    returns may stream its body (`content=` an iterator), and is read, streamed and closed
    like a server's. An exception it raises reaches the caller (with `request` set, for
    httpcore2's own), so `raise ConnectError("...")` plays a network failure. `Router` is
    a ready-made handler.
    """

    def __init__(self, handler: MockHandler) -> None:
        self.handler = handler

    async def handle_request(self, request: Request) -> Response:
        """Read the request body, then answer with the handler's response."""
        try:
            # Read from the stream each time, as the wire would: a body that cannot be
            # replayed fails when it is sent twice. The handler finds it in `request.content`.
            stream = request.stream
            chunks = [chunk async for chunk in stream]  # unasync: sync=chunks = list(stream)
            if request._content is None:
                request._content = b"".join(chunks)
            response = self.handler(request)
            if not isinstance(response, Response):  # unasync: remove
                response = await response  # unasync: remove
        except HTTPError as exc:
            exc.request = request
            raise
        response.request = request
        return response

    async def aclose(self) -> None:
        """Nothing to release."""

    async def __aenter__(self) -> Any:
        return self

    async def __aexit__(self, *args: object) -> None:
        await self.aclose()
