"""Every id of the reliability checklist is held by at least one test (see tests/cases.py)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.cases import CASES

ROOT = Path(__file__).resolve().parent.parent


def test_every_case_id_has_a_test() -> None:
    command = [sys.executable, "-m", "pytest", "--collect-only", "-qq", "-p", "no:cacheprovider"]
    result = subprocess.run(
        [*command, "--cases", "tests"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert f"every one of the {len(CASES)} cases has a test" in result.stdout
    listed = re.findall(r"^([SF]\d\d) ", result.stdout, re.MULTILINE)
    assert listed == list(CASES)
