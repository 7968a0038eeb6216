"""evidently's DataDriftPreset on the benchmark's tasks (dataset drift: half the columns drifted)."""

from __future__ import annotations

import sys
import warnings

import pandas as pd
from common import run_cells, tasks
from evidently import Report
from evidently.presets import DataDriftPreset


def main(task_path: str, out: str) -> None:
    warnings.filterwarnings("ignore")
    meta, arrays = tasks(task_path)
    names = [f"x{i}" for i in range(arrays["ref_x"].shape[1])]

    def frame(x, codes=None):
        table = pd.DataFrame(x, columns=names)
        if codes is not None:
            table["band"] = pd.Categorical([meta["levels"][c] for c in codes])
        return table

    reference = frame(arrays["ref_x"], arrays.get("ref_c"))

    def batches(a, key):
        codes = a[f"{key}/c"] if f"{key}/c" in a else [None] * len(a[f"{key}/x"])
        return [frame(x, c) for x, c in zip(a[f"{key}/x"], codes, strict=True)]

    def make():
        def detect(batch):
            result = Report([DataDriftPreset()]).run(batch, reference).dict()
            drifted = next(m for m in result["metrics"] if m["metric_name"].startswith("DriftedColumnsCount"))
            return drifted["value"]["share"] >= 0.5

        return detect

    run_cells(meta, arrays, {"evidently DataDrift": (make, batches)}, out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
