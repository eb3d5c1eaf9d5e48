terraform {
  # 1.11: the S3 backend's use_lockfile is GA (docs/terraform.md lists the
  # minimum version of every feature this configuration uses).
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.34"
    }
  }

  # Partial configuration: bucket, key and region come from
  # environments/<env>.s3.tfbackend (terraform init -backend-config=...).
  # use_lockfile locks the state with an S3 object, no DynamoDB table.
  backend "s3" {
    encrypt      = true
    use_lockfile = true
  }
}
