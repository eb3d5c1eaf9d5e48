"""The ecr-repository lifecycle policy, rendered offline and evaluated the way
ECR documents it: rules by ascending priority, an image selected by a rule's
tag filter is never expired by a lower-priority rule."""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass, replace

import boto3

from tfhelpers import MODULES_DIR, load_hcl, render_tftpl, template_variables, templatefile_calls, variable_defaults

MODULE = MODULES_DIR / "ecr-repository"
TEMPLATE = MODULE / "templates" / "lifecycle-policy.json.tftpl"


@dataclass(frozen=True)
class Image:
    tags: tuple[str, ...]
    age_days: int


def render_policy(**overrides) -> dict:
    defaults = variable_defaults(MODULE)
    inputs = {name: overrides.get(name, defaults[name]) for name in templatefile_calls(MODULE)["lifecycle-policy.json.tftpl"]}
    return json.loads(render_tftpl(TEMPLATE.read_text(), inputs))


def _selected(rule: dict, image: Image) -> bool:
    selection = rule["selection"]
    if selection["tagStatus"] == "untagged":
        return not image.tags
    if selection["tagStatus"] == "any":
        return True
    patterns = selection.get("tagPatternList") or [p + "*" for p in selection.get("tagPrefixList", [])]
    # "If you specify multiple tags, only the images with all specified tags are selected."
    return all(any(fnmatch.fnmatchcase(tag, p) for tag in image.tags) for p in patterns)


def expired(policy: dict, images: list[Image]) -> set[Image]:
    claimed: set[Image] = set()
    gone: set[Image] = set()
    for rule in sorted(policy["rules"], key=lambda r: r["rulePriority"]):
        selection = rule["selection"]
        matched = [i for i in images if i not in claimed and _selected(rule, i)]
        claimed.update(matched)
        if selection["countType"] == "sinceImagePushed":
            gone.update(i for i in matched if i.age_days > selection["countNumber"])
        else:  # imageCountMoreThan: the newest countNumber stay
            newest_first = sorted(matched, key=lambda i: i.age_days)
            gone.update(newest_first[selection["countNumber"]:])
    return gone


IMAGES = [
    Image(("1.0.0", "sha-1a2b3c4"), 900),
    Image(("v0.9.1",), 1200),
    Image(("2.0.0-rc.1", "sha-5d6e7f8"), 400),
    Image(("sha-9a8b7c6",), 45),
    Image(("sha-0f1e2d3",), 3),
    Image((), 20),
    Image((), 2),
]


def test_module_and_render_agree_on_variable_names():
    assert templatefile_calls(MODULE)["lifecycle-policy.json.tftpl"] == template_variables(TEMPLATE.read_text())


def test_every_release_survives_and_only_stale_untagged_and_sha_only_images_expire():
    gone = expired(render_policy(), IMAGES)
    assert gone == {Image(("sha-9a8b7c6",), 45), Image((), 20)}
    for image in IMAGES:
        if any(t[0].isdigit() or t[0] == "v" for t in image.tags):
            assert image not in gone, image


def test_old_releases_survive_any_number_of_newer_ones():
    releases = [Image((f"1.{minor}.0",), 3000 - minor) for minor in range(500)]
    assert expired(render_policy(), releases) == set()


def test_thresholds_follow_the_variables():
    gone = expired(render_policy(untagged_expire_days=1, sha_expire_days=1), IMAGES)
    assert Image(("sha-0f1e2d3",), 3) in gone and Image((), 2) in gone


def test_repository_is_immutable_and_scans_on_push():
    (repo,) = [b["aws_ecr_repository"]["this"] for b in load_hcl(MODULE / "main.tf")["resource"] if "aws_ecr_repository" in b]
    # Immutable; only the tags of mutable_tag_filters (default: the CI build cache,
    # buildcache-*) may move (tests/workflows/test_release_pipeline.py checks the filters).
    assert repo["image_tag_mutability"] == '${length(var.mutable_tag_filters) > 0 ? "IMMUTABLE_WITH_EXCLUSION" : "IMMUTABLE"}'
    assert repo["image_scanning_configuration"][0]["scan_on_push"] is True


def test_ecr_accepts_the_policy(moto_endpoint):
    ecr = boto3.client("ecr", region_name="eu-west-1", endpoint_url=moto_endpoint,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    ecr.create_repository(repositoryName="lifecycle-check", imageTagMutability="IMMUTABLE")
    policy = json.dumps(render_policy())
    ecr.put_lifecycle_policy(repositoryName="lifecycle-check", lifecyclePolicyText=policy)
    stored = ecr.get_lifecycle_policy(repositoryName="lifecycle-check")["lifecyclePolicyText"]
    assert json.loads(stored) == json.loads(policy)


# --- 9. Multi-arch releases: image indexes and the manifests they reference -------------------
#
# What CI pushes for a release (template/.github/workflows/ci.yml): per architecture a
# build pushed by digest and tagged X.Y.Z-<arch>; with provenance on, that push is
# itself an image index (platform manifest + attestation manifest, both untagged).
# The merge job then creates the release index X.Y.Z, which references the platform
# and attestation manifests directly. Those children carry no tag, so on the tag
# rules alone the untagged rule would expire them and leave X.Y.Z unpullable.
# ECR's evaluation rules say it does not: "If an image is referenced by a manifest
# list, it cannot be expired or archived without the manifest list being deleted or
# archived first." (https://docs.aws.amazon.com/AmazonECR/latest/userguide/LifecyclePolicies.html,
# Lifecycle policy evaluation rules). The model below implements that rule next to
# the tag rules, and runs the policy day after day, as ECR does.


@dataclass(frozen=True)
class Manifest:
    digest: str
    tags: tuple[str, ...]
    age_days: int
    children: tuple[str, ...] = ()


def _release(version: str, age: int, prefix: str = "") -> list[Manifest]:
    """One multi-arch push with provenance: per-arch indexes, their children, and the top index."""
    out, top_children = [], []
    for arch in ("amd64", "arm64"):
        platform = Manifest(f"{prefix}{version}-{arch}-platform", (), age)
        attestation = Manifest(f"{prefix}{version}-{arch}-attestation", (), age)
        out += [platform, attestation, Manifest(f"{prefix}{version}-{arch}-index", (f"{prefix}{version}-{arch}",), age,
                                                (platform.digest, attestation.digest))]
        top_children += [platform.digest, attestation.digest]
    out.append(Manifest(f"{prefix}{version}-index", (f"{prefix}{version}",), age, tuple(top_children)))
    return out


def run_lifecycle(policy: dict, manifests: list[Manifest], days: int = 1, honour_references: bool = True) -> set[str]:
    """Digests left after `days` daily runs."""
    present = {m.digest: m for m in manifests}
    for _ in range(days):
        present = {d: replace(m, age_days=m.age_days + 1) for d, m in present.items()}
        candidates = expired(policy, [Image(m.tags, m.age_days) for m in present.values()])
        referenced = {c for m in present.values() for c in m.children}
        gone = {d for d, m in present.items() if Image(m.tags, m.age_days) in candidates
                and not (honour_references and d in referenced)}
        for digest in gone:
            del present[digest]
    return set(present)


def _reachable(manifests: list[Manifest], present: set[str], tag: str) -> bool:
    by_digest = {m.digest: m for m in manifests}
    (root,) = [m for m in manifests if tag in m.tags]
    stack = [root.digest]
    while stack:
        digest = stack.pop()
        if digest not in present:
            return False
        stack += by_digest[digest].children
    return True


def _repository() -> list[Manifest]:
    # Distinct digests per push: Image() keys the tag-rule model by (tags, age).
    return (_release("1.0.0", 400) + _release("1.1.0", 90)
            + _release("sha-1a2b3c4", 60) + _release("sha-5d6e7f8", 2)
            + [Manifest("failed-push", (), 20)])


def test_a_release_stays_pullable_on_every_architecture_for_years():
    repository = _repository()
    present = run_lifecycle(render_policy(), repository, days=3 * 365)
    for tag in ("1.0.0", "1.1.0", "1.0.0-amd64", "1.0.0-arm64", "1.1.0-arm64"):
        assert _reachable(repository, present, tag), tag


def test_builds_that_never_became_a_release_go_away_completely():
    repository = _repository()
    present = run_lifecycle(render_policy(), repository, days=3 * 365)
    stale = {m.digest for m in _release("sha-1a2b3c4", 60)} | {"failed-push"}
    assert not stale & present
    # A recent main build stays for sha_expire_days, then goes with its children.
    recent = {m.digest for m in _release("sha-5d6e7f8", 2)}
    assert recent <= run_lifecycle(render_policy(), repository, days=20)
    assert not recent & present


def test_without_the_manifest_list_rule_the_untagged_rule_would_break_releases():
    """Why the decision rests on that documented rule: the tag rules alone expire the platform manifests."""
    repository = _repository()
    present = run_lifecycle(render_policy(), repository, days=1, honour_references=False)
    assert not _reachable(repository, present, "1.0.0")
    assert "1.0.0-amd64-platform" not in present
