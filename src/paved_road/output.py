"""One output contract for every `paved` command that prints data (docs/cli.md).

- `--format table|plain|json`, `--json` (the same as `--format json`) and
  `-o/--output FILE` on every such command, registered by `add_arguments`.
- `table` is a rich table on a terminal; whenever stdout is not a terminal, or
  with `-o FILE`, it becomes `plain`: full values aligned with spaces, no box
  drawing, nothing cut, so pipes, files and CI logs get every character.
- On a terminal the table fits the width: columns that do not fit are dropped,
  lowest priority first (and named under the table); wrappable columns wrap at
  spaces only, never inside a word.
- Values are shown as typed: a `[red]` in a service name is text, not markup.

Commands keep their own extra formats (catalog's html/backstage, dora's html)
and their old spellings as hidden aliases (`--format text` is `plain`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

FORMATS = ("table", "plain", "json")
GAP = "  "  # between plain columns


@dataclass(frozen=True)
class Column:
    title: str
    priority: int = 0       # 0: always shown; higher numbers are dropped first when the terminal is narrow
    wrap: bool = False      # may wrap at spaces (never inside a word)


# A cell is its text, or (text, rich style) for colour on a terminal; plain output ignores the style.


@dataclass
class Table:
    columns: Sequence[Column]
    rows: list[Sequence[Any]]
    title: str | None = None
    notes: list[str] = field(default_factory=list)  # lines after the table (plain text in every format)
    empty: str | None = None                        # printed instead of the header when there are no rows


def _text(cell) -> str:
    if isinstance(cell, tuple):
        cell = cell[0]
    return "" if cell is None else str(cell)


def _style(cell) -> str | None:
    return cell[1] if isinstance(cell, tuple) else None


# ---------------------------------------------------------------- arguments


def add_arguments(parser: argparse.ArgumentParser, *, extra: Sequence[str] = (),
                  aliases: dict[str, str] | None = None, what: str = "the output") -> None:
    """`--format`, `--json` and `-o` for a data-printing command.

    `extra`: formats beyond the contract (html, backstage); `aliases`: old
    spellings accepted but not shown (e.g. {"text": "plain"})."""
    shown = (*FORMATS, *extra)
    aliases = aliases or {}
    group = parser.add_argument_group("output (docs/cli.md)")
    group.add_argument("--format", choices=(*shown, *aliases), default=None, metavar="{" + ",".join(shown) + "}",
                       help="table: a table that fits the terminal; plain: full values aligned with spaces "
                            "(the default whenever stdout is not a terminal, and with -o); json: "
                            "machine-readable" + "".join(f"; {e}" for e in extra))
    group.add_argument("--json", dest="format", action="store_const", const="json",
                       help="the same as --format json")
    group.add_argument("-o", "--output", metavar="FILE", help=f"write {what} to FILE instead of stdout")
    parser.set_defaults(_format_aliases=aliases)


def resolve(args: argparse.Namespace, stream=None) -> str:
    """The format to print: an alias mapped, and `table` only on a terminal without -o."""
    fmt = getattr(args, "format", None) or "table"
    fmt = (getattr(args, "_format_aliases", None) or {}).get(fmt, fmt)
    if fmt == "table" and (getattr(args, "output", None) or not is_terminal(stream or sys.stdout)):
        return "plain"
    return fmt


def is_terminal(stream) -> bool:
    return hasattr(stream, "isatty") and stream.isatty()


def check_output(output: str | None) -> str | None:
    """One line for an -o FILE that cannot be written, before any work (None: fine)."""
    if not output:
        return None
    path = Path(output)
    if path.is_dir():
        return f"-o {output}: is a directory; pass a file path"
    parent = path.absolute().parent
    if not parent.is_dir():
        return f"-o {output}: directory {parent} does not exist; create it or pass another path"
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        return f"-o {output}: not writable; pass a path you can write to"
    return None


# ---------------------------------------------------------------- rendering


def render_plain(table: Table) -> str:
    """Header, rows and notes; every value in full, columns aligned with spaces (the last one unpadded)."""
    lines = []
    if table.rows or table.empty is None:
        rows = [[c.title for c in table.columns], *[[_text(c) for c in row] for row in table.rows]]
        widths = [max(len(r[i]) for r in rows) for i in range(len(table.columns))]
        for r in rows:
            lines.append(GAP.join(v.ljust(w) for v, w in zip(r[:-1], widths)) + (GAP if len(r) > 1 else "") + r[-1])
            lines[-1] = lines[-1].rstrip()
    if table.empty is not None and not table.rows:
        lines.append(table.empty)
    lines += table.notes
    return "\n".join(lines) + "\n"


def fit_columns(table: Table, width: int) -> list[int]:
    """Indexes of the columns that fit `width`: drop the highest priority number first (the last such
    column first) until the narrowest rendering fits. A wrappable column needs its longest word, any other
    its longest value; rich's table adds 3 characters per column plus 1 for the border."""
    def need(i: int) -> int:
        col = table.columns[i]
        values = [col.title, *(_text(r[i]) for r in table.rows)]
        if col.wrap:
            return max(len(word) for v in values for word in (v.split() or [""]))
        return max(len(v) for v in values)

    keep = list(range(len(table.columns)))
    while len(keep) > 1 and sum(need(i) + 3 for i in keep) + 1 > width:
        droppable = [i for i in keep if table.columns[i].priority > 0]
        if not droppable:
            break
        keep.remove(max(droppable, key=lambda i: (table.columns[i].priority, i)))
    # a wide column dropped late may have made room for narrower ones dropped before it
    for i in sorted(set(range(len(table.columns))) - set(keep), key=lambda i: (table.columns[i].priority, i)):
        if sum(need(j) + 3 for j in keep) + need(i) + 3 + 1 <= width:
            keep = sorted([*keep, i])
    return keep


def render_table(table: Table, console) -> None:
    """A rich table that fits `console.width`; cells are Text, so markup in values stays text."""
    from rich.table import Table as RichTable
    from rich.text import Text

    keep = fit_columns(table, console.width)
    if table.empty is not None and not table.rows:
        if table.title:
            console.print(Text(table.title))
        console.print(Text(table.empty))
    else:
        rich = RichTable(title=Text(table.title) if table.title else None, title_justify="left")
        for i in keep:
            col = table.columns[i]
            if col.wrap:
                longest = max(len(w) for v in [col.title, *(_text(r[i]) for r in table.rows)]
                              for w in (v.split() or [""]))
                rich.add_column(col.title, overflow="fold", min_width=longest)
            else:
                rich.add_column(col.title, no_wrap=True, overflow="ellipsis")
        for row in table.rows:
            rich.add_row(*(Text(_text(row[i]), style=_style(row[i]) or "") for i in keep))
        console.print(rich)
    hidden = [c.title for i, c in enumerate(table.columns) if i not in keep]
    if hidden:
        console.print(Text(f"({len(hidden)} column(s) hidden to fit {console.width} columns: {', '.join(hidden)}; "
                           "--format plain shows all)", style="dim"))
    for note in table.notes:
        console.print(Text(note), soft_wrap=True)


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, default=str) + "\n"


def write(args: argparse.Namespace, text: str) -> None:
    """`text` to -o FILE, or stdout."""
    output = getattr(args, "output", None)
    if output:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()


def emit(args: argparse.Namespace, *, table: Callable[[], Table] | Table | None = None,
         data: Callable[[], Any] | Any = None, text: Callable[[], str] | str | None = None) -> str:
    """Print in the format `args` asks for; return the format used.

    `table` (a Table) serves `table` and `plain`; `text` serves both instead when a command's
    output is prose rather than rows; `data` is what `json` prints."""
    fmt = resolve(args)
    if fmt == "json":
        write(args, to_json(data() if callable(data) else data))
        return fmt
    if text is not None:
        write(args, (text() if callable(text) else text).rstrip("\n") + "\n")
        return fmt
    built = table() if callable(table) else table
    if fmt == "plain":
        write(args, render_plain(built))
    else:
        from rich.console import Console
        render_table(built, Console())
    return fmt
