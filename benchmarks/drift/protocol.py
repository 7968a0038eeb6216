"""The protocol: datasets, shifts, sample sizes and trials, written once to task files.

Every detector, ours and the peers', reads the same task file, so they judge
exactly the same batches. Data ships with scikit-learn: digits (8x8 images,
pixels k/16 stored as 0..16) and breast cancer (tabular, with a categorical
``size_band`` column derived from ``mean area``). Each dataset is split once
into a part that trains the classifier (for prediction-based detectors), the
reference, and a pool that trial batches are drawn from (with replacement only
when a batch is larger than its pool).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ALPHA = 0.05
NOISE = {"small": 0.2, "medium": 0.5, "large": 1.0}  # in standard deviations of each feature
KNOCKOUT = 0.9  # share of class 0 removed
NEW_LEVEL_SHARE = 0.3
LEVELS = ["small", "medium", "large", "xlarge"]  # the last never occurs in the reference


@dataclass
class Dataset:
    name: str
    x: np.ndarray  # (n, d) numeric features (images flattened)
    y: np.ndarray
    categorical: np.ndarray | None  # integer codes into LEVELS, or None
    image_side: int | None
    sizes: list[int]
    shifts: list[str]


def load(name: str) -> Dataset:
    from sklearn.datasets import load_breast_cancer, load_digits

    if name == "digits":
        data = load_digits()
        shifts = ["none", *[f"noise_{s}" for s in NOISE], *[f"noise_{s}_grid" for s in NOISE]]
        shifts += ["knockout", "rotate", "translate"]
        return Dataset("digits", data.data, data.target, None, 8, [10, 20, 50, 100, 200, 500], shifts)
    data = load_breast_cancer()
    area = data.data[:, list(data.feature_names).index("mean area")]
    bands = np.digitize(area, np.quantile(area, [1 / 3, 2 / 3]))
    shifts = ["none", *[f"noise_{s}" for s in NOISE], "knockout", "new_level"]
    return Dataset("breast_cancer", data.data, data.target, bands, None, [10, 20, 50, 100, 200], shifts)


def split(dataset: Dataset, seed: int = 0) -> dict[str, np.ndarray]:
    order = np.random.default_rng(seed).permutation(len(dataset.x))
    train, reference = (500, 600) if dataset.name == "digits" else (120, 200)
    return {
        "train": order[:train],
        "reference": order[train : train + reference],
        "pool": order[train + reference :],
    }


def shifted(dataset: Dataset, rows: np.ndarray, shift: str, rng: np.random.Generator, scale: np.ndarray):
    """The batch rows after ``shift``: (features, categorical codes or None)."""
    x = dataset.x[rows].astype(float).copy()
    codes = None if dataset.categorical is None else dataset.categorical[rows].copy()
    if shift.startswith("noise_"):
        level = shift.split("_")[1]
        x = x + rng.normal(size=x.shape) * scale * NOISE[level]
        if dataset.image_side:
            x = np.clip(x, 0, 16)
            if shift.endswith("_grid"):  # back onto the 17 pixel values digits really take
                x = np.round(x)
    elif shift == "rotate":
        from scipy.ndimage import rotate

        side = dataset.image_side
        images = x.reshape(-1, side, side)
        angles = rng.uniform(-30, 30, len(images))
        images = np.stack(
            [rotate(im, a, reshape=False, order=1) for im, a in zip(images, angles, strict=True)]
        )
        x = np.round(np.clip(images, 0, 16)).reshape(len(x), -1)
    elif shift == "translate":
        side = dataset.image_side
        images = x.reshape(-1, side, side)
        moved = np.zeros_like(images)
        for i, image in enumerate(images):
            dy, dx = rng.choice([-1, 0, 1], 2)
            moved[i] = np.roll(image, (dy, dx), axis=(0, 1))
            if dy:
                moved[i][0 if dy > 0 else -1, :] = 0
            if dx:
                moved[i][:, 0 if dx > 0 else -1] = 0
        x = moved.reshape(len(x), -1)
    elif shift == "new_level":
        hit = rng.random(len(codes)) < NEW_LEVEL_SHARE
        codes[hit] = len(LEVELS) - 1
    return x, codes


def pool_for(dataset: Dataset, pool: np.ndarray, shift: str) -> np.ndarray:
    if shift != "knockout":
        return pool
    zeros = pool[dataset.y[pool] == 0]
    kept = zeros[: int(round(len(zeros) * (1 - KNOCKOUT)))]
    return np.sort(np.concatenate([pool[dataset.y[pool] != 0], kept]))


def write_tasks(name: str, folder: Path, trials: int, sizes: list[int] | None = None, seed: int = 0) -> Path:
    """Draw every trial batch of a dataset, apply the shifts, and save them with predictions."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    dataset = load(name)
    parts = split(dataset, seed)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    model.fit(dataset.x[parts["train"]], dataset.y[parts["train"]])
    reference = parts["reference"]
    scale = dataset.x[reference].std(axis=0)
    arrays = {
        "ref_x": dataset.x[reference].astype(np.float32),
        "ref_p": model.predict_proba(dataset.x[reference]).astype(np.float32),
    }
    if dataset.categorical is not None:
        arrays["ref_c"] = dataset.categorical[reference].astype(np.int8)
    cells = []
    for shift in dataset.shifts:
        pool = pool_for(dataset, parts["pool"], shift)
        for size in sizes or dataset.sizes:
            rng = np.random.default_rng([seed, len(cells)])
            xs, ps, cs = [], [], []
            for _ in range(trials):
                rows = rng.choice(pool, size, replace=size > len(pool))
                x, codes = shifted(dataset, rows, shift, rng, scale)
                xs.append(x)
                ps.append(model.predict_proba(x))
                if codes is not None:
                    cs.append(codes)
            key = f"{shift}/{size}"
            arrays[f"{key}/x"] = np.stack(xs).astype(np.float32)
            arrays[f"{key}/p"] = np.stack(ps).astype(np.float32)
            if cs:
                arrays[f"{key}/c"] = np.stack(cs).astype(np.int8)
            cells.append([shift, size])
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.npz"
    np.savez(path, **arrays)
    meta = {
        "dataset": name,
        "cells": cells,
        "trials": trials,
        "alpha": ALPHA,
        "levels": LEVELS,
        "image_side": dataset.image_side,
        "accuracy": float(model.score(dataset.x[parts["pool"]], dataset.y[parts["pool"]])),
    }
    path.with_suffix(".json").write_text(json.dumps(meta))
    return path
