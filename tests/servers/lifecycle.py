"""The start/stop lifecycle every loopback test server shares."""

from __future__ import annotations

from typing import TypeVar

__all__ = ["Lifecycle"]

_Server = TypeVar("_Server", bound="Lifecycle")


class Lifecycle:
    """`with server:` starts the server and stops it however the block ends."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self: _Server) -> _Server:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
