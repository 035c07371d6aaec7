"""Network backends: how bytes reach a socket, for asyncio, trio (anyio) and threads."""
