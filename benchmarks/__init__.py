"""Benchmarks: speed and quality measured against peer tools in the same run (`python -m benchmarks.NAME`)."""
