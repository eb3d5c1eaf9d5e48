"""`paved demo --rollback` ends with `paved dora` on the history it made: the four keys printed."""

from __future__ import annotations

import os
import re
import subprocess

from dora_sim_world import PAVED


def test_demo_rollback_prints_the_four_keys():
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    proc = subprocess.run([PAVED, "demo", "--rollback", "--speed", "20"], capture_output=True, text=True, timeout=300,
                          env={**env, "COLUMNS": "200"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    dora = proc.stdout.split("the four DORA keys", 1)[1]
    # captured here, so plain text (docs/cli.md): columns separated by two or more spaces, no box drawing
    row = next(line for line in dora.splitlines() if line.startswith("demo-service "))
    assert "│" not in dora
    cells = re.split(r"\s{2,}", row)
    service, env_, deploys, lead, cfr, restore = cells[:6]
    assert (service, env_) == ("demo-service", "staging")
    # 1.1.0 and 1.2.0 ran; 1.3.0 was rolled back by the circuit breaker; `paved rollback --previous`
    # verified that and stayed on 1.2.0 (issue 18; it used to remove 1.2.0 too); 1.4.0 was rolled
    # back by its 5xx-rate alarm (issue 26): 2 of 4 changes failed.
    assert "(2 ok)" in deploys
    assert "p90" in lead and lead.endswith("elite")
    assert cfr == "50.0% (2/4) low"
    assert "worst" in restore and restore.endswith("elite")
    assert "(exit 0)" in dora and "demo ok" in proc.stdout
