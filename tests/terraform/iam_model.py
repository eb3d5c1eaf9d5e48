"""Executable models of the two sides of GitHub-to-AWS OIDC, small enough to read:

1. What GitHub puts in a job's token (`sub`), from GitHub's OpenID Connect
   reference:
   - the default template is `repo:<repo>:<context>`, where the context is
     `environment:NAME` when the job references an environment, otherwise
     `pull_request` for pull_request events, otherwise `ref:REF`
     ("Example subject claims");
   - `<repo>` is `OWNER/NAME`, or `OWNER@OWNER_ID/NAME@REPO_ID` for a
     repository on immutable subject claims: every repository created, renamed
     or transferred on github.com after 2026-06-18, and older ones that opted in
     ("Immutable subject claims"; changelog 2026-04-23);
   - a customised template (`include_claim_keys`) joins `key:value` for each
     key in order, `repo` and `context` rendering as above ("Customizing the
     subject claims"); `job_workflow_ref` is
     `OWNER/NAME/.github/workflows/FILE@REF` of the workflow file the job is
     defined in: for a job of a called reusable workflow, the called file at
     the ref it was called at ("Using OpenID Connect with reusable workflows").

2. How IAM evaluates a trust policy's `Condition` for
   `sts:AssumeRoleWithWebIdentity` (IAM User Guide, "IAM JSON policy elements:
   Condition operators" and "Creating a condition with multiple keys or
   values"):
   - `StringEquals`: exact, case-sensitive; `StringLike`: case-sensitive, `*`
     matches any run of characters (including none, and `/` or `:`), `?`
     exactly one;
   - several values for one key: the condition holds if any value matches
     (OR); several keys, or several operators: all must hold (AND);
   - a key absent from the request context makes the condition false (only the
     `...IfExists` operators differ; the modules use none);
   - the statement applies only to its actions and its `Federated` principal.

The policy documents are rendered the way the AWS provider's
`aws_iam_policy_document` renders them: `condition { test, variable, values }`
blocks become `Condition[test][variable] = values`, blocks with the same test
merged into one operator object.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

OIDC_HOST = "token.actions.githubusercontent.com"


# ------------------------------------------------------------------ GitHub


@dataclass(frozen=True)
class Repository:
    owner: str
    name: str
    owner_id: int
    repo_id: int
    immutable_subjects: bool  # created/renamed/transferred after 2026-06-18, or opted in

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    @property
    def subject_repo(self) -> str:
        if self.immutable_subjects:
            return f"{self.owner}@{self.owner_id}/{self.name}@{self.repo_id}"
        return self.full_name


@dataclass(frozen=True)
class Job:
    """One job's token request: where it runs and which workflow file defines it."""
    repository: Repository
    event: str  # push, pull_request, workflow_dispatch, ...
    ref: str  # refs/heads/main, refs/tags/v1.2.0, refs/pull/7/merge
    workflow_file: str  # the file defining the job, e.g. deploy.yml
    environment: str | None = None
    workflow_repository: str | None = None  # a reusable workflow's OWNER/NAME; None: this repository
    workflow_ref: str | None = None  # the ref the defining file was taken at; None: `ref`
    audience: str = "sts.amazonaws.com"

    @property
    def job_workflow_ref(self) -> str:
        repo = self.workflow_repository or self.repository.full_name
        return f"{repo}/.github/workflows/{self.workflow_file}@{self.workflow_ref or self.ref}"

    def context(self) -> str:
        if self.environment:
            return f"environment:{self.environment}"
        if self.event in ("pull_request", "pull_request_target"):
            return "pull_request"
        return f"ref:{self.ref}"

    def subject(self, claim_keys: tuple[str, ...] | None = None) -> str:
        """`sub` under the default template (None) or a customised one."""
        if claim_keys is None:
            return f"repo:{self.repository.subject_repo}:{self.context()}"
        parts = []
        for key in claim_keys:
            if key == "repo":
                parts.append(f"repo:{self.repository.subject_repo}")
            elif key == "context":
                parts.append(self.context())
            elif key == "job_workflow_ref":
                parts.append(f"job_workflow_ref:{self.job_workflow_ref}")
            else:
                raise AssertionError(f"the model does not know claim key {key}")
        return ":".join(parts)

    def request_context(self, claim_keys: tuple[str, ...] | None = None) -> dict[str, str]:
        return {f"{OIDC_HOST}:sub": self.subject(claim_keys), f"{OIDC_HOST}:aud": self.audience}


WORKFLOW_BOUND_CLAIM_KEYS = ("repo", "context", "job_workflow_ref")


# ------------------------------------------------------------------ IAM


def string_condition(operator: str, patterns: list[str], value: str | None) -> bool:
    if value is None:
        return False  # key absent from the request context
    if operator == "StringEquals":
        return value in patterns
    if operator == "StringLike":
        def like(pattern: str) -> bool:
            regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
            return re.fullmatch(regex, value, re.S) is not None
        return any(like(p) for p in patterns)
    raise AssertionError(f"the model does not know the IAM condition operator {operator}")


def policy_json(document_arguments: dict) -> dict:
    """An `aws_iam_policy_document`'s arguments (as hcl_eval evaluates them) -> policy JSON."""
    statements = []
    for s in document_arguments.get("statement", []):
        out: dict = {"Effect": s.get("effect", "Allow"), "Action": list(s["actions"])}
        if "sid" in s:
            out["Sid"] = s["sid"]
        principals: dict[str, list[str]] = {}
        for p in s.get("principals", []):
            principals.setdefault(p["type"], []).extend(p["identifiers"])
        if principals:
            out["Principal"] = principals
        conditions: dict[str, dict[str, list[str]]] = {}
        for c in s.get("condition", []):
            conditions.setdefault(c["test"], {}).setdefault(c["variable"], []).extend(c["values"])
        if conditions:
            out["Condition"] = conditions
        statements.append(out)
    return {"Version": "2012-10-17", "Statement": statements}


def allows(policy: dict, request: dict[str, str], principal: str,
           action: str = "sts:AssumeRoleWithWebIdentity") -> bool:
    """Whether some Allow statement admits the request (no Deny statements are modelled)."""
    for statement in policy["Statement"]:
        if statement.get("Effect") == "Deny":
            raise AssertionError("the model does not evaluate Deny statements")
        if action not in statement["Action"]:
            continue
        if principal not in statement.get("Principal", {}).get("Federated", []):
            continue
        if all(string_condition(operator, values, request.get(key))
               for operator, keys in statement.get("Condition", {}).items()
               for key, values in keys.items()):
            return True
    return False
