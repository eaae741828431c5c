"""Benchmarks; `bench.grocery` is also imported by the tests."""
