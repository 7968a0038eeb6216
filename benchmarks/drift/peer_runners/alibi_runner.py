"""alibi-detect on the benchmark's tasks: KS with an untrained autoencoder (UAE), KS on the
classifier's softmax (BBSD), MMD on UAE, and TabularDrift for tables with a categorical column."""

from __future__ import annotations

import sys
from functools import partial

import numpy as np
import torch
from alibi_detect.cd import KSDrift, MMDDrift, TabularDrift
from alibi_detect.cd.pytorch import preprocess_drift
from common import run_cells, tasks

ALPHA = 0.05


def main(task_path: str, out: str) -> None:
    meta, arrays = tasks(task_path)
    ref_x = arrays["ref_x"]
    mean, std = ref_x.mean(axis=0), ref_x.std(axis=0) + 1e-6
    torch.manual_seed(0)
    d = ref_x.shape[1]
    encoder = torch.nn.Sequential(torch.nn.Linear(d, 64), torch.nn.ReLU(), torch.nn.Linear(64, 32))
    uae = partial(preprocess_drift, model=encoder, device=torch.device("cpu"), batch_size=512)

    def standardized(x):
        return ((x - mean) / std).astype(np.float32)

    def features(a, key):
        return [standardized(x) for x in a[f"{key}/x"]]

    def probabilities(a, key):
        return list(a[f"{key}/p"])

    detectors = {
        "alibi KS-UAE": (
            lambda: KSDrift(standardized(ref_x), p_val=ALPHA, preprocess_fn=uae).predict,
            features,
        ),
        "alibi KS-BBSD": (lambda: KSDrift(arrays["ref_p"], p_val=ALPHA).predict, probabilities),
        "alibi MMD-UAE": (
            lambda: (
                MMDDrift(
                    standardized(ref_x), backend="pytorch", p_val=ALPHA, preprocess_fn=uae, n_permutations=100
                ).predict
            ),
            features,
        ),
    }
    if "ref_c" in arrays:
        ref_table = np.column_stack([standardized(ref_x), arrays["ref_c"]]).astype(np.float32)
        column = ref_table.shape[1] - 1

        def table(a, key):
            return [
                np.column_stack([standardized(x), c]).astype(np.float32)
                for x, c in zip(a[f"{key}/x"], a[f"{key}/c"], strict=True)
            ]

        detectors["alibi TabularDrift"] = (
            lambda: TabularDrift(ref_table, p_val=ALPHA, categories_per_feature={column: None}).predict,
            table,
        )
    # run_cells builds each detector once: fitting on the reference is not part of a check's time.
    judged = {
        name: ((lambda make=make: _verdict(make())), prepare) for name, (make, prepare) in detectors.items()
    }
    run_cells(meta, arrays, judged, out)


def _verdict(predict):
    return lambda batch: predict(batch)["data"]["is_drift"]


if __name__ == "__main__":
    torch.set_num_threads(1)
    main(sys.argv[1], sys.argv[2])
