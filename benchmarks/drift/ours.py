"""Scanflow's detectors on the benchmark's tasks, timed the same way as the peers'."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from scanflow.check import (
    AutoencoderChecker,
    IntegrityChecker,
    LabelShiftChecker,
    MMDChecker,
    UnivariateChecker,
)


def detectors(meta: dict, arrays) -> dict:
    """name -> (fitted checker, batches of one cell)."""
    levels = meta["levels"]
    columns = [f"x{i}" for i in range(arrays["ref_x"].shape[1])]

    def table(x, codes):
        frame = pd.DataFrame(x.astype(float), columns=columns)
        if codes is not None:
            frame["band"] = [levels[c] for c in codes]
        return frame

    has_codes = "ref_c" in arrays
    reference = table(arrays["ref_x"], arrays["ref_c"] if has_codes else None)

    def tables(key):
        codes = arrays[f"{key}/c"] if has_codes else [None] * len(arrays[f"{key}/x"])
        return [table(x, c) for x, c in zip(arrays[f"{key}/x"], codes, strict=True)]

    def features(key):
        return list(arrays[f"{key}/x"].astype(float))

    def predictions(key):
        return list(arrays[f"{key}/p"].astype(float))

    side = meta["image_side"]

    def images(key):
        return [x.reshape(-1, side, side) for x in arrays[f"{key}/x"].astype(float)]

    ref_x = arrays["ref_x"].astype(float)
    found = {
        "scanflow ks": (UnivariateChecker().fit(reference), tables),
        "scanflow mmd": (MMDChecker(n_permutations=100).fit(reference), tables),
        "scanflow label_shift": (LabelShiftChecker().fit(arrays["ref_p"].astype(float)), predictions),
        "scanflow ks-bbsd": (UnivariateChecker().fit(arrays["ref_p"].astype(float)), predictions),
        "scanflow integrity": (IntegrityChecker().fit(reference), tables),
    }
    if side:
        found["scanflow autoencoder"] = (
            AutoencoderChecker(epochs=30).fit(ref_x.reshape(-1, side, side)),
            images,
        )
    else:
        found["scanflow autoencoder"] = (AutoencoderChecker(epochs=60).fit(reference), tables)
    return found


def run(meta: dict, arrays, progress=None) -> dict:
    """{detector: {cell: {rate, time_ms}}} like the peer runners write."""
    results: dict = {}
    for name, (checker, batches_of) in detectors(meta, arrays).items():
        cells = {}
        for shift, size in meta["cells"]:
            key = f"{shift}/{size}"
            hits, times = 0, []
            for batch in batches_of(key):
                start = time.perf_counter()
                hits += checker.check(batch).drifted
                times.append(time.perf_counter() - start)
            cells[key] = {"rate": hits / len(times), "time_ms": 1000 * float(np.median(times))}
            if progress:
                progress()
        results[name] = cells
    return results
