"""Timing and memory helpers shared by the benchmarks: medians, ratios with their range, peaks."""
import gc
import os
import statistics
import time
import tracemalloc


def timed(fn):
    """(seconds, result) of one call."""
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def median_time(fn, budget, warm_up=True, max_runs=200):
    """Median seconds of fn() over at least 3 runs, more while `budget` seconds last."""
    if warm_up:
        fn()
    times = []
    while len(times) < 3 or (sum(times) < budget and len(times) < max_runs):
        times.append(timed(fn)[0])
    return statistics.median(times)


def peak_bytes(fn):
    """Peak bytes allocated (numpy's and Python's, as tracemalloc sees them) during fn()."""
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def spread(values):
    """{"median", "min", "max"} of a list of numbers (ratios over rounds, say)."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def show(s, digits=2):
    """"0.52 (0.49–0.55)" for a spread; just the median when there was one value."""
    if s["min"] == s["max"]:
        return f"{s['median']:.{digits}f}"
    return f"{s['median']:.{digits}f} ({s['min']:.{digits}f}–{s['max']:.{digits}f})"


def load_warning():
    """A WARNING line when other processes keep the cores busy (1-minute load average), else ""."""
    try:
        load, cores = os.getloadavg()[0], os.cpu_count() or 1
    except (AttributeError, OSError):
        return ""
    if load < 0.5 * cores:
        return ""
    return (f"WARNING: load average {load:.1f} on {cores} cores: other processes are running, and "
            "multi-threaded BLAS/OpenMP slows down many-fold under contention; timings are unreliable")
