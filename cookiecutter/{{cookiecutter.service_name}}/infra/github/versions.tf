terraform {
  required_version = ">= 1.11"

  # Only the GitHub provider: this root needs GitHub credentials (a token or
  # GitHub App with repository administration), no AWS ones, and keeps its own
  # state (see README.md).
  required_providers {
    github = {
      source  = "integrations/github"
      version = "6.13.0"
    }
  }
}
