"""`LabellingSession`: one person labelling one queue, shared by the web page and the terminal.

Both front ends call these methods and nothing else, so they behave alike:
the next sample (oldest batch first, none another person has on screen),
label, skip, undo (only this person's own last action), and the progress of
the batch being labelled. ``who`` defaults to the person who opened the
session; the web page passes each browser's own name, so one page served to a
team keeps their labels, undos and on-screen samples apart.
"""

from __future__ import annotations

import getpass
import threading
from dataclasses import dataclass
from typing import Any

from scanflow.interact.render import SampleView, view_of
from scanflow.interact.sources import Samples, open_source
from scanflow.interact.store import LabelStore, Progress, Queue, QueuedSample


@dataclass(frozen=True)
class BatchProgress:
    batch: int | None
    progress: Progress
    with_others: int = 0  # waiting samples other people have on screen

    def to_json(self) -> dict[str, Any]:
        p = self.progress
        return {
            "batch": self.batch,
            "total": p.total,
            "done": p.done,
            "labelled": p.labelled + p.used,
            "skipped": p.skipped,
            "queued": p.queued,
            "with_others": self.with_others,
        }


class LabellingSession:
    """A person (``who``) labelling the queue ``queue`` of ``store``."""

    def __init__(self, store: LabelStore, queue: str, who: str | None = None):
        self.store = store
        self.queue: Queue = store.queue(queue)
        self.who = who or _user()
        self._samples: Samples | None = None
        self._lock = threading.Lock()

    def samples(self, needed: str | None = None) -> Samples:
        """The queue's samples, loaded once; reloaded when a newly queued sample is missing."""
        with self._lock:
            if self._samples is None or (needed is not None and needed not in self._index):
                self._samples = open_source(self.queue.source).load()
                self._index = set(self._samples.ids)
            return self._samples

    def show_as_images(self, image_shape: tuple[int, ...]) -> None:
        """Show the queue's flat samples as images of ``image_shape`` from now on (kept with the queue)."""
        self.samples().shaped_as(image_shape)  # the error names a shape that does not fit the samples
        self.queue = self.store.set_image_shape(self.queue.name, image_shape)

    def view(self, item: QueuedSample) -> SampleView:
        return view_of(item, self.queue, self.samples(item.sample_ref))

    def next(self, who: str | None = None) -> SampleView | None:
        item = self.store.next_item(self.queue.name, who=who or self.who)
        return None if item is None else self.view(item)

    def item(self, item_id: int) -> QueuedSample:
        item = self.store.item(item_id)
        if item.queue != self.queue.name:
            raise LookupError(f"sample {item_id} is not in queue '{self.queue.name}'")
        return item

    def label(self, item_id: int, label: Any, who: str | None = None) -> QueuedSample:
        self.item(item_id)
        return self.store.label(item_id, label, who=who or self.who)

    def skip(self, item_id: int, who: str | None = None) -> QueuedSample:
        self.item(item_id)
        return self.store.skip(item_id, who=who or self.who)

    def undo(self, who: str | None = None) -> QueuedSample | None:
        return self.store.undo(self.queue.name, who=who or self.who)

    def recent(self, who: str | None = None, limit: int = 5) -> list[QueuedSample]:
        """This person's latest answers, newest first (a wrong one can be answered again)."""
        return self.store.recent(self.queue.name, who or self.who, limit)

    def release(self, who: str | None = None) -> None:
        """This person stops: the sample on their screen may go to someone else now."""
        self.store.release(self.queue.name, who or self.who)

    def progress(self, who: str | None = None) -> BatchProgress:
        """Progress of the batch being labelled (the latest one once everything is done)."""
        current = self.store.next_item(self.queue.name)
        batch = current.batch if current is not None else self.store.latest_batch(self.queue.name)
        if batch is None:
            return BatchProgress(None, Progress())
        others = self.store.held_by_others(self.queue.name, who or self.who)
        return BatchProgress(batch, self.store.progress(self.queue.name, batch=batch), others)

    def shortcut(self, key: str) -> Any | None:
        """The class a digit key stands for: the class named so, else the class at that position."""
        for value in self.queue.classes:
            if str(value) == key:
                return value
        if key.isdigit() and int(key) < len(self.queue.classes):
            return self.queue.classes[int(key)]
        return None


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment (some containers)
        return "labeller"
