"""copier.yml: every validator rejects bad answers by name, and writes nothing."""

from __future__ import annotations

import subprocess
import sys
import warnings

import botocore.session
import copier
import pytest
import yaml

from paved_road.local.node_toolchain import NODE_VERSIONS

BAD_ANSWERS = [
    ("service_name", "Bad_Name", "lowercase"),
    ("service_name", "a", "2-32"),
    ("service_name", "1service", "start with a letter"),
    ("service_name", "x" * 33, "2-32"),
    ("service_name", "trailing-", "not end with a hyphen"),
    ("description", "", "1-200"),
    ("owner", "Team Rocket", "Backstage group name"),
    ("system", "Not Valid", "system must be empty or"),
    ("node_major", 20, "24, 22"),
    ("http_port", 80, "1024 to 65535"),
    ("http_port", 70000, "1024 to 65535"),
    ("architectures", [], "amd64, arm64"),
    ("architectures", ["sparc"], "'amd64', 'arm64'"),
    ("runner_mode", "laptop", "github-hosted"),
    ("aws_region", "mars-north-1", "eu-west-1"),
    ("aws_account_id", "12345", "exactly 12 digits"),
    ("aws_account_id", "12345678901a", "exactly 12 digits"),
    ("github_repository", "no-slash", "OWNER/NAME"),
    ("ecs_cluster_prefix", "9apps", "starting with a letter"),
    ("trace_sample_ratio", 1.5, "from 0 to 1"),
    ("trace_sample_ratio", -0.1, "from 0 to 1"),
    ("paved_road_git_url", "not a url", "git URL"),
    # Plain http only on loopback (the tests' template server), never a remote host in disguise.
    ("paved_road_git_url", "http://example.com/acme/paved-road.git", "git URL"),
    ("paved_road_git_url", "http://localhost:x@evil.example/acme/paved-road.git", "git URL"),
]


@pytest.mark.parametrize(("question", "value", "allowed"), BAD_ANSWERS,
                         ids=[f"{q}={v!r}"[:40] for q, v, _ in BAD_ANSWERS])
def test_bad_answer_names_question_and_writes_nothing(repo_root, tmp_path, question, value, allowed):
    dest = tmp_path / "svc"
    with warnings.catch_warnings(), pytest.raises(ValueError) as excinfo:
        warnings.simplefilter("ignore")
        copier.run_copy(str(repo_root), str(dest), data={question: value}, defaults=True,
                        unsafe=True, quiet=True, vcs_ref="HEAD")
    message = str(excinfo.value)
    assert question in message
    assert allowed in message
    assert not dest.exists()


def test_copier_cli_bad_answer_fails_without_directory(repo_root, tmp_path):
    dest = tmp_path / "svc"
    proc = subprocess.run(
        [sys.executable, "-m", "copier", "copy", "--trust", "--defaults", "-d", "http_port=80",
         str(repo_root), str(dest)],
        capture_output=True, text=True)
    assert proc.returncode != 0
    assert "http_port must be an integer from 1024 to 65535" in proc.stderr
    assert not dest.exists()


def test_every_question_has_help_default_and_validator(repo_root):
    config = yaml.safe_load((repo_root / "copier.yml").read_text())
    questions = {k: v for k, v in config.items() if not k.startswith("_") and v.get("when") is not False}
    assert {"service_name", "description", "owner", "system", "node_major", "http_port", "architectures",
            "aws_region", "aws_account_id", "trace_sample_ratio", "runner_mode"} <= set(questions)
    for name, q in questions.items():
        assert q.get("help"), f"{name} has no help"
        assert "default" in q, f"{name} has no default"
        assert q.get("validator"), f"{name} has no validator"


def test_region_list_matches_botocore(repo_root):
    config = yaml.safe_load((repo_root / "copier.yml").read_text())
    session = botocore.session.get_session()
    assert config["aws_regions_supported"]["default"] == sorted(session.get_available_regions("ecs", "aws"))


def test_node_versions_match_toolchain(repo_root):
    config = yaml.safe_load((repo_root / "copier.yml").read_text())
    rendered = config["node_version"]["default"]
    for major, version in NODE_VERSIONS.items():
        assert f"{major}: '{version}'" in rendered
