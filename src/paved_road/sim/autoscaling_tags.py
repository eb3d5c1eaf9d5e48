"""Tags on Application Auto Scaling scalable targets, which moto 5.2.5 lacks.

The AWS provider tags every `aws_appautoscaling_target` (the service's
default_tags at least) and reads them back after each create and refresh, so
without these calls `terraform apply` against the simulator fails. The
operations follow the Application Auto Scaling API reference:

- RegisterScalableTarget takes `Tags` (a string map) and answers the target's
  `ScalableTargetARN` (API_RegisterScalableTarget): moto registers the target,
  this layer keeps the tags under that ARN;
- TagResource {ResourceARN, Tags} adds or replaces tags, UntagResource
  {ResourceARN, TagKeys} removes them, ListTagsForResource {ResourceARN}
  answers {"Tags": {...}} (API_TagResource, API_UntagResource,
  API_ListTagsForResource); an ARN that names no scalable target is a
  ResourceNotFoundException;
- DeregisterScalableTarget drops the target, and its tags with it.

One behaviour moto leaves out, too: registering (or updating) a scalable
target "changes the resource's current capacity to a value that is inside of
this range" when the resource is active (API_RegisterScalableTarget). For an
ECS service (ecs:service:DesiredCount) this layer moves the service's
desiredCount into [MinCapacity, MaxCapacity] with an UpdateService, which is
how a parked service (min = max = 0) starts its tasks once Terraform raises
the range.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Callable

TARGET_PREFIX = "AnyScaleFrontendService."
_JSON = [("Content-Type", "application/x-amz-json-1.1")]

Answer = tuple[str, list, bytes]


class ScalableTargetTags:
    """Serves the tag operations; everything else goes to moto unchanged."""

    OPERATIONS = ("RegisterScalableTarget", "DeregisterScalableTarget", "TagResource", "UntagResource",
                  "ListTagsForResource")

    def __init__(self):
        self.tags: dict[str, dict[str, str]] = {}            # ScalableTargetARN -> tags
        self.arns: dict[tuple[str, str, str], str] = {}      # (namespace, resource id, dimension) -> ARN
        self.lock = threading.Lock()

    def handles(self, target: str) -> bool:
        return target.startswith(TARGET_PREFIX) and target[len(TARGET_PREFIX):] in self.OPERATIONS

    def reset(self) -> None:
        with self.lock:
            self.tags.clear()
            self.arns.clear()

    @staticmethod
    def _key(request: dict) -> tuple[str, str, str]:
        return request.get("ServiceNamespace", ""), request.get("ResourceId", ""), request.get("ScalableDimension", "")

    @staticmethod
    def _into_range(request: dict, call_ecs: Callable[[str, dict], dict]) -> None:
        if (request.get("ServiceNamespace"), request.get("ScalableDimension")) != ("ecs", "ecs:service:DesiredCount"):
            return
        _, cluster, service = request["ResourceId"].split("/", 2)
        found = call_ecs("DescribeServices", {"cluster": cluster, "services": [service]}).get("services") or []
        if not found or found[0].get("status") != "ACTIVE":
            return  # "not active in the target service": capacity unchanged
        current = found[0]["desiredCount"]
        wanted = max(current, request.get("MinCapacity", current))
        wanted = min(wanted, request.get("MaxCapacity", wanted))
        if wanted != current:
            call_ecs("UpdateService", {"cluster": cluster, "service": service, "desiredCount": wanted})

    @staticmethod
    def _not_found(arn: str) -> Answer:
        body = {"__type": "ResourceNotFoundException", "Message": f"No scalable target found for {arn}",
                "ResourceName": arn}
        return "400 Bad Request", list(_JSON), json.dumps(body).encode()

    def __call__(self, operation: str, body: bytes, call_moto: Callable[[], Answer],
                 call_ecs: Callable[[str, dict], dict] | None = None) -> Answer:
        request = json.loads(body or b"{}")
        if operation == "RegisterScalableTarget":
            status, headers, payload = call_moto()
            if status.startswith("200"):
                arn = json.loads(payload)["ScalableTargetARN"]
                with self.lock:
                    self.arns[self._key(request)] = arn
                    self.tags.setdefault(arn, {}).update(request.get("Tags") or {})
                if call_ecs is not None:
                    self._into_range(request, call_ecs)
            return status, headers, payload
        if operation == "DeregisterScalableTarget":
            status, headers, payload = call_moto()
            if status.startswith("200"):
                with self.lock:
                    arn = self.arns.pop(self._key(request), None)
                    self.tags.pop(arn, None)
            return status, headers, payload
        arn = request.get("ResourceARN", "")
        with self.lock:
            if arn not in self.tags:
                return self._not_found(arn)
            if operation == "TagResource":
                self.tags[arn].update(request.get("Tags") or {})
                answer: dict = {}
            elif operation == "UntagResource":
                for key in request.get("TagKeys") or []:
                    self.tags[arn].pop(key, None)
                answer = {}
            else:
                answer = {"Tags": dict(self.tags[arn])}
        return "200 OK", list(_JSON), json.dumps(answer).encode()


def ecs_environ(environ: dict, operation: str) -> dict:
    """A WSGI environ for an internal ECS call made while serving `environ`
    (same caller and region; the ECS target and signing service)."""
    out = dict(environ)
    out["HTTP_X_AMZ_TARGET"] = f"AmazonEC2ContainerServiceV20141113.{operation}"
    out["HTTP_AUTHORIZATION"] = re.sub(r"(Credential=[^/]+/\d{8}/[a-z0-9-]+/)[a-z0-9-]+/", r"\1ecs/",
                                       environ.get("HTTP_AUTHORIZATION", ""))
    return out
