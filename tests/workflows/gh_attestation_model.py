"""An executable model of `gh attestation verify`'s certificate policy, from
cli/cli's source (pkg/cmd/attestation/verify/policy.go and verify.go, read at
commit 44ee17760709bedf1cad7e452e61751489b81a33, v2.60):

- `--cert-identity X`: sigstore-go's SubjectAlternativeNameMatcher with a
  value: the certificate's SAN must equal X exactly (no pattern, so nothing to
  escape);
- `--cert-identity-regex R`: the SAN must match R (Go regexp, unanchored unless
  R anchors itself);
- `--signer-workflow W`: validateSignerWorkflow turns W into the regex
  `^https://` + [hostname/] + W: anchored at the start only, dots unescaped,
  no ref, so `ci.yml` matches `ci.yml@refs/pull/7/merge` and `ci.yml-x.yml`;
- `--signer-repo R`: `(?i)^https://github.com/R/` (any workflow of R);
- the four are mutually exclusive (MarkFlagsMutuallyExclusive);
- `--deny-self-hosted-runners`: the certificate's RunnerEnvironment extension
  must be `github-hosted`;
- `--cert-oidc-issuer`: the certificate's issuer (default
  https://token.actions.githubusercontent.com);
- `--repo OWNER/NAME`: attestations are fetched for that repository, and the
  certificate's source repository must be it.

With `--format json` it prints one entry per verified attestation:
`{"attestation": ..., "verificationResult": {"signature": {"certificate":
{subjectAlternativeName, certificateIssuer, sourceRepositoryRef, ...}}}}`
(verification/sigstore.go AttestationProcessingResult; sigstore-go
certificate.Summary with its Extensions inlined).
"""

from __future__ import annotations

import re

IDENTITY_FLAGS = ("--cert-identity", "--cert-identity-regex", "--signer-workflow", "--signer-repo")
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"


def parse(argv: list[str]) -> dict:
    """`attestation verify oci://IMAGE@DIGEST --flag value ...` -> options (flag -> value or True)."""
    assert argv[:2] == ["attestation", "verify"], argv
    subject, rest = argv[2], argv[3:]
    options: dict = {"subject": subject}
    i = 0
    while i < len(rest):
        flag = rest[i]
        if flag == "--deny-self-hosted-runners":
            options[flag] = True
            i += 1
            continue
        options[flag] = rest[i + 1]
        i += 2
    given = [f for f in IDENTITY_FLAGS if f in options]
    if len(given) > 1:
        raise ValueError(f"if any flags in the group [{' '.join(IDENTITY_FLAGS)}] are set none of the others can be")
    return options


def san_matches(options: dict, san: str, hostname: str = "github.com") -> bool:
    if "--cert-identity" in options:
        return san == options["--cert-identity"]
    if "--cert-identity-regex" in options:
        return re.search(options["--cert-identity-regex"], san) is not None
    if "--signer-workflow" in options:
        workflow = options["--signer-workflow"]
        if not re.match(r"^[a-zA-Z0-9-]+\.[a-zA-Z0-9-]+.*$", workflow):  # no host given: prefix the hostname
            workflow = f"{hostname}/{workflow}"
        return re.match(f"^https://{workflow}", san) is not None
    if "--signer-repo" in options:
        return re.match(f"(?i)^https://github.com/{options['--signer-repo']}/", san) is not None
    return True


def verified(options: dict, certificate: dict) -> bool:
    """Whether one attestation's certificate passes the policy the options build."""
    if not san_matches(options, certificate["subjectAlternativeName"]):
        return False
    if certificate.get("certificateIssuer", GITHUB_ISSUER) != options.get("--cert-oidc-issuer", GITHUB_ISSUER):
        return False
    if options.get("--deny-self-hosted-runners") and certificate.get("runnerEnvironment") != "github-hosted":
        return False
    repo = options.get("--repo")
    if repo and certificate.get("sourceRepositoryURI", "").lower() != f"https://github.com/{repo}".lower():
        return False
    return True


def certificate(repository: str, workflow_ref: str, *, source_ref: str | None = None,
                runner: str = "github-hosted") -> dict:
    """The certificate Fulcio issues to a GitHub Actions job: SAN = the job's workflow file at its ref."""
    path, ref = workflow_ref.split("@", 1)
    return {"subjectAlternativeName": f"https://github.com/{repository}/{path}@{ref}",
            "certificateIssuer": GITHUB_ISSUER, "sourceRepositoryURI": f"https://github.com/{repository}",
            "sourceRepositoryRef": source_ref or ref, "runnerEnvironment": runner}
