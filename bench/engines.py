"""Micro-benchmark of the HTTP/1.1 engines alone: no sockets, no event loop, no pool.

    python bench/engines.py [--repeat R] [--seconds S] [--engines fast,h11]

One cycle is what a connection asks of its engine for one GET: build the request head,
end the (empty) body, feed the recorded response in the pieces a socket would deliver
(64 KiB reads), take every event up to the end of the body, and ready the engine for the
next request. Each engine is timed on the same recorded responses, one engine object
reused across cycles as on a keep-alive connection. The table gives µs per cycle (the
median of R rounds) and each engine's time as a multiple of the fast engine's.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

from clients import use_working_tree

READ_SIZE = 64 * 1024


def recorded_responses() -> dict[str, bytes]:
    """Responses of several shapes, as servers send them."""
    small = (
        b"HTTP/1.1 200 OK\r\nServer: nginx/1.26.3\r\nDate: Sun, 06 Dec 2026 10:00:00 GMT\r\n"
        b"Content-Type: text/plain\r\nContent-Length: 13\r\nConnection: keep-alive\r\n\r\n"
        b"Hello, world!"
    )
    many = [
        b"HTTP/1.1 200 OK\r\n",
        b"Content-Type: text/html; charset=utf-8\r\n",
        b"Content-Length: 512\r\n",
        *(b"X-Header-%d: value number %d with some text\r\n" % (i, i) for i in range(20)),
        *(b"Set-Cookie: c%d=%s; Path=/; HttpOnly; Secure\r\n" % (i, b"v" * 40) for i in range(5)),
        b"Cache-Control: no-cache, no-store, must-revalidate\r\n",
        b"Strict-Transport-Security: max-age=63072000; includeSubDomains\r\n\r\n",
        b"x" * 512,
    ]
    chunked = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    chunked += b"Transfer-Encoding: chunked\r\n\r\n"
    chunked += b"".join(b"400\r\n" + b"c" * 1024 + b"\r\n" for _ in range(16))
    chunked += b"0\r\n\r\n"
    mib = b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
    mib += b"Content-Length: 1048576\r\n\r\n" + b"m" * 1048576
    return {
        "small (13 B body)": small,
        "many headers (30)": b"".join(many),
        "chunked (16 x 1 KiB)": chunked,
        "1 MiB body": mib,
    }


def cycle_function(engine_name: str, response: bytes) -> Callable[[int], None]:
    import httpcore2
    from httpcore2._fast_engine import new_engine
    from httpcore2._http11_engine import END_OF_BODY, request_parts

    request = httpcore2.Request("GET", "http://127.0.0.1:8000/")
    pieces = [response[i : i + READ_SIZE] for i in range(0, len(response), READ_SIZE)]
    engine = new_engine(engine_name)  # type: ignore[arg-type]

    def run(cycles: int) -> None:
        for _ in range(cycles):
            engine.request_head(*request_parts(request))
            engine.end_of_body()
            for piece in pieces:
                events = engine.receive_data(piece)
            if events[-1] is not END_OF_BODY or not engine.start_next_exchange():
                raise RuntimeError(f"{engine_name}: the response did not end cleanly")

    return run


def measure(run: Callable[[int], None], seconds: float) -> float:
    """CPU seconds per cycle, from enough cycles to last about `seconds` (CPU time: the
    time spent waiting for a core on a busy machine does not count)."""
    cycles = 1
    while True:
        start = time.process_time()
        run(cycles)
        elapsed = time.process_time() - start
        if elapsed >= seconds:
            return elapsed / cycles
        cycles = max(cycles * 2, int(cycles * seconds / max(elapsed, 1e-6)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--seconds", type=float, default=0.5, help="per measurement")
    parser.add_argument("--engines", default="fast,h11", help="comma-separated")
    args = parser.parse_args()
    use_working_tree()
    engines = args.engines.split(",")
    print(f"Python {sys.version.split()[0]}; median of {args.repeat} rounds, µs per cycle\n")
    print(
        "| response | "
        + " | ".join(f"{e} µs" for e in engines)
        + " | "
        + " | ".join(f"{e}/{engines[0]}" for e in engines[1:])
        + " |"
    )
    print("|---|" + "--:|" * (2 * len(engines) - 1))
    for shape, response in recorded_responses().items():
        runs = {engine: cycle_function(engine, response) for engine in engines}
        times: dict[str, list[float]] = {engine: [] for engine in engines}
        for _ in range(args.repeat):
            for engine in engines:  # interleaved, so a busy moment hits every engine
                times[engine].append(measure(runs[engine], args.seconds))
        medians = {engine: statistics.median(values) * 1e6 for engine, values in times.items()}
        ratios = [
            statistics.median(a / b for a, b in zip(times[e], times[engines[0]], strict=True))
            for e in engines[1:]
        ]
        print(
            f"| {shape} | "
            + " | ".join(f"{medians[e]:.1f}" for e in engines)
            + " | "
            + " | ".join(f"{r:.2f}x" for r in ratios)
            + " |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
