"""Services generated from the template, as a fleet: the catalog (where each
stands), fleet-wide updates, and `paved update` for one service."""
