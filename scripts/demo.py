"""The quickstart, run for real against the test suite's loopback servers.

    python scripts/demo.py          # start http and https servers on free ports, run the examples
    python scripts/demo.py --serve  # serve http://127.0.0.1:8000 and https://localhost:8443 until
                                    # Ctrl-C, for trying the examples in the docs by hand

`scripts/demo` makes the virtualenv, installs httpcore2 into it and runs this file. The servers
come from `tests/servers/` (hypercorn, a trustme certificate); the client is the installed
httpcore2, never `src/`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpcore2

ROOT = Path(__file__).resolve().parent.parent
SERVE_DIR = ROOT / ".venv-demo" / "tls"
SERVE_HTTP_PORT = 8000
SERVE_HTTPS_PORT = 8443


def section(title: str) -> None:
    print(f"\n== {title}")


def show(label: str, value: object) -> None:
    print(f"   {label:<20} {value}")


def echoed(response: httpcore2.Response) -> dict[str, Any]:
    """The request as the server's /echo endpoint saw it."""
    data: dict[str, Any] = json.loads(response.content)
    return data


def quickstart(base: str, workdir: Path) -> None:
    """The quickstart's examples, over plain http: `request()` trusts certifi only."""
    section(f'httpcore2.request("GET", "{base}/")')
    response = httpcore2.request("GET", f"{base}/")
    show("response", response)
    show("response.status", response.status)
    show("response.headers", response.headers)
    show("response.content", response.content)

    section("Request headers as a dict: what the server received (/echo)")
    headers = {"User-Agent": "httpcore2"}
    response = httpcore2.request("GET", f"{base}/echo", headers=headers)
    show("headers", json.dumps(echoed(response)["headers"]))

    section("Request headers as a list of pairs, str or bytes, names may repeat")
    pairs: list[tuple[str | bytes, str | bytes]] = [
        ("User-Agent", "httpcore2"),
        (b"X-Tag", b"a"),
        ("X-Tag", "b"),
    ]
    response = httpcore2.request("GET", f"{base}/echo", headers=pairs)
    show("headers", json.dumps(echoed(response)["headers"]))

    section("Request body as bytes: sent with Content-Length")
    response = httpcore2.request("POST", f"{base}/echo", content=b"Hello, world")
    data = echoed(response)
    show("headers", json.dumps(data["headers"]))
    show("body", repr(data["body"]))

    section("Request body as a file: sent chunked, read in 64 KiB blocks")
    path = workdir / "hello-world.txt"
    path.write_bytes(b"Hello, world")
    with path.open("rb") as input_file:
        response = httpcore2.request("POST", f"{base}/echo", content=input_file)
    data = echoed(response)
    show("headers", json.dumps(data["headers"]))
    show("body", repr(data["body"]))

    section("Request body as an iterator of bytes: sent chunked")
    chunks = (part.encode() for part in ["Hello, ", "world"])
    response = httpcore2.request("POST", f"{base}/echo", content=chunks)
    data = echoed(response)
    show("headers", json.dumps(data["headers"]))
    show("body", repr(data["body"]))

    section("Streaming a download with httpcore2.stream()")
    download = workdir / "download.bin"
    sizes = []
    with httpcore2.stream("GET", f"{base}/stream/300000?chunked=0") as response:
        with download.open("wb") as output_file:
            for chunk in response.iter_stream():
                sizes.append(len(chunk))
                output_file.write(chunk)
    show("chunk sizes", " ".join(str(size) for size in sizes))
    show("written", f"{download.stat().st_size} bytes to {download.name}")

    section("Reading a streamed body only if it is small enough")
    with httpcore2.stream("GET", f"{base}/stream/2048?chunked=0") as response:
        content_length = int(response.headers["Content-Length"])
        show("Content-Length", content_length)
        if content_length > 100_000_000:
            raise RuntimeError("Response too large.")
        response.read()
        show("len(content)", len(response.content))

    section("A read timeout: GET /delay/1 with extensions={'timeout': {'read': 0.2}}")
    try:
        httpcore2.request("GET", f"{base}/delay/1", extensions={"timeout": {"read": 0.2}})
    except httpcore2.ReadTimeout as exc:
        show("raised", f"{type(exc).__name__}: {exc}")


def https(base: str, ca_file: Path) -> None:
    """https: the test CA is not in certifi's bundle, so trust it explicitly."""
    section(f'httpcore2.request("GET", "{base}/"): certifi does not know the test CA')
    try:
        httpcore2.request("GET", f"{base}/")
    except httpcore2.ConnectError as exc:
        show("raised", f"{type(exc).__name__}: {exc}")

    section("A SyncConnectionPool with verify=<the test CA>: one connection, kept alive")
    with httpcore2.SyncConnectionPool(verify=str(ca_file)) as pool:
        for _ in range(3):
            response = pool.request("GET", f"{base}/echo")
            data = echoed(response)
            show(str(response), f"scheme={data['scheme']} client port={data['client'][1]}")
        tls = response.extensions["network_stream"].get_extra_info("ssl_object")
        show("TLS version", tls.version())
        show("pool", pool)


async def concurrent(base: str) -> None:
    """The async pool on asyncio: 20 requests at once, at most 4 connections."""
    section("ConnectionPool on asyncio: 20 concurrent requests, max_connections=4")
    limits = httpcore2.PoolLimits(max_connections=4)
    async with httpcore2.ConnectionPool(pool_limits=limits) as pool:

        async def fetch() -> tuple[int, int]:
            response = await pool.request("GET", f"{base}/echo")
            return response.status, echoed(response)["client"][1]

        results = await asyncio.gather(*(fetch() for _ in range(20)))
        show("statuses", sorted({status for status, _ in results}))
        show("connections used", len({port for _, port in results}))
        show("pool", pool)


def clients(base: str) -> None:
    """The proposal's examples: Client (async) and SyncClient, with redirects and cookies."""
    section("SyncClient: base_url, JSON, a redirect followed, a cookie kept")
    with httpcore2.SyncClient(base_url=base) as client:
        response = client.get("/")
        show("status_code, text", (response.status_code, response.text))
        response = client.post("/anything", json={"name": "widget"})
        show("json() of the echo", response.json()["json"])
        response = client.get("/cookies/set", params={"session": "abc"})
        show("history", response.history)
        show("client.cookies", dict(client.cookies))

    section("Client on asyncio: the same API, awaited")

    async def main() -> None:
        async with httpcore2.Client(base_url=base) as client:
            response = await client.get("/gzip")
            show("Content-Encoding", response.headers["content-encoding"])
            show("decoded json()", response.json())

    asyncio.run(main())


def demo() -> None:
    from tests.servers.asgi_server import Server
    from tests.servers.certs import write_tls_files

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="httpcore2-demo-") as tmp:
        workdir = Path(tmp)
        tls = write_tls_files(workdir)
        with Server() as plain, Server(tls=tls) as secure:
            # The certificate names localhost, 127.0.0.1 and ::1; the name reads better.
            secure_base = f"https://localhost:{secure.port}"
            print(f"httpcore2 {httpcore2.__version__} from {Path(httpcore2.__file__).parent}")
            print(f"servers: {plain.url} and {secure_base} (test CA {tls.ca_file.name})")
            quickstart(plain.url, workdir)
            https(secure_base, tls.ca_file)
            asyncio.run(concurrent(plain.url))
            clients(plain.url)
    print(f"\nDone in {time.perf_counter() - started:.1f} s.")


def serve() -> None:
    import hypercorn.asyncio
    from hypercorn.config import Config

    from tests.servers.app import app
    from tests.servers.certs import cert_authority, write_tls_files

    SERVE_DIR.mkdir(parents=True, exist_ok=True)
    tls = write_tls_files(SERVE_DIR)
    # A client certificate for the example in docs/tls.md (the server does not ask for one).
    client = cert_authority().issue_cert("client.example")
    client.private_key_and_cert_chain_pem.write_to_path(str(SERVE_DIR / "client.pem"))
    config = Config()
    config.insecure_bind = [f"127.0.0.1:{SERVE_HTTP_PORT}"]
    config.bind = [f"127.0.0.1:{SERVE_HTTPS_PORT}"]
    config.certfile = str(tls.cert_file)
    config.keyfile = str(tls.key_file)
    config.accesslog = "-"
    print(f"Serving http://127.0.0.1:{SERVE_HTTP_PORT} and https://localhost:{SERVE_HTTPS_PORT}")
    print(f"CA certificate: {tls.ca_file.relative_to(ROOT)} (pass it as verify=). Ctrl-C stops.")
    try:
        asyncio.run(hypercorn.asyncio.serve(app, config, mode="asgi"))  # type: ignore[arg-type]
    except KeyboardInterrupt:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--serve",
        action="store_true",
        help=f"serve the test app on ports {SERVE_HTTP_PORT} and {SERVE_HTTPS_PORT} until Ctrl-C",
    )
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))  # for tests.servers; httpcore2 itself is the installed one
    if args.serve:
        serve()
    else:
        demo()


if __name__ == "__main__":
    main()
