"""Following registry aliases: when ``champion`` moves to a new version, serve it.

A background thread asks the registry every few seconds which version each
alias names. A new version is loaded and warmed up on that thread while the old
one keeps answering, then swapped in with one assignment: no request waits and
none fails. A version that cannot be loaded is reported and the old one stays.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from scanflow.serve.holder import ModelSet, ModelSlot
from scanflow.serve.model import LoadedModel, load_model
from scanflow.serve.periodic import Periodic
from scanflow.serve.registry import Registry

log = logging.getLogger("scanflow.serve")

SwapListener = Callable[[ModelSlot, LoadedModel | None], None]


class AliasFollower:
    def __init__(self, models: ModelSet, registry: Registry, interval_s: float, on_swap: SwapListener):
        self.slots = [s for s in models.slots.values() if s.source.follows_alias]
        self.registry = registry
        self.on_swap = on_swap
        self.last_error: str | None = None
        self._periodic = Periodic(self.check, interval_s, "scanflow-alias-follower")

    def start(self) -> None:
        if self.slots:
            self._periodic.start()

    def request_stop(self) -> None:
        self._periodic.request_stop()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop following; a call hanging on a registry that went away is not waited for.

        MLflow retries such a call for minutes. The thread is a daemon: it ends
        with the process, and a swap it had not made yet is simply not made.
        """
        self._periodic.stop(timeout)

    def check(self) -> list[ModelSlot]:
        """Swap every slot whose alias moved; the slots that changed."""
        swapped = []
        for slot in self.slots:
            try:
                if self._follow(slot):
                    swapped.append(slot)
            except Exception as error:  # the registry is down, the new version is broken...
                message = f"{slot.source.uri}: {error}"
                if message != self.last_error:
                    log.warning("cannot follow %s; still serving %s", message, _label(slot))
                self.last_error = message
        return swapped

    def _follow(self, slot: ModelSlot) -> bool:
        current = slot.current
        if current is None or self.registry.current_version(slot.source) == current.version:
            return False
        model = load_model(self.registry.resolve(slot.source))
        self.on_swap(slot, slot.swap(model))
        self.last_error = None
        log.info("%s: now serving %s (was %s)", slot.source.uri, model.label, current.label)
        return True


def _label(slot: ModelSlot) -> str:
    return slot.current.label if slot.current else "nothing"
