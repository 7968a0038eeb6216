"""Benchmarks: commands that print tables, measured against peer tools in the same run."""
