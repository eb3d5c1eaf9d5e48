"""`paved new`: copier copy for scripts and portals, with clean errors."""

from __future__ import annotations

import subprocess

import pytest
import yaml


def paved(*args, cwd=None):
    return subprocess.run(["paved", *args], capture_output=True, text=True, cwd=cwd)


def test_generates_a_service_with_answers(tmp_path):
    dest = tmp_path / "billing"
    proc = paved("new", str(dest), "-a", "service_name=billing", "-a", "architectures=arm64",
                 "-a", "http_port=8080")
    assert proc.returncode == 0, proc.stderr
    answers = yaml.safe_load((dest / ".copier-answers.yml").read_text())
    assert answers["service_name"] == "billing"
    assert answers["architectures"] == ["arm64"]
    assert answers["http_port"] == 8080
    assert (dest / "src" / "telemetry.js").is_file()


@pytest.mark.parametrize(("answer", "expected"), [
    ("http_port=80", "http_port must be an integer from 1024 to 65535 (got '80')"),
    ("http_port=abc", "http_port must be an integer (got 'abc')"),
    ("node_major=20", "'node_major': 20 is not in [24, 22]"),
    ("architectures=[sparc]", "'architectures': 'sparc' is not in ['amd64', 'arm64']"),
    ("colour=blue", "unknown question 'colour'; questions are: architectures,"),
    ("service_name", "--answer must look like key=value"),
])
def test_bad_answer_is_one_clean_line_exit_2_and_nothing_written(tmp_path, answer, expected):
    dest = tmp_path / "svc"
    proc = paved("new", str(dest), "-a", answer)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.startswith("paved new:")]
    assert len(lines) == 1 and expected in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not dest.exists()
