"""The ecr-repository lifecycle policy, rendered offline and evaluated the way
ECR documents it: rules by ascending priority, an image selected by a rule's
tag filter is never expired by a lower-priority rule."""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass

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
