"""Calls the AWS provider makes that moto 5.2.5 lacks, answered by `paved sim`
as the API references document them (boto3 against the simulator)."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from sim_world import REGION, make_world


def _client(endpoint: str, name: str):
    return boto3.Session(region_name=REGION, aws_access_key_id="sim", aws_secret_access_key="sim").client(
        name, endpoint_url=endpoint)


def test_scalable_target_tags_are_kept_changed_and_dropped(sim_endpoint):
    make_world(sim_endpoint, {})
    ecs = _client(sim_endpoint, "ecs")
    ecs.create_cluster(clusterName="demo")
    td = ecs.register_task_definition(family="tagged", containerDefinitions=[{"name": "app", "image": "x:1", "memory": 128}])
    ecs.create_service(cluster="demo", serviceName="tagged", desiredCount=0,
                       taskDefinition=td["taskDefinition"]["taskDefinitionArn"])
    aas = _client(sim_endpoint, "application-autoscaling")
    target = {"ServiceNamespace": "ecs", "ResourceId": "service/demo/tagged", "ScalableDimension": "ecs:service:DesiredCount"}
    arn = aas.register_scalable_target(**target, MinCapacity=1, MaxCapacity=3, Tags={"team": "checkout"})["ScalableTargetARN"]
    assert aas.list_tags_for_resource(ResourceARN=arn)["Tags"] == {"team": "checkout"}
    aas.tag_resource(ResourceARN=arn, Tags={"team": "payments", "tier": "1"})
    aas.untag_resource(ResourceARN=arn, TagKeys=["tier"])
    assert aas.list_tags_for_resource(ResourceARN=arn)["Tags"] == {"team": "payments"}
    aas.deregister_scalable_target(**target)
    with pytest.raises(ClientError) as err:
        aas.list_tags_for_resource(ResourceARN=arn)
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_describe_services_answers_managed_tags_and_az_rebalancing_as_requested(sim_endpoint):
    make_world(sim_endpoint, {})
    ecs = _client(sim_endpoint, "ecs")
    ecs.create_cluster(clusterName="fields")
    family = ecs.register_task_definition(family="fields", containerDefinitions=[{"name": "app", "image": "x:1", "memory": 128}])
    td = family["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(cluster="fields", serviceName="plain", taskDefinition=td, desiredCount=0)
    ecs.create_service(cluster="fields", serviceName="tagged", taskDefinition=td, desiredCount=0,
                       enableECSManagedTags=True, availabilityZoneRebalancing="DISABLED")
    ecs.update_service(cluster="fields", service="plain", availabilityZoneRebalancing="DISABLED")
    services = {s["serviceName"]: s for s in ecs.describe_services(cluster="fields", services=["plain", "tagged"])["services"]}
    # CreateService defaults: no managed tags, rebalancing ENABLED; an update without the field keeps it.
    assert (services["plain"]["enableECSManagedTags"], services["plain"]["availabilityZoneRebalancing"]) == (False, "DISABLED")
    assert (services["tagged"]["enableECSManagedTags"], services["tagged"]["availabilityZoneRebalancing"]) == (True, "DISABLED")
    ecs.update_service(cluster="fields", service="tagged", desiredCount=0)
    (tagged,) = ecs.describe_services(cluster="fields", services=["tagged"])["services"]
    assert tagged["enableECSManagedTags"] is True and tagged["availabilityZoneRebalancing"] == "DISABLED"


def test_registering_a_range_moves_the_services_desired_count_into_it(sim_endpoint):
    make_world(sim_endpoint, {})
    ecs = _client(sim_endpoint, "ecs")
    ecs.create_cluster(clusterName="parked")
    td = ecs.register_task_definition(family="p", containerDefinitions=[{"name": "app", "image": "x:1", "memory": 128}])
    ecs.create_service(cluster="parked", serviceName="svc", desiredCount=0,
                       taskDefinition=td["taskDefinition"]["taskDefinitionArn"])
    aas = _client(sim_endpoint, "application-autoscaling")
    target = {"ServiceNamespace": "ecs", "ResourceId": "service/parked/svc", "ScalableDimension": "ecs:service:DesiredCount"}
    aas.register_scalable_target(**target, MinCapacity=0, MaxCapacity=0)
    assert ecs.describe_services(cluster="parked", services=["svc"])["services"][0]["desiredCount"] == 0
    aas.register_scalable_target(**target, MinCapacity=2, MaxCapacity=4)   # unparked: scaled out to the minimum
    assert ecs.describe_services(cluster="parked", services=["svc"])["services"][0]["desiredCount"] == 2
    aas.register_scalable_target(**target, MinCapacity=0, MaxCapacity=1)   # scaled in to the maximum
    assert ecs.describe_services(cluster="parked", services=["svc"])["services"][0]["desiredCount"] == 1
