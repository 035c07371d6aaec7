"""Generate the sync twins of the async code, or check that they are up to date.

    python scripts/unasync.py          # regenerate src/httpcore2/_sync/ and tests/_sync/
    python scripts/unasync.py --check  # change nothing; exit 1 if anything is out of date

The async code is the only source. Each `.py` file under a source directory (see `TREES`)
is rewritten into the file of the same name under its target directory:

1. Markers in the async source choose code for one world only:
   - `code  # unasync: remove` — the line is left out of the sync output.
   - `code  # unasync: sync=<text>` — the line becomes `<text>` (same indentation) in
     the sync output; `<text>` is taken as written, the rules below do not touch it.
   - `# unasync: remove-begin` ... `# unasync: remove-end`, each on a line of its own:
     both lines and everything between them are left out of the sync output.
2. Tests only: lines listed in `TEST_DROPPED_LINES` are left out, and `import <name>` for
   each name in `TEST_DROPPED_IMPORTS` is left out when nothing else uses the name.
3. Every other line goes through the token rules (`TOKEN_RULES`, and `TEST_TOKEN_RULES`
   for tests) in table order, each rule seeing the output of those above it. A rule
   matches whole words only: `aclose` rewrites `aclose()` and `self._aclose()` (a name's
   private spelling) but not `aclosed` or `foo_aclose`, and `Client` leaves `ClientError`.
4. The output starts with a one-line "Generated ... Do not edit." header.

5. The result goes through `ruff format` (with the project's configuration), since deleting
   `await ` and adding `Sync` change line lengths. The output depends on the sources, the
   tables and the pinned ruff alone, so generating and `--check` always agree.

`--check` regenerates in memory and compares whole files. It fails on a stale file, a
missing file, a `.py` file in a target directory that no source produces, and on a rule
that no source file matched (stale rules rot: delete them or fix them). A rule is only
judged once a source file it applies to exists.
"""

from __future__ import annotations

import argparse
import difflib
import importlib.util
import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

# --------------------------------------------------------------------------------------
# The rule tables: the one place to edit. Each token rule is (async spelling, sync spelling).
# --------------------------------------------------------------------------------------

# Keywords. `await ` and `async ` disappear; nothing else about the line changes.
SYNTAX = [
    ("async def", "def"),
    ("async with", "with"),
    ("async for", "for"),
    ("await ", ""),
]

# Protocols, dunders and library names with a sync counterpart.
LIBRARY_NAMES = [
    ("__aenter__", "__enter__"),
    ("__aexit__", "__exit__"),
    ("__aiter__", "__iter__"),
    ("__anext__", "__next__"),
    ("StopAsyncIteration", "StopIteration"),
    ("AsyncIterator", "Iterator"),
    ("asynccontextmanager", "contextmanager"),
]

# Methods whose async spelling carries an `a` prefix.
METHODS = [
    ("aclose", "close"),
    ("aread", "read"),
    ("aiter_stream", "iter_stream"),
    ("aiter_raw", "iter_raw"),
    ("aiter_text", "iter_text"),
    ("aiter_lines", "iter_lines"),
    ("anext", "next"),
    ("aprime_body", "prime_body"),
    ("aemit", "emit"),
]

# Classes whose async version has the plain name: `X` -> `SyncX`.
SYNC_PREFIXED = [
    "Client",
    "RedirectAdapter",
    "EnvironmentAdapter",
    "CookieAdapter",
    "AuthAdapter",
    "RetryAdapter",
    "Transport",
    "MockTransport",
    "MockHandler",
    "ConnectionPool",
    "HTTPConnection",
    "ProxyConnection",
    "ForwardProxyConnection",
    "TunnelProxyConnection",
    "SocksProxyConnection",
    "HTTP11Connection",
    "HTTP11ResponseStream",
    "HTTP2Connection",
    "HTTP2ResponseStream",
    "PoolResponseStream",
    "NetworkBackend",
    "NetworkStream",
    "MockBackend",
    "MockStream",
    "Waiter",
    "TraceStep",
]

# Any other class rename.
CLASSES = [
    ("AutoBackend", "SyncBackend"),
    ("NoLock", "ThreadLock"),
]

# Module paths in imports.
MODULES = [
    ("_backends.auto", "_backends.sync"),
]

TOKEN_RULES = [
    *SYNTAX,
    *LIBRARY_NAMES,
    *METHODS,
    *[(name, f"Sync{name}") for name in SYNC_PREFIXED],
    *CLASSES,
    *MODULES,
]

# Tests only, applied after `TOKEN_RULES`.
TEST_TOKEN_RULES: list[tuple[str, str]] = []

# Tests only: lines that are left out when, stripped of indentation, they read exactly so.
TEST_DROPPED_LINES = [
    "@pytest.mark.anyio",
]

# Tests only: `import <name>` is left out when `<name>` is otherwise unused in the output
# (`pytest` goes when a file used it only for `@pytest.mark.anyio`).
TEST_DROPPED_IMPORTS: list[str] = []


class Tree(NamedTuple):
    """A source directory and the directory generated from it, relative to the root."""

    source: str
    target: str
    tests: bool  # whether the `TEST_*` rules apply


TREES = [
    Tree("src/httpcore2/_async", "src/httpcore2/_sync", tests=False),
    Tree("tests/_async", "tests/_sync", tests=True),
]

HEADER = "# Generated by scripts/unasync.py from {source}. Do not edit.\n"
MAX_DIFFS = 3  # how many stale files `--check` prints a diff for

# --------------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
_LINE = re.compile(r"[^\n]*\n|[^\n]+")  # each line with its line break
_MARKER = re.compile(r"#\s*unasync:\s*(?P<directive>.*?)\s*$")
_IDENTIFIER = re.compile(r"\w+")


def _is_word_character(character: str) -> bool:
    return _IDENTIFIER.fullmatch(character) is not None


class UnasyncError(Exception):
    """A malformed marker or rule table."""


@dataclass(frozen=True)
class TokenRule:
    """`old` -> `new`, matched as whole words at both ends."""

    old: str
    new: str
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        left = r"(?<!\w)" if _is_word_character(self.old[0]) else ""
        right = r"(?!\w)" if _is_word_character(self.old[-1]) else ""
        # A bare name also matches its private spelling: `aclose` rewrites `_aclose`.
        private = "(_*)" if _IDENTIFIER.fullmatch(self.old) else "()"
        pattern = re.compile(left + private + re.escape(self.old) + right)
        object.__setattr__(self, "pattern", pattern)

    def __str__(self) -> str:
        return f"{self.old!r} -> {self.new!r}"

    def apply(self, line: str) -> tuple[str, int]:
        if self.old not in line:  # most lines: skip the regex
            return line, 0
        return self.pattern.subn(lambda match: match[1] + self.new, line)


@dataclass(frozen=True)
class Rules:
    """The rules for one kind of tree; each rule's `str()` names it in reports."""

    tokens: tuple[TokenRule, ...]
    dropped_lines: tuple[str, ...] = ()
    dropped_imports: tuple[str, ...] = ()

    def names(self) -> list[str]:
        return [
            *(str(rule) for rule in self.tokens),
            *(_dropped_line_name(line) for line in self.dropped_lines),
            *(_dropped_import_name(name) for name in self.dropped_imports),
        ]


def _dropped_line_name(line: str) -> str:
    return f"drop line {line!r}"


def _dropped_import_name(name: str) -> str:
    return f"drop 'import {name}' when unused"


def build_rules(tests: bool) -> Rules:
    """Compile the tables above into the rules for source trees or for test trees."""
    pairs = [*TOKEN_RULES, *TEST_TOKEN_RULES] if tests else TOKEN_RULES
    seen = Counter(old for old, _ in pairs)
    duplicates = sorted(old for old, count in seen.items() if count > 1)
    if duplicates:
        raise UnasyncError(f"rules listed twice: {', '.join(duplicates)}")
    tokens = tuple(TokenRule(old, new) for old, new in pairs)
    if not tests:
        return Rules(tokens)
    return Rules(tokens, tuple(TEST_DROPPED_LINES), tuple(TEST_DROPPED_IMPORTS))


def unasync(
    text: str, rules: Rules, *, source: str = "<source>", usage: Counter[str] | None = None
) -> str:
    """Return the sync version of `text`, the async file at path `source`.

    Adds one to `usage[str(rule)]` for each line a rule changed or dropped.
    """
    if usage is None:
        usage = Counter()
    out: list[str | None] = []  # None where a line was left out
    block = 0  # line number of an open `remove-begin`, or 0
    for number, line in enumerate(_LINE.findall(text), start=1):
        where = f"{source}:{number}"
        marker = _MARKER.search(line)
        directive = marker["directive"] if marker else None
        if (
            marker
            and directive in ("remove-begin", "remove-end")
            and line[: marker.start()].strip()
        ):
            raise UnasyncError(f"{where}: '# unasync: {directive}' must be on a line of its own")
        if directive == "remove-begin":
            if block:
                raise UnasyncError(f"{where}: remove-begin inside the block begun on line {block}")
            block = number
            out.append(None)
        elif directive == "remove-end":
            if not block:
                raise UnasyncError(f"{where}: remove-end without a remove-begin")
            block = 0
            out.append(None)
        elif block or directive == "remove":
            out.append(None)
        elif directive is not None and directive.startswith("sync="):
            replacement = directive.removeprefix("sync=").strip()
            if not replacement:
                raise UnasyncError(f"{where}: empty '# unasync: sync='; use 'remove'")
            indent = line[: len(line) - len(line.lstrip())]
            out.append(indent + replacement + line[len(line.rstrip("\r\n")) :])
        elif directive is not None:
            raise UnasyncError(f"{where}: unknown marker '# unasync: {directive}'")
        elif line.strip() in rules.dropped_lines:
            usage[_dropped_line_name(line.strip())] += 1
            out.append(None)
        else:
            out.append(_rewrite(line, rules.tokens, usage))
    if block:
        raise UnasyncError(f"{source}:{block}: remove-begin without a remove-end")
    for name in rules.dropped_imports:
        _drop_unused_import(out, name, usage)
    return HEADER.format(source=source) + "".join(_close_gaps(out))


def _rewrite(line: str, tokens: tuple[TokenRule, ...], usage: Counter[str]) -> str:
    for rule in tokens:
        line, count = rule.apply(line)
        if count:
            usage[str(rule)] += 1
    return line


def _drop_unused_import(lines: list[str | None], name: str, usage: Counter[str]) -> None:
    """Leave out `import <name>` lines if nothing else in `lines` mentions `name`."""
    statement = f"import {name}"
    imports = [i for i, line in enumerate(lines) if line is not None and line.strip() == statement]
    uses = re.compile(rf"(?<![\w.]){re.escape(name)}(?!\w)")
    others = (line for i, line in enumerate(lines) if line is not None and i not in imports)
    if imports and not any(uses.search(line) for line in others):
        usage[_dropped_import_name(name)] += 1
        for i in imports:
            lines[i] = None


def _close_gaps(lines: list[str | None]) -> list[str]:
    """Drop the lines left out (None), and the blank lines that would double up around them.

    After a left-out run that follows a blank line (or the start of the file), the blank
    lines after it go too; a run that ends the file takes the blank lines before it along.
    So removing a whole paragraph leaves the spacing a formatter would have chosen.
    """
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line is not None:
            out.append(line)
            i += 1
            continue
        while i < len(lines) and lines[i] is None:
            i += 1
        if not out or _is_blank(out[-1]):
            while i < len(lines) and _is_blank(lines[i]):
                i += 1
        if i == len(lines):
            while out and _is_blank(out[-1]):
                out.pop()
    return out


def _is_blank(line: str | None) -> bool:
    return line is not None and not line.strip()


@dataclass
class Plan:
    """What the target trees should hold, and what the sources used."""

    expected: dict[Path, str] = field(default_factory=dict)  # target file -> content
    sources: dict[Path, Path] = field(default_factory=dict)  # target file -> source file
    orphans: list[Path] = field(default_factory=list)
    unused_rules: list[str] = field(default_factory=list)
    unjudged_rules: int = 0  # rules whose trees have no source yet


def plan(root: Path, trees: list[Tree] = TREES) -> Plan:
    """Generate every target file in memory and find orphans and unused rules."""
    result = Plan()
    usage: Counter[str] = Counter()
    applicable: dict[str, bool] = {}  # rule name -> did any source file get it
    for source_name, target_name, tests in trees:
        source_dir, target_dir = root / source_name, root / target_name
        rules = build_rules(tests)
        sources = _python_files(source_dir)
        for name in rules.names():
            applicable[name] = applicable.get(name, False) or bool(sources)
        for relative in sources:
            source, target = source_dir / relative, target_dir / relative
            text = source.read_bytes().decode("utf-8")
            label = (Path(source_name) / relative).as_posix()
            generated = unasync(text, rules, source=label, usage=usage)
            result.expected[target] = ruff_format(generated, target, root)
            result.sources[target] = source
        result.orphans += [target_dir / rel for rel in _python_files(target_dir) - sources]
    result.unused_rules = [
        name for name, judged in applicable.items() if judged and not usage[name]
    ]
    result.unjudged_rules = sum(not judged for judged in applicable.values())
    return result


def ruff_format(text: str, target: Path, root: Path) -> str:
    """`text` as `ruff format` writes it at `target`, with the configuration under `root`."""
    command = [*_ruff_command(root), "format", "--stdin-filename", str(target), "-"]
    result = subprocess.run(command, input=text, capture_output=True, text=True, cwd=root)
    if result.returncode != 0:
        raise UnasyncError(f"ruff format failed on {target}: {result.stderr.strip()}")
    return result.stdout


def _ruff_command(root: Path) -> list[str]:
    if importlib.util.find_spec("ruff") is not None:
        return [sys.executable, "-m", "ruff"]
    for candidate in (shutil.which("ruff"), root / ".venv" / "bin" / "ruff"):
        if candidate is not None and Path(candidate).is_file():
            return [str(candidate)]
    raise UnasyncError("ruff is needed to format the generated code: pip install ruff")


def _python_files(directory: Path) -> set[Path]:
    """`.py` files under `directory`, relative to it."""
    if not directory.is_dir():
        return set()
    return {
        path.relative_to(directory)
        for path in directory.rglob("*.py")
        if "__pycache__" not in path.parts and path.is_file()
    }


def generate(root: Path, trees: list[Tree] = TREES) -> int:
    """Write stale or missing target files and delete orphans."""
    result = plan(root, trees)
    for target, content in sorted(result.expected.items()):
        if not target.is_file() or target.read_bytes() != content.encode("utf-8"):
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content.encode("utf-8"))
            print(f"wrote {target.relative_to(root)}")
    for orphan in sorted(result.orphans):
        orphan.unlink()
        print(f"deleted {orphan.relative_to(root)} (no source)")
    if result.unused_rules:
        count = len(result.unused_rules)
        print(f"note: {count} rule(s) unused so far; --check lists them", file=sys.stderr)
    return 0


def check(root: Path, trees: list[Tree] = TREES) -> int:
    """Print every problem and return 1 if there is one, else 0."""
    result = plan(root, trees)
    problems = 0
    diffs = 0
    for target, content in sorted(result.expected.items()):
        name = target.relative_to(root).as_posix()
        source = result.sources[target].relative_to(root).as_posix()
        if not target.is_file():
            print(f"missing: {name} (from {source})")
            problems += 1
            continue
        actual = target.read_bytes().decode("utf-8", errors="replace")
        if actual == content:
            continue
        problems += 1
        diffs += 1
        print(f"stale: {name} differs from what {source} generates")
        if diffs <= MAX_DIFFS:
            sys.stdout.writelines(
                difflib.unified_diff(
                    _diff_lines(actual),
                    _diff_lines(content),
                    fromfile=f"{name} (on disk)",
                    tofile=f"{name} (generated)",
                )
            )
            print()
    for orphan in sorted(result.orphans):
        print(f"orphan: {orphan.relative_to(root).as_posix()} has no source")
        problems += 1
    if result.unused_rules:
        print("unused rules (no source file matched them; fix or delete them in the tables):")
        for rule in result.unused_rules:
            print(f"    {rule}")
        problems += len(result.unused_rules)
    if result.unjudged_rules:
        print(f"note: {result.unjudged_rules} rule(s) not judged: their trees have no source yet")
    if problems:
        files = problems - len(result.unused_rules)
        fix = "; `python scripts/unasync.py` regenerates the files" if files else ""
        print(f"unasync --check: {problems} problem(s){fix}")
        return 1
    print(f"unasync --check: {len(result.expected)} generated file(s) up to date")
    return 0


def _diff_lines(text: str) -> list[str]:
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n\\ No newline at end of file\n"
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate the sync code from the async code.")
    parser.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 if anything is out of date"
    )
    parser.add_argument(
        "--root", type=Path, default=ROOT, help="repository root (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    try:
        return check(args.root) if args.check else generate(args.root)
    except UnasyncError as exc:
        print(f"unasync: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
