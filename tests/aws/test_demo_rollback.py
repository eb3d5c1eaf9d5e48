"""`make demo-rollback` runs `paved demo --rollback`: the incident story end to end against paved sim."""

from __future__ import annotations

import os
import subprocess

from sim_world import paved_executable


def test_demo_rollback_tells_the_story_end_to_end():
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    proc = subprocess.run([paved_executable(), "demo", "--rollback", "--speed", "20"], capture_output=True, text=True, timeout=300,
                          env={**env, "COLUMNS": "160"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "export AWS_ENDPOINT_URL=http://127.0.0.1:" in out
    broken = out.split("deploy the broken 1.3.0", 1)[1].split("on-call", 1)[0]
    assert "ROLLBACK_SUCCESSFUL" in broken and "(exit 4)" in broken
    previous = out.split("5. rollback --previous", 1)[1].split("6. deploying", 1)[0]
    assert "already rolled back" in previous and "runs 1.2.0 on demo-service:3 again" in previous
    # nothing registered between the broken release and the next one (1.4.0 registers demo-service:5)
    assert "(exit 0)" in previous and "demo-service:5" not in out.split("7. release 1.4.0", 1)[0]
    refused = out.split("6. deploying", 1)[1].split("7. release 1.4.0", 1)[0]
    assert "(exit 2)" in refused and "--allow-bad-release" in proc.stderr
    alarmed = out.split("7. release 1.4.0", 1)[1].split("8. what", 1)[0]
    assert "alarms:    demo-service-staging-http-5xx-rate" in alarmed and "(exit 4)" in alarmed
    assert "error: deployment of demo-service:5 ROLLBACK_SUCCESSFUL: CloudWatch alarm demo-service-staging-http-5xx-rate" \
        in " ".join(proc.stderr.split())
    assert "1.4.0 (demo-service:5) rolled-back: rolled back by alarm demo-service-staging-http-5xx-rate" in alarmed
    assert sum(line.startswith("started (UTC)") for line in out.splitlines()) == 6  # history, plain in a pipe
    assert "demo ok" in out
