"""What counts as a conflict left by `copier update --conflict inline` (or git): a hunk of three marker lines
at column 0, in order — `<<<<<<< LABEL`, exactly `=======`, `>>>>>>> LABEL` (an optional diff3
`||||||| LABEL` base section between the first two). Git's and copier's markers always carry a label.

A mention of `<<<<<<<` in prose (not at column 0, or without the rest of the hunk) is no conflict, and in
Markdown a hunk inside a fenced code block is an example (docs/upgrades.md shows one), not a conflict.
"""

from __future__ import annotations

import re

_START = re.compile(rb"^<<<<<<< \S")
_BASE = re.compile(rb"^\|\|\|\|\|\|\| \S")
_MIDDLE = b"======="
_END = re.compile(rb"^>>>>>>> \S")
_FENCE = re.compile(rb"^ {0,3}(```|~~~)")
MARKDOWN = (".md", ".markdown", ".mdx", ".md.jinja")


def rej_hunks(lines: list[bytes]) -> list[list[bytes]]:
    """The hunks of a `.rej` file (what `git apply --reject` could not place), each from its `@@ ` line."""
    out: list[list[bytes]] = []
    for line in lines:
        if line.startswith(b"@@ "):
            out.append([line])
        elif out:
            out[-1].append(line)
    return out


def count_hunks(lines: list[bytes], name: str = "") -> int:
    """Complete conflict hunks in a file's lines (without line endings)."""
    return len(hunks(lines, name))


def hunks(lines: list[bytes], name: str = "") -> list[list[bytes]]:
    """The complete conflict hunks of a file, each as its lines from `<<<<<<<` to `>>>>>>>` inclusive."""
    markdown = name.lower().endswith(MARKDOWN)
    found: list[list[bytes]] = []
    state, fenced, current = None, False, []
    for raw in lines:
        line = raw.rstrip(b"\r")
        if state is None:
            if markdown and _FENCE.match(line):
                fenced = not fenced
            elif _START.match(line) and not fenced:
                state, current = "ours", [raw]
            continue
        if state == "ours" and _BASE.match(line):
            state = "base"
        elif state in ("ours", "base") and line == _MIDDLE:
            state = "theirs"
        elif state == "theirs" and _END.match(line):
            found.append([*current, raw])
            state = None
            continue
        elif _START.match(line):
            state, current = "ours", [raw]  # an unfinished hunk followed by a new one: only complete hunks count
            continue
        current.append(raw)
    return found
