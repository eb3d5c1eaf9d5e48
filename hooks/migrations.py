"""Answer migrations for `copier update`, driven by hooks/migrations.yml.

copier.yml runs this script in the "before" stage of every update with the
answers file as its argument; copier exports STAGE, VERSION_PEP440_FROM and
VERSION_PEP440_TO. Each entry of migrations.yml whose version lies in
(VERSION_FROM, VERSION_TO] is applied to the answers file, so copier renders the
new template with the team's old answers under their new names.

Set PAVED_MIGRATION_LOG to a file path to get one line appended per entry
applied (fleet runs keep it as an audit trail).

Runs with the Python that runs copier: only the standard library and PyYAML
(a copier dependency) are imported.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml
from packaging.version import InvalidVersion, Version

HERE = Path(__file__).resolve().parent


def _version(raw: str) -> Version | None:
    try:
        return Version(str(raw))
    except InvalidVersion:
        return None


def pending(migrations: list[dict], version_from: str, version_to: str) -> list[dict]:
    """Entries with version_from < version <= version_to, oldest first."""
    lo, hi = _version(version_from), _version(version_to)
    if lo is None or hi is None:
        return []
    chosen = [m for m in migrations if (v := _version(m["version"])) is not None and lo < v <= hi]
    return sorted(chosen, key=lambda m: _version(m["version"]))


def apply(entry: dict, answers: dict) -> list[str]:
    """Rewrite `answers` in place; return one description per change made."""
    done = []
    for old, new in (entry.get("rename_answers") or {}).items():
        if old in answers and new not in answers:
            answers[new] = answers.pop(old)
            done.append(f"renamed answer {old} -> {new}")
    for old in entry.get("delete_answers") or []:
        if old in answers:
            del answers[old]
            done.append(f"deleted answer {old}")
    return done


def move_files(entry: dict, project: Path) -> list[str]:
    """`git mv` each moved file the project still has at its old path.

    Without this, copier deletes the old path and renders the new one, and the
    team's edits to the file are silently lost. Moved in the index, the edits
    reach the new path; copier then shows them next to the template's version
    as conflict markers to resolve.
    """
    done = []
    for old, new in (entry.get("move_files") or {}).items():
        src, dst = project / old, project / new
        if not src.exists() or dst.exists():
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        tracked = subprocess.run(["git", "ls-files", "--error-unmatch", old], cwd=project,
                                 capture_output=True).returncode == 0
        if tracked:
            subprocess.run(["git", "mv", old, new], cwd=project, check=True, capture_output=True)
        else:
            src.rename(dst)
        done.append(f"moved {old} -> {new}")
    return done


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: migrations.py ANSWERS_FILE", file=sys.stderr)
        return 2
    if os.environ.get("STAGE", "before") != "before":
        return 0
    answers_path = Path(argv[1])
    registry = yaml.safe_load((HERE / "migrations.yml").read_text()) or {}
    todo = pending(
        registry.get("migrations") or [],
        os.environ.get("VERSION_PEP440_FROM", ""),
        os.environ.get("VERSION_PEP440_TO", ""),
    )
    if not todo:
        return 0
    text = answers_path.read_text()
    header = "".join(line for line in text.splitlines(keepends=True) if line.startswith("#"))
    answers = yaml.safe_load(text) or {}
    log_path = os.environ.get("PAVED_MIGRATION_LOG")
    for entry in todo:
        changes = apply(entry, answers) + move_files(entry, Path.cwd())
        line = f"{entry['version']}: " + ("; ".join(changes) or "nothing to change")
        print(f"paved migration {line}")
        if log_path:
            with open(log_path, "a", encoding="utf-8") as log:
                log.write(f"{Path.cwd().name} {line}\n")
    answers_path.write_text(header + yaml.safe_dump(answers, sort_keys=False, default_flow_style=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
