"""frouros's two-sample KS test per feature (Bonferroni over features) on the benchmark's tasks."""

from __future__ import annotations

import sys

from common import run_cells, tasks
from frouros.detectors.data_drift import KSTest

ALPHA = 0.05


def main(task_path: str, out: str) -> None:
    meta, arrays = tasks(task_path)
    ref_x = arrays["ref_x"].astype(float)
    d = ref_x.shape[1]

    def make():
        detectors = []
        for j in range(d):
            detector = KSTest()
            detector.fit(X=ref_x[:, j])
            detectors.append(detector)

        def detect(batch):
            p_values = [detectors[j].compare(X=batch[:, j].astype(float))[0].p_value for j in range(d)]
            return min(p_values) * d < ALPHA

        return detect

    run_cells(meta, arrays, {"frouros KS": (make, lambda a, key: list(a[f"{key}/x"]))}, out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
