"""ECS service fields moto 5.2.5 accepts but never answers back.

The AWS provider compares what it sent with what DescribeServices returns; a
field the simulator drops reads as drift, and the next `terraform plan` wants
to change a service nothing changed. Per the ECS API reference (Service data
type; CreateService and UpdateService requests):

- `enableECSManagedTags` (boolean): as the request set it; false by default.
- `availabilityZoneRebalancing` (ENABLED | DISABLED): on CreateService
  without a value ECS uses ENABLED; on UpdateService without a value the
  service keeps its value ("If the service never had an
  AvailabilityZoneRebalancing value set, Amazon ECS treats this as DISABLED").

This layer keeps both per service ARN from the requests and writes them into
the Service objects of CreateService, UpdateService and DescribeServices
answers; DeleteService forgets them.
"""

from __future__ import annotations

import json
import threading

FIELDS = {"enableECSManagedTags": False, "availabilityZoneRebalancing": "ENABLED"}


class ServiceFields:
    def __init__(self):
        self.values: dict[str, dict] = {}   # service ARN -> fields
        self.lock = threading.Lock()

    def reset(self) -> None:
        with self.lock:
            self.values.clear()

    def answer(self, operation: str, request_body: bytes, status: str, payload: bytes) -> bytes:
        """The ECS answer with the fields filled in (unchanged when not a service answer)."""
        if operation not in ("CreateService", "UpdateService", "DescribeServices", "DeleteService") \
                or not status.startswith("200"):
            return payload
        response = json.loads(payload)
        request = json.loads(request_body or b"{}")
        with self.lock:
            if operation == "DeleteService":
                self.values.pop(response.get("service", {}).get("serviceArn"), None)
                return payload
            if operation in ("CreateService", "UpdateService"):
                arn = response["service"]["serviceArn"]
                known = self.values.setdefault(arn, dict(FIELDS) if operation == "CreateService" else {})
                known.update({k: request[k] for k in FIELDS if k in request})
            # DescribeServices of unknown services answers `services: []` plus `failures`: nothing to fill in.
            services = response["services"] if "services" in response else [response["service"]]
            for service in services:
                for field, value in self.values.get(service.get("serviceArn"), {}).items():
                    service[field] = value
        return json.dumps(response, default=str).encode()
