"""Every ```python block of README.md and docs/*.md runs here, against the loopback servers.

The blocks of one page run in order in one namespace, as a reader would type them, from a
temporary directory. Their URLs are those of `scripts/demo --serve` (`http://127.0.0.1:8000`,
`https://localhost:8443`, the CA in `.venv-demo/tls/`), rewritten to this run's servers.

- A block of `>>>` lines is a doctest: its outputs are compared as doctest does.
- Otherwise a `print(...)` line ending with a comment shows its output: `print(x)  # 200`.
  Every line that call prints must match the comment, where `...` stands for any text.
- A block with a top-level `await` runs on asyncio; `asyncio.run()` / `trio.run()` in a block
  run as written.
- `<!-- no-run: reason -->` on the line before a block skips it; few may be skipped.
"""

from __future__ import annotations

import ast
import asyncio
import doctest
import gc
import inspect
import io
import re
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.servers.asgi_server import Server
from tests.servers.certs import TLSFiles, cert_authority

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MAX_SKIPPED = 3

_FENCE = re.compile(r"^(`{3,})python\s*$")
_NO_RUN = re.compile(r"^<!--\s*no-run:\s*(\S.*?)\s*-->$")
_SHOWN_OUTPUT = re.compile(r"^\s*print\(.*\)\s+#\s?(.*)$")
_PRINT = re.compile(r"^\s*print\(.*\)\s*$")
_COMMENT = re.compile(r"^\s*#\s?(.*)$")


@dataclass
class Block:
    page: Path
    line: int  # of the first line of code, 1-based
    source: str
    skip_reason: str | None

    @property
    def name(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    """The ```python blocks of a page, with the reason given to skip each, if any."""
    found = []
    lines = page.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        fence = _FENCE.match(lines[index])
        if fence is None:
            index += 1
            continue
        previous = next((line for line in reversed(lines[:index]) if line.strip()), "")
        no_run = _NO_RUN.match(previous.strip())
        end = lines.index(fence.group(1), index + 1)
        source = "\n".join(lines[index + 1 : end]) + "\n"
        found.append(Block(page, index + 2, source, no_run.group(1) if no_run else None))
        index = end + 1
    return found


def test_few_blocks_are_skipped() -> None:
    every = [block for page in PAGES for block in blocks(page)]
    skipped = [block for block in every if block.skip_reason]
    assert len(every) > 50
    assert len(skipped) <= MAX_SKIPPED, [f"{b.name}: {b.skip_reason}" for b in skipped]


@pytest.fixture(scope="module")
def demo_files(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    """What `scripts/demo --serve` writes to `.venv-demo/tls/`: the CA and a client certificate."""
    from tests.servers.certs import write_tls_files

    directory = tmp_path_factory.mktemp("demo-tls")
    files = write_tls_files(directory)
    client = cert_authority().issue_cert("client.example")
    client.private_key_and_cert_chain_pem.write_to_path(str(directory / "client.pem"))
    return files


@pytest.fixture(scope="module")
def rewrite(server: Server, demo_files: TLSFiles) -> Iterator[dict[str, str]]:
    with Server(tls=demo_files) as secure:
        yield {
            "127.0.0.1:8000": f"127.0.0.1:{server.port}",
            "localhost:8443": f"localhost:{secure.port}",
            "127.0.0.1:8443": f"127.0.0.1:{secure.port}",
            "('127.0.0.1', 8443)": f"('127.0.0.1', {secure.port})",
            ".venv-demo/tls/": f"{demo_files.ca_file.parent}/",
        }


class _Printed:
    """`print` for the examples: writes as print does and records which line printed what."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.outputs: list[tuple[int, str]] = []  # (line number, text), in order

    def __call__(self, *args: Any, sep: str | None = " ", end: str | None = "\n", **_: Any) -> None:
        text = (" " if sep is None else sep).join(str(arg) for arg in args)
        frame = inspect.currentframe()
        while frame is not None and frame.f_code.co_filename != self.filename:
            frame = frame.f_back
        if frame is not None:  # else a function from an earlier block printed
            self.outputs.append((frame.f_lineno, text))
        sys.stdout.write(text + ("\n" if end is None else end))


def _matches(expected: str, actual: str) -> bool:
    pattern = ".*".join(re.escape(part) for part in expected.split("..."))
    return re.fullmatch(pattern, actual, re.DOTALL) is not None


def _run_doctest(block: Block, source: str, namespace: dict[str, Any]) -> None:
    parser = doctest.DocTestParser()
    test = parser.get_doctest(source, namespace, block.name, str(block.page), block.line - 1)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    output = io.StringIO()
    runner.run(test, out=output.write, clear_globs=False)
    namespace.update(test.globs)  # the test ran in a copy
    assert runner.failures == 0, output.getvalue()


def _run_code(block: Block, source: str, namespace: dict[str, Any]) -> None:
    filename = f"<{block.name}>"
    # Line numbers of the block count from the page's, so that tracebacks point into it.
    padded = "\n" * (block.line - 1) + source
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    code = compile(padded, filename, "exec", flags=flags)
    printed = _Printed(filename)
    namespace["print"] = printed
    if code.co_flags & inspect.CO_COROUTINE:
        asyncio.run(eval(code, namespace))
    else:
        exec(code, namespace)
    for lines, expected, each in _shown_outputs(block.line, source):
        where = f"{block.page.name}:{lines[0]}"
        outputs = [text for lineno, text in printed.outputs if lineno in lines]
        assert outputs, f"{where} printed nothing; the page shows {expected!r}"
        for output in outputs if each else ["\n".join(outputs)]:
            assert _matches(expected, output), (
                f"{where} printed {output!r}; the page shows {expected!r}"
            )


def _shown_outputs(first_line: int, source: str) -> Iterator[tuple[list[int], str, bool]]:
    """`(line numbers, expected output, each)` of the `print()` calls that show their output.

    - After the call on its line (`print(x)  # 42`): each output of that line must match
      (`each` is true).
    - On the comment lines right below one or more `print()` lines (`print(x)`, `print(y)`,
      then `# 42`, `# 43`): what those lines printed, in order, one line each.
    - On comment lines that end the block: what every other `print()` of the block printed.
    """
    lines = source.splitlines()
    claimed: set[int] = set()
    group: list[int] = []
    for offset, line in enumerate(lines):
        lineno = first_line + offset
        same_line = _SHOWN_OUTPUT.match(line)
        if same_line is not None:
            claimed.add(lineno)
            yield [lineno], same_line.group(1), True
        elif _PRINT.match(line):
            group.append(lineno)
            continue
        elif _COMMENT.match(line) and not (offset and _COMMENT.match(lines[offset - 1])):
            below = []
            for comment in map(_COMMENT.match, lines[offset:]):
                if comment is None:
                    break
                below.append(comment.group(1))
            if offset + len(below) == len(lines):  # the end of the block
                group = [
                    first_line + index
                    for index, code in enumerate(lines)
                    if "print(" in code and first_line + index not in claimed
                ]
            if group:
                claimed.update(group)
                yield group, "\n".join(below), False
        group = []


RUNNABLE = [page for page in PAGES if any(not block.skip_reason for block in blocks(page))]


@pytest.mark.parametrize("page", RUNNABLE, ids=[str(page.relative_to(ROOT)) for page in RUNNABLE])
def test_examples_run(
    page: Path,
    rewrite: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    page_blocks = [block for block in blocks(page) if block.skip_reason is None]
    # Examples read README.md and write files of their own.
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"__name__": "__main__"}
    for block in page_blocks:
        source = block.source
        for old, new in rewrite.items():
            source = source.replace(old, new)
        if source.lstrip().startswith(">>>"):
            _run_doctest(block, source, namespace)
        else:
            _run_code(block, source, namespace)
    # Connections an example left open warn when collected: make that happen in its own test.
    namespace.clear()
    gc.collect()
