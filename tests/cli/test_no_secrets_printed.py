"""Issue 27: a token in a URL is never printed or written. Each entry point of the review gets one
(`--template`, a repos-file URL, `_src_path`, AWS_ENDPOINT_URL) and every output of the command
(stdout, stderr, JSON, HTML, the GitHub step summary) is searched for it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from paved_road.untrusted import redact
from template_releases import git

PAVED = str(Path(sys.executable).with_name("paved"))
TOKEN = "ghp_s3cretTOKEN0123456789"
# Port 1 on loopback: refused at once, so every command fails fast at the URL.
URL = f"https://x-access-token:{TOKEN}@127.0.0.1:1/platform/paved-road.git"


def _paved(*args: str, cwd: Path | None = None, env: dict | None = None) -> str:
    proc = subprocess.run([PAVED, *args], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "GIT_TERMINAL_PROMPT": "0", **(env or {})})
    return proc.stdout + proc.stderr


@pytest.fixture
def service_with_token(service_v1, tmp_path) -> Path:
    service = tmp_path / "orders"
    shutil.copytree(service_v1, service, symlinks=True)
    path = service / ".copier-answers.yml"
    answers = yaml.safe_load(path.read_text())
    answers["_src_path"] = URL
    path.write_text(yaml.safe_dump(answers))
    git(service, "commit", "-qam", "a token in _src_path")
    return service


def test_redact_strips_userinfo_of_every_url():
    assert redact(f"see {URL} and ssh://git:{TOKEN}@host/x and git@github.com:a/b.git") == (
        "see https://127.0.0.1:1/platform/paved-road.git and ssh://host/x and git@github.com:a/b.git")


def test_redact_hides_secrets_in_query_strings():
    """Review of issue 27: a token in a query string (`?access_token=`, GitLab's `private_token`, a presigned
    S3 URL) was printed as it was."""
    assert redact(f"https://h/x.git?access_token={TOKEN}&ref=main and http://h/y?X-Amz-Signature={TOKEN}#f "
                  f"and https://h/z?private_token={TOKEN}") == (
        "https://h/x.git?access_token=***&ref=main and http://h/y?X-Amz-Signature=***#f "
        "and https://h/z?private_token=***")
    assert redact("https://h/x?q=tokens-are-fine-as-values&page=2") == "https://h/x?q=tokens-are-fine-as-values&page=2"


def test_a_token_in_a_query_string_is_not_printed_by_the_catalog(service_v1, tmp_path):
    service = tmp_path / "orders"
    shutil.copytree(service_v1, service, symlinks=True)
    path = service / ".copier-answers.yml"
    answers = yaml.safe_load(path.read_text())
    answers["_src_path"] = f"https://127.0.0.1:1/platform/paved-road.git?access_token={TOKEN}"
    path.write_text(yaml.safe_dump(answers))
    out = _paved("catalog", str(service), "--format", "json")
    assert TOKEN not in out and "paved-road.git?access_token=***" in out


def test_no_entry_point_prints_a_token_from_a_url(service_with_token, release_template, tmp_path):
    outputs = {}
    service = service_with_token
    html = tmp_path / "catalog.html"
    repos = tmp_path / "repos.yml"
    repos.write_text(yaml.safe_dump({"repos": [URL.replace("paved-road.git", "orders.git"),
                                               {"url": URL, "ref": "main"}]}))
    # _src_path
    for fmt in ("json", "table", "backstage"):
        outputs[f"catalog {fmt}"] = _paved("catalog", str(service), "--format", fmt)
    _paved("catalog", str(service), "--format", "html", "-o", str(html))
    outputs["catalog html"] = html.read_text()
    outputs["fleet update"] = _paved("fleet", "update", str(service), "--json", "--template", str(release_template))
    outputs["update"] = _paved("update", "--template", str(release_template), cwd=service)
    # --template
    outputs["catalog --template"] = _paved("catalog", str(service), "--template", URL, "--format", "json")
    outputs["fleet update --template"] = _paved("fleet", "update", str(service), "--template", URL)
    outputs["update --template"] = _paved("update", str(service), "--template", URL)
    outputs["new --template"] = _paved("new", str(tmp_path / "new"), "--template", URL)
    # --repos-file
    outputs["catalog --repos-file"] = _paved("catalog", "--repos-file", str(repos), "--format", "json")
    _paved("catalog", "--repos-file", str(repos), "--format", "html", "-o", str(html))
    outputs["catalog --repos-file html"] = html.read_text()
    # AWS_ENDPOINT_URL (stderr and the step summary)
    summary = tmp_path / "summary.md"
    aws = {"AWS_ENDPOINT_URL": f"http://user:{TOKEN}@127.0.0.1:1", "AWS_ACCESS_KEY_ID": "x",
           "AWS_SECRET_ACCESS_KEY": "y", "AWS_REGION": "us-east-1", "GITHUB_STEP_SUMMARY": str(summary)}
    outputs["deploy"] = _paved("deploy", "--cluster", "c", "--service", "s", "--to", "1.0.0", env=aws)
    outputs["rollback"] = _paved("rollback", "--cluster", "c", "--service", "s", "--to", "1.0.0", env=aws)
    outputs["step summary"] = summary.read_text() if summary.exists() else ""

    leaked = sorted(name for name, text in outputs.items() if TOKEN in text)
    assert leaked == [], {name: outputs[name][:300] for name in leaked}
    # and each did say something about the URL (the test exercised the path it claims to)
    assert "127.0.0.1:1/platform/paved-road.git" in outputs["catalog json"]
    assert "127.0.0.1:1/platform/paved-road.git" in outputs["catalog table"]
    assert "127.0.0.1:1/platform/paved-road.git" in outputs["catalog html"]
    assert "--template https://127.0.0.1:1/platform/paved-road.git" in outputs["new --template"]
    assert "127.0.0.1:1" in outputs["catalog --template"] and "127.0.0.1:1" in outputs["catalog --repos-file"]
    assert "cannot reach http://127.0.0.1:1" in outputs["deploy"]
