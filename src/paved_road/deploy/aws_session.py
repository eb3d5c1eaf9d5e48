"""boto3 clients built from the standard AWS environment, failing fast on a bad one.

Region, credentials, profile and endpoint come from wherever the AWS SDKs look
for them (AWS_REGION / AWS_DEFAULT_REGION, AWS_PROFILE, AWS_ENDPOINT_URL and the
per-service AWS_ENDPOINT_URL_ECS / AWS_ENDPOINT_URL_ECR, the OIDC web-identity
variables set by configure-aws-credentials, ...), so the same command runs in a
GitHub job, on a laptop and against `paved sim`.

Throttling (ThrottlingException, TooManyRequests, ...) is retried with
exponential backoff and full jitter (botocore's `standard` mode, capped at 20 s a
wait) up to 10 attempts, unless AWS_RETRY_MODE / AWS_MAX_ATTEMPTS say otherwise.

A wrong environment must not look like a slow AWS: botocore retries connection
errors with the same budget, so an unknown region (a DNS name that does not
resolve) or no network took ~37 s and exited 1. `check_reachable()` therefore
opens one TCP connection to the endpoint first (3 s), and connect timeouts are
bounded; region, profile and credential problems exit 2 with one line.
"""

from __future__ import annotations

import functools
import os
import socket
import threading
import urllib.request
from urllib.parse import urlsplit

import boto3
from botocore import exceptions as bex
from botocore.config import Config

from paved_road.untrusted import redact

DEFAULT_RETRY_MODE = "standard"
DEFAULT_MAX_ATTEMPTS = 10
USER_AGENT_EXTRA = "paved-road"
CONNECT_TIMEOUT = 3
READ_TIMEOUT = 30
REACH_TIMEOUT = 3.0
EXIT_BAD_INPUT = 2
EXIT_UNEXPECTED = 1

# Errors that mean "your credentials", not "AWS failed": exit 2.
CREDENTIAL_ERROR_CODES = (
    "UnrecognizedClientException", "InvalidClientTokenId", "ExpiredToken", "ExpiredTokenException",
    "InvalidSignatureException", "SignatureDoesNotMatch", "AuthFailure", "MissingAuthenticationToken",
)

# What botocore's retry handler treats as throttling (botocore/retries/standard.py, ThrottledRetryableChecker).
THROTTLE_CODES = (
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException", "TooManyRequestsException",
    "ProvisionedThroughputExceededException", "TransactionInProgressException", "RequestLimitExceeded",
    "BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled", "SlowDown", "PriorRequestNotComplete",
    "EC2ThrottledException",
)


class Unreachable(bex.BotoCoreError):
    fmt = "{message}"


class NotAws(bex.BotoCoreError):
    """The endpoint answered, but not like AWS (an HTML page: a proxy, a login portal, a wrong port)."""
    fmt = "{message}"


def _refuse_non_aws(response_dict=None, operation_model=None, endpoint: str = "", **_):
    """before-parse hook: an HTML answer is no AWS API, whatever its status; say so in one line."""
    headers = {k.lower(): v for k, v in ((response_dict or {}).get("headers") or {}).items()}
    kind = headers.get("content-type", "").split(";")[0].strip().lower()
    if kind in ("text/html", "text/plain") and not any(h in headers for h in ("x-amzn-requestid", "x-amz-request-id")):
        raise NotAws(message=f"the endpoint {endpoint or '(AWS_ENDPOINT_URL)'} is not an AWS API: "
                             f"{operation_model.name if operation_model else 'the call'} got HTTP "
                             f"{(response_dict or {}).get('status_code')} {kind}; check AWS_ENDPOINT_URL / AWS_REGION")


def retry_config() -> Config:
    mode = os.environ.get("AWS_RETRY_MODE") or DEFAULT_RETRY_MODE
    try:
        attempts = int(os.environ.get("AWS_MAX_ATTEMPTS") or DEFAULT_MAX_ATTEMPTS)
    except ValueError:
        attempts = DEFAULT_MAX_ATTEMPTS
    # total_max_attempts counts the first call too, as AWS_MAX_ATTEMPTS does (botocore max_attempts does not).
    return Config(retries={"mode": mode, "total_max_attempts": attempts}, user_agent_extra=USER_AGENT_EXTRA,
                  connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT)


def boto3_session() -> boto3.session.Session:
    """The session every client comes from."""
    return boto3.session.Session()


def explain(exc: Exception) -> tuple[str, int]:
    """One line and an exit code for a botocore failure."""
    if isinstance(exc, bex.ProfileNotFound):
        return f"AWS profile '{exc.kwargs.get('profile')}' not found (set by AWS_PROFILE); check ~/.aws/config or unset AWS_PROFILE", EXIT_BAD_INPUT
    if isinstance(exc, bex.NoRegionError):
        return "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION)", EXIT_BAD_INPUT
    if isinstance(exc, bex.InvalidRegionError):
        return f"invalid AWS region '{exc.kwargs.get('region_name')}'", EXIT_BAD_INPUT
    if isinstance(exc, (bex.NoCredentialsError, bex.PartialCredentialsError)):
        return "no AWS credentials found (environment, profile or web identity)", EXIT_BAD_INPUT
    if isinstance(exc, (bex.TokenRetrievalError, bex.SSOTokenLoadError, bex.UnauthorizedSSOTokenError)):
        return f"AWS credentials could not be loaded: {exc}", EXIT_BAD_INPUT
    if isinstance(exc, (Unreachable, NotAws)):
        return str(exc), EXIT_BAD_INPUT
    if isinstance(exc, (bex.EndpointConnectionError, bex.ConnectTimeoutError)):
        return f"cannot reach AWS: {exc} (check AWS_REGION and the network)", EXIT_BAD_INPUT
    return f"AWS call failed: {exc}", EXIT_UNEXPECTED


def _connects(host: str, port: int, timeout: float) -> str | None:
    """None when a TCP connection opens within `timeout` (DNS included), else why not."""
    outcome: list[str | None] = []

    def attempt():
        try:
            with socket.create_connection((host, port), timeout=timeout):
                outcome.append(None)
        except OSError as exc:
            outcome.append(exc.strerror or str(exc))

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(timeout)
    return outcome[0] if outcome else f"no answer within {timeout:g}s"


class AwsClients:
    """Lazily created ECS and ECR clients sharing one session."""

    def __init__(self, session: boto3.session.Session | None = None, region: str | None = None,
                 config: Config | None = None):
        self.session = session or boto3_session()
        self.config = config          # merged into every client's (e.g. max_pool_connections for parallel reads)
        # botocore reads AWS_DEFAULT_REGION; the other SDKs (and configure-aws-credentials) use AWS_REGION.
        self.region = region or self.session.region_name or os.environ.get("AWS_REGION") or None
        self._clients: dict[tuple[str, str | None], object] = {}

    def client(self, service: str, region: str | None = None):
        key = (service, region or self.region)
        if key not in self._clients:
            config = retry_config() if self.config is None else retry_config().merge(self.config)
            client = self.session.client(service, region_name=key[1], config=config)
            client.meta.events.register("before-parse", functools.partial(_refuse_non_aws, endpoint=client.meta.endpoint_url))
            self._clients[key] = client
        return self._clients[key]

    def once(self, service: str = "ecs"):
        """A client that never retries: for calls that must not be sent twice blindly (UpdateService --force)."""
        key = (f"{service}#once", self.region)
        if key not in self._clients:
            config = retry_config().merge(Config(retries={"mode": "standard", "total_max_attempts": 1}))
            client = self.session.client(service, region_name=self.region, config=config)
            client.meta.events.register("before-parse", functools.partial(_refuse_non_aws, endpoint=client.meta.endpoint_url))
            self._clients[key] = client
        return self._clients[key]

    def check_reachable(self, service: str = "ecs") -> None:
        """Fail in seconds, with one line, when the endpoint cannot be reached or credentials are missing."""
        client = self.client(service)
        if self.session.get_credentials() is None:
            raise bex.NoCredentialsError()
        url = urlsplit(client.meta.endpoint_url)
        # Behind a proxy for this scheme a direct connection proves nothing (botocore goes through the proxy).
        # Only that scheme's proxy counts: NO_PROXY alone (common on runners) is no proxy at all.
        if urllib.request.getproxies().get(url.scheme) and not urllib.request.proxy_bypass(url.hostname or ""):
            return
        port = url.port or (443 if url.scheme == "https" else 80)
        why = _connects(url.hostname or "", port, REACH_TIMEOUT)
        if why is None:
            return
        known = self.session.get_available_regions(service) + self.session.get_available_regions(service, "aws-cn") \
            + self.session.get_available_regions(service, "aws-us-gov")
        if self.region not in known and "amazonaws.com" in (url.hostname or ""):
            raise Unreachable(message=f"unknown AWS region '{self.region}': {url.hostname} does not answer ({why})")
        raise Unreachable(message=f"cannot reach {redact(client.meta.endpoint_url)} for region '{self.region}' "
                                  f"({redact(why)})")

    @property
    def ecs(self):
        return self.client("ecs")

    def ecr(self, region: str | None = None):
        return self.client("ecr", region)
