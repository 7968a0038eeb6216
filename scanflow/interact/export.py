"""Labelled samples as a dataset: arrays for training, a file, an MLflow artifact.

Labels live in the store, features in the queue's source; this joins them,
so what trains a model is exactly what people labelled, and the file tracked
in MLflow says which samples and labels a model version learnt from.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scanflow.interact.sources import Samples, open_source, write_dataset
from scanflow.interact.store import LabelStore


def labelled_samples(store: LabelStore, queue: str, samples: Samples | None = None) -> Samples:
    """The queue's labelled samples (including those already used), with their labels as targets.

    ``samples`` is the queue's source already loaded, to avoid reading it again.
    """
    found = store.queue(queue)
    labels = store.labels(queue)
    if samples is None:
        samples = open_source(found.source).load()
    chosen = samples.take(samples.positions(ref for ref, _ in labels))
    targets = np.asarray([label for _, label in labels])
    return Samples(
        ids=chosen.ids,
        features=chosen.features,
        targets=targets,
        image_shape=tuple(found.image_shape) if found.image_shape else samples.image_shape,
        feature_names=samples.feature_names,
    )


def export_labelled(store: LabelStore, queue: str, path: str | Path, samples: Samples | None = None) -> Path:
    """Write the queue's labelled samples to a dataset file (``.npz``, ``.csv`` or ``.parquet``)."""
    return write_labelled(labelled_samples(store, queue, samples), path)


def write_labelled(labelled: Samples, path: str | Path) -> Path:
    """Write labelled samples to a dataset file; images keep their shape in ``.npz``."""
    features = labelled.features
    if labelled.image_shape and Path(path).suffix == ".npz":
        features = features.reshape(len(features), *labelled.image_shape)
    return write_dataset(path, features, labelled.targets, labelled.ids, labelled.feature_names)
