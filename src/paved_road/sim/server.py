"""The simulator's HTTP server: moto's own WSGI app behind a thin ECS layer.

Every request is served by moto (the real AWS wire protocol), except the ECS
operations moto lacks (ListServiceDeployments, DescribeServiceDeployments,
StopServiceDeployment, DescribeServiceRevisions), which the deployment model
answers with the response shapes of the botocore ECS model. CreateService /
UpdateService go to moto first and then start a deployment in the model;
DescribeServices responses get the model's deployments, counts and events.

Admin endpoints under /_paved_sim/ (JSON in and out), used by tests and demos:
  POST /_paved_sim/reset   {"seed": {...} | null, "fail": [...], "alarm": [...], "fail_rollback": bool, "speed": X,
                            "list_order": "oldest-first"}
                           fresh world (ListServiceDeployments documents no order: clients must not rely on one)
  POST /_paved_sim/fault   {"operation": "UpdateService", "fault": "throttle" | "lost" | "stall" | "denied" | "stale",
                            "count": N, "seconds": S, "after": "UpdateService"}
  POST /_paved_sim/fail    {"versions": ["1.3.0"]}   releases whose tasks fail their health checks
  GET  /_paved_sim/state   calls served, faults left

Faults: `throttle` answers ThrottlingException (HTTP 400, as ECS does) without
touching moto; `lost` lets moto apply the call and then drops the connection
before any response byte, which is what a client sees when the response is
lost after AWS applied the request (botocore: ConnectionClosedError / read timeout);
`stall` holds the request for `seconds` and then drops it unapplied (a request
that never reached ECS; tests interrupt the client meanwhile); `denied` answers
AccessDeniedException (a role without that permission); `stale` answers a
read (DescribeServices) with what the previous identical call returned: the
ECS API is eventually consistent, so a change may not show in the next read
(https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RunTask.html,
"eventual consistency"). `after` keeps a fault dormant until that operation
has been called once.
"""

from __future__ import annotations

import io
import json
import logging
import re
import socket
import threading
import time
import urllib.request
from datetime import datetime
from typing import Any

from moto.core import DEFAULT_ACCOUNT_ID
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import ThreadedWSGIServer

from paved_road.bounded_http import IDLE_TIMEOUT, BoundedThreads

from paved_road.sim import alarm_history
from paved_road.sim.autoscaling_tags import ScalableTargetTags, ecs_environ
from paved_road.sim.ecs_model import EcsModel, SimError, SimService, epoch
from paved_road.sim.ecs_service_fields import ServiceFields

ECS_PREFIX = "AmazonEC2ContainerServiceV20141113."
CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/")
MODEL_OPERATIONS = ("ListServiceDeployments", "DescribeServiceDeployments", "StopServiceDeployment",
                    "DescribeServiceRevisions")


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()  # the JSON protocol sends timestamps as epoch seconds
    raise TypeError(f"not JSON serialisable: {type(value)}")


def dumps(data: Any) -> bytes:
    return json.dumps(data, default=_default).encode()


# The admin API (/_paved_sim/...) answers only requests addressed to loopback, with JSON bodies.
ADMIN_HOSTS = {"127.0.0.1", "localhost", "[::1]"}
MAX_ADMIN_BODY = 1024 * 1024
# The AWS API: a request body larger than this is refused before it is read (the sim's callers send
# kilobytes; a 300 MB body was buffered whole). A chunked body (botocore never sends one) is refused too.
MAX_BODY = 16 * 1024 * 1024


class _BoundedServer(BoundedThreads, ThreadedWSGIServer):
    """werkzeug's threaded server with at most MAX_CONNECTIONS threads (bounded_http)."""


class _Handler(MotoRequestHandler):
    timeout = IDLE_TIMEOUT  # a connection that sends nothing is closed (300 of them held 302 threads)


class _Dispatcher(DomainDispatcherApplication):
    """moto's dispatcher, remembering which backend serves a host: moto lists its modules on disk for
    every request (backends.list_of_moto_modules), about a fifth of a simple call's time here."""

    def __init__(self, create_app):
        super().__init__(create_app)
        self._backends: dict[str | None, object] = {}

    def get_backend_for_host(self, host):   # called under self.lock (DomainDispatcherApplication.get_application)
        if host not in self._backends:
            backend = super().get_backend_for_host(host)
            if len(self._backends) >= 256:     # Host headers are the client's: keep the memo bounded
                return backend
            self._backends[host] = backend
        return self._backends[host]


class SimApp:
    """WSGI app: admin routes, fault injection, the ECS deployment layer, then moto."""

    def __init__(self, model: EcsModel, seeder=None):
        self.model = model
        alarm_history.install()
        self.moto = _Dispatcher(create_backend_app)
        self.faults: dict[str, list[list]] = {}       # operation -> [[fault, remaining, after], ...]
        self.served: dict[tuple[str, bytes], tuple[str, list, bytes]] = {}  # last answer per read (for 'stale')
        self.calls: dict[str, int] = {}
        self.stall_seconds = 5.0
        self.fail_versions: set[str] = set()
        self.alarm_versions: set[str] = set()         # releases whose tasks breach the CloudWatch alarms
        self.oldest_first = False                     # ListServiceDeployments order
        self.world_region = "us-east-1"               # where the seed put the world
        self.seeder = seeder                          # callable(seed) run on reset
        self.autoscaling_tags = ScalableTargetTags()  # calls moto lacks (autoscaling_tags.py)
        self.service_fields = ServiceFields()         # fields moto drops (ecs_service_fields.py)
        self.lock = threading.RLock()

    # ------------------------------------------------------------ plumbing

    def _call_moto(self, environ: dict, body: bytes) -> tuple[str, list, bytes]:
        environ = dict(environ)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        captured: dict = {}

        def start_response(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        chunks = self.moto(environ, start_response)
        try:
            payload = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        return captured["status"], captured["headers"], payload

    @staticmethod
    def _respond(start_response, status: str, payload: bytes, content_type="application/x-amz-json-1.1"):
        start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(payload))),
                                ("x-amzn-RequestId", "sim")])
        return [payload]

    def _error(self, start_response, code: str, message: str, status: int = 400):
        return self._respond(start_response, f"{status} Error", dumps({"__type": code, "message": message}))

    @staticmethod
    def _region(environ: dict) -> str:
        match = CREDENTIAL_SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
        return match.group(1) if match else "us-east-1"

    def _take_fault(self, operation: str) -> str | None:
        with self.lock:
            self.calls[operation] = self.calls.get(operation, 0) + 1
            queue = self.faults.get(operation) or []
            while queue and queue[0][1] <= 0:
                queue.pop(0)
            if not queue or (queue[0][2] and not self.calls.get(queue[0][2])):
                return None
            queue[0][1] -= 1
            return queue[0][0]

    # ------------------------------------------------------------ WSGI entry

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_paved_sim/"):
            return self._admin(environ, start_response, path)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        operation = target.rsplit(".", 1)[-1] if target else ""
        raw = str(environ.get("CONTENT_LENGTH") or "0").strip()
        if not (raw.isascii() and raw.isdigit()) or "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            return self._respond(start_response, "400 Bad Request",
                                 dumps({"message": "Content-Length must be a non-negative integer"}), "application/json")
        if int(raw) > MAX_BODY:
            return self._respond(start_response, "413 Payload Too Large",
                                 dumps({"message": f"request body exceeds {MAX_BODY} bytes"}), "application/json")
        length = int(raw)
        body = environ["wsgi.input"].read(length) if length else b""
        fault = self._take_fault(operation) if operation else None
        if fault == "throttle":
            return self._error(start_response, "ThrottlingException", "Rate exceeded")
        if fault == "denied":  # an account or role without this API (e.g. no service-deployment permissions)
            return self._error(start_response, "AccessDeniedException",
                               f"User is not authorized to perform: ecs:{operation} (paved sim fault 'denied')")
        if fault == "stall":
            time.sleep(self.stall_seconds)
            raise ConnectionResetError("paved sim: request dropped unapplied (fault 'stall')")
        if fault == "stale" and (operation, body) in self.served:
            status, headers, payload = self.served[(operation, body)]
            start_response(status, headers)
            return [payload]
        if target.startswith(ECS_PREFIX):
            try:
                status, headers, payload = self._ecs(environ, operation, body)
            except SimError as exc:
                status, headers = f"{exc.status} Error", [("Content-Type", "application/x-amz-json-1.1")]
                payload = dumps({"__type": exc.code, "message": exc.message})
            payload = self.service_fields.answer(operation, body, status, payload)
            payload = self._region_hint(environ, status, payload)
        elif self.autoscaling_tags.handles(target):
            status, headers, payload = self.autoscaling_tags(
                operation, body, lambda: self._call_moto(environ, body),
                lambda op, req: json.loads(self._ecs(ecs_environ(environ, op), op, json.dumps(req).encode())[2]))
        else:
            status, headers, payload = self._call_moto(environ, body)
        if fault == "lost":
            # Applied, but the response never arrives.
            sock = environ.get("werkzeug.socket")
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            raise ConnectionResetError("paved sim: response dropped on purpose (fault 'lost')")
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        headers = [*headers, ("Content-Length", str(len(payload)))]
        if operation == "DescribeServices" and status.startswith("200") and \
                any(f[0] == "stale" for f in self.faults.get(operation, [])):
            self.served[(operation, body)] = (status, list(headers), payload)  # only while a 'stale' is queued
        start_response(status, headers)
        return [payload]

    # ------------------------------------------------------------ ECS

    def _region_hint(self, environ: dict, status: str, payload: bytes) -> bytes:
        """A "not found" asked in another region than the world's says where the world is.

        Real ECS is regional (a cluster in us-east-1 does not exist in eu-west-1), so the answer stays
        "not found"; only the message gains the sim's region, for the user whose shell has another AWS_REGION.
        """
        region = self._region(environ)
        if status.startswith("200") or region == self.world_region:
            return payload
        try:
            error = json.loads(payload)
        except ValueError:
            return payload
        if not str(error.get("__type", "")).endswith(("ClusterNotFoundException", "ServiceNotFoundException")):
            return payload
        error["message"] = (f"{error.get('message') or 'Not found.'} (paved sim: this request is for region {region}; "
                            f"the simulated world lives in {self.world_region}: set AWS_REGION={self.world_region})")
        return dumps(error)

    def _backend(self, region: str):
        from moto.ecs.models import ecs_backends
        return ecs_backends[DEFAULT_ACCOUNT_ID][region]

    def _alarming(self, region: str, images: list[dict]) -> bool:
        return any(self._release_in(region, i["image"], self.alarm_versions) for i in images)

    def alarm_states(self, region: str, names: list[str]) -> dict[str, str]:
        """What ECS reads from CloudWatch: each alarm's state (moto's CloudWatch backend; missing = OK)."""
        from moto.cloudwatch.models import cloudwatch_backends
        backend = cloudwatch_backends[DEFAULT_ACCOUNT_ID][region]
        return {n: (backend.alarms[n].state_value if n in backend.alarms else "OK") for n in names}

    def set_alarms(self, region: str, names: list[str], state: str, reason: str) -> None:
        """The release's error metric crossing (or back under) the threshold: SetAlarmState on each alarm.

        A release that serves 5xx (--alarm) breaches the alarms that read an error signal: the
        module's error rate (per-status-code counts) or a plain single-metric alarm; a latency
        alarm (a percentile of the duration, no status code) stays OK, as fast 500s leave it."""
        from moto.cloudwatch.models import cloudwatch_backends
        backend = cloudwatch_backends[DEFAULT_ACCOUNT_ID][region]

        def reads_errors(alarm) -> bool:
            stats = [q.metric_stat for q in alarm.metric_data_queries or [] if q.metric_stat is not None]
            return not stats or any(d.name == "http.response.status_code"
                                    for s in stats for d in (s.metric.dimensions or []))

        for name in names:
            if state == "ALARM" and name in backend.alarms and not reads_errors(backend.alarms[name]):
                continue
            if name in backend.alarms and backend.alarms[name].state_value != state:
                backend.set_alarm_state(name, reason, json.dumps({"paved_sim": reason}), state)

    def _images(self, region: str, task_definition: str) -> tuple[str, list[dict], bool]:
        """(task-definition ARN, container images as a service revision records them, fails its health checks?).

        ECS resolves each container's image tag to a digest when a deployment starts and records it in the
        service revision's containerImages[].imageDigest ("Container image resolution",
        https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-type-ecs.html#deployment-container-image-stability;
        botocore ecs model, ContainerImage). Images outside the simulated ECR keep an empty digest.
        """
        td = self._backend(region).describe_task_definition(task_definition)
        images = [{"containerName": c["name"], "image": c["image"],
                   "imageDigest": self._resolve_digest(region, c["image"])}
                  for c in td.container_definitions]
        failing = any(self._release_fails(region, i["image"]) for i in images)
        return td.arn, images, failing

    def _resolve_digest(self, region: str, image: str) -> str:
        rest, _, digest = image.partition("@")
        if digest:
            return digest
        from moto.ecr.models import ecr_backends
        path = rest.split("/", 1)[1] if "/" in rest else rest
        repo, _, tag = path.partition(":")
        repository = ecr_backends[DEFAULT_ACCOUNT_ID][region].repositories.get(repo)
        for img in (repository.images if repository is not None else []):
            if (tag or "latest") in img.image_tags:
                return img.get_image_digest()
        return ""

    def _release_fails(self, region: str, image: str) -> bool:
        return self._release_in(region, image, self.fail_versions)

    def _release_in(self, region: str, image: str, versions: set[str]) -> bool:
        if not versions:
            return False
        from moto.ecr.models import ecr_backends
        rest, _, digest = image.partition("@")            # <registry>/<repo>[:tag][@digest]
        path = rest.split("/", 1)[1] if "/" in rest else rest
        repo, _, tag = path.partition(":")
        tags: set[str] = {tag} if tag else set()
        repository = ecr_backends[DEFAULT_ACCOUNT_ID][region].repositories.get(repo)
        if repository is not None and digest:
            for img in repository.images:
                if img.get_image_digest() == digest:
                    tags.update(img.image_tags)
        wanted = {v.lstrip("v") for v in versions}
        return any(t.lstrip("v") in wanted for t in tags)

    def _ecs(self, environ: dict, operation: str, body: bytes) -> tuple[str, list, bytes]:
        region = self._region(environ)
        request = json.loads(body or b"{}")
        model = self.model
        ok = "200 OK"
        headers = [("Content-Type", "application/x-amz-json-1.1")]
        with model.lock:
            if operation in MODEL_OPERATIONS:
                return ok, headers, dumps(self._model_operation(operation, request))
            if operation == "UpdateService":
                svc = model.find_service(request.get("cluster", "default"), request.get("service", ""))
                if svc is not None and svc.controller != "ECS" and "taskDefinition" in request:
                    raise SimError("InvalidParameterException",
                                   f"Unable to update task definition on services with a {svc.controller} "
                                   "deployment controller.")
            status, moto_headers, payload = self._call_moto(environ, body)
            if not status.startswith("200"):
                return status, moto_headers, payload
            response = json.loads(payload)
            if operation == "CreateService":
                self._created(region, request, response["service"])
                response["service"] = model.decorate_service(response["service"])
            elif operation == "UpdateService":
                self._updated(region, request, response["service"])
                response["service"] = model.decorate_service(response["service"])
            elif operation == "DescribeServices":
                response["services"] = [model.decorate_service(s) for s in response.get("services", [])]
            elif operation == "DeleteService":
                model.services.pop(response["service"]["serviceArn"], None)
            return status, moto_headers, dumps(response)

    def _created(self, region: str, request: dict, service: dict) -> None:
        config = {"maximumPercent": 200, "minimumHealthyPercent": 100, "strategy": "ROLLING",
                  "deploymentCircuitBreaker": {"enable": False, "rollback": False}}
        config.update(request.get("deploymentConfiguration") or {})
        td_arn, images, failing = self._images(region, request["taskDefinition"])
        svc = SimService(
            arn=service["serviceArn"], name=service["serviceName"], cluster_arn=service["clusterArn"],
            cluster_name=service["clusterArn"].rsplit("/", 1)[-1], region=region, account=DEFAULT_ACCOUNT_ID,
            desired=int(request.get("desiredCount", 0) or 0), config=config,
            controller=(request.get("deploymentController") or {}).get("type", "ECS"),
            launch_type=request.get("launchType"), task_definition=td_arn)
        self.model.service_created(svc, images, failing=failing, alarming=self._alarming(region, images))

    def _updated(self, region: str, request: dict, service: dict) -> None:
        model = self.model
        svc = model.services.get(service["serviceArn"])
        if svc is None:
            return
        changed = False
        if "deploymentConfiguration" in request:
            merged = dict(svc.config)
            merged.update(request["deploymentConfiguration"])
            changed = merged != svc.config
            svc.config = merged
        if request.get("desiredCount") is not None:
            svc.desired = int(request["desiredCount"])
        td_arn = svc.task_definition
        if request.get("taskDefinition"):
            td_arn = self._backend(region).describe_task_definition(request["taskDefinition"]).arn
        if td_arn != svc.task_definition or request.get("forceNewDeployment") or changed:
            _arn, images, failing = self._images(region, td_arn)
            model.start_deployment(svc, td_arn, images, failing=failing, alarming=self._alarming(region, images))

    def _model_operation(self, operation: str, request: dict) -> dict:
        model = self.model
        model.advance()
        if operation == "ListServiceDeployments":
            created = request.get("createdAt") or {}
            found = model.list_deployments(request.get("cluster", "default"), request["service"],
                                           request.get("status"), epoch(created.get("after")),
                                           epoch(created.get("before")))
            start = int(request.get("nextToken") or 0)
            size = int(request.get("maxResults") or 20)
            if self.oldest_first:
                found = list(reversed(found))
            page = found[start:start + size]
            out: dict = {"serviceDeployments": [d.brief() for d in page]}
            if start + size < len(found):
                out["nextToken"] = str(start + size)
            return out
        if operation == "DescribeServiceDeployments":
            arns = request.get("serviceDeploymentArns") or []
            if len(arns) > 20:
                raise SimError("InvalidParameterException", "serviceDeploymentArns can have at most 20 items.")
            kept = {a for a in arns if a in model.by_arn and model.retained(model.by_arn[a])}
            found = [model.by_arn[a].describe() for a in arns if a in kept]
            failures = [{"arn": a, "reason": "MISSING"} for a in arns if a not in kept]
            return {"serviceDeployments": found, "failures": failures}
        if operation == "StopServiceDeployment":
            dep = model.stop(request["serviceDeploymentArn"], request.get("stopType", "ROLLBACK"))
            return {"serviceDeploymentArn": dep.arn}
        # DescribeServiceRevisions
        arns = request.get("serviceRevisionArns") or []
        if len(arns) > 20:
            raise SimError("InvalidParameterException", "serviceRevisionArns can have at most 20 items.")
        return {"serviceRevisions": [model.revisions[a].describe() for a in arns if a in model.revisions],
                "failures": [{"arn": a, "reason": "MISSING"} for a in arns if a not in model.revisions]}

    # ------------------------------------------------------------ admin

    def _admin_refusal(self, environ, path: str) -> tuple[str, str] | None:
        """(status, message) when an admin request is refused. The admin API changes the world, so
        a web page must not reach it: a `Host` other than loopback (DNS rebinding) is refused, and
        a POST must be `application/json`, which a cross-origin form or `text/plain` fetch cannot
        send without a CORS preflight (the sim answers none)."""
        host = environ.get("HTTP_HOST", "")
        name = host.rsplit("]", 1)[0] + "]" if host.startswith("[") else host.rsplit(":", 1)[0]
        if name.lower() not in ADMIN_HOSTS:
            return "403 Forbidden", f"admin API: Host must be one of {', '.join(sorted(ADMIN_HOSTS))}"
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/_paved_sim/state" and method == "GET":
            return None
        if method != "POST":
            return "405 Method Not Allowed", f"admin API: {path} takes POST with a JSON body"
        content_type = environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            return "415 Unsupported Media Type", "admin API: Content-Type must be application/json"
        raw = str(environ.get("CONTENT_LENGTH") or "0").strip()
        if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_ADMIN_BODY:
            return "413 Payload Too Large", f"admin API: Content-Length must be 0 to {MAX_ADMIN_BODY}"
        return None

    def _admin(self, environ, start_response, path: str):
        refused = self._admin_refusal(environ, path)
        if refused:
            return self._respond(start_response, refused[0], dumps({"message": refused[1]}), "application/json")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        try:
            request = json.loads(environ["wsgi.input"].read(length) or b"{}") if length else {}
        except ValueError:
            request = None
        if not isinstance(request, dict):
            return self._respond(start_response, "400 Bad Request", b'{"message": "admin API: body must be a JSON object"}',
                                 "application/json")
        if path == "/_paved_sim/state":
            with self.lock:
                state = {"calls": self.calls, "faults": self.faults, "fail": sorted(self.fail_versions),
                         "speed": self.model.speed}
            return self._respond(start_response, "200 OK", dumps(state), "application/json")
        if path == "/_paved_sim/fault":
            with self.lock:
                if request.get("fault") not in ("throttle", "lost", "stall", "denied", "stale"):
                    return self._respond(start_response, "400 Bad Request",
                                         b'{"message": "fault: throttle, lost, stall, denied or stale"}',
                                         "application/json")
                self.faults.setdefault(request["operation"], []).append(
                    [request["fault"], int(request.get("count", 1)), request.get("after")])
                self.stall_seconds = float(request.get("seconds", self.stall_seconds))
            return self._respond(start_response, "200 OK", b"{}", "application/json")
        if path == "/_paved_sim/fail":
            self.fail_versions = set(request.get("versions") or [])
            return self._respond(start_response, "200 OK", b"{}", "application/json")
        if path == "/_paved_sim/reset":
            # Seeding calls this server over HTTP, so it runs in its own thread.
            self.reset(request)
            return self._respond(start_response, "200 OK", b"{}", "application/json")
        return self._respond(start_response, "404 Not Found", b'{"message": "unknown admin route"}', "application/json")

    def reset(self, request: dict) -> None:
        from moto.moto_api._internal.models import moto_api_backend

        with self.lock:
            self.faults.clear()
            self.calls.clear()
            self.served.clear()
            self.fail_versions = set(request.get("fail") or [])
            self.alarm_versions = set(request.get("alarm") or [])
            self.model.fail_rollback = bool(request.get("fail_rollback"))
            self.oldest_first = request.get("list_order") == "oldest-first"
            if request.get("speed"):
                self.model.speed = float(request["speed"])
        self.model.reset()
        self.autoscaling_tags.reset()
        self.service_fields.reset()
        moto_api_backend.reset()  # what POST /moto-api/reset does
        alarm_history.reset()     # DescribeAlarmHistory (moto has none): seeded past state changes
        self.model.alarm_states, self.model.set_alarms = self.alarm_states, self.set_alarms
        if self.seeder is not None:
            self.seeder(request.get("seed"), alarms=bool(self.alarm_versions))


class SimServer:
    """The simulator on a loopback port, serving in a background thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, speed: float = 1.0, app: SimApp | None = None):
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per AWS call is noise
        self.model = app.model if app is not None else EcsModel(speed=speed)
        self.app = app or SimApp(self.model)
        self.server = _BoundedServer(host, port, self.app, handler=_Handler)
        self.host, self.port = self.server.server_address[:2]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "SimServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)


def admin(endpoint: str, route: str, payload: dict | None = None, timeout: float = 60) -> dict:
    """Call an admin route of a running simulator (tests and the demo use this)."""
    data = json.dumps(payload or {}).encode()
    request = urllib.request.Request(f"{endpoint}/_paved_sim/{route}", data=data if payload is not None else None,
                                     method="POST" if payload is not None else "GET",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read() or b"{}")
