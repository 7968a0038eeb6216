"""Interact: active learning that improves a deployed model with a person in the loop.

Query strategies pick the samples a model would learn most from, a label store
queues them, a person labels them in the browser (or the terminal), and the
improve loop retrains, compares against the champion and promotes the better
model. Needs the ``scanflow[interact]`` extra.
"""

from __future__ import annotations

from scanflow.lazy import lazy_attributes

_LAZY = {
    "Pool": "scanflow.interact.pool",
    "Selection": "scanflow.interact.pool",
    "QueryStrategy": "scanflow.interact.strategies",
    "make_strategy": "scanflow.interact.strategies",
    "register_strategy": "scanflow.interact.strategies",
    "available_strategies": "scanflow.interact.strategies",
    "PCALatentSpace": "scanflow.interact.latent",
    "LabelStore": "scanflow.interact.store",
    "open_source": "scanflow.interact.sources",
    "DatasetSource": "scanflow.interact.sources",
    "PredictionLogSource": "scanflow.interact.sources",
    "PREDICTION_LOG": "scanflow.interact.sources",
    "Novelty": "scanflow.interact.strategies",
    "export_labelled": "scanflow.interact.export",
    "improve": "scanflow.interact.improve",
    "Oracle": "scanflow.interact.labellers",
    "WaitForPeople": "scanflow.interact.labellers",
    "FunctionTrainer": "scanflow.interact.trainers",
    "WorkflowTrainer": "scanflow.interact.trainers",
    "LabellingSession": "scanflow.interact.session",
}

__all__ = sorted(_LAZY)


__getattr__ = lazy_attributes(__name__, _LAZY, globals())
