"""Benchmarks behind ``ecgformer bench``: they print numbers (and JSON); they are not timed tests."""
