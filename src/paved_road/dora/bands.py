"""DORA performance bands.

Thresholds from the software-delivery performance cluster table of the
*Accelerate State of DevOps Report 2023* (DORA / Google Cloud):

| metric                      | elite               | high                          | medium                          | low (beyond medium) |
|-----------------------------|---------------------|-------------------------------|---------------------------------|---------------------|
| deployment frequency        | on demand (>= daily)| once per day .. once per week | once per week .. once per month | less than monthly   |
| lead time for changes       | < 1 day             | 1 day .. 1 week               | 1 week .. 1 month               | > 1 month           |
| change failure rate         | 5%                  | 10%                           | 15%                             | 64%                 |
| failed deployment recovery  | < 1 hour            | < 1 day                       | 1 day .. 1 week                 | 1 .. 6 months       |

The report describes survey clusters, not cut-offs (its low cluster overlaps
the medium one on throughput); the boundaries below are the cluster edges read
as thresholds, each upper bound inclusive of the better band. The change
failure rate of each cluster is read as that band's ceiling.
"""

from __future__ import annotations

BANDS = ("elite", "high", "medium", "low")
SOURCE = "Accelerate State of DevOps Report 2023 (DORA), software delivery performance clusters"

HOUR = 3600.0
DAY = 24 * HOUR
WEEK = 7 * DAY
MONTH = 30 * DAY

# (band, inclusive upper bound) pairs, best band first; the last band takes the rest.
LEAD_TIME = (("elite", DAY), ("high", WEEK), ("medium", MONTH))
RESTORE = (("elite", HOUR), ("high", DAY), ("medium", WEEK))
FAILURE_RATE = (("elite", 0.05), ("high", 0.10), ("medium", 0.15))
# Deployments per day, lower bounds: elite deploys at least daily.
FREQUENCY = (("elite", 1.0), ("high", 1 / 7), ("medium", 1 / 30))

# What DORA calls each key (since the 2023 report the fourth is "failed deployment recovery time";
# the JSON keeps the key time_to_restore).
NAMES = {"deployment_frequency": "deployment frequency", "lead_time": "lead time for changes",
         "change_failure_rate": "change failure rate", "time_to_restore": "failed deployment recovery time"}

THRESHOLDS = {
    "deployment_frequency": {"unit": "deployments per day (at least)", "elite": 1.0, "high": 1 / 7, "medium": 1 / 30},
    "lead_time": {"unit": "seconds, median (at most)", "elite": DAY, "high": WEEK, "medium": MONTH},
    "change_failure_rate": {"unit": "share of deployments (at most)", "elite": 0.05, "high": 0.10, "medium": 0.15},
    "time_to_restore": {"unit": "seconds, median (at most)", "elite": HOUR, "high": DAY, "medium": WEEK},
}


def _upper(value: float | None, table) -> str | None:
    if value is None:
        return None
    for band, bound in table:
        if value <= bound:
            return band
    return "low"


def lead_time_band(median_seconds: float | None) -> str | None:
    return _upper(median_seconds, LEAD_TIME)


def restore_band(median_seconds: float | None) -> str | None:
    return _upper(median_seconds, RESTORE)


def failure_rate_band(rate: float | None) -> str | None:
    return _upper(rate, FAILURE_RATE)


def frequency_band(per_day: float | None) -> str | None:
    if per_day is None:
        return None
    for band, bound in FREQUENCY:
        if per_day >= bound:
            return band
    return "low"
