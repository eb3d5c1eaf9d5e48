"""The linters that pass the generated workflows are not vacuous: fed the case
study's rollback workflow, or a generated workflow with one defect put back,
they flag it."""

from __future__ import annotations

import botocore.session
import pytest

from workflow_lint import FIXTURES, check_jsonschema, zizmor

CASE_STUDY = FIXTURES / "case_study_rollback.yml"


@pytest.fixture(scope="module")
def mutated(services, tmp_path_factory):
    """A generated ci.yml with the case study's defects put back, one file per defect."""
    ci = services["github-hosted-amd64+arm64"].path / ".github" / "workflows" / "ci.yml"
    text = ci.read_text()
    out = tmp_path_factory.mktemp("mutated")
    variants = {
        "bad_scope.yml": text.replace("      contents: read #", "      context: read #", 1),
        "tag_pinned.yml": text.replace("actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1",
                                       "actions/checkout@v7", 1),
        "persisted_credentials.yml": text.replace("        with:\n          persist-credentials: false\n", "", 1),
    }
    paths = {}
    for name, body in variants.items():
        assert body != text, f"{name}: the mutation did not apply"
        (out / name).write_text(body)
        paths[name] = out / name
    return paths


@pytest.fixture(scope="module")
def actionlint_findings(actionlint, mutated):
    findings = actionlint([CASE_STUDY, *mutated.values()])
    by_file: dict[str, list[dict]] = {}
    for f in findings:
        by_file.setdefault(f["path"].rsplit("/", 1)[1], []).append(f)
    return by_file


def test_actionlint_flags_the_case_studys_invalid_permission_scope(actionlint_findings):
    findings = actionlint_findings[CASE_STUDY.name]
    assert [(f["kind"], f["line"]) for f in findings] == [("permissions", 17)]
    assert findings[0]["message"].startswith('unknown permission scope "context"')


def test_schema_flags_the_case_studys_invalid_permission_scope():
    report = check_jsonschema([CASE_STUDY])
    assert report["status"] == "fail"
    [error] = report["errors"]
    assert error["path"] == "$.permissions"
    assert "Additional properties are not allowed ('context' was unexpected)" in [
        e["message"] for e in error["sub_errors"]]


def test_zizmor_flags_the_case_studys_injection_and_unpinned_actions():
    # zizmor does not validate scope names (actionlint and the schema do); it
    # flags what the case study's snippet gets wrong for security.
    found = {(f["ident"], f["locations"][0]["concrete"]["location"]["start_point"]["row"] + 1)
             for f in zizmor([CASE_STUDY])}
    assert ("template-injection", 32) in found  # ${{ github.event.inputs.version }} in run:
    assert {("unpinned-uses", 23), ("unpinned-uses", 26)} <= found
    assert ("artipacked", 23) in found


def test_update_service_has_no_image_parameter():
    """The snippet's `aws ecs update-service --image` cannot work: the CLI's
    options come from this API model, which has no image member."""
    shape = botocore.session.get_session().get_service_model("ecs").operation_model("UpdateService").input_shape
    assert "image" not in {m.lower() for m in shape.members}
    assert "taskDefinition" in shape.members  # the only way to change the image
    assert "aws ecs update-service" in CASE_STUDY.read_text()


def test_a_generated_workflow_with_a_defect_put_back_is_flagged(actionlint_findings, mutated):
    bad_scope = actionlint_findings["bad_scope.yml"]
    assert [f["kind"] for f in bad_scope] == ["permissions"]
    assert 'unknown permission scope "context"' in bad_scope[0]["message"]
    assert check_jsonschema([mutated["bad_scope.yml"]])["status"] == "fail"
    # The other two are valid YAML for actionlint; zizmor catches them.
    assert "tag_pinned.yml" not in actionlint_findings
    assert {f["ident"] for f in zizmor([mutated["tag_pinned.yml"]])} == {"unpinned-uses"}
    assert {f["ident"] for f in zizmor([mutated["persisted_credentials.yml"]])} == {"artipacked"}
