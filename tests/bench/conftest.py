"""bench/otel_overhead.py loaded as a module (bench/ is scripts, not a package)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "otel_overhead.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("otel_overhead", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def results_in_tmp(bench, tmp_path, monkeypatch):
    """report() saves a run's figures as REPO/.cache/otel_overhead.json: a test's made-up figures go
    under its own tmp_path, never over the figures of the last real run."""
    monkeypatch.setattr(bench, "REPO", tmp_path)
