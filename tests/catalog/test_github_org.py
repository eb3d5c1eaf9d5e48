"""`paved catalog --github-org`: a fleet read through GitHub's GraphQL API (a local fixture server).

The fixture organisation `acme`: the real generated services of catalog_fleet.py on four template
versions, an unreadable answers file, a non-service repository, an archived service, a service
from another template, a repository the token cannot read, one deleted while we page, 120 more
repositories (a page boundary at 100 and two read batches), and two rate-limit answers mid-run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from catalog_fleet import SERVICES
from github_fixture import FixtureOrg, FixtureRepo, load_schema, serve

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ecosystem"))
import npm_tools  # noqa: E402

from paved_road.fleet.remote import github  # noqa: E402

PAVED = str(Path(sys.executable).with_name("paved"))
TOKEN = "ghp_fixtureTOKEN0123456789abcdef0123456789"
ANSWERS = ".copier-answers.yml"


@pytest.fixture(scope="session")
def github_schema(node24_env):
    return load_schema(npm_tools.install("graphql-schema", node24_env))


@pytest.fixture(scope="module")
def org_repos(fleet_root, fleet_template):
    """name -> FixtureRepo, and the local checkouts of the repositories the fleet should hold."""
    def answers_of(rel: str) -> bytes:
        return (fleet_root / rel / ANSWERS).read_bytes()

    def renamed(rel: str, name: str, **extra) -> bytes:
        data = yaml.safe_load(answers_of(rel))
        data.update(service_name=name, **extra)
        return yaml.safe_dump(data).encode()

    repos = [FixtureRepo(name, {ANSWERS: answers_of(rel), "README.md": b"# svc\n"}, topics=["nodejs"])
             for name, (_, rel) in SERVICES.items()]
    repos += [
        FixtureRepo("broken", {ANSWERS: (fleet_root / "broken" / ANSWERS).read_bytes()}),
        FixtureRepo("docs-site", {"README.md": b"# docs\n"}),
        FixtureRepo("legacy", {ANSWERS: renamed("charlie", "legacy")}, archived=True),
        FixtureRepo("other-tpl", {ANSWERS: renamed("alpha", "other", _src_path="https://github.com/elsewhere/tpl.git")}),
        FixtureRepo("secret", {ANSWERS: renamed("bravo", "secret")}, forbidden=True),
        FixtureRepo("echo", {ANSWERS: renamed("alpha", "echo")}),  # deleted after the first page
        FixtureRepo("empty"),  # created, never pushed to
        *(FixtureRepo(f"lib-{i:03}", {"README.md": b"# lib\n"}) for i in range(120)),
    ]
    return repos


@pytest.fixture
def org_server(github_schema, org_repos):
    org = FixtureOrg(github_schema, "acme", [FixtureRepo(r.name, dict(r.files), r.archived, list(r.topics),
                                                         r.forbidden, r.empty) for r in org_repos],
                     TOKEN, faults={2: "secondary", 4: "primary"}, delete_after_first_page=("echo",))
    server, url = serve(org)
    try:
        yield org, url
    finally:
        server.shutdown()
        server.server_close()


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("GH_TOKEN", "GITHUB_TOKEN", "GH_ENTERPRISE_TOKEN",
                                                          "GITHUB_ENTERPRISE_TOKEN")}
    return {**env, **extra}


def _paved(*args, cwd=None, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([PAVED, *args], capture_output=True, text=True, cwd=cwd, env=env or _env(), timeout=300)


def test_org_catalog_equals_local_checkouts(org_server, org_repos, fleet_root, fleet_template, tmp_path):
    org, url = org_server
    # local checkouts of the repositories the organisation's fleet holds, at ./acme/<name>
    local = tmp_path / "acme"
    for name, (_, rel) in SERVICES.items():
        shutil.copytree(fleet_root / rel, local / name, symlinks=True)
    shutil.copytree(fleet_root / "broken", local / "broken")
    (local / "docs-site").mkdir()
    (local / "docs-site" / "README.md").write_text("# docs\n")

    from_disk = _paved("catalog", "acme", "--template", str(fleet_template), "--format", "plain", cwd=tmp_path)
    from_org = _paved("catalog", "--github-org", "acme", "--github-api", url, "--template", str(fleet_template),
                      "--format", "plain", cwd=tmp_path, env=_env(GH_ENTERPRISE_TOKEN=TOKEN))

    assert from_org.stdout == from_disk.stdout
    assert [line.split()[0] for line in from_org.stdout.splitlines()[1:-1]] == ["alpha", "bravo", "charlie", "delta", "?"]
    assert from_org.returncode == from_disk.returncode == 4  # broken is unreadable in both
    err = from_org.stderr
    assert "paved catalog: acme: 131 repositories listed, 5 in the fleet" in err
    assert "1 the token cannot read: acme/secret" in err
    assert "1 gone while reading: acme/echo" in err
    assert "1 archived, left out (--include-archived): acme/legacy" in err
    assert "1 generated from another template: acme/other-tpl" in err
    assert "s waiting on rate limits" in err
    assert TOKEN not in from_org.stdout + err
    # the two rate-limit answers were waited out, and the same queries sent again
    assert org.rate_limited == 2
    # every query sent is valid against GitHub's published schema
    assert org.queries and all(errors == [] for _, errors in org.queries), [e for _, e in org.queries if e]
    # 2 list pages + 2 read batches of <= 100, plus the 2 retries
    assert len(org.queries) == 4
    assert org.requests == 6


def test_topic_and_archived_select_within_the_org(org_server, fleet_template, tmp_path):
    org, url = org_server
    org.faults.clear()
    out = _paved("catalog", "--github-org", "acme", "--github-api", url, "--template", str(fleet_template),
                 "--topic", "nodejs", "--json", env=_env(GITHUB_ENTERPRISE_TOKEN=TOKEN))
    import json
    names = [s["name"] for s in json.loads(out.stdout)["services"]]
    assert names == ["alpha", "bravo", "charlie", "delta"]
    out = _paved("catalog", "--github-org", "acme", "--github-api", url, "--template", str(fleet_template),
                 "--include-archived", "--json", env=_env(GITHUB_ENTERPRISE_TOKEN=TOKEN))
    assert "legacy" in [s["name"] for s in json.loads(out.stdout)["services"]]


def test_no_token_one_line_exit_2(tmp_path):
    env = _env(PATH=str(tmp_path))  # no gh on PATH either
    out = _paved("catalog", "--github-org", "acme", env=env)
    assert out.returncode == 2
    assert out.stderr == ("paved catalog: --github-org needs a GitHub token: set GH_TOKEN or GITHUB_TOKEN, "
                          "or run `gh auth login`\n")
    assert out.stdout == ""


def test_gh_auth_token_is_used(tmp_path, monkeypatch):
    gh = tmp_path / "gh"
    gh.write_text("#!/bin/sh\n[ \"$1 $2\" = 'auth token' ] && echo gho_fromgh\n")
    gh.chmod(0o755)
    assert github.find_token({"PATH": str(tmp_path)}) == "gho_fromgh"
    assert github.find_token({"PATH": str(tmp_path), "GITHUB_TOKEN": "b", "GH_TOKEN": "a"}) == "a"


def test_a_github_com_token_never_goes_to_another_host(tmp_path):
    """gh's documented split (`gh help environment`): GH_TOKEN/GITHUB_TOKEN are github.com tokens,
    GH_ENTERPRISE_TOKEN/GITHUB_ENTERPRISE_TOKEN are GitHub Enterprise Server ones. `--github-api`
    names any host: the github.com token must not be sent there."""
    ghes = "https://ghe.example.com/api/graphql"
    gh = tmp_path / "gh"
    gh.write_text('#!/bin/sh\n[ "$*" = "auth token --hostname ghe.example.com" ] && echo gho_ghes\n')
    gh.chmod(0o755)
    assert github.find_token({"GH_TOKEN": "ghp_dotcom", "PATH": str(tmp_path)}, api=ghes) == "gho_ghes"
    assert github.find_token({"GH_TOKEN": "ghp_dotcom", "GITHUB_ENTERPRISE_TOKEN": "e"}, api=ghes) == "e"
    assert github.find_token({"GH_TOKEN": "ghp_dotcom"}, api="https://api.octo.ghe.com/graphql") == "ghp_dotcom"
    out = _paved("catalog", "--github-org", "acme", "--github-api", ghes, cwd=tmp_path,
                 env=_env(GH_TOKEN="ghp_dotcom", PATH=str(Path(PAVED).parent)))
    assert out.returncode == 2
    assert out.stderr == ("paved catalog: --github-org needs a GitHub token: set GH_ENTERPRISE_TOKEN or "
                          "GITHUB_ENTERPRISE_TOKEN, or run `gh auth login --hostname ghe.example.com`\n")


def test_bad_token_is_refused_and_never_printed(org_server, tmp_path):
    _, url = org_server
    out = _paved("catalog", "--github-org", "acme", "--github-api", url, env=_env(GH_ENTERPRISE_TOKEN="ghp_wrongTOKENvalue"))
    assert out.returncode == 4
    assert "refused the token (HTTP 401: Bad credentials); check GH_ENTERPRISE_TOKEN/GITHUB_ENTERPRISE_TOKEN" in out.stderr
    assert "ghp_wrongTOKENvalue" not in out.stderr + out.stdout


@pytest.mark.parametrize("args, message", [
    (["--github-org=-acme"], "--github-org: '-acme' is not a GitHub organisation login"),
    (["--github-org", "acme", "--topic", "Node JS"], "--topic: 'Node JS' is not a GitHub topic"),
    (["--github-org", "acme", "--github-api", "http://example.com/graphql"], "--github-api: 'http://example.com/graphql' must be an https:// URL"),
    (["--github-org", "acme", "."], "--github-org selects the whole fleet: drop PATH and --repos-file"),
    (["--topic", "nodejs"], "--topic, --include-archived and --github-api select within --github-org ORG"),
])
def test_bad_selection_is_one_line_exit_2(args, message, tmp_path):
    out = _paved("catalog", *args, cwd=tmp_path,
                 env=_env(GH_TOKEN=TOKEN))
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith(f"paved catalog: {message}") and out.stderr.count("\n") == 1


def test_queries_validate_against_githubs_schema(github_schema):
    from graphql import parse, validate

    for query in (github.LIST_QUERY, github.read_query(1), github.read_query(github.READ_BATCH)):
        assert validate(github_schema, parse(query)) == []
    # and the validator does reject what GitHub would
    assert validate(github_schema, parse(github.read_query(1).replace("byteSize", "byteSizes")))


# --- the same selection for `paved fleet update` -------------------------------------------------
def test_fleet_update_takes_checkouts_from_the_repos_file(canonical_fleet_template, tmp_path):
    svc = tmp_path / "svc"
    svc.mkdir()
    (svc / ANSWERS).write_text(f"_src_path: {canonical_fleet_template}\n_commit: v2.1.1\nservice_name: x\n")
    for cmd in (["init", "-q", "-b", "main"], ["add", "-A"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"]):
        subprocess.run(["git", "-C", str(svc), *cmd], check=True)
    (tmp_path / "fleet.yml").write_text("repos:\n  - svc\n")
    out = _paved("fleet", "update", "--repos-file", str(tmp_path / "fleet.yml"), "--json", cwd=tmp_path)
    import json
    results = json.loads(out.stdout)
    assert [(r["path"], r["status"]) for r in results] == [(str(svc), "current")], [r["reason"] for r in results]


@pytest.mark.parametrize("args, message", [
    (["--github-org", "acme"], "fleet update works on checkouts and --github-org names repositories on GitHub"),
    (["--repos-file", "fleet.yml"], "fleet update works on checkouts; 'https://example.com/x.git' is a URL"),
    (["--include-archived"], "--topic, --include-archived and --github-api select within --github-org ORG"),
])
def test_fleet_update_refuses_what_it_cannot_update(args, message, tmp_path):
    (tmp_path / "fleet.yml").write_text("repos:\n  - https://example.com/x.git\n")
    out = _paved("fleet", "update", *args, cwd=tmp_path)
    assert out.returncode == 2
    assert message in out.stderr and out.stderr.count("\n") == 1


# --- the reader itself ----------------------------------------------------------------------------
def _org(schema, faults=None):
    repos = [FixtureRepo("bin", {ANSWERS: b"\0\x01binary"}),
             FixtureRepo("big", {ANSWERS: b"service_name: big\n" + b"#" * 70_000 + b"\n"}),
             FixtureRepo("svc", {ANSWERS: b"service_name: svc\n_src_path: gh:acme/paved-road\n_commit: v1.0.0\n"})]
    return FixtureOrg(schema, "acme", repos, TOKEN, faults=faults)


def test_rate_limits_wait_what_github_says(github_schema):
    org = _org(github_schema, faults={1: "secondary", 2: "primary"})
    server, url = serve(org)
    slept = []
    try:
        client = github.Client(url, TOKEN, sleep=slept.append)
        scan = github.scan_org(client, "acme")
    finally:
        server.shutdown()
        server.server_close()
    assert slept[0] == 1.0  # Retry-After: 1
    assert 0 < slept[1] <= 2.0  # until x-ratelimit-reset (now + 1 s), plus a second of margin
    assert {f.label: f.error for f in scan.found} == {
        "acme/big": ".copier-answers.yml is 70019 bytes; at most 65536 are read",
        "acme/bin": ".copier-answers.yml is not text (GitHub gives no text for a binary blob)",
        "acme/svc": None}


def test_rate_limit_wait_is_bounded(github_schema):
    org = _org(github_schema, faults={1: "secondary", 2: "secondary"})
    server, url = serve(org)
    try:
        client = github.Client(url, TOKEN, sleep=lambda s: None, max_wait=1.5)
        with pytest.raises(github.GitHubError, match=r"GitHub rate limit \(HTTP 403\): would wait 1 s more, over the 1.5 s allowed"):
            github.scan_org(client, "acme")
    finally:
        server.shutdown()
        server.server_close()


def test_an_unknown_org_is_one_line(github_schema):
    server, url = serve(_org(github_schema))
    try:
        with pytest.raises(github.GitHubError, match="--github-org nope: Could not resolve to an Organization"):
            github.scan_org(github.Client(url, TOKEN), "nope")
    finally:
        server.shutdown()
        server.server_close()


# --- hostile or unusual answers from the endpoint (review of #25) ---------------------------------
def _stub(handler_post):
    """A loopback HTTP server whose POST handler is `handler_post(handler)`; (server, base URL)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            handler_post(self)

        def do_GET(self):
            handler_post(self)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def _answer(handler, status: int, payload: dict, headers: dict | None = None):
    import json
    raw = json.dumps(payload).encode()
    handler.send_response(status)
    for k, v in {"Content-Length": str(len(raw)), **(headers or {})}.items():
        handler.send_header(k, v)
    handler.end_headers()
    handler.wfile.write(raw)


def test_a_redirect_is_not_followed_with_the_token():
    """urllib's redirect handler copies every header but Content-*, Authorization included, to any
    host a 301/302/303 names: the token would go to whoever the endpoint redirects to."""
    stolen = []

    def thief(h):
        stolen.append(h.headers.get("Authorization"))
        _answer(h, 200, {"data": {}})

    thief_server, thief_url = _stub(thief)
    redirector, url = _stub(lambda h: (h.send_response(302), h.send_header("Location", f"{thief_url.replace('127.0.0.1', 'localhost')}/x"),
                                       h.send_header("Content-Length", "0"), h.end_headers()))
    try:
        with pytest.raises(github.GitHubError, match=r"redirected to http://localhost:\d+/x: not followed"):
            github.Client(f"{url}/graphql", TOKEN, sleep=lambda s: None).query("{ viewer { login } }", {})
    finally:
        for s in (thief_server, redirector):
            s.shutdown()
            s.server_close()
    assert stolen == []


def test_rate_limit_answers_without_a_wait_are_not_retried_forever():
    """`Retry-After: 0` on every answer: at least a second between retries, and a bounded number."""
    count = [0]

    def limited(h):
        count[0] += 1
        _answer(h, 429, {"message": "slow down"}, {"Retry-After": "0"})

    server, url = _stub(limited)
    slept = []
    try:
        with pytest.raises(github.GitHubError, match="rate limit"):
            github.Client(f"{url}/graphql", TOKEN, sleep=slept.append).query("{ viewer { login } }", {})
    finally:
        server.shutdown()
        server.server_close()
    assert count[0] == github.MAX_RATE_LIMIT_RETRIES + 1
    assert slept and min(slept) >= 1.0


def test_a_listing_with_errors_is_not_an_empty_fleet():
    """An organisation enforcing SAML SSO the token is not authorised for: GitHub answers HTTP 200,
    `repositories: null` and an error of type FORBIDDEN at its path. That is not "no services"."""
    message = ("Resource protected by organization SAML enforcement. You must grant your Personal Access "
               "token access to this organization.")
    server, url = _stub(lambda h: _answer(h, 200, {
        "data": {"organization": {"repositories": None}, "rateLimit": None},
        "errors": [{"type": "FORBIDDEN", "path": ["organization", "repositories"], "message": message,
                    "locations": [{"line": 3, "column": 5}]}]}))
    try:
        with pytest.raises(github.GitHubError, match=r"--github-org acme: GitHub did not list every repository "
                                                     r"\(FORBIDDEN: Resource protected by organization SAML"):
            github.scan_org(github.Client(f"{url}/graphql", TOKEN), "acme")
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("value", ["ghp_abc\ndefSECRET", "ghp_abc defSECRET", "ghp_abc\x1bSECRET"])
def test_a_malformed_token_is_refused_without_printing_it(value, tmp_path):
    out = _paved("catalog", "--github-org", "acme", "--github-api", "http://127.0.0.1:9/graphql", cwd=tmp_path,
                 env=_env(GH_ENTERPRISE_TOKEN=value, PATH=str(Path(PAVED).parent)))
    assert out.returncode == 2, out.stderr
    assert out.stderr == ("paved catalog: GH_ENTERPRISE_TOKEN is not a GitHub token (it holds spaces or control "
                          "characters); set it to the token alone\n")
    assert "SECRET" not in out.stdout + out.stderr


def test_one_huge_answers_file_does_not_stop_the_organisation(github_schema, monkeypatch):
    """The read asks `text` whatever its size: one repository's huge answers file made the whole batch's
    answer too large, and the run ended (exit 4) with no catalog. Now the batch is split and only that
    repository is named."""
    monkeypatch.setattr(github, "MAX_RESPONSE_BYTES", 200_000)
    repos = [FixtureRepo("huge", {ANSWERS: b"service_name: huge\n#" + b"x" * 300_000 + b"\n"}),
             *(FixtureRepo(f"svc-{i}", {ANSWERS: f"service_name: svc-{i}\n".encode()}) for i in range(5))]
    server, url = serve(FixtureOrg(github_schema, "acme", repos, TOKEN))
    try:
        client = github.Client(url, TOKEN)
        scan = github.scan_org(client, "acme")
    finally:
        server.shutdown()
        server.server_close()
    assert {f.label: f.error for f in scan.found} == {
        "acme/huge": "GitHub's answer for its answers files is over 200000 bytes: not read",
        **{f"acme/svc-{i}": None for i in range(5)}}
    assert client.requests <= 1 + 1 + 2 * 3  # the list, the batch, then halves down to the one


def test_a_read_batch_github_gives_up_on_is_split(github_schema):
    """GitHub ends a query it spends over 10 s on with a timeout answer (HTTP 502): one such answer on a
    batch of 100 repositories ended the whole run. The batch is split instead, and read."""
    repos = [FixtureRepo(f"svc-{i}", {ANSWERS: f"service_name: svc-{i}\n".encode()}) for i in range(6)]
    org = FixtureOrg(github_schema, "acme", repos, TOKEN, faults={2: "timeout"})
    server, url = serve(org)
    try:
        scan = github.scan_org(github.Client(url, TOKEN), "acme")
    finally:
        server.shutdown()
        server.server_close()
    assert {f.label: f.error for f in scan.found} == {f"acme/svc-{i}": None for i in range(6)}
    assert org.requests == 4  # the list, the batch (502), its two halves


def test_dora_takes_the_same_org_selection(org_server, fleet_root, fleet_template, monkeypatch):
    """`paved dora --github-org` measures the services `paved catalog --github-org` lists, each on the ECS
    cluster and service its answers file names, as from local checkouts (docs/fleet.md); no checkout, so
    no lead time (repo None)."""
    from paved_road.cli import build_parser
    from paved_road.dora import collect, command

    org, url = org_server
    org.faults.clear()
    monkeypatch.setenv("GH_ENTERPRISE_TOKEN", TOKEN)
    argv = ["dora", "--github-org", "acme", "--github-api", url, "--topic", "nodejs", "--template",
            str(fleet_template), "--environment", "staging"]
    args = build_parser(argv).parse_args(argv)
    _, _, targets = command.prepare(args)
    local = [t for _, rel in SERVICES.values() for t in collect.targets_from_catalog(str(fleet_root / rel), "staging")]

    def where(t):
        return (t.name, t.cluster, t.service, t.region, t.ecr_repository)

    assert sorted(map(where, targets)) == sorted(map(where, local)) and len(targets) == 4
    assert sorted(t.catalog_path for t in targets) == [f"acme/{n}" for n in sorted(SERVICES)]
    assert all(t.repo is None for t in targets)
    assert args.fleet_notes[0] == "acme: 131 repositories listed, 4 in the fleet (3 GraphQL requests)"


def test_dora_org_measures_the_fleet_without_an_unreadable_answers_file(org_server, fleet_template, monkeypatch):
    """acme/broken's answers file is not YAML: dora names it and measures the other services (as `paved catalog`
    reports it as one bad row), instead of stopping the whole fleet's report."""
    from paved_road.cli import build_parser
    from paved_road.dora import command

    org, url = org_server
    org.faults.clear()
    monkeypatch.setenv("GH_ENTERPRISE_TOKEN", TOKEN)
    argv = ["dora", "--github-org", "acme", "--github-api", url, "--template", str(fleet_template)]
    args = build_parser(argv).parse_args(argv)
    _, _, targets = command.prepare(args)
    assert sorted(t.catalog_path for t in targets) == [f"acme/{n}" for n in sorted(SERVICES)]
    (broken,) = args.fleet_unreadable
    assert broken["label"] == "acme/broken" and broken["error"].startswith(".copier-answers.yml is not valid YAML")


def test_dora_org_selection_bad_input_is_one_line(org_server, fleet_template, tmp_path):
    org, url = org_server
    org.faults.clear()
    env = _env(GH_ENTERPRISE_TOKEN=TOKEN, AWS_ENDPOINT_URL="http://127.0.0.1:9")
    both = _paved("dora", "--github-org", "acme", "--github-api", url, "--cluster", "c", env=env)
    assert (both.returncode, both.stderr) == (2, "paved dora: give either --cluster and --service, or a fleet "
                                                 "(PATH, --repos-file, --github-org or --catalog), not both\n")
    no_token = _paved("dora", "--github-org", "acme", env=_env(PATH=str(tmp_path)))
    assert (no_token.returncode, no_token.stdout) == (2, "")
    assert no_token.stderr.startswith("paved dora: --github-org needs a GitHub token")
