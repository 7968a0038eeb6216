"""Benchmarks: speed and quality measured against peers in the same run (`python -m benchmarks.NAME`)."""
