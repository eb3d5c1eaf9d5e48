"""The template repository's generated fleet-preview workflow (shards + merge): up to date, pinned,
least privilege, and clean under actionlint, zizmor and GitHub's workflow schema."""

from __future__ import annotations

import re

from paved_road.fleet.preview import workflow as preview_workflow
from workflow_lint import REPO_ROOT, check_jsonschema, load_workflow, zizmor

WORKFLOW = REPO_ROOT / preview_workflow.OUTPUT


def test_the_checked_in_workflow_is_the_generated_one():
    assert WORKFLOW.read_text() == preview_workflow.render(), "stale: run `make generated`"


def test_every_action_is_pinned_to_the_template_workflows_commit():
    pins = preview_workflow.pins()
    uses = re.findall(r"uses: (\S+)@(\S+) # (\S+)", WORKFLOW.read_text())
    assert uses and len(uses) == WORKFLOW.read_text().count("uses: ")
    for action, sha, version in uses:
        assert re.fullmatch(r"[0-9a-f]{40}", sha) and pins[action] == (sha, version), action
    template_ci = (REPO_ROOT / "template/.github/workflows/ci.yml.jinja").read_text()
    assert f"actions/checkout@{pins['actions/checkout'][0]}" in template_ci  # one source of pins


def test_least_privilege_and_the_token_only_where_the_fleet_is_cloned():
    wf = load_workflow(WORKFLOW)
    assert wf["permissions"] == {"contents": "read"}
    assert all("permissions" not in job for job in wf["jobs"].values())
    assert list(wf["on"]) == ["workflow_dispatch"]  # never on pull requests: it holds a read token
    steps = [s for job in wf["jobs"].values() for s in job["steps"]]
    with_token = [s["name"] for s in steps if "secrets." in str(s)]
    assert with_token == ["Clone the fleet"]
    assert all(s.get("with", {}).get("persist-credentials") is False for s in steps
               if s.get("uses", "").startswith("actions/checkout@"))


def test_shards_run_the_preview_and_one_job_merges_them():
    wf = load_workflow(WORKFLOW)
    preview, report = wf["jobs"]["preview"], wf["jobs"]["report"]
    assert preview["strategy"]["matrix"]["shard"] == [1, 2, 3, 4] and wf["env"]["SHARDS"] == "4"
    run = "\n".join(s.get("run", "") for s in preview["steps"])
    assert '--shard "$SHARD/$SHARDS" --json' in run and "--candidate \"$CANDIDATE\"" in run
    assert report["needs"] == "preview"
    merge = "\n".join(s.get("run", "") for s in report["steps"])
    assert "paved fleet preview --merge shards/*.json --format html -o preview.html" in merge
    assert preview_workflow.render(shards=2).count("shard: [1, 2]") == 1


def test_linters_find_nothing(actionlint):
    assert actionlint([WORKFLOW]) == []
    assert zizmor([WORKFLOW]) == []
    report = check_jsonschema([WORKFLOW])
    assert not report.get("errors") and not report.get("parse_errors"), report


def test_no_job_that_runs_service_or_candidate_code_can_reach_the_read_token():
    """GitHub decrypts a job's secrets into its runner process, whose memory any step's process can read
    (docs.github.com, "Security hardening for GitHub Actions"; the tj-actions/changed-files compromise
    did exactly that): the services' tests and the candidate's migrations must run in a job that has
    neither the environment holding FLEET_READ_TOKEN nor any secret."""
    wf = load_workflow(WORKFLOW)
    for name, job in wf["jobs"].items():
        text = str(job)
        runs_code = "paved fleet preview fleet" in text or "npm " in text
        if runs_code:
            assert "environment" not in job and "secrets." not in text, name
    cloning = [name for name, job in wf["jobs"].items() if "secrets.FLEET_READ_TOKEN" in str(job)]
    assert len(cloning) == 1 and wf["jobs"][cloning[0]].get("environment") == "fleet-preview"
    assert cloning[0] in str(wf["jobs"]["preview"]["needs"])
    assert "paved fleet preview" not in str(wf["jobs"][cloning[0]])


def test_the_run_summary_shows_the_report_verbatim(tmp_path):
    """The plain report holds conflict hunks of Markdown files (their ``` fences) and names from the
    services: in the run's summary it is escaped inside <pre>, not in a ``` fence a hunk can close."""
    import subprocess

    wf = load_workflow(WORKFLOW)
    merge = next(s["run"] for s in wf["jobs"]["report"]["steps"] if s.get("name") == "Merge")
    summary_line = next(line for line in merge.splitlines() if "GITHUB_STEP_SUMMARY" in line)
    (tmp_path / "preview.txt").write_text("example hunk (README.md in a):\n    ```\n    <img src=x> & more\n")
    out = tmp_path / "summary.md"
    env = {"GITHUB_STEP_SUMMARY": str(out), "PATH": "/usr/bin:/bin"}
    subprocess.run(["bash", "-c", summary_line], cwd=tmp_path, env=env, check=True)
    assert out.read_text() == ("<pre>\nexample hunk (README.md in a):\n    ```\n    &lt;img src=x&gt; &amp; more\n"
                               "</pre>\n")
