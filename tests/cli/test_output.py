"""Output adapts to where it goes: a rich table on a terminal, full values in a
pipe or a file, and `-o FILE` for every catalog format."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tty_run import paved_on_terminal

PAVED = str(Path(sys.executable).with_name("paved"))


@pytest.fixture(scope="module")
def deep_service(service_v1, tmp_path_factory) -> Path:
    """A service whose path alone is longer than 80 columns."""
    root = tmp_path_factory.mktemp("out") / ("a-rather-long-directory-name-" * 3) / "orders-service-checkout"
    shutil.copytree(service_v1, root, symlinks=True)
    return root


def test_a_pipe_gets_full_values_never_cut_at_80_columns(deep_service):
    proc = subprocess.run([PAVED, "catalog", str(deep_service)], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "80"})
    assert proc.returncode == 3, proc.stderr  # v1.0.0 is behind v2.0.0
    (row,) = proc.stdout.splitlines()[1:-1]
    assert str(deep_service) in row and "team-orders" in row and "v1.0.0" in row and "major" in row
    assert "…" not in proc.stdout


def test_a_terminal_gets_the_rich_table(deep_service):
    code, raw = paved_on_terminal("catalog", str(deep_service), columns=200)
    out = re.sub(r"\x1b\[[0-9;]*m", "", raw)
    assert code == 3
    assert "Paved Road services" in out and "┃ Service" in out  # rich's box-drawn header


@pytest.mark.parametrize("fmt", ["table", "json", "html", "backstage"])
def test_every_format_can_be_written_with_o(deep_service, tmp_path, fmt):
    out = tmp_path / f"catalog.{fmt}"
    proc = subprocess.run([PAVED, "catalog", str(deep_service), "--format", fmt, "-o", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.startswith(f"paved catalog: wrote {fmt} to {out} (1 services: 0 current, 1 behind")
    text = out.read_text()
    if fmt == "json":
        assert json.loads(text)["services"][0]["path"] == str(deep_service)
    elif fmt == "backstage":
        assert next(yaml.safe_load_all(text))["metadata"]["name"] == "orders"
    elif fmt == "html":
        assert text.startswith("<!doctype html>") or text.lower().startswith("<!doctype html>")
    else:
        assert str(deep_service) in text and text.splitlines()[0].split()[0] == "Service"
