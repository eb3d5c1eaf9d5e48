"""A client-side rate limiter per ECS API family, so a fleet read stays inside one account's quotas.

ECS throttles each account per Region with one token bucket per *API action category* (Amazon ECS
Developer Guide, "Request throttling for the Amazon ECS API", table "bucket maximum capacity (burst)
and bucket refill rate (sustained)"). The families `paved dora` calls:

| category | actions | burst | sustained (/s) |
|---|---|---|---|
| Service read actions | DescribeServices, ListServices | 100 | 20 |
| Service deployment actions | DescribeServiceDeployments, ListServiceDeployments | 50 | 20 |
| Service revision actions | DescribeServiceRevisions | 50 | 20 |
| Task definition read actions | DescribeTaskDefinition, ListTaskDefinitions, ListTaskDefinitionFamilies | 50 | 20 |

The same buckets serve every other caller in the account (deploys, the console, other tools), so the
limiter is a ceiling, not a reservation; botocore's standard retry mode still absorbs the throttling
that others cause. ECR's DescribeImages and CloudWatch's DescribeAlarmHistory have no per-action rate
in the quotas this was checked against, so they are not limited here (retries only).

`quota_bound(calls)` is the shortest time the documented quotas allow for a mix of calls (each family
spends its burst, then its sustained rate; families run in parallel): what `bench/dora_scale.py`
compares a cold run with.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Callable

FAMILIES: dict[str, tuple[tuple[str, ...], float, float]] = {
    "service-read": (("DescribeServices", "ListServices"), 100, 20),
    "service-deployment": (("DescribeServiceDeployments", "ListServiceDeployments"), 50, 20),
    "service-revision": (("DescribeServiceRevisions",), 50, 20),
    "task-definition-read": (("DescribeTaskDefinition", "ListTaskDefinitions", "ListTaskDefinitionFamilies"), 50, 20),
}
FAMILY_OF = {action: family for family, (actions, _b, _r) in FAMILIES.items() for action in actions}


class TokenBucket:
    """`capacity` tokens, refilled at `rate` per second; `take()` waits for one."""

    def __init__(self, capacity: float, rate: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.capacity, self.rate = float(capacity), float(rate)
        self.tokens = float(capacity)
        self.clock, self.sleep = clock, sleep
        self.last = clock()
        self.lock = threading.Lock()
        self.waited = 0.0

    def take(self) -> float:
        """Take one token; returns the seconds waited for it."""
        with self.lock:
            now = self.clock()
            self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
            self.last = now
            self.tokens -= 1
            wait = 0.0 if self.tokens >= 0 else -self.tokens / self.rate
            self.waited += wait
        if wait:
            self.sleep(wait)
        return wait


class Limiter:
    """One bucket per ECS family (per region: quotas are per account and Region), hooked on clients."""

    def __init__(self, scale: float = 1.0, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.scale = scale
        self.clock, self.sleep = clock, sleep
        self.buckets: dict[tuple[str | None, str], TokenBucket] = {}
        self.lock = threading.Lock()
        self.calls: Counter = Counter()

    def bucket(self, region: str | None, family: str) -> TokenBucket:
        with self.lock:
            key = (region, family)
            if key not in self.buckets:
                _actions, burst, rate = FAMILIES[family]
                self.buckets[key] = TokenBucket(burst * self.scale, rate * self.scale, self.clock, self.sleep)
            return self.buckets[key]

    def acquire(self, region: str | None, action: str) -> float:
        family = FAMILY_OF.get(action)
        if family is None:
            return 0.0
        with self.lock:
            self.calls[family] += 1
        return self.bucket(region, family).take()

    def hook(self, client) -> None:
        """Every ECS call of this client waits for its family's token (botocore's before-call event)."""
        region = client.meta.region_name

        def before_call(model=None, **_kw):
            if model is not None:
                self.acquire(region, model.name)

        client.meta.events.register("before-call.ecs", before_call)

    @property
    def waited(self) -> float:
        return sum(b.waited for b in self.buckets.values())


def quota_bound(calls: dict[str, int]) -> float:
    """Seconds the documented quotas need at least for these calls (action -> count)."""
    per_family: Counter = Counter()
    for action, count in calls.items():
        family = FAMILY_OF.get(action)
        if family is not None:
            per_family[family] += count
    bound = 0.0
    for family, count in per_family.items():
        _actions, burst, rate = FAMILIES[family]
        bound = max(bound, max(0.0, count - burst) / rate)
    return bound
