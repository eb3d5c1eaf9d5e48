"""Reading services where they live: a GitHub organisation through the GraphQL API (github) and git remotes
over smart HTTP, protocol v2 spoken by paved itself (git_http). docs/fleet.md."""
