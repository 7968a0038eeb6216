"""Who labels a queued batch: people (through the UI or terminal) or an oracle file.

The improve loop hands each batch to a labeller and goes on once the batch is
done. ``WaitForPeople`` waits for labels given in the browser or the terminal;
``Oracle`` answers from a file of known labels, for tests, benchmarks and
demos that replay a labelling.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from scanflow.interact.store import LabelStore, Progress, QueuedSample


class LabellingTimeout(TimeoutError):
    """People did not finish a batch in time; the labels given so far are kept."""


class Labeller(Protocol):
    def collect(self, store: LabelStore, queue: str, batch: list[QueuedSample]) -> Progress:
        """Return once every sample of ``batch`` is labelled or skipped."""
        ...


class Oracle:
    """Labels every queued sample from known labels: a mapping of sample ids, or a dataset file.

    A file's samples are matched by id, else by content: a file of features
    and labels without ids can answer for samples from any source (the
    prediction log names its rows differently).
    """

    who = "oracle"

    def __init__(self, labels: Mapping[str, Any] | str | Path):
        self.by_content: dict[str, Any] = {}
        if isinstance(labels, str | Path):
            from scanflow.interact.sources import open_source

            samples = open_source(labels).load()
            if samples.targets is None:
                raise ValueError(f"oracle file {labels} has no labels (y / labels / label column)")
            known = samples.targets.tolist()
            self.by_content = dict(zip(samples.hashes(), known, strict=True))
            labels = dict(zip(samples.ids, known, strict=True))
        self.labels = dict(labels)

    def answer(self, sample: QueuedSample) -> tuple[bool, Any]:
        """(whether the oracle knows ``sample``, its label)."""
        for known, key in ((self.labels, sample.sample_ref), (self.by_content, sample.content_hash)):
            if key in known:
                return True, known[key]
        return False, None

    def collect(self, store: LabelStore, queue: str, batch: list[QueuedSample]) -> Progress:
        for sample in batch:
            knows, label = self.answer(sample)
            if knows:
                store.label(sample.id, label, who=self.who)
            else:
                store.skip(sample.id, who=self.who)
        return store.progress(queue, batch=batch[0].batch) if batch else Progress()


class WaitForPeople:
    """Waits until people finish the batch (in ``scanflow label`` or another labeller).

    ``timeout`` in seconds (None: wait as long as it takes); ``on_progress`` is
    told each change, for a progress bar.
    """

    def __init__(
        self,
        timeout: float | None = None,
        poll: float = 1.0,
        on_progress: Callable[[Progress], None] | None = None,
    ):
        self.timeout = timeout
        self.poll = poll
        self.on_progress = on_progress

    def collect(self, store: LabelStore, queue: str, batch: list[QueuedSample]) -> Progress:
        if not batch:
            return Progress()
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        last: Progress | None = None
        while True:
            progress = store.progress(queue, batch=batch[0].batch)
            if progress != last and self.on_progress is not None:
                self.on_progress(progress)
            last = progress
            if progress.finished:
                return progress
            if deadline is not None and time.monotonic() > deadline:
                raise LabellingTimeout(
                    f"batch {batch[0].batch} of queue '{queue}' is not labelled after {self.timeout:.0f} s"
                    f" ({progress.done} of {progress.total} done; the labels given are kept)."
                    f" Label it with `scanflow label --queue {queue}`, then run improve again."
                )
            time.sleep(self.poll)
