"""Benchmarks: figures measured as ratios in one run (see BENCHMARKS.md). Not part of the test suite."""
