"""The markdown every benchmark script writes with `--markdown FILE`: one heading line, then its current tables.

The heading line names the benchmark, the date, the git commit (short; "+ uncommitted changes" when tracked files
differ from it) and the machine (OS, architecture, cores), and the next line the run time, so a table is never read
without knowing where and when it was measured. `bench/assemble.py` puts the files together into BENCHMARKS.md.

    report = Report("Reading CT")
    ...
    console.print(table)
    report.add(table)                    # a rich Table, written as a GitHub markdown table under its bold title
    report.note("Ratios count, not rates.")
    report.write(args.markdown)          # atomically; nothing is written when the path is None

A benchmark that cannot run here writes why instead (`Report.not_run`), e.g. "not run: needs data/ctiqa-default
(`make dataset`)", so an absent input shows as such and never as an old figure.

For the Makefile: `python bench/_report.py shipped` prints the shipped quality models, the default first;
`python bench/_report.py capture NAME OUT -- COMMAND ...` writes a script's printed output as its section.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from rich.table import Table
from rich.text import Text

REPO = Path(__file__).resolve().parents[1]


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def commit_text() -> str:
    """Gives the short commit of the working tree, with "+ uncommitted changes" when tracked files differ from it."""
    commit = _git("rev-parse", "--short", "HEAD") or "unknown"
    if _git("status", "--porcelain", "--untracked-files=no"):
        commit += " + uncommitted changes"
    return commit


def machine_text() -> str:
    """Gives the machine as OS, architecture and core count, e.g. "Linux x86_64, 2 cores"."""
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores"


def header_text(name: str) -> str:
    """Gives the heading line of a benchmark: its name, the date of the run, the commit and the machine."""
    return f"{name}, {dt.date.today().isoformat()}, commit {commit_text()}, {machine_text()}"


def shipped_models() -> list[str]:
    """Gives the names of the shipped quality models, the default model (what `vliqa assess` uses) first."""
    from vliqa import models

    default = getattr(models, "DEFAULT_MODEL", None)
    return sorted(models.shipped_models(), key=lambda name: name != default)


def plain(value: object) -> str:
    """Gives a rich cell or title as plain text (markup such as "[red]missed[/red]" dropped)."""
    if value is None:
        return ""
    if isinstance(value, Text):
        return value.plain
    return Text.from_markup(str(value)).plain


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[object]], *, title: str = "", note: str = "",
                   right: Sequence[bool] | None = None) -> str:
    """Gives a GitHub markdown table under a bold title, with a note under it; `right` aligns columns right.

    Every text is taken as it is (no rich markup).
    """
    right = list(right) if right is not None else [i > 0 for i in range(len(columns))]
    lines = [f"**{title}**", ""] if title else []
    lines += ["| " + " | ".join(_cell(c) for c in columns) + " |",
              "|" + "|".join("---:" if r else ":---" for r in right) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    if note:
        lines += ["", note]
    return "\n".join(lines) + "\n"


def rich_markdown(table: Table) -> str:
    """Gives a rich Table (title, columns, cells, caption) as a GitHub markdown table."""
    columns = [plain(c.header) for c in table.columns]
    cells = [[plain(cell) for cell in c.cells] for c in table.columns]
    rows = [list(r) for r in zip(*cells, strict=True)] if cells else []
    right = [c.justify == "right" for c in table.columns]
    return markdown_table(columns, rows, title=plain(table.title), note=plain(table.caption), right=right)


class Report:
    """The markdown of one benchmark run: a heading line, the run time, then tables and notes in order."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.parts: list[str] = []
        self.started = time.perf_counter()

    def add(self, table: Table) -> None:
        """Adds a rich Table."""
        self.parts.append(rich_markdown(table))

    def add_rows(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[object]], *, note: str = "",
                 right: Sequence[bool] | None = None) -> None:
        """Adds a table given as column names and rows of cells."""
        self.parts.append(markdown_table(columns, rows, title=title, note=note, right=right))

    def note(self, text: str) -> None:
        """Adds a paragraph."""
        self.parts.append(text.strip() + "\n")

    def not_run(self, what: str, needs: str) -> None:
        """Adds a paragraph saying that part `what` did not run, and what it needs (a path and the make target)."""
        self.parts.append(f"**{what}**: not run: needs {needs}.\n")

    def text(self) -> str:
        """Gives the whole markdown."""
        seconds = time.perf_counter() - self.started
        head = f"### {header_text(self.name)}\n\nRun time {seconds:.0f} s.\n"
        return "\n".join([head, *self.parts])

    def write(self, path: str | os.PathLike | None) -> None:
        """Writes the markdown to `path` atomically (a temporary file renamed over it); nothing when `path` is None."""
        if path is None:
            return
        write_atomic(Path(path), self.text())


def write_atomic(path: Path, text: str) -> None:
    """Writes `text` to `path` through a temporary file in the same folder, renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def capture(name: str, out: Path, command: Sequence[str]) -> int:
    """Runs `command`, and writes its standard output as a fenced block under the heading line; gives its exit status.

    For a benchmark script without a `--markdown` option. Nothing is written when the command fails.
    """
    started = time.perf_counter()
    proc = subprocess.run(list(command), cwd=REPO, stdout=subprocess.PIPE, text=True)
    sys.stdout.write(proc.stdout)
    if proc.returncode == 0:
        head = f"### {header_text(name)}\n\nRun time {time.perf_counter() - started:.0f} s.\n"
        write_atomic(out, f"{head}\n```text\n{proc.stdout.rstrip()}\n```\n")
    return proc.returncode


if __name__ == "__main__":  # for the Makefile
    if sys.argv[1:] == ["shipped"]:
        print(*shipped_models())
    elif len(sys.argv) >= 6 and sys.argv[1] == "capture" and sys.argv[4] == "--":
        sys.exit(capture(sys.argv[2], Path(sys.argv[3]), sys.argv[5:]))
    else:
        sys.exit("usage: python bench/_report.py shipped | capture NAME OUT -- COMMAND ...")
