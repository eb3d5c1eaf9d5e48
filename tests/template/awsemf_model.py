"""What the collector's awsemf exporter publishes to CloudWatch for one OTLP
metric export, as an executable model of its translation.

Modelled on open-telemetry/opentelemetry-collector-contrib
exporter/awsemfexporter/datapoint.go as built into ADOT v0.49.0 (contrib
v0.156.0; the ADOT collector image itself cannot run here):

- Sum: a CUMULATIVE sum is turned into the difference to the previous point of
  the same series, and the first point of a series is dropped (no previous
  value); a DELTA sum is published as it arrives.
- Histogram (explicit buckets): published as a statistic set (Count, Sum, Min,
  Max) exactly as the data point carries it, whatever its temporality (the
  delta conversion is a TODO upstream, issue 18245). A statistic set has no
  distribution: CloudWatch cannot compute percentiles from it.
- Exponential histogram: published with Values (the midpoint of each non-empty
  bucket, highest first, the zero bucket as 0) and Counts, plus Count, Sum, Min
  and Max (splitting above 100 buckets is left out: our histograms have fewer).
  CloudWatch computes percentiles from Values/Counts.

Only what the tests compare is modelled; EMF's other fields (dimensions,
namespace, timestamp) are not.
"""

from __future__ import annotations

DELTA, CUMULATIVE = "AGGREGATION_TEMPORALITY_DELTA", "AGGREGATION_TEMPORALITY_CUMULATIVE"


def _labels(point: dict) -> tuple:
    return tuple(sorted((a["key"], str(next(iter(a["value"].values())))) for a in point.get("attributes", [])))


class AwsEmf:
    """Feed it decoded OTLP metrics (paved_road.local.otel_sink's dicts) in arrival order."""

    def __init__(self) -> None:
        self._previous: dict[tuple, float] = {}

    def publish(self, metric: dict) -> list[dict]:
        data = metric["data"]
        out = []
        if "sum" in data:
            temporality = data["sum"].get("aggregationTemporality")
            for p in data["sum"].get("dataPoints", []):
                value = float(p.get("asDouble", p.get("asInt", 0)))
                if temporality == CUMULATIVE:
                    key = (metric["name"], _labels(p))
                    previous = self._previous.get(key)
                    self._previous[key] = value
                    if previous is None:
                        continue
                    if value - previous >= 0:
                        value -= previous
                out.append({"labels": dict(_labels(p)), "Value": value})
        elif "histogram" in data:
            for p in data["histogram"].get("dataPoints", []):
                out.append({"labels": dict(_labels(p)), "Count": int(p.get("count", 0)), "Sum": p.get("sum", 0.0),
                            "Min": p.get("min", 0.0), "Max": p.get("max", 0.0)})
        elif "exponentialHistogram" in data:
            for p in data["exponentialHistogram"].get("dataPoints", []):
                base = 2 ** (2 ** -int(p.get("scale", 0)))
                offset = int(p.get("positive", {}).get("offset", 0))
                buckets = [int(c) for c in p.get("positive", {}).get("bucketCounts", [])]
                values, counts = [], []
                for i in reversed(range(len(buckets))):
                    if buckets[i]:
                        begin, end = base ** (i + offset), base ** (i + offset + 1)
                        values.append((begin + end) / 2)
                        counts.append(buckets[i])
                if int(p.get("zeroCount", 0)):
                    values.append(0.0)
                    counts.append(int(p["zeroCount"]))
                out.append({"labels": dict(_labels(p)), "Count": int(p.get("count", 0)), "Sum": p.get("sum", 0.0),
                            "Min": p.get("min", 0.0), "Max": p.get("max", 0.0), "Values": values, "Counts": counts})
        return out


def percentile(values: list[float], counts: list[int], q: float) -> float:
    """The q-th percentile CloudWatch would read from an EMF Values/Counts distribution."""
    ranked = sorted(zip(values, counts))
    total = sum(counts)
    seen = 0
    for value, count in ranked:
        seen += count
        if seen >= q / 100 * total:
            return value
    return ranked[-1][0]
