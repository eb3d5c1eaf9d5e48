output "repository_id" {
  description = "The repository's numeric ID as GitHub reports it (the copier answer github_repository_id must equal it)"
  value       = data.github_repository.this.repo_id
}

output "environments" {
  description = "The environments and the refs each admits"
  value       = { for env, e in local.environments : env => { branches = e.branches, tags = e.tags } }
}
