"""Active-learning benchmark: learning curves of Scanflow's query strategies against modAL's.

Run ``python -m benchmarks.active_learning`` from the repository root. It
prints accuracy at each label budget, the labels needed to reach 99% of the
accuracy of a model trained on the whole pool, and the time to select a batch
from a pool of 100,000 samples; it writes the curves as PNG plots.
"""
