"""Which services a catalog names, and where each runs (no AWS involved)."""

from __future__ import annotations

import pytest

from paved_road.dora.collect import DoraInputError, environment_of, targets_from_catalog


def _service(root, name, **extra):
    d = root / name
    d.mkdir(parents=True)
    lines = [f"service_name: {name}", "ecs_cluster_prefix: shop", "aws_region: eu-west-1"]
    lines += [f"{k}: {v}" for k, v in extra.items()]
    (d / ".copier-answers.yml").write_text("\n".join(lines) + "\n")
    return d


def test_directory_and_repos_file(tmp_path):
    _service(tmp_path / "fleet", "orders")
    _service(tmp_path / "fleet", "search")
    by_dir = {t.name: t for t in targets_from_catalog(str(tmp_path / "fleet"), "staging")}
    assert {n: (t.cluster, t.service, t.region) for n, t in by_dir.items()} == {
        "orders": ("shop-staging", "orders", "eu-west-1"), "search": ("shop-staging", "search", "eu-west-1")}
    assert by_dir["orders"].repo == str(tmp_path / "fleet" / "orders")

    repos = tmp_path / "repos.yml"
    repos.write_text("repos:\n  - fleet/orders\n  - {path: fleet/search, cluster: legacy-prod, service: search-v2}\n")
    by_file = {t.name: t for t in targets_from_catalog(str(repos), "production")}
    assert (by_file["orders"].cluster, by_file["orders"].service) == ("shop-production", "orders")
    assert (by_file["search"].cluster, by_file["search"].service) == ("legacy-prod", "search-v2")


@pytest.mark.parametrize(("content", "message"), [
    ("repos:\n  - https://github.com/example/orders.git\n", "entries need a local 'path'"),
    ("repos: 3\n", "expected a list under 'repos:'"),
])
def test_bad_repos_file(tmp_path, content, message):
    f = tmp_path / "repos.yml"
    f.write_text(content)
    with pytest.raises(DoraInputError, match=message) as exc:
        targets_from_catalog(str(f), "production")
    assert str(exc.value).startswith(f"--catalog {f}")


@pytest.mark.parametrize(("tags", "cluster", "expected"), [
    ({"environment": "Production"}, "apps-staging", ("production", "tag")),
    ({}, "arn:aws:ecs:eu-west-1:123456789012:cluster/apps-production", ("production", "cluster-name")),
    ({"team": "x"}, "apps-staging", ("staging", "cluster-name")),
    ({}, "sandbox", (None, None)),
])
def test_environment_from_tag_then_cluster_name(tags, cluster, expected):
    assert environment_of(tags, cluster) == expected
