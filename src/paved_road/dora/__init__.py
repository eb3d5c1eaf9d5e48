"""`paved dora`: the four DORA delivery metrics per service and for the fleet,
computed from what ECS, ECR and git already record (no event pipeline).

- metrics.py  pure computations over deployment records (paved_road.deploy.history.Deployment)
- bands.py    DORA performance bands (Accelerate State of DevOps 2023 cluster table)
- gitlog.py   commits a release carries, from the service's checkout
- report.py   JSON (schema_version), terminal table, self-contained HTML page
- collect.py  reading ECS/ECR for one service or a fleet, in parallel

Definitions and the JSON schema: docs/dora.md.
"""

SCHEMA_VERSION = 2   # 2: issue 23 (docs/dora.md, JSON schema: what changed from 1)
