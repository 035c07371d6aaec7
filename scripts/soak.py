"""The soak run at full size: many requests through the full client on every flavour, with
random cancellations and read timeouts, then a report of what leaked (see tests/soak.py).

    scripts/soak                                   # 20,000 requests at 500 tasks per run
    scripts/soak --requests 2000 --concurrency 100 --only trio

Runs: asyncio and trio tasks over HTTP/1.1 and HTTP/2 (h2c), and sync threads over both.
Exit status 1 if any run leaked a file descriptor, left a slot in use or met an error other
than the expected ReadTimeout.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import soak


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000, help="requests per run")
    parser.add_argument("--concurrency", type=int, default=500, help="tasks per async run")
    parser.add_argument("--threads", type=int, default=100, help="threads per sync run")
    parser.add_argument("--cancel", type=float, default=0.1, help="share cancelled")
    parser.add_argument("--stall", type=float, default=0.1, help="share hitting a read timeout")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", choices=["asyncio", "trio", "sync"], help="one flavour only")
    options = parser.parse_args()

    shares = {"seed": options.seed, "cancel_share": options.cancel, "stall_share": options.stall}
    reports: list[soak.Report] = []
    with soak.serve() as (url, port):
        print(f"server: {url} (a subprocess)\n", flush=True)
        for flavour in ("asyncio", "trio", "sync"):
            if options.only not in (None, flavour):
                continue
            for http2 in (False, True):
                if flavour == "sync":
                    report = soak.run_sync(
                        url, port, http2=http2, requests=options.requests,
                        threads=options.threads, **shares,
                    )  # fmt: skip
                else:

                    async def run(http2: bool = http2) -> soak.Report:
                        return await soak.run_async(
                            url, port, http2=http2, requests=options.requests,
                            concurrency=options.concurrency, **shares,
                        )  # fmt: skip

                    report = anyio.run(run, backend=flavour)
                print(report, "\n", flush=True)
                reports.append(report)
    failed = [report.name for report in reports if not report.clean]
    print(f"{len(reports)} runs, {sum(r.requests for r in reports)} requests; ", end="")
    print(f"not clean: {', '.join(failed)}" if failed else "all clean")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
