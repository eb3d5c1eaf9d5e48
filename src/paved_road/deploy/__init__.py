"""deploy / rollback / history of ECS services, releases in ECR, and the AWS session they share."""
