"""Run the fuzz targets for a while with random examples, and report what they found.

    scripts/fuzz --minutes 30              # every target, rounds of random examples
    scripts/fuzz --minutes 5 -k engine     # only the targets whose name matches (pytest -k)

The targets are the property tests in `FUZZ_FILES`; in the test suite they run a few
derandomized examples, here each round runs them with `--examples` random ones and a new
seed, until the time is up. A finding is printed with the seed that reproduces it
(`pytest --hypothesis-seed=SEED ...` with `HTTPCORE2_FUZZ_EXAMPLES` set to the same value),
and the round's full output is kept in the log directory. Exit status 1 if anything was found.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FUZZ_FILES = ["tests/test_fuzz_models.py", "tests/test_fuzz_http11.py"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, required=True, help="how long to run")
    parser.add_argument("--examples", type=int, default=2000, help="examples per target a round")
    parser.add_argument("-k", dest="keyword", help="only the targets matching (as pytest -k)")
    parser.add_argument("--logs", type=Path, help="where round logs go (default: a temp dir)")
    options = parser.parse_args()

    logs = options.logs or Path(tempfile.mkdtemp(prefix="httpcore2-fuzz-"))
    logs.mkdir(parents=True, exist_ok=True)
    python = ROOT / ".venv" / "bin" / "python"
    environment = {**os.environ, "HTTPCORE2_FUZZ_EXAMPLES": str(options.examples)}
    deadline = time.monotonic() + options.minutes * 60
    findings: list[str] = []
    rounds = 0
    while time.monotonic() < deadline:
        rounds += 1
        seed = random.getrandbits(32)
        command = [
            str(python if python.exists() else sys.executable),
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-rf",
            f"--hypothesis-seed={seed}",
            *(["-k", options.keyword] if options.keyword else []),
            *FUZZ_FILES,
        ]
        log = logs / f"round-{rounds}-seed-{seed}.log"
        print(f"round {rounds}: seed {seed} ...", end=" ", flush=True)
        started = time.monotonic()
        try:
            result = subprocess.run(
                command,
                cwd=ROOT,
                env=environment,
                capture_output=True,
                text=True,
                # A round cut short by the deadline is not a finding.
                timeout=max(deadline - time.monotonic(), 1) + 60,
            )
        except subprocess.TimeoutExpired as exc:
            output = exc.stdout or b""  # bytes here, even with text=True
            log.write_text(output.decode(errors="replace") if isinstance(output, bytes) else output)
            print("cut short by the deadline")
            break
        log.write_text(result.stdout + result.stderr)
        failed = [line for line in result.stdout.splitlines() if line.startswith("FAILED")]
        summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else "?"
        print(f"{summary} ({time.monotonic() - started:.0f} s)")
        if result.returncode not in (0, 1) and not failed:
            failed = [f"pytest exited with {result.returncode}"]
        findings += [f"{line} [seed {seed}, log {log}]" for line in failed]

    print(f"\n{rounds} round(s) of {options.examples} examples per target; logs in {logs}")
    if findings:
        print(f"{len(findings)} finding(s):")
        for finding in findings:
            print("  " + finding)
        return 1
    print("no findings")
    return 0


if __name__ == "__main__":
    sys.exit(main())
