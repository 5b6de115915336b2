"""The docs show commands that run: every ``variantdb ...`` line names a real command and real flags.

- Every ``variantdb`` command in a code block of ``README.md`` or ``docs/*.md`` (and every inline
  code span that starts with ``variantdb``) names a command of the CLI, and each ``--flag`` or ``-f``
  it shows is one that ``variantdb <command> --help`` lists.
- Every flag of every command is mentioned in ``docs/cli.md``, the reference.
- The README opens with the two quick-start commands, byte for byte: the first sets up and serves
  the bundled example, the second sets up and runs the tests, and ``.ci/run`` runs the second.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from variantdb.loaders.cli import app

ROOT = Path(__file__).parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

QUICK_START = (
    "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/variantdb load --db example-db "
    "--manifest tests/data/gvcf-1kg-chr22/manifest.tsv --batch example --skip-existing && "
    ".venv/bin/variantdb serve --db example-db"
)
TEST_COMMAND = "python3 -m venv .venv && .venv/bin/pip install -e '.[dev]' && .venv/bin/python -m pytest"

_FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.M | re.S)
_INLINE = re.compile(r"`((?:\.venv/bin/)?variantdb [^`]+)`")
# A command starts at `variantdb` (or `.venv/bin/variantdb`) and runs to `&&`, `|` between commands,
# a comment or the end of the line.
_COMMAND = re.compile(r"(?:^|(?<=[\s;&(]))(?:\.venv/bin/)?variantdb\s+(.*)")
_FLAG = re.compile(r"(?<![\w/.:=-])(--?[A-Za-z][\w-]*)")
# An option row of typer's help table: "│ *  --output  -o  <path>  ..." (the option column only).
_OPTION_ROW = re.compile(r"^│\s+(?:\*\s+)?((?:--?[A-Za-z][\w-]*\s+)+)<")


def code_blocks(path: Path) -> list[str]:
    """Return the fenced code blocks of a Markdown file, in order, without the fences."""
    return [m.group(1) for m in _FENCE.finditer(path.read_text())]


def shown_commands(path: Path) -> list[str]:
    """Return every ``variantdb ...`` command shown in a file: code blocks and inline code spans.

    Returned without the leading ``variantdb`` and without a trailing ``# comment``.
    """
    text = path.read_text()
    lines: list[str] = []
    for block in code_blocks(path):
        lines += block.replace("\\\n", " ").splitlines()
    prose = _FENCE.sub("", text)
    lines += [" ".join(m.group(1).split()) for m in _INLINE.finditer(prose)]
    commands = []
    for line in lines:
        line = line.split(" # ")[0]
        for part in line.split("&&"):
            m = _COMMAND.search(part.strip())
            if m:
                commands.append(m.group(1).strip())
    return commands


@functools.cache
def _help(words: tuple[str, ...]) -> tuple[int, str]:
    result = CliRunner().invoke(app, [*words, "--help"], env={"COLUMNS": "400", "NO_COLOR": "1"})
    return result.exit_code, result.output


@functools.cache
def subcommands(words: tuple[str, ...] = ()) -> frozenset[str]:
    """Return the subcommands of a command group as ``--help`` lists them (empty for a command)."""
    code, out = _help(words)
    assert code == 0, out
    if "Commands" not in out:
        return frozenset()
    table = out.split("Commands", 1)[1]
    return frozenset(re.findall(r"^│ ([a-z][\w-]*)\s", table, re.M))


@functools.cache
def flags(words: tuple[str, ...]) -> frozenset[str]:
    """Return the flags (long and short forms) that ``variantdb WORDS --help`` lists."""
    code, out = _help(words)
    assert code == 0, out
    found: set[str] = set()
    for line in out.splitlines():
        m = _OPTION_ROW.match(line)
        if m:
            found |= set(m.group(1).split())
    return frozenset(found)


def _resolve(command: str) -> tuple[list[tuple[str, ...]], str]:
    """Split a shown command into the command paths it names (``a|b`` is two) and the rest."""
    words = command.split()
    paths: list[tuple[str, ...]] = [()]
    while words and subcommands(paths[0]) and not words[0].startswith("-"):
        names = words.pop(0).split("|")
        paths = [(*p, n) for p in paths for n in names]
    return paths, " ".join(words)


def _all_shown() -> list[tuple[str, str]]:
    return [(str(p.relative_to(ROOT)), c) for p in DOCS for c in shown_commands(p)]


@pytest.mark.parametrize(("doc", "command"), _all_shown())
def test_shown_command_exists(doc: str, command: str) -> None:
    paths, rest = _resolve(command)
    if paths == [()] and rest.startswith("-"):
        # A flag of the command itself: variantdb --version.
        unknown = sorted(set(_FLAG.findall(rest)) - flags(()))
        assert not unknown, f"{doc}: `variantdb {command}`: variantdb has no {', '.join(unknown)}"
        return
    for path in paths:
        name = " ".join(path)
        parent = path[:-1]
        assert path and path[-1] in subcommands(parent), f"{doc}: `variantdb {command}`: no command {name!r}"
        assert not subcommands(path), f"{doc}: `variantdb {command}`: {name!r} needs a subcommand"
        unknown = sorted(set(_FLAG.findall(rest)) - flags(path))
        assert not unknown, f"{doc}: `variantdb {command}`: {name} has no {', '.join(unknown)}"


def test_docs_show_commands() -> None:
    """The extraction finds the commands (a broken pattern would pass every test above vacuously)."""
    shown = dict.fromkeys(c.split()[0] for _, c in _all_shown())
    assert {"load", "serve", "export", "annotate", "withdraw", "keys"} <= set(shown)


def _command_paths(words: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    subs = subcommands(words)
    if not subs:
        return [words]
    return [p for s in sorted(subs) for p in _command_paths((*words, s))]


def test_every_flag_is_in_the_cli_reference() -> None:
    text = (ROOT / "docs" / "cli.md").read_text()
    mentioned = set(_FLAG.findall(text))
    missing = []
    for path in _command_paths():
        assert f"variantdb {' '.join(path)}" in " ".join(text.split()), f"docs/cli.md lacks {path}"
        rows = _help(path)[1].splitlines()
        for line in rows:
            m = _OPTION_ROW.match(line)
            if m and m.group(1).split()[0] != "--help" and not set(m.group(1).split()) & mentioned:
                missing.append(f"{' '.join(path)} {m.group(1).split()[0]}")
    assert not missing, f"flags not in docs/cli.md: {missing}"


def test_readme_opens_with_the_two_commands() -> None:
    blocks = code_blocks(ROOT / "README.md")
    assert blocks[0] == QUICK_START + "\n"
    assert blocks[1] == TEST_COMMAND + "\n"


def test_ci_runs_the_readme_test_command() -> None:
    assert TEST_COMMAND in (ROOT / ".ci" / "run").read_text().splitlines()
