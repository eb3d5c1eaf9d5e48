output "publish_role_arn" {
  description = "ARN of the image-publishing role (null when publish is null)"
  value       = try(aws_iam_role.publish[0].arn, null)
}

output "deploy_role_arns" {
  description = "ARNs of the deploy roles by GitHub environment"
  value       = { for env, role in aws_iam_role.deploy : env => role.arn }
}

output "trusted_subjects" {
  description = "OIDC subjects each role trusts, by role name (one GitHub environment each; the publish role's may end in the pattern v*)"
  value = merge(
    { for role in aws_iam_role.publish : role.name => local.publish_subjects },
    { for env, role in aws_iam_role.deploy : role.name => local.deploy_subjects[env] },
  )
}

output "warnings" {
  description = "Why the trust is weaker than it could be (name-only subjects); empty when there is nothing to say"
  value       = local.subject_warnings
}
