"""`paved fleet preview`: what a template release candidate does to every service, before it is tagged.

core (plan, scratch clones, outcome, report, shards and merge), engine (copier's update run in a pool of
workers, byte for byte), checks (npm ci, lint, actionlint, terraform fmt, npm test per service),
command (the CLI layer), workflow (the template repository's GitHub Actions matrix). docs/fleet.md.
"""
