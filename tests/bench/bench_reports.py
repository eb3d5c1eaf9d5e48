"""Figures of a bench run as run() leaves them for report(), and report()'s arguments."""

from __future__ import annotations

import argparse


def setup_result(example_us: list[float], bare_us: float = 250.0) -> dict:
    """One setup's figures: /api/example CPU per request of each repeat (median and ratio to bare from them)."""
    median = sorted(example_us)[len(example_us) // 2]
    return {"example": {"cpu_us": median, "cpu_us_all": example_us, "rps": 1000, "ratio": median / bare_us},
            "healthz": {"cpu_us": 20, "cpu_us_all": [20, 20, 20], "rps": 5000, "ratio": 1.0},
            "startup_s": 0.3, "rss_mb": 200, "rss_peak_mb": 250, "rss_gc_mb": 60, "heap_mb": 12, "exit_s": 0.2,
            "exit_code": 0, "flushed": 3, "loop_block_ms": 2}


def run_results(sampled=(360, 360, 360), production=(300, 300, 300)) -> dict:
    """Every setup: ours (100 %) and ours@prod as given; bare 250, naive 500 / 480 us, naive slower to start and larger."""
    results = {"bare": setup_result([250, 250, 250]), "ours": setup_result(list(sampled)),
               "ours@prod": setup_result(list(production)), "naive": setup_result([500, 500, 500]),
               "naive@prod": setup_result([480, 480, 480])}
    for name in ("naive", "naive@prod"):
        results[name].update(startup_s=0.5, rss_mb=290)
    return results


def report_args(**overrides) -> argparse.Namespace:
    """The arguments report() reads, as the bench's defaults give them; keywords override."""
    return argparse.Namespace(**{"connections": 10, "example_requests": 4000, "healthz_requests": 15000,
                                 "warmup": 6000, "settle": 6.0, "repeats": 3, "production_ratio": 0.1,
                                 "load_average": (0.3, 0.4), **overrides})
