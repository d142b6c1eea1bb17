"""Benchmarks: `python -m bench <name> --customers N` against DATABASE_URL, one JSON line per metric on stdout.

Each benchmark is a module of this package with a `run(customers: int)` function, registered in
`bench/__main__.py`. Progress goes to stderr so that stdout stays machine-readable:

    {"bench": "foundation", "metric": "seed_s", "value": 61.2, "unit": "s"}
"""

import json
import math
import sys


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def emit(bench: str, metric: str, value: float, unit: str) -> None:
    print(json.dumps({"bench": bench, "metric": metric, "value": round(value, 1), "unit": unit}), flush=True)


def p95(samples: list[float]) -> float:
    """The nearest-rank 95th percentile."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]
