"""Benchmarks: each writes JSON results under benchmarks/results/."""
