"""`LabelStore`: the samples queued for labelling, their labels, and who gave them.

It is the one place labels live: the web UI, the terminal labeller, the
oracle used in tests and the improve loop all read and write through it, so a
label given in the browser is there for the next training run, even after a
restart. SQLite by default (``.scanflow/labels.db``), PostgreSQL by URL.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from scanflow.database import DatabaseUrlError, create_tables, describe, make_engine
from scanflow.home import sqlite_file
from scanflow.interact.schema import Status, claims, events, items, metadata, queues


class LabelStoreError(ValueError):
    """A request the label store cannot honour: unknown queue, unknown class..."""


class NotInStore(LookupError, LabelStoreError):
    """The queue or queued sample asked for does not exist."""


@dataclass(frozen=True)
class Queue:
    """A named labelling queue: where its samples come from and which labels are allowed."""

    name: str
    source: dict[str, Any]
    classes: list[Any]
    image_shape: list[int] | None = None
    feature_names: list[str] | None = None
    model: str | None = None

    def class_for(self, label: Any) -> Any:
        """The class a typed or clicked label stands for (``"3"`` means class ``3``)."""
        for value in self.classes:
            if str(value) == str(label).strip():
                return value
        raise LabelStoreError(
            f"'{label}' is not a class of queue '{self.name}';"
            f" use one of: {', '.join(map(str, self.classes))}"
        )


@dataclass(frozen=True)
class QueuedSample:
    """One sample in a queue, with why it was picked and, once given, its label."""

    id: int
    queue: str
    sample_ref: str
    content_hash: str
    batch: int
    position: int
    strategy: str
    score: float
    reason: str
    prediction: str | None
    confidence: float | None
    status: Status
    label: str | None
    labelled_by: str | None
    labelled_at: datetime.datetime | None

    @classmethod
    def from_row(cls, row: Any) -> QueuedSample:
        values = {name: getattr(row, name) for name in cls.__dataclass_fields__}
        values["status"] = Status(values["status"])
        return cls(**values)


@dataclass(frozen=True)
class Candidate:
    """A sample a strategy picked, ready to be queued."""

    sample_ref: str
    content_hash: str
    score: float
    reason: str = ""
    prediction: str | None = None
    confidence: float | None = None


@dataclass(frozen=True)
class Progress:
    """How far the labelling of a queue (or one batch of it) has come."""

    queued: int = 0
    labelled: int = 0
    skipped: int = 0
    used: int = 0

    @property
    def total(self) -> int:
        return self.queued + self.labelled + self.skipped + self.used

    @property
    def done(self) -> int:
        return self.total - self.queued

    @property
    def finished(self) -> bool:
        return self.queued == 0


def default_url(home: str | Path | None = None) -> str:
    """``sqlite:///<project>/.scanflow/labels.db``."""
    from scanflow.home import Home

    return f"sqlite:///{Home.resolve(home).root / 'labels.db'}"


def _identity(source: dict[str, Any]) -> dict[str, Any]:
    """What makes two source specs the same samples (how to reach the tracker is not part of it)."""
    return {key: value for key, value in source.items() if key != "tracking_uri"}


def _where(source: dict[str, Any]) -> str:
    """A source spec in a few words, without credentials: its location, then any filter."""
    location = describe(str(source["url"])) if "url" in source else str(source.get("uri", ""))
    filters = [f"{k}={v}" for k, v in _identity(source).items() if k not in ("kind", "url", "uri")]
    return location + (f" ({', '.join(filters)})" if filters else "")


CLAIM_LEASE = datetime.timedelta(minutes=10)  # how long a sample on someone's screen is kept from others


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class LabelStore:
    """Queues of samples to label, in a SQL database (created on first use)."""

    def __init__(self, url: str | None = None, *, home: str | Path | None = None, create: bool = True):
        """``create=False`` (listing, labelling, exporting) refuses a SQLite file not made yet."""
        self.url = url or default_url(home)
        if not create and (file := sqlite_file(self.url)) is not None and not file.exists():
            raise NotInStore(
                f"no label store at {describe(self.url)} yet: `scanflow label --queue NAME --source DATA`"
                " starts one (or give the store with --store)"
            )
        try:
            self.engine = make_engine(self.url)
        except DatabaseUrlError as error:
            raise LabelStoreError(f"cannot open the label store: {error}") from None
        try:
            create_tables(metadata, self.engine)
        except Exception as error:
            self.engine.dispose()
            raise LabelStoreError(f"cannot open the label store {describe(self.url)}: {error}") from None

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> LabelStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LabelStore({describe(self.url)!r})"

    # ---------------------------------------------------------------- queues
    def create_queue(
        self,
        name: str,
        *,
        source: dict[str, Any],
        classes: Sequence[Any],
        image_shape: Sequence[int] | None = None,
        feature_names: Sequence[str] | None = None,
        model: str | None = None,
    ) -> Queue:
        """Create a queue, or return it when it exists with the same classes.

        An existing queue takes a newly given ``image_shape``: it only changes
        how its samples are shown.
        """
        if not name.strip():
            raise LabelStoreError("a queue needs a name")
        if not classes:
            raise LabelStoreError(f"queue '{name}' needs the list of classes a labeller may choose from")
        classes = [c.item() if hasattr(c, "item") else c for c in classes]  # numpy scalars -> JSON
        existing = self.find_queue(name)
        if existing is not None:
            if [str(c) for c in existing.classes] != [str(c) for c in classes]:
                raise LabelStoreError(
                    f"queue '{name}' exists with classes {existing.classes}, not {list(classes)};"
                    " use another queue name"
                )
            if _identity(existing.source) != _identity(source):
                raise LabelStoreError(
                    f"queue '{name}' takes its samples from {_where(existing.source)}, not {_where(source)}:"
                    " its labels belong to those samples; use another queue name (--queue)"
                )
            if image_shape and list(image_shape) != existing.image_shape:
                return self.set_image_shape(name, image_shape)
            return existing
        row = {
            "name": name,
            "source": source,
            "classes": list(classes),
            "image_shape": list(image_shape) if image_shape else None,
            "feature_names": list(feature_names) if feature_names else None,
            "model": model,
            "created_at": _now(),
        }
        try:
            with self.engine.begin() as connection:
                connection.execute(queues.insert().values(**row))
        except IntegrityError:  # created meanwhile by another process
            return self.queue(name)
        return self.queue(name)

    def set_image_shape(self, name: str, image_shape: Sequence[int] | None) -> Queue:
        """Show the queue's samples as images of this shape (``None``: as table rows)."""
        self.queue(name)  # the error names a missing queue
        with self.engine.begin() as connection:
            connection.execute(
                queues.update()
                .where(queues.c.name == name)
                .values(image_shape=list(image_shape) if image_shape else None)
            )
        return self.queue(name)

    def find_queue(self, name: str) -> Queue | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(queues).where(queues.c.name == name)).first()
        if row is None:
            return None
        return Queue(row.name, row.source, row.classes, row.image_shape, row.feature_names, row.model)

    def queue(self, name: str) -> Queue:
        """The queue called ``name``; the error lists the queues there are."""
        found = self.find_queue(name)
        if found is None:
            names = self.queue_names()
            known = f"queues here: {', '.join(names)}" if names else "this store has no queue yet"
            raise NotInStore(f"no label queue '{name}' in {describe(self.url)} ({known})")
        return found

    def queue_names(self) -> list[str]:
        with self.engine.connect() as connection:
            return list(connection.execute(select(queues.c.name).order_by(queues.c.name)).scalars())

    # ------------------------------------------------------------- queueing
    def enqueue(self, queue: str, candidates: Iterable[Candidate], strategy: str) -> list[QueuedSample]:
        """Queue a batch; samples already in the queue (any status) are not queued twice.

        Returns the samples newly queued, in the order given (most informative first).
        """
        self.queue(queue)
        candidates = list(candidates)
        with self.engine.begin() as connection:
            known = set(
                connection.execute(
                    select(items.c.sample_ref).where(
                        items.c.queue == queue, items.c.sample_ref.in_([c.sample_ref for c in candidates])
                    )
                ).scalars()
            )
            batch = (
                connection.execute(select(func.max(items.c.batch)).where(items.c.queue == queue)).scalar()
                or 0
            ) + 1
            now = _now()
            rows = [
                {
                    "queue": queue,
                    "sample_ref": c.sample_ref,
                    "content_hash": c.content_hash,
                    "batch": batch,
                    "position": position,
                    "strategy": strategy,
                    "score": float(c.score),
                    "reason": c.reason,
                    "prediction": None if c.prediction is None else str(c.prediction),
                    "confidence": None if c.confidence is None else float(c.confidence),
                    "status": Status.QUEUED.value,
                    "created_at": now,
                }
                for position, c in enumerate(c for c in candidates if c.sample_ref not in known)
            ]
            if rows:
                connection.execute(items.insert(), rows)
        return self.items(queue, batch=batch) if rows else []

    def known_refs(self, queue: str) -> set[str]:
        """Every sample reference ever queued in ``queue`` (so strategies skip them)."""
        with self.engine.connect() as connection:
            return set(connection.execute(select(items.c.sample_ref).where(items.c.queue == queue)).scalars())

    # -------------------------------------------------------------- reading
    def items(
        self, queue: str, *, status: Status | Sequence[Status] | None = None, batch: int | None = None
    ) -> list[QueuedSample]:
        """Samples of a queue, batch by batch, most informative first."""
        query = select(items).where(items.c.queue == queue)
        if status is not None:
            wanted = [status] if isinstance(status, Status) else list(status)
            query = query.where(items.c.status.in_([s.value for s in wanted]))
        if batch is not None:
            query = query.where(items.c.batch == batch)
        with self.engine.connect() as connection:
            rows = connection.execute(query.order_by(items.c.batch, items.c.position)).all()
        return [QueuedSample.from_row(r) for r in rows]

    def item(self, item_id: int) -> QueuedSample:
        with self.engine.connect() as connection:
            row = connection.execute(select(items).where(items.c.id == item_id)).first()
        if row is None:
            raise NotInStore(f"no queued sample with id {item_id}")
        return QueuedSample.from_row(row)

    def recent(self, queue: str, who: str | None, limit: int = 5) -> list[QueuedSample]:
        """``who``'s latest answers (labels and skips) in ``queue``, newest first: what they may revisit."""
        answered = [Status.LABELLED.value, Status.SKIPPED.value, Status.USED.value]
        query = select(items).where(items.c.queue == queue, items.c.status.in_(answered))
        if who is not None:
            query = query.where(items.c.labelled_by == who)
        query = query.order_by(items.c.labelled_at.desc(), items.c.id.desc()).limit(limit)
        with self.engine.connect() as connection:
            return [QueuedSample.from_row(r) for r in connection.execute(query).all()]

    def next_item(
        self, queue: str, who: str | None = None, hold: datetime.timedelta = CLAIM_LEASE
    ) -> QueuedSample | None:
        """The next sample waiting for a label: oldest batch first, best first within it.

        With ``who``, the sample is held for that person for ``hold`` (or until
        they ask for another), and samples others hold are passed over: people
        labelling one queue together never see the same sample.
        """
        pending = select(items).where(items.c.queue == queue, items.c.status == Status.QUEUED.value)
        first = pending.order_by(items.c.batch, items.c.position).limit(1)
        if who is None:
            with self.engine.connect() as connection:
                row = connection.execute(first).first()
            return None if row is None else QueuedSample.from_row(row)
        for _ in range(20):  # another person may take the same sample between our read and write
            try:
                return self._hold_first(first, queue, who, hold)
            except IntegrityError:
                continue
        raise LabelStoreError(
            f"could not hold a sample of queue '{queue}' for {who}: too many people at once"
        )

    def _hold_first(self, first: Any, queue: str, who: str, hold: datetime.timedelta) -> QueuedSample | None:
        """Hold the first sample nobody else holds for ``who``, letting go of what they held before."""
        now = _now()
        held_by_others = select(claims.c.item_id).where(
            claims.c.queue == queue, claims.c.who != who, claims.c.until > now
        )
        with self.engine.begin() as connection:
            row = connection.execute(first.where(items.c.id.not_in(held_by_others))).first()
            stale = claims.c.who == who  # their previous sample, and a lapsed hold on this one
            if row is not None:
                stale = or_(stale, and_(claims.c.item_id == row.id, claims.c.until <= now))
            connection.execute(delete(claims).where(claims.c.queue == queue, stale))
            if row is None:
                return None
            connection.execute(claims.insert().values(queue=queue, who=who, item_id=row.id, until=now + hold))
        return QueuedSample.from_row(row)

    def release(self, queue: str, who: str) -> None:
        """Let go of the sample ``who`` holds in ``queue`` (they stopped labelling)."""
        with self.engine.begin() as connection:
            connection.execute(delete(claims).where(claims.c.queue == queue, claims.c.who == who))

    def held_by_others(self, queue: str, who: str | None) -> int:
        """How many waiting samples other people have on screen now."""
        query = (
            select(func.count())
            .select_from(claims.join(items, items.c.id == claims.c.item_id))
            .where(claims.c.queue == queue, claims.c.until > _now(), items.c.status == Status.QUEUED.value)
        )
        if who is not None:
            query = query.where(claims.c.who != who)
        with self.engine.connect() as connection:
            return int(connection.execute(query).scalar() or 0)

    def latest_batch(self, queue: str) -> int | None:
        with self.engine.connect() as connection:
            return connection.execute(select(func.max(items.c.batch)).where(items.c.queue == queue)).scalar()

    def progress(self, queue: str, batch: int | None = None) -> Progress:
        query = select(items.c.status, func.count()).where(items.c.queue == queue)
        if batch is not None:
            query = query.where(items.c.batch == batch)
        with self.engine.connect() as connection:
            counts = dict(connection.execute(query.group_by(items.c.status)).all())
        return Progress(**{s.value: counts.get(s.value, 0) for s in Status})

    def batches(self, queue: str) -> dict[int, Progress]:
        """Each batch of ``queue`` and how far it has come, oldest first."""
        return self._progress_by(items.c.batch, queue)

    def labellers(self, queue: str) -> dict[str, Progress]:
        """What each person answered in ``queue`` (labels, skips, labels already used), by name."""
        return self._progress_by(items.c.labelled_by, queue, items.c.labelled_by.is_not(None))

    def classes_given(self, queue: str) -> dict[Any, Progress]:
        """Each class of ``queue`` and how many labels it has (labelled, used), zero ones too.

        A class nobody has labelled yet shows up as a zero: the model will not
        learn it from these labels.
        """
        found = self.queue(queue)
        given = self._progress_by(items.c.label, queue, items.c.label.is_not(None))
        return {value: given.get(str(value), Progress()) for value in found.classes}

    def _progress_by(self, column: Any, queue: str, *where: Any) -> dict[Any, Progress]:
        """Progress of ``queue``'s samples for each value of ``column``, in its order."""
        query = (
            select(column, items.c.status, func.count())
            .where(items.c.queue == queue, *where)
            .group_by(column, items.c.status)
        )
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        counts: dict[Any, dict[str, int]] = {}
        for value, status, count in rows:
            counts.setdefault(value, {})[status] = count
        return {value: Progress(**counts[value]) for value in sorted(counts)}

    def labels(self, queue: str, *, include_used: bool = True) -> list[tuple[str, Any]]:
        """``(sample_ref, class)`` of every labelled sample, in labelling order."""
        wanted = [Status.LABELLED, Status.USED] if include_used else [Status.LABELLED]
        found = self.queue(queue)
        return [(s.sample_ref, found.class_for(s.label)) for s in self.items(queue, status=wanted)]

    # ------------------------------------------------------------- labelling
    def label(self, item_id: int, label: Any, who: str | None = None) -> QueuedSample:
        """Give a sample its label (a label not yet used for training may be changed)."""
        sample = self.item(item_id)
        value = str(self.queue(sample.queue).class_for(label))
        return self._record(sample, "label", Status.LABELLED, value, who)

    def skip(self, item_id: int, who: str | None = None) -> QueuedSample:
        """Set a sample aside: the labeller cannot tell. It is not asked again."""
        return self._record(self.item(item_id), "skip", Status.SKIPPED, None, who)

    def _record(
        self, sample: QueuedSample, action: str, status: Status, label: str | None, who: str | None
    ) -> QueuedSample:
        if sample.status is Status.USED:
            raise LabelStoreError(
                f"sample {sample.sample_ref} of queue '{sample.queue}' was already used for training"
                f" with label '{sample.label}'; it cannot change any more"
            )
        now = _now()
        with self.engine.begin() as connection:
            changed = connection.execute(
                update(items)
                .where(items.c.id == sample.id, items.c.status != Status.USED.value)  # not used meanwhile
                .values(status=status.value, label=label, labelled_by=who, labelled_at=now)
            )
            if changed.rowcount == 0:
                raise LabelStoreError(
                    f"sample {sample.sample_ref} of queue '{sample.queue}' was used for training a moment"
                    " ago; its label cannot change any more"
                )
            connection.execute(
                events.insert().values(
                    item_id=sample.id,
                    queue=sample.queue,
                    action=action,
                    label=label,
                    who=who,
                    at=now,
                    undone=0,
                )
            )
        return self.item(sample.id)

    def undo(self, queue: str, who: str | None = None) -> QueuedSample | None:
        """Revert the latest label or skip in ``queue`` (by ``who`` when given); None if nothing to undo.

        The sample goes back to the state it had before that action, and the
        action stays in the event log, marked undone.
        """
        conditions = [
            events.c.queue == queue,
            events.c.action.in_(["label", "skip"]),
            events.c.undone == 0,
            items.c.status != Status.USED.value,
        ]
        if who is not None:
            conditions.append(events.c.who == who)
        with self.engine.begin() as connection:
            last = connection.execute(
                select(events.c.id, events.c.item_id)
                .join(items, items.c.id == events.c.item_id)
                .where(and_(*conditions))
                .order_by(events.c.id.desc())
                .limit(1)
            ).first()
            if last is None:
                return None
            connection.execute(update(events).where(events.c.id == last.id).values(undone=1))
            before = connection.execute(
                select(events)
                .where(events.c.item_id == last.item_id, events.c.id < last.id, events.c.undone == 0)
                .where(events.c.action.in_(["label", "skip"]))
                .order_by(events.c.id.desc())
                .limit(1)
            ).first()
            if before is None:
                state = {
                    "status": Status.QUEUED.value,
                    "label": None,
                    "labelled_by": None,
                    "labelled_at": None,
                }
            else:
                status = Status.LABELLED if before.action == "label" else Status.SKIPPED
                state = {
                    "status": status.value,
                    "label": before.label,
                    "labelled_by": before.who,
                    "labelled_at": before.at,
                }
            connection.execute(update(items).where(items.c.id == last.item_id).values(**state))
            connection.execute(
                events.insert().values(
                    item_id=last.item_id, queue=queue, action="undo", label=None, who=who, at=_now(), undone=0
                )
            )
        return self.item(last.item_id)

    def mark_used(self, queue: str, sample_refs: Iterable[str], who: str | None = None) -> int:
        """Mark labelled samples as fed to training: their labels are frozen from now on."""
        refs = list(sample_refs)
        now = _now()
        with self.engine.begin() as connection:
            ids = list(
                connection.execute(
                    select(items.c.id).where(
                        items.c.queue == queue,
                        items.c.sample_ref.in_(refs),
                        items.c.status == Status.LABELLED.value,
                    )
                ).scalars()
            )
            if ids:
                connection.execute(update(items).where(items.c.id.in_(ids)).values(status=Status.USED.value))
                connection.execute(
                    events.insert(),
                    [
                        {
                            "item_id": i,
                            "queue": queue,
                            "action": "use",
                            "label": None,
                            "who": who,
                            "at": now,
                            "undone": 0,
                        }
                        for i in ids
                    ],
                )
        return len(ids)
