"""Picks the network backend for the running event loop on first use."""

from __future__ import annotations

import asyncio

from .._async.network import NetworkBackend, NetworkStream

__all__ = ["AutoBackend"]


class AutoBackend(NetworkBackend):
    """asyncio gets the native asyncio backend; anything else, the native trio backend.

    The choice is made when the first connection opens, so a pool can be created
    outside of any event loop, and trio is only imported when it runs.
    """

    def __init__(self) -> None:
        self._backend: NetworkBackend | None = None

    def _select(self) -> NetworkBackend:
        if self._backend is None:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                from .trio import TrioBackend

                self._backend = TrioBackend()
            else:
                from .asyncio import AsyncioBackend

                self._backend = AsyncioBackend()
        return self._backend

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
    ) -> NetworkStream:
        return await self._select().connect_tcp(host, port, timeout, local_address)

    async def connect_unix_socket(self, path: str, timeout: float | None = None) -> NetworkStream:
        return await self._select().connect_unix_socket(path, timeout)

    async def sleep(self, seconds: float) -> None:
        await self._select().sleep(seconds)
