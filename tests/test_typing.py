"""mypy --strict on what users write: the README's examples and tests/typecheck/usage.py.

A public parameter whose annotation rejects a shape the docs show (a list mixing str and
bytes header pairs, a Path for verify=) fails here (issue 15, point 10).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_readme_examples_and_a_typed_program_pass_mypy_strict(tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)
    assert len(blocks) >= 4
    programs = []
    for index, block in enumerate(blocks):
        program = tmp_path / f"readme_{index}.py"
        program.write_text(block)
        programs.append(str(program))
    programs.append(str(ROOT / "tests" / "typecheck" / "usage.py"))
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", *programs],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
