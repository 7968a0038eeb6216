"""Drift-detection benchmark in the style of "Failing Loudly" (Rabanser et al., NeurIPS 2019).

Run ``python -m benchmarks.drift`` (``--quick`` for a short run). It builds the
peer libraries' environments with uv, runs the same trials through Scanflow's
detectors and the peers', and prints detection rates side by side.
"""
