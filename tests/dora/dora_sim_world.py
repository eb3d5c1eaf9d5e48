"""`paved sim` seeded with the scenario's history (scenario.py), and a catalog of checkouts."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import yaml

from dora_scenario import COMMITS, ORDERS, PAYMENTS, PAYMENTS_COMMITS, PAYMENTS_PUSHED, PUSHED, git_repo, t

PAVED = str(Path(sys.executable).with_name("paved"))
REGION = "us-east-1"


def _iso(text: str) -> str:
    return t(text).strftime("%Y-%m-%dT%H:%M:%SZ")


def _history(rows) -> list[dict]:
    return [{"release": r, "made_by": by, "status": status, "started_at": _iso(start),
             "finished_at": _iso(end) if end else None} for r, by, status, start, end in rows]


def scenario_seed() -> dict:
    """orders (environment tag production), payments (no tag: the cluster name says production),
    legacy (tagged staging although it sits in apps-production: the tag wins)."""
    return {
        "region": REGION,
        "retention_days": None,  # ECS forgets nothing: the fixed 2026 dates outlive any fixed number of days
        "repositories": {
            "orders": {"releases": [{"version": v, "pushed_at": _iso(p)} for v, p in PUSHED.items()]},
            "payments": {"releases": [{"version": v, "pushed_at": _iso(p)} for v, p in PAYMENTS_PUSHED.items()]},
            "legacy": {"releases": [{"version": "0.9.0", "pushed_at": _iso("03-03 09:00")}]},
        },
        "clusters": {"apps-production": {"services": {
            "orders": {"environment": "production", "history": _history(ORDERS)},
            "payments": {"environment": None, "history": _history(PAYMENTS)},
            "legacy": {"environment": "staging", "history": _history(
                [("0.9.0", "deploy", "SUCCESSFUL", "03-03 10:00", "03-03 10:05")])},
        }}},
    }


class Sim:
    """`paved sim --port 0 --seed FILE` as a subprocess; `env` points the AWS SDK at it."""

    def __init__(self, seed: dict, workdir: Path, *options: str):
        seed_file = workdir / "seed.yml"
        seed_file.write_text(yaml.safe_dump(seed, sort_keys=False))
        self.proc = subprocess.Popen([PAVED, "sim", "--port", "0", "--seed", str(seed_file), *options],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.endpoint = None
        lines = []
        timer = threading.Timer(600, self.proc.kill)
        timer.start()
        try:
            for line in self.proc.stdout:
                lines.append(line)
                if "export AWS_ENDPOINT_URL=" in line:
                    self.endpoint = line.split("=", 1)[1].strip()
                if "Ctrl-C stops it" in line:
                    break
        finally:
            timer.cancel()
        if self.endpoint is None:
            self.proc.kill()
            raise RuntimeError("paved sim did not start:\n" + "".join(lines))
        # Keep draining its output so it never blocks on a full pipe.
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        self.env.update({"AWS_ENDPOINT_URL": self.endpoint, "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
                         "AWS_ACCESS_KEY_ID": "sim", "AWS_SECRET_ACCESS_KEY": "sim"})

    def reset(self, seed: dict) -> None:
        """POST /_paved_sim/reset: the same simulator, a new world."""
        import json
        import urllib.request

        request = urllib.request.Request(f"{self.endpoint}/_paved_sim/reset", data=json.dumps({"seed": seed}).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=120) as response:
            assert response.status == 200

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def answers(name: str, template: Path) -> str:
    return yaml.safe_dump({"_commit": "v1.0.0", "_src_path": str(template),
                           "service_name": name, "ecs_cluster_prefix": "apps", "aws_region": REGION})


def catalog(root: Path) -> Path:
    """Checkouts of orders and payments (git, fixed commit times) and legacy (answers only),
    generated from a local template repository tagged v1.0.0 (what `paved catalog` compares with)."""
    template = git_repo(root.parent / f"{root.name}-template", [("01-01 09:00", "v1.0.0")])
    for name, commits in (("orders", COMMITS), ("payments", PAYMENTS_COMMITS), ("legacy", None)):
        path = root / name
        if commits:
            git_repo(path, commits)
        else:
            path.mkdir(parents=True)
        (path / ".copier-answers.yml").write_text(answers(name, template))
    return root
