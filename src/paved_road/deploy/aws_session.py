"""boto3 clients built from the standard AWS environment.

Region, credentials, profile and endpoint come from wherever the AWS SDKs look
for them (AWS_REGION / AWS_DEFAULT_REGION, AWS_PROFILE, AWS_ENDPOINT_URL and the
per-service AWS_ENDPOINT_URL_ECS / AWS_ENDPOINT_URL_ECR, the OIDC web-identity
variables set by configure-aws-credentials, ...), so the same command runs in a
GitHub job, on a laptop and against moto.

Throttling (ThrottlingException, TooManyRequests, ...) is retried with
exponential backoff and full jitter (botocore's `standard` mode, capped at 20 s a
wait) up to 10 attempts, unless AWS_RETRY_MODE / AWS_MAX_ATTEMPTS say otherwise.
`adaptive` adds a client-side token bucket, which only pays off for clients that
send many calls per second; these commands send a few dozen.
"""

from __future__ import annotations

import os

import boto3
from botocore.config import Config

DEFAULT_RETRY_MODE = "standard"
DEFAULT_MAX_ATTEMPTS = 10
USER_AGENT_EXTRA = "paved-road"


def retry_config() -> Config:
    mode = os.environ.get("AWS_RETRY_MODE") or DEFAULT_RETRY_MODE
    try:
        attempts = int(os.environ.get("AWS_MAX_ATTEMPTS") or DEFAULT_MAX_ATTEMPTS)
    except ValueError:
        attempts = DEFAULT_MAX_ATTEMPTS
    return Config(retries={"mode": mode, "max_attempts": attempts}, user_agent_extra=USER_AGENT_EXTRA)


def boto3_session() -> boto3.session.Session:
    """The session every client comes from (tests register botocore event hooks on it)."""
    return boto3.session.Session()


class AwsClients:
    """Lazily created ECS and ECR clients sharing one session."""

    def __init__(self, session: boto3.session.Session | None = None, region: str | None = None):
        self.session = session or boto3_session()
        # botocore reads AWS_DEFAULT_REGION; the other SDKs (and configure-aws-credentials) use AWS_REGION.
        self.region = region or self.session.region_name or os.environ.get("AWS_REGION") or None
        self._clients: dict[tuple[str, str | None], object] = {}

    def client(self, service: str, region: str | None = None):
        key = (service, region or self.region)
        if key not in self._clients:
            self._clients[key] = self.session.client(service, region_name=key[1], config=retry_config())
        return self._clients[key]

    @property
    def ecs(self):
        return self.client("ecs")

    def ecr(self, region: str | None = None):
        return self.client("ecr", region)
