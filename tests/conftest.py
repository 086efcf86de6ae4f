"""Benchmarks (tests/benchmarks) run only when asked for by path: `pytest tests/benchmarks`."""

import os


def pytest_configure(config):
    wants_benchmarks = any("benchmarks" in os.path.normpath(str(arg)).split(os.sep)
                           for arg in config.args)
    if hasattr(config.option, "benchmark_skip") and not wants_benchmarks:
        config.option.benchmark_skip = True
