"""The models a service holds: one slot per served name, each swapped atomically.

A request takes ``slot.current`` once and keeps that model to the end, so a swap
(the slot pointing at a newly loaded version) never disturbs a request in
flight; the old version is freed when its last request ends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from scanflow.serve.fetch import Fetched, local_folder
from scanflow.serve.latency import LatencyWindow
from scanflow.serve.model import LoadedModel, load_model
from scanflow.serve.registry import ModelSource, Registry

log = logging.getLogger("scanflow.serve")


@dataclass
class ModelSlot:
    """A served model name and the version it serves now."""

    key: str
    source: ModelSource
    current: LoadedModel | None = None
    latency: LatencyWindow = field(default_factory=LatencyWindow)

    def swap(self, model: LoadedModel) -> LoadedModel | None:
        previous, self.current = self.current, model
        return previous


class ModelSet:
    """Every slot of the service, and which one answers when no rule says otherwise."""

    def __init__(self, sources: dict[str, ModelSource], default: str):
        self.slots = {key: ModelSlot(key, source) for key, source in sources.items()}
        self.default = default
        self.error: str | None = None

    @property
    def ready(self) -> bool:
        return all(slot.current is not None for slot in self.slots.values())

    def get(self, key: str) -> ModelSlot | None:
        return self.slots.get(key)

    def load(
        self,
        registry: Registry,
        on_loaded: Callable[[ModelSlot, LoadedModel | None], None],
        fetched: Mapping[str, Fetched] | None = None,
    ) -> None:
        """Load every slot's model (slots naming the same version share one copy).

        ``fetched``: sources already resolved and downloaded (`fetch.py`), by URI.
        """
        loaded: dict[str, LoadedModel] = {}
        for slot in self.slots.values():
            found = (fetched or {}).get(slot.source.uri)
            ref = found.ref if found else registry.resolve(slot.source)
            folder = found.path if found else local_folder(ref.uri)
            model = loaded.get(ref.uri) or load_model(ref, folder)
            loaded[ref.uri] = model
            on_loaded(slot, slot.swap(model))
