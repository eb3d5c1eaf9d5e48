#!/usr/bin/env bash
# Verify that a release's images were published and signed by this
# repository's ci.yml run for the release tag itself, before anything is
# registered (deploy.yml and rollback.yml run it).
#
#   .github/verify-release.sh VERSION DIGEST      (env: IMAGE, GITHUB_REPOSITORY, GITHUB_SERVER_URL, GH_TOKEN)
#
# The index DIGEST and each per-architecture image it lists must carry a
# provenance attestation whose signing certificate names exactly
#   $GITHUB_SERVER_URL/$GITHUB_REPOSITORY/.github/workflows/ci.yml@refs/tags/vVERSION
# (--cert-identity is an exact comparison of the certificate's subject
# alternative name in cli/cli, pkg/cmd/attestation/verify/policy.go,
# buildSANMatcher; --signer-workflow would be an unanchored regex prefix with
# no ref), issued by GitHub Actions' OIDC issuer, on a GitHub-hosted runner
# (the signing job, ci.yml's merge job, is one), and whose source repository
# ref is refs/tags/vVERSION. A per-architecture image was built wherever
# ci.yml's build job ran (self-hosted or Docker Build Cloud in those modes):
# its attestation says which workflow run published it, not where it was built.
# Exit 7: not attested as required; 2: bad input.
set -euo pipefail

version="${1:-}"
digest="${2:-}"
if [[ ! "$version" =~ ^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$ ]]; then
  echo "::error title=bad input::version must be SemVer X.Y.Z (got '$version')"
  exit 2
fi
if [[ ! "$digest" =~ ^sha256:[0-9a-f]{64}$ ]]; then
  echo "::error title=bad input::digest must be sha256:<64 hex> (got '$digest')"
  exit 2
fi
: "${IMAGE:?IMAGE must name the ECR repository}" "${GITHUB_REPOSITORY:?}" "${GITHUB_SERVER_URL:?}"

ref="refs/tags/v${version}"
identity="${GITHUB_SERVER_URL}/${GITHUB_REPOSITORY}/.github/workflows/ci.yml@${ref}"

# The index and the per-architecture images it lists (attestation manifests,
# platform unknown/unknown, are not images).
manifest="$(docker buildx imagetools inspect "${IMAGE}@${digest}" --format '{{json .Manifest}}')"
mapfile -t images < <(jq -r '.manifests[]? | select(.platform.os != "unknown") | .digest' <<< "$manifest")
if [ "${#images[@]}" -eq 0 ]; then
  echo "::error title=not a release index::${IMAGE}@${digest} lists no images"
  exit 7
fi

for subject in "$digest" "${images[@]}"; do
  if ! result="$(gh attestation verify "oci://${IMAGE}@${subject}" \
      --repo "$GITHUB_REPOSITORY" \
      --cert-identity "$identity" \
      --cert-oidc-issuer https://token.actions.githubusercontent.com \
      --deny-self-hosted-runners \
      --format json)"; then
    echo "::error title=not attested::${IMAGE}@${subject} has no attestation signed by ${identity}"
    exit 7
  fi
  # The signer's identity names the workflow file and its ref; the source ref
  # is the ref the run checked out. Both must be the release tag.
  if ! jq -e --arg id "$identity" --arg ref "$ref" \
      'any(.[]; .verificationResult.signature.certificate | .subjectAlternativeName == $id and .sourceRepositoryRef == $ref)' \
      <<< "$result" > /dev/null; then
    echo "::error title=not attested::${IMAGE}@${subject}: no verified attestation from ${identity} with source ref ${ref}"
    exit 7
  fi
  echo "verified ${IMAGE}@${subject}: signed by ${identity}"
done
