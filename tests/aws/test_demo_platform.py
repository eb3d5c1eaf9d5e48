"""`make demo-platform` runs `paved demo --platform`: real Terraform builds a
generated service in paved sim, then releases, deploys, a circuit-breaker
rollback, `paved rollback --previous`, history and DORA, end to end."""

from __future__ import annotations

import os
import subprocess
import time

import pytest
from sim_world import paved_executable

from paved_road.sim import terraform as tf


def _env(**extra) -> dict:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")}, "COLUMNS": "160", **extra}


def test_demo_platform_runs_the_whole_life_of_a_service():
    if tf.missing():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI needs the real Terraform: {tf.missing()}")
        pytest.skip(tf.missing())
    started = time.monotonic()
    proc = subprocess.run([paved_executable(), "demo", "--platform", "--speed", "8"], capture_output=True, text=True,
                          timeout=300, env=_env())
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    first_apply = out.split("3. terraform apply", 1)[1].split("4. CI releases", 1)[0]
    # 21 resources plus the two deployment alarms (issue 26)
    assert "Apply complete! Resources: 23 added, 0 changed, 0 destroyed." in first_apply
    assert "aws_cloudwatch_metric_alarm.error_rate[0]: Creation complete" in first_apply
    assert "parked at 0 tasks" in first_apply
    assert "service orders-api: 1 task(s)" in out
    broken = out.split("ship the broken 1.2.0", 1)[1].split("on-call", 1)[0]
    assert "ROLLBACK_SUCCESSFUL" in broken and "(exit 4)" in broken
    assert "rollback complete: orders-api runs 1.1.0 on orders-api-staging:3 again, the last good release" in out
    last_plan = out.split("10. terraform plan", 1)[1]
    assert "No changes." in last_plan
    assert "demo ok" in out


def test_demo_platform_without_the_provider_mirror_says_so_in_one_line(tmp_path):
    proc = subprocess.run([paved_executable(), "demo", "--platform"], capture_output=True, text=True, timeout=60,
                          env=_env(PAVED_TF_PLUGIN_MIRROR=str(tmp_path / "none")))
    assert proc.returncode == 2
    assert proc.stdout == "" and proc.stderr.count("\n") == 1 and tf.MIRROR_ENV in proc.stderr, proc.stderr


def test_demo_refuses_two_demos_at_once():
    proc = subprocess.run([paved_executable(), "demo", "--platform", "--rollback"], capture_output=True, text=True,
                          timeout=60, env=_env())
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "--rollback and --platform" in proc.stderr
