"""Benchmark harness: the gateway against the direct path to a fake upstream.

Entry point: `python -m bench.run` (`make bench`); results in docs/benchmarks.md,
raw outputs in bench/out/ (git-ignored).
"""
