"""`paved new`: copier copy for scripts and portals, with clean errors."""

from __future__ import annotations

import functools
import http.server
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent / "upgrade"))
from template_releases import git, init_template_repo  # noqa: E402

TEMPLATE_URL = "https://git.example.com/platform/paved-road.git"
# The answers only the team knows; without them `paved new` refuses (see test_placeholders_*).
REAL_IDS = ["-a", "github_owner_id=5101", "-a", "github_repository_id=880042"]
REAL_IDS_D = ["-d", "github_owner_id=5101", "-d", "github_repository_id=880042"]
REAL = ["-a", "aws_account_id=210987654321", "-a", "github_repository=shop/orders", *REAL_IDS,
        "-a", f"paved_road_git_url={TEMPLATE_URL}"]


def paved(*args, cwd=None):
    return subprocess.run(["paved", *args], capture_output=True, text=True, cwd=cwd)


def answers_of(service: Path) -> dict:
    return yaml.safe_load((service / ".copier-answers.yml").read_text())


def test_generates_a_service_with_answers(tmp_path):
    dest = tmp_path / "billing"
    proc = paved("new", str(dest), "-a", "service_name=billing", "-a", "architectures=arm64",
                 "-a", "http_port=8080", "-a", "node_major=22", "-a", "trace_sample_ratio=0.5", *REAL)
    assert proc.returncode == 0, proc.stderr
    answers = answers_of(dest)
    assert answers["service_name"] == "billing"
    assert answers["architectures"] == ["arm64"]
    assert answers["http_port"] == 8080
    assert answers["node_major"] == 22 and (dest / ".nvmrc").read_text().startswith("22.")
    assert answers["trace_sample_ratio"] == 0.5
    assert "_placeholders" not in answers
    # The template's canonical URL, not this checkout's path, is where updates come from.
    assert answers["_src_path"] == TEMPLATE_URL
    assert (dest / "src" / "telemetry.js").is_file()


@pytest.mark.parametrize(("answer", "key", "expected"), [
    ("aws_account_id=012345670123", "aws_account_id", "012345670123"),  # not octal 1402433619
    ("description=Orders API: takes orders", "description", "Orders API: takes orders"),  # not a mapping
    ("description=orders #1", "description", "orders #1"),  # not a YAML comment
    ("description=yes", "description", "yes"),  # not True
])
def test_string_answers_arrive_exactly_as_typed(tmp_path, answer, key, expected):
    dest = tmp_path / "svc"
    proc = paved("new", str(dest), *REAL, "-a", answer)
    assert proc.returncode == 0, proc.stderr
    assert answers_of(dest)[key] == expected
    if key == "aws_account_id":
        assert f'aws_account_id        = "{expected}"' in (dest / "infra/environments/production.tfvars").read_text()
    else:
        info = yaml.safe_load((dest / "catalog-info.yaml").read_text())
        assert info["metadata"]["description"] == expected


@pytest.mark.parametrize(("answer", "expected"), [
    ("http_port=80", "http_port must be an integer from 1024 to 65535 (got '80')"),
    ("http_port=abc", "http_port must be an integer (got 'abc')"),
    ("http_port=8080.5", "http_port must be an integer (got '8080.5')"),
    ("trace_sample_ratio=nan", "trace_sample_ratio must be a number (got 'nan')"),
    ("node_major=20", "'node_major': 20 is not in [24, 22]"),
    ("architectures=[sparc]", "'architectures': 'sparc' is not in ['amd64', 'arm64']"),
    ("aws_account_id=1234", "aws_account_id must be exactly 12 digits (got '1234')"),
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


# ---------------------------------------------------------------------------
# Placeholders: demo values never pass silently into a real service
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def template_without_origin(tmp_path_factory):
    """This working tree as a template repository with no `origin`: where only a local path is known.
    (This checkout itself may have one, as a CI clone does, which `paved new` would rightly record.)"""
    return init_template_repo(tmp_path_factory.mktemp("no-origin") / "paved-road")


def test_placeholders_are_refused_without_demo_and_nothing_is_left(template_without_origin, tmp_path):
    dest = tmp_path / "svc"
    proc = paved("new", str(dest), "--template", str(template_without_origin),
                 "-a", "service_name=orders", "-a", "aws_account_id=210987654321")
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.startswith("paved new:")]
    assert lines == ["paved new: github_repository, github_owner_id, github_repository_id, paved_road_git_url "
                     "('https://paved-road.invalid/paved-road.git') still carry the template's demo values: "
                     "give real ones with -a github_repository=... -a github_owner_id=... -a github_repository_id=... "
                     "-a paved_road_git_url=..., "
                     "or pass --demo for a service that will not deploy"], proc.stderr
    assert not dest.exists()


def test_demo_service_carries_its_placeholders_visibly(template_without_origin, tmp_path):
    dest = tmp_path / "svc"
    proc = paved("new", str(dest), "--demo", "--template", str(template_without_origin))
    assert proc.returncode == 0, proc.stderr
    # Only a local path is known for this checkout: said once, on stderr.
    assert [line for line in proc.stderr.splitlines() if "only a local path is known" in line], proc.stderr
    answers = answers_of(dest)
    assert answers["_placeholders"] == ["aws_account_id", "github_repository", "github_owner_id", "github_repository_id", "paved_road_git_url"]
    info = yaml.safe_load((dest / "catalog-info.yaml").read_text())
    assert info["metadata"]["annotations"]["paved-road.dev/placeholders"] == \
        "aws_account_id,github_repository,github_owner_id,github_repository_id,paved_road_git_url"
    # The demo template URL can never resolve (RFC 2606 .invalid), so nothing installs from a stranger's repository.
    deploy = (dest / ".github/workflows/deploy.yml").read_text()
    assert "git+https://paved-road.invalid/paved-road.git@" in deploy
    assert "github.com/acme" not in deploy
    # ... and the platform's fleet view flags it.
    catalog = paved("catalog", str(dest), "--format", "json")
    assert catalog.returncode in (0, 2), catalog.stderr
    [service] = json.loads(catalog.stdout)["services"]
    assert service["placeholders"] == ["aws_account_id", "github_repository", "github_owner_id", "github_repository_id", "paved_road_git_url"]
    assert json.loads(catalog.stdout)["summary"]["placeholders"] == 1


# ---------------------------------------------------------------------------
# The canonical template URL, from a URL or from a local clone
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def served_template(tmp_path_factory):
    """This working tree as a template tagged v1.0.0, served over git's dumb HTTP protocol on 127.0.0.1."""
    root = tmp_path_factory.mktemp("served")
    work = init_template_repo(root / "work")
    bare = root / "www" / "paved-road.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    git(bare, "update-server-info")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root / "www"))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield work, f"http://127.0.0.1:{server.server_address[1]}/paved-road.git"
    server.shutdown()


def test_new_from_a_template_url_records_that_url(served_template, tmp_path):
    _, url = served_template
    dest = tmp_path / "svc"
    proc = paved("new", str(dest), "--template", url, "-a", "service_name=orders", "-a", "node_major=22",
                 "-a", "aws_account_id=210987654321", "-a", "github_repository=shop/orders", *REAL_IDS)
    assert proc.returncode == 0, proc.stderr
    answers = answers_of(dest)
    assert answers["_src_path"] == url and answers["paved_road_git_url"] == url
    assert answers["_commit"] == "v1.0.0" and answers["node_major"] == 22
    assert f"git::{url}//terraform-modules/ecs-service?ref=v1.0.0" in (dest / "infra/main.tf").read_text()


def test_new_from_a_local_clone_records_its_origin_not_its_path(served_template, tmp_path):
    _, url = served_template
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", url, str(clone)], check=True)
    dest = tmp_path / "svc"
    proc = paved("new", str(dest), "--template", str(clone), "--vcs-ref", "v1.0.0", "-a", "service_name=orders",
                 "-a", "aws_account_id=210987654321", "-a", "github_repository=shop/orders", *REAL_IDS)
    assert proc.returncode == 0, proc.stderr
    answers = answers_of(dest)
    assert answers["_src_path"] == url, "a local path here is what Renovate rejects as 'Invalid url'"
    # ... and copier itself updates from it (paved new made the repository and its first commit).
    update = subprocess.run([str(Path(sys.executable).with_name("copier")), "update", "--trust", "--defaults",
                             "--skip-answered", "--vcs-ref", "v1.0.0"], cwd=dest, capture_output=True, text=True)
    assert update.returncode == 0, update.stderr


def test_plain_copier_from_a_path_records_the_url_and_update_clears_the_placeholders(served_template, tmp_path):
    """Without paved: `copier copy PATH -d paved_road_git_url=URL` records URL (with the `.git` copier needs to
    read it back as git, as a self-hosted server's URL is often given without); giving the real answers
    later with `copier update -d ...` removes every trace of the demo values."""
    work, url = served_template
    copier = str(Path(sys.executable).with_name("copier"))
    dest = tmp_path / "svc"
    proc = subprocess.run([copier, "copy", "--trust", "--defaults", "--vcs-ref", "v1.0.0",
                           "-d", f"paved_road_git_url={url.removesuffix('.git')}",
                           str(work), str(dest)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "WARNING: aws_account_id, github_repository, github_owner_id, github_repository_id still carry the template's demo values" \
        in proc.stdout + proc.stderr
    answers = answers_of(dest)
    assert answers["_src_path"] == url
    assert answers["_placeholders"] == ["aws_account_id", "github_repository", "github_owner_id", "github_repository_id"]
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "generated")
    proc = subprocess.run([copier, "update", "--trust", "--defaults", "--skip-answered", "--vcs-ref", "v1.0.0",
                           "-d", "aws_account_id=012345670123", "-d", "github_repository=shop/orders", *REAL_IDS_D],
                          cwd=dest, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    answers = answers_of(dest)
    assert "_placeholders" not in answers and answers["aws_account_id"] == "012345670123"
    assert answers["_src_path"] == url
    assert "paved-road.dev/placeholders" not in (dest / "catalog-info.yaml").read_text()


@pytest.mark.parametrize(("template", "expected"), [
    ("no/such/dir", "--template must be a template directory or git URL (got 'no/such/dir')"),
    ("http://127.0.0.1:9/paved-road.git", "--template http://127.0.0.1:9/paved-road.git: cannot read the template"),
])
def test_bad_template_is_one_clean_line(tmp_path, template, expected):
    dest = tmp_path / "svc"
    proc = paved("new", str(dest), "--template", template, *REAL)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.startswith("paved new:")]
    assert len(lines) == 1 and expected in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and not dest.exists()


def test_credentials_in_a_clones_origin_are_never_recorded(tmp_path):
    from paved_road.template_source import canonical_url

    clone = tmp_path / "clone"
    git(tmp_path, "init", "-q", str(clone))
    git(clone, "remote", "add", "origin", "https://ci-bot:ghp_s3cret@git.example.com/platform/paved-road.git")
    assert canonical_url(clone) == "https://git.example.com/platform/paved-road.git"
    assert canonical_url("https://x-token@github.com/platform/paved-road.git") == \
        "https://github.com/platform/paved-road.git"
    assert canonical_url("gh:platform/paved-road") == "https://github.com/platform/paved-road.git"
    assert canonical_url(tmp_path) is None  # a plain directory: only a local path is known
    # A template directory inside another repository (vendored): that repository's origin is not the template's.
    (clone / "vendor" / "paved-road").mkdir(parents=True)
    assert canonical_url(clone / "vendor" / "paved-road") is None
    assert canonical_url(clone) == "https://git.example.com/platform/paved-road.git"


def test_a_relative_template_path_is_recorded_absolute(template_without_origin, tmp_path):
    import os

    proc = paved("new", "svc", "--demo", "--template", os.path.relpath(template_without_origin, tmp_path), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert answers_of(tmp_path / "svc")["_src_path"] == str(template_without_origin.resolve())


@pytest.mark.parametrize("former", ["https://github.com/acme/paved-road.git", "git@github.com:Acme/paved-road.git"])
def test_a_template_url_under_the_demo_owner_is_a_demo_value_never_the_update_source(tmp_path, former):
    """Services made before the `.invalid` demo URL carry github.com/acme/paved-road.git: on their next
    `copier update` it must not become `_src_path` (a stranger's repository, whose migrations run with --trust)."""
    repo_root = Path(__file__).resolve().parents[1]
    dest = tmp_path / "svc"
    proc = subprocess.run([str(Path(sys.executable).with_name("copier")), "copy", "--trust", "--defaults",
                           "-d", f"paved_road_git_url={former}", "-d", "aws_account_id=210987654321",
                           "-d", "github_repository=shop/orders", *REAL_IDS_D, str(repo_root), str(dest)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    answers = answers_of(dest)
    assert answers["_placeholders"] == ["paved_road_git_url"]
    assert "acme" not in answers["_src_path"].lower()
    assert "WARNING: paved_road_git_url still carry the template's demo values" in proc.stdout + proc.stderr
    # Nothing is fetched from it either: the CLI install and the Terraform modules fail loudly on `.invalid`.
    for rel in (".github/workflows/deploy.yml", ".github/workflows/rollback.yml", "infra/main.tf"):
        text = (dest / rel).read_text()
        assert "acme" not in text.lower() and "paved-road.invalid/paved-road.git" in text, rel
    # ... nor from any other file that fetches (every use goes through copier.yml's template_git_url).
    fetching = [str(p.relative_to(dest)) for p in dest.rglob("*")
                if p.is_file() and p.suffix != ".md" and p.name not in (".copier-answers.yml", "renovate.json")
                and "github.com/acme/" in p.read_text(errors="replace").lower().replace("github.com:", "github.com/")]
    assert fetching == []


def test_a_token_in_the_template_url_is_never_recorded(served_template, tmp_path):
    """`copier copy https://bot:TOKEN@host/paved-road.git` (a CI job's first clone): copier records the URL
    as given; the service must not carry the token anywhere."""
    _, url = served_template
    with_token = url.replace("http://", "http://ci-bot:ghp_s3cret@")
    dest = tmp_path / "svc"
    proc = subprocess.run([str(Path(sys.executable).with_name("copier")), "copy", "--trust", "--defaults",
                           "--vcs-ref", "v1.0.0", "-d", "aws_account_id=210987654321",
                           "-d", "github_repository=shop/orders", *REAL_IDS_D, with_token, str(dest)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert answers_of(dest)["_src_path"] == url
    leaked = [str(p) for p in dest.rglob("*") if p.is_file() and b"ghp_s3cret" in p.read_bytes()]
    assert leaked == []
    # paved new says the same for an unreachable one, without the token.
    proc = paved("new", str(tmp_path / "other"), "--template", "http://ci-bot:ghp_s3cret@127.0.0.1:9/x.git", *REAL)
    assert proc.returncode == 2 and "ghp_s3cret" not in proc.stderr + proc.stdout
    assert "Failed to connect" in proc.stderr or "unable to access" in proc.stderr, proc.stderr


def test_a_clones_origin_without_git_suffix_is_recorded_as_a_url_copier_updates_from(served_template, tmp_path):
    """A self-hosted server's usual origin, https://git.corp/platform/paved-road, is no git URL to copier when
    read back from `_src_path` (copier._vcs.get_repo wants `.git` outside GitHub/GitLab): record it with `.git`."""
    _, url = served_template
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", url, str(clone)], check=True)
    git(clone, "remote", "set-url", "origin", url.removesuffix(".git"))
    dest = tmp_path / "svc"
    proc = paved("new", str(dest), "--template", str(clone), "--vcs-ref", "v1.0.0", "-a", "service_name=orders",
                 "-a", "aws_account_id=210987654321", "-a", "github_repository=shop/orders", *REAL_IDS)
    assert proc.returncode == 0, proc.stderr
    assert "only a local path" not in proc.stderr
    assert answers_of(dest)["_src_path"] == url  # paved new made the repository and its first commit
    update = subprocess.run([str(Path(sys.executable).with_name("copier")), "update", "--trust", "--defaults",
                             "--skip-answered", "--vcs-ref", "v1.0.0"], cwd=tmp_path / "svc", capture_output=True,
                            text=True)
    assert update.returncode == 0, update.stderr


def test_a_template_url_copier_cannot_update_from_is_said(template_without_origin, tmp_path):
    """A file:// template URL is valid, but copier keeps the local `_src_path`: paved new says so, not only --demo."""
    dest = tmp_path / "svc"
    proc = paved("new", str(dest), "--template", str(template_without_origin), "-a", "aws_account_id=210987654321",
                 "-a", "github_repository=shop/orders", *REAL_IDS, "-a", f"paved_road_git_url={template_without_origin.as_uri()}")
    assert proc.returncode == 0, proc.stderr
    assert answers_of(dest)["_src_path"] == str(template_without_origin)
    [warning] = [line for line in proc.stderr.splitlines() if "only a local path is known" in line]
    assert warning.startswith("paved new: warning:")

