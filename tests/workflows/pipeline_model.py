"""Executable models of the GitHub and AWS behaviour the release pipeline relies
on, small enough to read, each citing the documented behaviour it models:

- which jobs of a workflow run for an event (`if:` and `needs:`);
- the OIDC subject GitHub puts in a job's token ("About security hardening
  with OpenID Connect", subject claim examples: `repo:OWNER/REPO:environment:NAME`
  when the job references an environment, else `repo:OWNER/REPO:pull_request`
  for pull requests, else `repo:OWNER/REPO:ref:REF`);
- IAM's condition evaluation is tests/terraform/iam_model.py's;
- the shell GitHub runs a `run:` step with on Linux (workflow syntax,
  `jobs.<job_id>.steps[*].shell`: unspecified -> `bash -e {0}`, `bash` ->
  `bash --noprofile --norc -eo pipefail {0}`);
- concurrency groups (workflow syntax, `concurrency`: at most one running and
  one pending run per group; a new run replaces a pending one, and with
  cancel-in-progress also cancels the running one).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

HOSTED_LABELS = {"ubuntu-24.04", "ubuntu-24.04-arm"}
REPOSITORY = "acme/demo-service"  # the template's default github_repository


@dataclass(frozen=True)
class Event:
    """What GitHub knows when a run starts: enough to evaluate our `if:`s."""
    name: str
    event_name: str
    ref: str

    @property
    def ref_type(self) -> str:
        return "tag" if self.ref.startswith("refs/tags/") else "branch"

    @property
    def ref_name(self) -> str:
        return self.ref.split("/", 2)[2]


PULL_REQUEST = Event("pull request", "pull_request", "refs/pull/7/merge")
PUSH_MAIN = Event("push to main", "push", "refs/heads/main")
PUSH_TAG = Event("release tag", "push", "refs/tags/v1.2.0")
PUSH_BRANCH_TAG = Event("tag on an unmerged commit", "push", "refs/tags/v9.9.9")
DISPATCH_MAIN = Event("manual run from main", "workflow_dispatch", "refs/heads/main")
DISPATCH_BRANCH = Event("manual run from a feature branch", "workflow_dispatch", "refs/heads/feature")

CI_EVENTS = [PULL_REQUEST, PUSH_MAIN, PUSH_TAG]
DISPATCH_EVENTS = [DISPATCH_MAIN, DISPATCH_BRANCH]


# ------------------------------------------------------------------ if: and needs:


def _condition_may_hold(expression, event: Event) -> bool:
    """Evaluate a job's `if:` for an event; contexts unknown at start (needs,
    inputs, matrix) may go either way, so they count as possibly true."""
    if expression is None:
        return True
    text = str(expression).strip()
    if text.startswith("${{") and text.endswith("}}"):
        text = text[3:-2].strip()
    known = {"github.event_name": event.event_name, "github.ref_type": event.ref_type, "github.ref": event.ref}
    if re.search(r"\b(needs|inputs|matrix|steps|vars|secrets|env)\.", text):
        return True
    for name, value in known.items():
        text = text.replace(name, repr(value))
    if re.search(r"\bgithub\.", text):
        raise AssertionError(f"the model does not know every context in: {expression}")
    python = text.replace("&&", " and ").replace("||", " or ")
    python = re.sub(r"!(?!=)", " not ", python)
    return bool(eval(python, {"__builtins__": {}}, {}))  # noqa: S307 - our own workflow text, literals only


def jobs_that_may_run(workflow: dict, event: Event) -> dict[str, dict]:
    jobs = workflow["jobs"]
    runs: dict[str, bool] = {}

    def may_run(name: str) -> bool:
        if name not in runs:
            job = jobs[name]
            needs = job.get("needs", [])
            needs = [needs] if isinstance(needs, str) else needs
            runs[name] = _condition_may_hold(job.get("if"), event) and all(may_run(n) for n in needs)
        return runs[name]

    return {name: job for name, job in jobs.items() if may_run(name)}


def runner_labels(job: dict) -> set[str]:
    runs_on = job.get("runs-on")
    if runs_on == "${{ matrix.runner }}":
        return {row["runner"] for row in job["strategy"]["matrix"]["include"]}
    if runs_on is None:  # a reusable-workflow call: its jobs have their own runs-on
        return set()
    return set(runs_on) if isinstance(runs_on, list) else {runs_on}


# ------------------------------------------------------------------ OIDC and IAM


def oidc_subject(job: dict, event: Event, repository: str = REPOSITORY) -> str:
    """`repository` is what follows `repo:`: OWNER/NAME, or OWNER@ID/NAME@ID on immutable subjects."""
    environment = job.get("environment")
    if isinstance(environment, dict):
        environment = environment.get("name")
    if environment:
        return f"repo:{repository}:environment:{environment}"
    if event.event_name in ("pull_request", "pull_request_target"):
        return f"repo:{repository}:pull_request"
    return f"repo:{repository}:ref:{event.ref}"


@dataclass
class TrustPolicy:
    """One role's trust policy JSON (rendered from the module) and its federated principal;
    IAM's evaluation is iam_model's (tests/terraform), the one model of it."""
    role_name: str
    policy: dict
    principal: str

    def allows(self, subject: str, audience: str = "sts.amazonaws.com") -> bool:
        from iam_model import OIDC_HOST, allows
        return allows(self.policy, {f"{OIDC_HOST}:sub": subject, f"{OIDC_HOST}:aud": audience}, self.principal)


# ------------------------------------------------------------------ shells


def github_shell(workflow: dict, job: dict, step: dict) -> list[str]:
    shell = step.get("shell") or (job.get("defaults") or {}).get("run", {}).get("shell") \
        or (workflow.get("defaults") or {}).get("run", {}).get("shell")
    if shell is None:
        return ["bash", "-e"]
    if shell == "bash":
        return ["bash", "--noprofile", "--norc", "-eo", "pipefail"]
    raise AssertionError(f"the model does not know shell {shell!r}")


# ------------------------------------------------------------------ concurrency


@dataclass
class Run:
    name: str
    group: str
    cancel_in_progress: bool
    state: str = "new"  # running, pending, cancelled


class ConcurrencyGroups:
    def __init__(self) -> None:
        self.running: dict[str, Run] = {}
        self.pending: dict[str, Run] = {}

    def arrive(self, run: Run) -> Run:
        group = run.group
        if group in self.pending:
            self.pending.pop(group).state = "cancelled"
        if group in self.running and run.cancel_in_progress:
            self.running.pop(group).state = "cancelled"
        if group in self.running:
            run.state = "pending"
            self.pending[group] = run
        else:
            run.state = "running"
            self.running[group] = run
        return run


# ------------------------------------------------------------------ environments


def environment_admits(patterns: dict[str, list[str]], ref: str) -> bool:
    """Deployment branch and tag policy: fnmatch-style name patterns per kind."""
    kind, name = ("tags", ref.removeprefix("refs/tags/")) if ref.startswith("refs/tags/") else (
        "branches", ref.removeprefix("refs/heads/"))
    return any(fnmatch.fnmatchcase(name, p) for p in patterns.get(kind, []))
