"""Releases in an ECR repository: images carrying a SemVer tag X.Y.Z (or vX.Y.Z).

CI pushes every release as a multi-arch image index (`imagetools create`),
tagged `{{version}}`, `{{major}}.{{minor}}`, `{{major}}` and `sha-...`. Only the
full X.Y.Z tag names a release; the moving `1.2` / `1` tags and sha tags are
ignored. Architectures are read from the index (platform entries, without the
`unknown/unknown` attestation manifests).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime

from paved_road.deploy.history import utc

SEMVER = re.compile(r"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")

INDEX_MEDIA_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
MANIFEST_MEDIA_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
ACCEPTED_MEDIA_TYPES = [*INDEX_MEDIA_TYPES, *MANIFEST_MEDIA_TYPES]


class BadVersion(ValueError):
    """The version string is not SemVer X.Y.Z (optionally with a leading v)."""


def parse_version(text: str) -> tuple[int, int, int]:
    match = SEMVER.match(text.strip()) if isinstance(text, str) else None
    if not match:
        raise BadVersion(f"version must be SemVer X.Y.Z with an optional leading v, e.g. 1.2.0 (got '{text}')")
    return tuple(int(part) for part in match.groups())  # type: ignore[return-value]


def format_version(version: tuple[int, int, int]) -> str:
    return ".".join(str(part) for part in version)


@dataclass
class Release:
    version: tuple[int, int, int]
    tag: str
    digest: str
    pushed_at: datetime | None = None
    media_type: str | None = None
    other_tags: list[str] = field(default_factory=list)
    # None: not read yet; [] : a single-platform manifest whose architecture ECR does not expose.
    architectures: list[str] | None = None

    @property
    def name(self) -> str:
        return format_version(self.version)

    def as_dict(self) -> dict:
        return {
            "version": self.name,
            "tag": self.tag,
            "digest": self.digest,
            "architectures": self.architectures or [],
            "pushed_at": self.pushed_at.isoformat() if self.pushed_at else None,
            "media_type": self.media_type,
            "tags": sorted([self.tag, *self.other_tags]),
        }


def _registry_kwargs(registry_id: str | None) -> dict:
    return {"registryId": registry_id} if registry_id else {}


def repository_uri(ecr, repository: str, registry_id: str | None = None) -> str:
    """`<registry>/<repo>`; raises ecr.exceptions.RepositoryNotFoundException."""
    response = ecr.describe_repositories(repositoryNames=[repository], **_registry_kwargs(registry_id))
    return response["repositories"][0]["repositoryUri"]


def list_releases(ecr, repository: str, registry_id: str | None = None) -> list[Release]:
    """Every SemVer release in the repository, newest first (architectures not read yet)."""
    releases: dict[tuple[int, int, int], Release] = {}
    paginator = ecr.get_paginator("describe_images")
    pages = paginator.paginate(repositoryName=repository, filter={"tagStatus": "TAGGED"},
                               PaginationConfig={"PageSize": 1000},   # DescribeImages maxResults: up to 1000
                               **_registry_kwargs(registry_id))
    for page in pages:
        for image in page.get("imageDetails", []):
            tags = image.get("imageTags") or []
            for tag in tags:
                match = SEMVER.match(tag)
                if not match:
                    continue
                version = tuple(int(p) for p in match.groups())
                existing = releases.get(version)
                # shown and written as UTC, as `paved history` shows its times (under TZ=Asia/Tokyo a push
                # at 20:00 UTC read as the next day)
                pushed = utc(image.get("imagePushedAt"))
                # Two images claiming one version (1.2.0 and v1.2.0): keep the newer push.
                if existing and existing.pushed_at and pushed and existing.pushed_at >= pushed:
                    continue
                releases[version] = Release(
                    version=version,  # type: ignore[arg-type]
                    tag=tag,
                    digest=image["imageDigest"],
                    pushed_at=pushed,
                    media_type=image.get("imageManifestMediaType"),
                    other_tags=[t for t in tags if t != tag],
                )
    return sorted(releases.values(), key=lambda r: r.version, reverse=True)


def architectures_from_manifest(manifest: dict) -> list[str] | None:
    """Architectures listed in an image index; [] for a single-platform manifest."""
    if "manifests" not in manifest:
        return []
    arches = []
    for entry in manifest.get("manifests", []):
        platform = entry.get("platform") or {}
        annotations = entry.get("annotations") or {}
        arch = platform.get("architecture")
        if not arch or arch == "unknown" or annotations.get("vnd.docker.reference.type") == "attestation-manifest":
            continue
        if arch not in arches:
            arches.append(arch)
    return sorted(arches)


def read_architectures(ecr, repository: str, releases: list[Release], registry_id: str | None = None) -> None:
    """Fill `architectures` of each release from its manifest (batch_get_image, 100 per call)."""
    by_digest: dict[str, list[Release]] = {}
    for release in releases:
        by_digest.setdefault(release.digest, []).append(release)
    digests = list(by_digest)
    for start in range(0, len(digests), 100):
        chunk = digests[start : start + 100]
        response = ecr.batch_get_image(
            repositoryName=repository,
            imageIds=[{"imageDigest": d} for d in chunk],
            acceptedMediaTypes=ACCEPTED_MEDIA_TYPES,
            **_registry_kwargs(registry_id),
        )
        for image in response.get("images", []):
            digest = image["imageId"]["imageDigest"]
            try:
                manifest = json.loads(image.get("imageManifest") or "{}")
            except json.JSONDecodeError:
                manifest = {}
            arches = architectures_from_manifest(manifest)
            for release in by_digest.get(digest, []):
                release.architectures = arches
                release.media_type = release.media_type or image.get("imageManifestMediaType") or manifest.get("mediaType")


def find_release(releases: list[Release], version: tuple[int, int, int]) -> Release | None:
    return next((r for r in releases if r.version == version), None)


def previous_release(releases: list[Release], current: tuple[int, int, int]) -> Release | None:
    """The newest release strictly older than `current`."""
    older = [r for r in releases if r.version < current]
    return max(older, key=lambda r: r.version) if older else None


def release_for_image(ecr, repository: str, releases: list[Release], tag: str | None, digest: str | None,
                      registry_id: str | None = None) -> tuple[Release | None, str | None]:
    """The release an image reference points at, and its index digest when ECR knows it.

    The digest wins over the tag (a tag may have moved since the task definition
    was registered). Returns (None, digest) for an image that is in ECR but carries
    no SemVer tag, (None, None) when ECR does not know the image at all.
    """
    if digest:
        matching = [r for r in releases if r.digest == digest]
        if matching:
            return max(matching, key=lambda r: r.version), digest
    if tag:
        match = SEMVER.match(tag)
        if match and not digest:
            release = find_release(releases, tuple(int(p) for p in match.groups()))  # type: ignore[arg-type]
            if release:
                return release, release.digest
    image_id = {"imageDigest": digest} if digest else ({"imageTag": tag} if tag else None)
    if image_id is None:
        return None, None
    try:
        details = ecr.describe_images(repositoryName=repository, imageIds=[image_id], **_registry_kwargs(registry_id))
    except ecr.exceptions.ImageNotFoundException:
        return None, None
    for image in details.get("imageDetails", []):
        matching = [r for r in releases if r.digest == image["imageDigest"]]
        if matching:
            return max(matching, key=lambda r: r.version), image["imageDigest"]
        return None, image["imageDigest"]
    return None, None
