"""The improve loop: select, label, retrain, compare, promote; every step tracked in MLflow.

One round: the query strategy picks a batch from the pool (production data
the champion has not learnt from), a labeller labels it, a trainer trains a
challenger on the reference data plus every label so far, and the challenger
replaces the champion (the registry alias moves) only if it scores better on
held-out data, and, when asked, after a person approves.

In MLflow, an ``improve`` run holds one run per round, which holds one run
per step: ``select`` (the picks and why), ``label`` (counts, time waited),
``train`` (the labelled data artifact, the new model version) and
``promote`` (scores before and after, the decision and its reason).
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scanflow.database import describe
from scanflow.interact.export import labelled_samples, track_labelled, write_labelled
from scanflow.interact.labellers import Labeller, WaitForPeople
from scanflow.interact.models import LoadedModel, load_version
from scanflow.interact.promotion import Comparison, Decision, Metric, compare, decide, promote, record
from scanflow.interact.schema import Status
from scanflow.interact.selection import classes_of, select_batch
from scanflow.interact.sources import Samples, SampleSource, open_named_source
from scanflow.interact.store import LabelStore, QueuedSample
from scanflow.interact.strategies import DEFAULT_STRATEGY, QueryStrategy, make_strategy
from scanflow.interact.trainers import Trainer, TrainingData
from scanflow.track.store import PARENT_TAG, TAG_KIND, tracked_run


@dataclass(frozen=True)
class RoundResult:
    round: int
    queued: int
    labelled: int
    skipped: int
    champion_version: str  # before the round
    challenger_version: str | None
    comparison: Comparison | None
    decision: Decision | None
    mlflow_run_id: str

    @property
    def promoted(self) -> bool:
        return self.decision is not None and self.decision.promote


@dataclass
class ImproveResult:
    model_name: str
    alias: str
    queue: str
    mlflow_run_id: str
    rounds: list[RoundResult] = field(default_factory=list)

    @property
    def promoted(self) -> bool:
        return any(r.promoted for r in self.rounds)

    @property
    def champion_version(self) -> str | None:
        for result in reversed(self.rounds):
            if result.promoted:
                return result.challenger_version
        return self.rounds[0].champion_version if self.rounds else None


def improve(
    model_name: str,
    *,
    pool: SampleSource | str | Path | dict[str, Any],
    holdout: SampleSource | Samples | str | Path,
    trainer: Trainer,
    reference: SampleSource | Samples | str | Path | None = None,
    strategy: str | QueryStrategy = DEFAULT_STRATEGY,
    batch_size: int = 10,
    rounds: int = 1,
    labeller: Labeller | None = None,
    queue: str | None = None,
    store: LabelStore | str | None = None,
    alias: str = "champion",
    metric: str | Metric = "accuracy",
    min_gain: float = 0.0,
    approve: Callable[[Comparison], bool] | None = None,
    tracking_uri: str | None = None,
    home: str | Path | None = None,
    experiment: str = "scanflow-improve",
    seed: int | None = None,
    image_shape: tuple[int, ...] | None = None,
    report: Callable[[str], None] | None = None,
) -> ImproveResult:
    """Run ``rounds`` rounds of active learning on the registered model ``model_name``.

    ``pool``: where to pick samples (a dataset file/artifact or the prediction
    log); ``holdout``: labelled data to compare models on; ``reference``: the
    labelled data the champion was trained on (a function trainer trains on it
    plus the new labels; strategies stay away from it). ``labeller`` defaults
    to waiting for people (``scanflow label``). ``image_shape`` shows flat
    pool samples to labellers as images, e.g. ``(8, 8)`` for digits.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    from scanflow.home import Home
    from scanflow.track.store import artifact_location, ensure_experiment, open_client, prepare_store

    project = Home.resolve(home)
    uri = project.tracking_uri(tracking_uri)
    prepare_store(uri)
    client = open_client(uri)
    say = report or (lambda message: None)
    chooser = make_strategy(strategy)
    source = open_named_source(pool, tracking_uri=uri, model_name=model_name)
    held_out = _samples(holdout, uri)
    if held_out.targets is None:
        raise ValueError(
            "the holdout data has no labels; it must hold labels (y / label column) to compare models"
        )
    reference_samples = _samples(reference, uri) if reference is not None else None
    labels_store = store if isinstance(store, LabelStore) else LabelStore(store, home=home)
    queue_name = queue or f"{model_name}-improve"
    labeller = labeller or WaitForPeople()

    experiment_id = ensure_experiment(client, experiment, artifact_location(project, uri, experiment))
    tags = {TAG_KIND: "improve", "scanflow.model": model_name, "scanflow.queue": queue_name}
    owned = labels_store if not isinstance(store, LabelStore) else nullcontext()  # closed here if opened here
    with owned, tracked_run(client, experiment_id, f"improve-{model_name}", tags) as parent_id:
        _log_params(
            client,
            parent_id,
            model_name=model_name,
            alias=alias,
            strategy=chooser.name,
            batch_size=batch_size,
            rounds=rounds,
            metric=metric if isinstance(metric, str) else getattr(metric, "__name__", "metric"),
            min_gain=min_gain,
            pool=json.dumps(source.spec()),
            queue=queue_name,
            label_store=describe(labels_store.url),
        )
        result = ImproveResult(model_name, alias, queue_name, parent_id)
        for number in range(1, rounds + 1):
            loop = _Round(
                number,
                client,
                uri,
                experiment_id,
                parent_id,
                model_name,
                alias,
                labels_store,
                queue_name,
                say,
                image_shape,
            )
            result.rounds.append(
                loop.run(
                    source, chooser, batch_size, labeller, trainer, reference_samples, held_out, metric,
                    min_gain, approve, seed,
                )
            )  # fmt: skip
            client.set_tag(parent_id, "scanflow.champion_version", result.champion_version or "")
            if result.rounds[-1].queued == 0:
                say("nothing left to pick: the pool is used up; new production data brings more")
                break
    return result


def _samples(data: SampleSource | Samples | str | Path | dict[str, Any], tracking_uri: str) -> Samples:
    if isinstance(data, Samples):
        return data
    return open_named_source(data, tracking_uri=tracking_uri).load()


def _log_params(client: Any, run_id: str, **params: Any) -> None:
    from mlflow.entities import Param

    client.log_batch(run_id, params=[Param(k, str(v)[:6000]) for k, v in params.items()])


@dataclass
class _Round:
    """One round of the loop, with the MLflow runs it writes."""

    number: int
    client: Any
    tracking_uri: str
    experiment_id: str
    parent_id: str
    model_name: str
    alias: str
    store: LabelStore
    queue: str
    say: Callable[[str], None]
    image_shape: tuple[int, ...] | None = None  # how labellers see flat samples

    def _step_run(self, name: str, parent: str) -> AbstractContextManager[str]:
        tags = {TAG_KIND: f"improve-{name}", PARENT_TAG: parent, "scanflow.round": str(self.number)}
        return tracked_run(self.client, self.experiment_id, name, tags)

    def run(
        self,
        source: SampleSource,
        strategy: QueryStrategy,
        batch_size: int,
        labeller: Labeller,
        trainer: Trainer,
        reference: Samples | None,
        holdout: Samples,
        metric: str | Metric,
        min_gain: float,
        approve: Callable[[Comparison], bool] | None,
        seed: int | None,
    ) -> RoundResult:
        client = self.client
        tags = {TAG_KIND: "improve-round", PARENT_TAG: self.parent_id, "scanflow.round": str(self.number)}
        with tracked_run(client, self.experiment_id, f"round-{self.number}", tags) as round_id:
            champion = load_version(client, self.model_name, alias=self.alias)
            client.set_tag(round_id, "scanflow.champion_version", champion.version)
            samples = source.load_nonempty().shaped_as(self.image_shape)
            classes = classes_of(champion, reference, holdout)
            self.store.create_queue(
                self.queue,
                source=source.spec(),
                classes=classes,
                image_shape=samples.image_shape,
                feature_names=samples.feature_names,
                model=f"{self.model_name}@{self.alias}",
            )
            batch = self._pending(round_id) or self._select(
                round_id, samples, champion, strategy, batch_size, reference, seed, source
            )
            if not batch:
                self.say(f"round {self.number}: every sample of the pool is in queue '{self.queue}' already")
                return RoundResult(self.number, 0, 0, 0, champion.version, None, None, None, round_id)
            progress = self._label(round_id, labeller, batch)
            if progress.labelled == 0 and not self.store.labels(self.queue, include_used=False):
                self.say(f"round {self.number}: no new labels, nothing to train on")
                return RoundResult(
                    self.number, len(batch), 0, progress.skipped, champion.version, None, None, None, round_id
                )
            trained = self._train(round_id, trainer, samples, reference)
            challenger = load_version(client, self.model_name, version=trained)
            comparison, decision = self._promote(
                round_id, champion, challenger, holdout, metric, min_gain, approve
            )
            return RoundResult(
                self.number,
                len(batch),
                progress.labelled,
                progress.skipped,
                champion.version,
                trained,
                comparison,
                decision,
                round_id,
            )

    # ------------------------------------------------------------------ steps
    def _select(
        self,
        round_id: str,
        samples: Samples,
        champion: LoadedModel,
        strategy: QueryStrategy,
        batch_size: int,
        reference: Samples | None,
        seed: int | None,
        source: SampleSource,
    ) -> list[Any]:
        with self._step_run("select", round_id) as run_id:
            started = time.perf_counter()
            round_seed = None if seed is None else seed + self.number
            batch = select_batch(
                self.store, self.queue, samples, champion, strategy, batch_size, reference, round_seed, source
            )
            queued, selection = batch.queued, batch.selection
            seconds = time.perf_counter() - started
            _log_params(
                self.client, run_id, strategy=strategy.name, batch_size=batch_size, pool_size=batch.pool_size
            )
            self.client.log_metric(run_id, "selected", len(queued))
            self.client.log_metric(run_id, "selection_seconds", seconds)
            self.client.log_dict(
                run_id,
                [{"sample": i, "score": s, "reason": r} for i, s, r in selection],
                "selection.json",
            )
        self.say(
            f"round {self.number}: {strategy.name} picked {len(queued)} of {batch.pool_size} samples"
            f" for queue '{self.queue}'"
        )
        return queued

    def _pending(self, round_id: str) -> list[QueuedSample]:
        """The oldest batch's samples still waiting for labels (an earlier run stopped before they came).

        They are asked first, so running the loop again after a timeout goes
        on where it stopped instead of piling up batches nobody has labelled.
        """
        waiting = self.store.items(self.queue, status=Status.QUEUED)
        if not waiting:
            return []
        oldest = [sample for sample in waiting if sample.batch == waiting[0].batch]
        self.client.set_tag(round_id, "scanflow.resumed_batch", str(oldest[0].batch))
        self.say(
            f"round {self.number}: {len(oldest)} samples of batch {oldest[0].batch} still wait for labels;"
            " asking them before picking more"
        )
        return oldest

    def _label(self, round_id: str, labeller: Labeller, batch: list[Any]) -> Any:
        with self._step_run("label", round_id) as run_id:
            started = time.perf_counter()
            self.client.set_tag(run_id, "scanflow.labeller", type(labeller).__name__)
            if isinstance(labeller, WaitForPeople):
                self.say(
                    f"round {self.number}: waiting for labels — run `scanflow label --queue {self.queue}`"
                )
            try:
                progress = labeller.collect(self.store, self.queue, batch)
            finally:
                self.client.log_metric(run_id, "wait_seconds", time.perf_counter() - started)
            self.client.log_metric(run_id, "labelled", progress.labelled)
            self.client.log_metric(run_id, "skipped", progress.skipped)
        self.say(f"round {self.number}: {progress.labelled} labelled, {progress.skipped} skipped")
        return progress

    def _train(self, round_id: str, trainer: Trainer, samples: Samples, reference: Samples | None) -> str:
        with self._step_run("train", round_id) as run_id:
            labelled = labelled_samples(self.store, self.queue, samples)
            with tempfile.TemporaryDirectory(prefix="scanflow-labelled-") as folder:
                path = write_labelled(labelled, Path(folder) / f"{self.queue}.npz")
                track_labelled(self.client, run_id, path, labelled)
                data = TrainingData(self.model_name, labelled, path, reference)
                self.say(f"round {self.number}: training on {len(labelled)} labelled samples")
                trained = trainer.train(data, self.client, run_id, self.tracking_uri)
            self.store.mark_used(self.queue, labelled.ids)
            _log_params(self.client, run_id, labelled=len(labelled), version=trained.version)
            if trained.workflow_run:
                self.client.set_tag(run_id, "scanflow.workflow_run", trained.workflow_run)
            if trained.run_id and trained.run_id != run_id:
                self.client.set_tag(run_id, "scanflow.training_run", trained.run_id)
            return trained.version

    def _promote(
        self,
        round_id: str,
        champion: LoadedModel,
        challenger: LoadedModel,
        holdout: Samples,
        metric: str | Metric,
        min_gain: float,
        approve: Callable[[Comparison], bool] | None,
    ) -> tuple[Comparison, Decision]:
        with self._step_run("promote", round_id) as run_id:
            comparison = compare(champion, challenger, holdout.features, holdout.targets, self.alias, metric)
            decision = decide(comparison, min_gain=min_gain, approve=approve)
            if decision.promote:
                promote(self.client, comparison)
            record(self.client, comparison, decision)
            _log_params(
                self.client,
                run_id,
                metric=comparison.metric,
                champion_version=comparison.champion_version,
                challenger_version=comparison.challenger_version,
                min_gain=min_gain,
                approval="person" if approve is not None else "automatic",
            )
            for key, value in (
                ("champion_score", comparison.champion_score),
                ("challenger_score", comparison.challenger_score),
                ("gain", comparison.gain),
                ("promoted", float(decision.promote)),
            ):
                self.client.log_metric(run_id, key, value)
            self.client.set_tag(run_id, "scanflow.decision", "promoted" if decision.promote else "kept")
            self.client.set_tag(run_id, "scanflow.reason", decision.reason)
        if decision.promote:
            verdict = f"v{comparison.challenger_version} is the new '{self.alias}'"
        else:
            verdict = f"v{comparison.champion_version} stays '{self.alias}'"
        self.say(f"round {self.number}: {comparison.summary()} — {verdict} ({decision.brief})")
        return comparison, decision
