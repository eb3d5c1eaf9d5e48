"""A fleet of real generated services at mixed template versions.

The template is a git copy of this repository's working tree with tagged
releases v1.0.0, v1.1.0, v2.0.0 (tests/upgrade/template_releases.py) plus two
more here: v2.1.0 (changes the first line of docs/on-call.md) and v2.1.1.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "upgrade"))


# name -> (version generated at, directory under the fleet root)
SERVICES = {
    "alpha": ("v2.1.1", "alpha"),
    "bravo": ("v2.1.0", "bravo"),
    "charlie": ("v2.0.0", "charlie"),
    "delta": ("v1.1.0", "team-d/delta"),  # one level deeper: found by the directory walk
}
EXPECTED_DRIFT = {"alpha": "none", "bravo": "patch", "charlie": "minor", "delta": "major"}
LATEST = "v2.1.1"
DELTA_EDIT = "# Delta on call (team-owned heading)\n"


def _answers(name: str, version: str) -> dict:
    answers = {"service_name": name, "owner": f"team-{name}", "system": "shop" if name != "charlie" else "",
               "architectures": ["arm64"] if name == "bravo" else ["amd64", "arm64"],
               "node_major": 22 if name == "charlie" else 24}
    port_question = "container_port" if version.startswith("v2") else "http_port"
    answers[port_question] = 8080
    if name == "delta":
        answers["runner_mode"] = "self-hosted"
    return answers


