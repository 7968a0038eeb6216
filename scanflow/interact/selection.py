"""Picking a batch for a queue: the model's view of the pool, a strategy, the label store.

Shared by the improve loop and ``scanflow label --source``: samples already in
the queue are left out, what is labelled (and the reference data) is what
diversity and novelty keep away from, and each queued sample carries the
model's prediction, its confidence and the strategy's reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from scanflow.interact.export import labelled_samples
from scanflow.interact.models import LoadedModel
from scanflow.interact.pool import Pool, Selection
from scanflow.interact.sources import Samples, SampleSource, content_hash
from scanflow.interact.store import Candidate, LabelStore, QueuedSample
from scanflow.interact.strategies import QueryStrategy


@dataclass(frozen=True)
class Batch:
    queued: list[QueuedSample]
    selection: Selection
    pool_size: int


def select_batch(
    store: LabelStore,
    queue: str,
    samples: Samples,
    model: LoadedModel | None,
    strategy: QueryStrategy,
    batch_size: int,
    reference: Samples | None = None,
    seed: int | None = None,
    source: SampleSource | None = None,
) -> Batch:
    """Pick ``batch_size`` samples not yet queued and queue them, most informative first.

    ``source`` (the samples' source) is told to keep the queued samples: a
    prediction log's retention must not delete what people are asked to label.
    """
    candidates = samples.without(store.known_refs(queue))
    if len(candidates) == 0:  # every sample of the source is in the queue already
        empty = Selection(strategy.name, np.zeros(0, dtype=int), [], np.zeros(0))
        return Batch([], empty, 0)
    labelled = labelled_samples(store, queue, samples)
    known = [s.features for s in (reference, labelled) if s is not None and len(s)]
    probabilities, classes = _probabilities(candidates, model)
    pool = Pool(
        candidates.features,
        ids=candidates.ids,
        probabilities=probabilities,
        labelled=np.vstack(known) if known else None,
        classes=classes,
    )
    selection = strategy.select(pool, batch_size, seed=seed)
    chosen = _candidates(selection, candidates, pool)
    if source is not None:
        source.hold([c.sample_ref for c in chosen], f"label queue '{queue}'")
    queued = store.enqueue(queue, chosen, strategy.name)
    return Batch(queued, selection, len(pool))


def classes_of(model: LoadedModel | None, *labelled: Samples | None) -> list[Any]:
    """Every class a labeller may choose: the model's, and any the labelled data holds."""
    found: list[Any] = list(model.classes or []) if model is not None else []
    for samples in labelled:
        if samples is not None and samples.targets is not None:
            found += [v.item() if hasattr(v, "item") else v for v in np.unique(samples.targets)]
    unique = list(dict.fromkeys(found))
    try:
        return sorted(unique)
    except TypeError:  # classes of mixed types keep their order
        return unique


def _probabilities(samples: Samples, model: LoadedModel | None) -> tuple[np.ndarray | None, list[Any] | None]:
    """Probabilities on the pool: logged ones when the prediction log has them, else the model's."""
    if samples.probabilities is not None:
        return samples.probabilities, samples.classes
    if model is None or len(samples) == 0:
        return None, model.classes if model is not None else None
    return model.predict_proba(samples.features), model.classes


def _candidates(selection: Selection, samples: Samples, pool: Pool) -> list[Candidate]:
    out = []
    for (sample, score, reason), position in zip(selection, selection.positions, strict=True):
        prediction = confidence = None
        if pool.probabilities is not None:
            column = int(np.argmax(pool.probabilities[position]))
            prediction, confidence = pool.class_name(column), float(pool.probabilities[position, column])
        fingerprint = content_hash(samples.features[position])
        out.append(Candidate(str(sample), fingerprint, score, reason, prediction, confidence))
    return out


def parse_model_ref(ref: str) -> tuple[str, str]:
    """``"digits@champion"`` -> (``"digits"``, ``"champion"``); a bare name means the champion."""
    name, _, alias = ref.partition("@")
    if not name:
        raise ValueError(f"'{ref}' is not a model reference: give NAME or NAME@ALIAS, e.g. digits@champion")
    return name, alias or "champion"


def queue_from_source(
    store: LabelStore,
    queue: str,
    source: Any,
    *,
    model: str | None = None,
    classes: list[Any] | None = None,
    strategy: QueryStrategy,
    batch_size: int,
    tracking_uri: str | None = None,
    home: Any = None,
    seed: int | None = None,
    image_shape: tuple[int, ...] | None = None,
) -> Batch:
    """Create (or reuse) ``queue`` on ``source`` and queue a batch picked with ``model``'s help.

    ``image_shape`` shows flat samples as images (e.g. ``(8, 8)`` for digits).
    """
    from scanflow.home import Home
    from scanflow.interact.sources import open_named_source

    uri = Home.resolve(home).tracking_uri(tracking_uri)  # the project's tracker unless told otherwise
    model_name = parse_model_ref(model)[0] if model is not None else None
    opened = open_named_source(source, tracking_uri=uri, model_name=model_name)
    samples = opened.load_nonempty().shaped_as(image_shape)
    loaded = None
    if model is not None:
        from scanflow.interact.models import load_version
        from scanflow.track.store import open_client, prepare_store

        prepare_store(uri)
        name, alias = parse_model_ref(model)
        loaded = load_version(open_client(uri), name, alias=alias)
    known = classes or classes_of(loaded, samples) or (samples.classes or [])
    if not known:
        raise ValueError(
            f"queue '{queue}' needs its classes: give a model (--model NAME@ALIAS)"
            " or the classes (--classes a,b,c)"
        )
    store.create_queue(
        queue,
        source=opened.spec(),
        classes=known,
        image_shape=samples.image_shape,
        feature_names=samples.feature_names,
        model=model,
    )
    return select_batch(store, queue, samples, loaded, strategy, batch_size, seed=seed, source=opened)
