"""A user's program, for `mypy --strict` only (tests/test_typing.py): the argument shapes the
docs show must type-check as a user writes them, assigned to variables first. Never run."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpcore2


def sync_client(ca: Path) -> list[Any]:
    # mypy infers these as list[tuple[Sequence[object], Sequence[object]]] and
    # dict[str, object]: the public parameter types must take them.
    headers = [("User-Agent", "httpcore2"), (b"Accept", b"application/json")]
    params = {"q": "a b", "tag": ["x", "y"], "n": 1, "flag": True, "empty": None}
    data = {"a": "1", "b": ["x", "y"], "n": 2.5}
    files = {"report": ("report.csv", b"a,b\n", "text/csv"), "notes": b"text"}
    cookies = {"session": "abc"}
    with httpcore2.SyncClient(
        base_url="http://127.0.0.1:8000",
        headers=headers,
        params=params,
        cookies=cookies,
        verify=ca,
        cert=str(ca),
        timeout=httpcore2.Timeout(10.0, connect=2.0),
        pool_limits=httpcore2.PoolLimits(max_connections=10),
        auth=("user", "password"),
        max_redirects=5,
        follow_redirects=False,
    ) as client:
        first = client.post("/anything", data=data, files=files, params=params, headers=headers)
        second = client.get("/anything", timeout=5.0, auth=httpcore2.BasicAuth("u", "p"))
        third = client.get("/anything", timeout={"read": 1.0}, extensions={"trace": None})
        fourth = client.put("/anything", json={"name": "widget", "tags": ["a", 1]})
        with client.stream("GET", "/stream/10") as response:
            chunks = list(response.iter_stream())
        return [first.json(), second.text, third.status, fourth.content, chunks, first.next]


def top_level(body: Iterator[bytes]) -> httpcore2.Response:
    headers = {"Accept": "application/json", "X-Raw": b"bytes too"}
    with open("README.md", "rb") as input_file:
        httpcore2.request("POST", "http://127.0.0.1:8000/echo", content=input_file)
    with httpcore2.stream("GET", httpcore2.URL("http://127.0.0.1:8000/")) as response:
        response.read()
    return httpcore2.request("PUT", "http://127.0.0.1:8000/", headers=headers, content=body)


async def async_client(context: ssl.SSLContext, body: AsyncIterator[bytes]) -> int:
    async with httpcore2.Client(ssl_context=context, http2=True) as client:
        response = await client.post("https://localhost:8443/anything", content=body)
        async with client.stream("GET", "https://localhost:8443/") as streamed:
            async for line in streamed.aiter_lines():
                print(line)
        if response.is_redirect:
            response = await response.anext()
        return response.status


async def pool(ca: Path) -> bytes:
    async with httpcore2.ConnectionPool(verify=ca, http2=True) as connections:
        response = await connections.request("GET", b"https://localhost:8443/")
        return response.content
