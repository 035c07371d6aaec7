"""Hypothesis settings shared by the property tests and fuzz targets.

In the test suite every target runs a few derandomized examples, so the suite stays fast and
deterministic. `scripts/fuzz` sets `HTTPCORE2_FUZZ_EXAMPLES` to run the very same targets with
many random examples instead.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

__all__ = ["FUZZ_EXAMPLES", "fuzz_settings"]

FUZZ_EXAMPLES = int(os.environ.get("HTTPCORE2_FUZZ_EXAMPLES", "0"))


def fuzz_settings(examples: int) -> settings:
    """`examples` derandomized examples in the suite; `HTTPCORE2_FUZZ_EXAMPLES` random ones
    under `scripts/fuzz`."""
    if FUZZ_EXAMPLES:
        return settings(
            max_examples=FUZZ_EXAMPLES,
            # Explicit: hypothesis derandomizes by itself where it detects CI.
            derandomize=False,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            print_blob=True,
        )
    return settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
