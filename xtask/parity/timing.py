"""Shared timing helper of the `cargo xtask bench ... --vs-torch` scripts."""

import statistics
import time


def median_ms(fn, repeats, warmup=3):
    """Median wall time of `fn()` in milliseconds over `repeats` calls after `warmup`."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)
