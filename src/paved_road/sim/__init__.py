"""`paved sim`: ECS and ECR on one machine (moto as an HTTP server plus ECS's deployment state machine)."""
