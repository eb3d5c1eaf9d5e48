"""The ecs-service module's deployment alarms watch metrics that exist.

An alarm on a series nobody publishes never fires: ECS would deploy a release
serving 500s as happily as a good one. This renders the collector config the
module puts in the task definition and the module's alarms (both evaluated
offline the way `terraform plan` would, tests/terraform/hcl_eval.py) and checks
every metric an alarm reads against what awsemf publishes for this service:

- the namespace is the awsemf exporter's `namespace`;
- the metric name is one the service's Node SDK records (a view in
  template/src/telemetry.js.jinja names the instrument) and one of awsemf's
  `metric_declarations` selects;
- the dimension names are exactly one declared dimension set (awsemf publishes
  a series per declared set, and CloudWatch matches dimensions exactly), whose
  labels are the attributes processor's constants (with the same values) or
  attributes the SDK view keeps on the data points;
- a percentile statistic needs a distribution: the instrument is exported as
  an exponential histogram (awsemf: Values/Counts);
- a unit, where an alarm sets one, equals the unit awsemf publishes.

The same check on a config without the declaration the error-rate alarm needs
reports it (the mutations at the end), so this test fails if one is removed.
"""

from __future__ import annotations

import copy
import re

import pytest
import yaml

from hcl_eval import Module
from test_ecs_task_definition import MODULE, example_arguments, known_values
from tfhelpers import REPO_ROOT

TELEMETRY_JS = REPO_ROOT / "template" / "src" / "telemetry.js.jinja"
ALARMS = ("aws_cloudwatch_metric_alarm.error_rate", "aws_cloudwatch_metric_alarm.latency")
# awsemf's unit translation for the units our instruments use (OTel UCUM ->
# CloudWatch; exporter/awsemfexporter metric_translator.go): "s" -> Seconds.
AWSEMF_UNITS = {"s": "Seconds", "ms": "Milliseconds", "By": "Bytes", "1": ""}


def module(**overrides) -> Module:
    args = {**example_arguments("minimal"), **overrides}
    return Module(MODULE, args, known_values(args))


def sdk_views() -> dict[str, dict]:
    """What the service's Node SDK exports per instrument it configures a view
    for: {instrument name: {"attributes": [...], "exponential": bool, "unit": ...}}.
    Read from telemetry.js: the view's instrumentName, its allow-list constant
    and the histogram aggregation it names."""
    text = TELEMETRY_JS.read_text()
    views = {}
    for m in re.finditer(r"instrumentName: '([^']+)',(.*?)\n    \}", text, re.S):
        name, body = m.group(1), m.group(2)
        if "DROP" in body:
            continue
        allow = re.search(r"createAllowListAttributesProcessor\((\w+)\)", body)
        attributes = []
        if allow:
            attributes = re.findall(r"'([^']+)'", re.search(rf"const {allow.group(1)} = \[(.*?)\]", text).group(1))
        aggregation = re.search(r"histogramAggregation\(", body)
        views[name] = {"attributes": attributes,
                       "exponential": bool(aggregation) and "EXPONENTIAL_HISTOGRAM" in text,
                       # the HTTP semantic conventions' unit of *.request.duration
                       "unit": "s" if name.endswith(".duration") else None}
    return views


def alarm_metrics(mod: Module) -> list[tuple[str, str, dict]]:
    """(alarm name, query id, metric block) for every metric the module's alarms read."""
    out = []
    for address in ALARMS:
        for key in mod.instance_keys(address):
            alarm = mod.resource_arguments(address, key)
            for query in alarm["metric_query"]:
                for metric in query.get("metric", []):
                    out.append((alarm["alarm_name"], query["id"], metric))
    return out


def unpublished(collector: dict, metrics: list[tuple[str, str, dict]], views: dict) -> list[str]:
    """Why each alarm metric is not a series awsemf publishes for this service (empty: all exist)."""
    emf = collector["exporters"]["awsemf"]
    assert "awsemf" in collector["service"]["pipelines"]["metrics"]["exporters"], "metrics are not exported by awsemf"
    constants = {a["key"]: a["value"] for name in collector["service"]["pipelines"]["metrics"]["processors"]
                 if name.split("/")[0] == "attributes" for a in collector["processors"][name]["actions"]
                 if a["action"] in ("upsert", "insert")}
    problems = []
    for alarm, qid, metric in metrics:
        where = f"{alarm} {qid} ({metric['metric_name']})"
        if metric["namespace"] != emf["namespace"]:
            problems.append(f"{where}: namespace {metric['namespace']} is not awsemf's {emf['namespace']}")
        view = views.get(metric["metric_name"])
        if view is None:
            problems.append(f"{where}: the service's SDK records no such instrument")
            continue
        declared = {frozenset(dims) for d in emf.get("metric_declarations") or []
                    if any(re.search(sel, metric["metric_name"]) for sel in d["metric_name_selectors"])
                    for dims in d["dimensions"]}
        dims = metric.get("dimensions") or {}
        if frozenset(dims) not in declared:
            problems.append(f"{where}: dimensions {sorted(dims)} are not a declared set {sorted(map(sorted, declared))}")
        for label, value in dims.items():
            if label in constants:
                if constants[label] != value:
                    problems.append(f"{where}: {label}={value!r} but the collector sets {constants[label]!r}")
            elif label not in view["attributes"]:
                problems.append(f"{where}: {label} is not an attribute the SDK keeps ({view['attributes']})")
        if re.fullmatch(r"p\d+(\.\d+)?", metric["stat"]) and not view["exponential"]:
            problems.append(f"{where}: {metric['stat']} needs a distribution; the SDK exports no exponential histogram")
        if metric.get("unit") and metric["unit"] != AWSEMF_UNITS.get(view["unit"]):
            problems.append(f"{where}: unit {metric['unit']} but awsemf publishes {AWSEMF_UNITS.get(view['unit'])}")
    return problems


@pytest.fixture(scope="module")
def rendered():
    mod = module()
    return mod, yaml.safe_load(mod.local["collector_config"]), alarm_metrics(mod), sdk_views()


def test_every_alarm_metric_is_one_awsemf_publishes_for_this_service(rendered):
    mod, collector, metrics, views = rendered
    assert {name for name, _, _ in metrics} == {"demo-service-production-http-5xx-rate", "demo-service-production-http-latency-p99"}
    assert views["http.server.request.duration"]["exponential"]
    assert unpublished(collector, metrics, views) == []
    stats = {(name.rsplit("-", 1)[-1], qid): m["stat"] for name, qid, m in metrics}
    assert stats[("rate", "status500")] == "SampleCount" and stats[("p99", "duration")] == "p99"
    assert {m["dimensions"].get("http.response.status_code") for _, _, m in metrics} == {None, "500", "502", "503", "504"}


def test_a_custom_namespace_and_percentile_still_match(rendered):
    mod = module(metrics_namespace="Team/Orders", alarms={"latency": {"percentile": "p95"}})
    collector = yaml.safe_load(mod.local["collector_config"])
    metrics = alarm_metrics(mod)
    assert {m["namespace"] for _, _, m in metrics} == {"Team/Orders"}
    assert unpublished(collector, metrics, rendered[3]) == []


@pytest.mark.parametrize("mutation, expected", [
    ("drop the status-code dimension set", r"5xx-rate status50\d .*dimensions \['deployment.environment.name', 'http.response.status_code', 'service.name'\] are not a declared set"),
    ("drop the request-duration declaration", r"5xx-rate status500 .*not a declared set"),
    ("change the exporter's namespace", r"namespace ECS/demo-service is not awsemf's ECS/other"),
    ("rename the environment constant", r"deployment.environment.name='production' but the collector sets 'prod'"),
    ("alarm on a metric the SDK does not record", r"http.server.duration\): the service's SDK records no such instrument"),
])
def test_the_check_fails_when_a_declaration_or_name_goes_missing(rendered, mutation, expected):
    _, collector, metrics, views = rendered
    collector, metrics = copy.deepcopy(collector), copy.deepcopy(metrics)
    emf = collector["exporters"]["awsemf"]
    duration = next(d for d in emf["metric_declarations"] if "duration" in d["metric_name_selectors"][0])
    if mutation == "drop the status-code dimension set":
        duration["dimensions"].remove(["service.name", "deployment.environment.name", "http.response.status_code"])
    elif mutation == "drop the request-duration declaration":
        emf["metric_declarations"].remove(duration)
    elif mutation == "change the exporter's namespace":
        emf["namespace"] = "ECS/other"
    elif mutation == "rename the environment constant":
        next(a for a in collector["processors"]["attributes/dimensions"]["actions"]
             if a["key"] == "deployment.environment.name")["value"] = "prod"
    else:
        metrics[0][2]["metric_name"] = "http.server.duration"
    problems = unpublished(collector, metrics, views)
    assert any(re.search(expected, p) for p in problems), problems


# --- wiring into the deployment and the inputs ----------------------------------------------

def service_alarms(mod: Module) -> list[dict]:
    return mod.resource_arguments("aws_ecs_service.this").get("alarms", [])


def test_the_alarms_roll_deployments_back_and_extra_alarms_are_kept():
    (block,) = service_alarms(module(deployment_alarm_names=["team-slo-burn"]))
    assert block["enable"] is True and block["rollback"] is True
    assert block["alarm_names"] == ["demo-service-production-http-5xx-rate", "demo-service-production-http-latency-p99",
                                    "team-slo-burn"]


def test_switching_the_alarms_off_leaves_only_the_callers():
    assert service_alarms(module(alarms={"enabled": False}, deployment_alarm_names=["x"]))[0]["alarm_names"] == ["x"]
    assert service_alarms(module(alarms={"enabled": False})) == []
    only_latency = module(alarms={"error_rate": {"enabled": False}})
    assert service_alarms(only_latency)[0]["alarm_names"] == ["demo-service-production-http-latency-p99"]


def test_defaults_a_quiet_service_does_not_page_on():
    mod = module()
    rate = mod.resource_arguments("aws_cloudwatch_metric_alarm.error_rate", 0)
    latency = mod.resource_arguments("aws_cloudwatch_metric_alarm.latency", 0)
    for alarm in (rate, latency):
        assert alarm["treat_missing_data"] == "notBreaching"
        assert (alarm["evaluation_periods"], alarm["datapoints_to_alarm"]) == (3, 2)
        assert alarm["alarm_actions"] == [] and alarm["ok_actions"] == []
        (returned,) = [q for q in alarm["metric_query"] if q["return_data"]]
        assert returned["expression"].startswith("IF(requests >= 20, ")
        assert "paved rollback --previous" in alarm["alarm_description"]
    assert rate["threshold"] == 5 and latency["threshold"] == 2
    topic = "arn:aws:sns:eu-west-1:123456789012:oncall"
    paged = module(alarms={"sns_topic_arn": topic}).resource_arguments("aws_cloudwatch_metric_alarm.latency", 0)
    assert paged["alarm_actions"] == [topic] and paged["ok_actions"] == [topic]


@pytest.mark.parametrize("alarms, message", [
    ({"error_rate": {"threshold_percent": 0}}, "alarms.error_rate.threshold_percent must be above 0"),
    ({"error_rate": {"status_codes": [404]}}, "alarms.error_rate.status_codes must list 1 to 8"),
    ({"error_rate": {"status_codes": list(range(500, 509))}}, "alarms.error_rate.status_codes must list 1 to 8"),
    ({"latency": {"percentile": "p100"}}, "alarms.latency.percentile must be one of"),
    ({"latency": {"period_seconds": 30}}, "period_seconds must be a multiple of 60"),
    ({"latency": {"evaluation_periods": 2, "datapoints_to_alarm": 3}}, "datapoints_to_alarm must be from 1 to evaluation_periods"),
    ({"error_rate": {"minimum_requests": 0}}, "minimum_requests must be whole numbers of at least 1"),
    ({"sns_topic_arn": "oncall"}, "alarms.sns_topic_arn must be an SNS topic ARN"),
])
def test_bad_alarm_settings_are_refused_naming_the_field(alarms, message):
    errors = module(alarms=alarms).validation_errors()
    assert any(message in e for e in errors), errors


def put_metric_alarm_request(alarm: dict) -> dict:
    """aws_cloudwatch_metric_alarm's arguments as the provider sends them to PutMetricAlarm."""
    metrics = []
    for q in alarm["metric_query"]:
        query = {"Id": q["id"], "ReturnData": q["return_data"]}
        if q.get("expression"):
            query["Expression"] = q["expression"]
        for m in q.get("metric", []):
            query["MetricStat"] = {"Metric": {"Namespace": m["namespace"], "MetricName": m["metric_name"],
                                              "Dimensions": [{"Name": k, "Value": v} for k, v in sorted(m["dimensions"].items())]},
                                   "Period": m["period"], "Stat": m["stat"]}
        metrics.append(query)
    return {"AlarmName": alarm["alarm_name"], "ComparisonOperator": alarm["comparison_operator"],
            "EvaluationPeriods": alarm["evaluation_periods"], "DatapointsToAlarm": alarm["datapoints_to_alarm"],
            "TreatMissingData": alarm["treat_missing_data"], "Threshold": float(alarm["threshold"]),
            "Metrics": sorted(metrics, key=lambda q: q["Id"])}


def test_paved_sim_watches_the_alarms_the_module_creates():
    """`paved sim --alarm` puts these alarms on its default world's service: the same requests."""
    from paved_road.sim.world import module_alarms

    mod = module()
    planned = [put_metric_alarm_request(mod.resource_arguments(a, 0)) for a in ALARMS]
    args = example_arguments("minimal")
    simulated = module_alarms(args["name"], args["environment"])
    for request in simulated:
        request["Metrics"] = sorted(request["Metrics"], key=lambda q: q["Id"])
        for q in request["Metrics"]:
            if "MetricStat" in q:
                q["MetricStat"]["Metric"]["Dimensions"].sort(key=lambda d: d["Name"])
    assert simulated == planned


def test_descriptions_and_names_fit_cloudwatch_with_the_longest_inputs():
    """PutMetricAlarm: AlarmName 1-255, AlarmDescription 0-1024 characters (botocore's model)."""
    import botocore.session

    shape = botocore.session.get_session().get_service_model("cloudwatch").operation_model("PutMetricAlarm").input_shape
    limits = {k: shape.members[k].metadata["max"] for k in ("AlarmName", "AlarmDescription")}
    mod = module(name="a" + "b" * 31, environment="e" * 16, metrics_namespace="N" * 255,
                 alarms={"error_rate": {"status_codes": list(range(500, 508))}, "latency": {"percentile": "p99.9"}})
    assert mod.validation_errors() == []
    for address in ALARMS:
        alarm = mod.resource_arguments(address, 0)
        assert len(alarm["alarm_name"]) <= limits["AlarmName"]
        assert len(alarm["alarm_description"]) <= limits["AlarmDescription"], len(alarm["alarm_description"])
