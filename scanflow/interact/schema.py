"""The label store's tables: queues, queued samples, every labelling action, who holds what.

Plain SQLAlchemy tables, so the same store runs on SQLite (a file in
`.scanflow/`) or PostgreSQL (by URL). Labelling actions are appended to an
event table and never deleted: an undo is one more event, and a label is
never lost, even by a crash between two writes.
"""

from __future__ import annotations

import enum

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()


class Status(enum.StrEnum):
    """Where a queued sample stands."""

    QUEUED = "queued"  # waiting for a person
    LABELLED = "labelled"
    SKIPPED = "skipped"  # the person could not tell; not asked again
    USED = "used"  # labelled and already fed to a training run


queues = Table(
    "scanflow_label_queues",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("source", JSON, nullable=False),  # how to reopen the samples (see sources.open_source)
    Column("classes", JSON, nullable=False),
    Column("image_shape", JSON),  # (height, width[, channels]) when samples are images
    Column("feature_names", JSON),
    Column("model", String(400)),  # model whose predictions are shown, e.g. "digits@champion"
    Column("created_at", DateTime(timezone=True), nullable=False),
)

items = Table(
    "scanflow_label_items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("queue", String(200), ForeignKey("scanflow_label_queues.name"), nullable=False),
    Column("sample_ref", String(200), nullable=False),  # the sample's id in its source
    Column("content_hash", String(64), nullable=False),  # of the sample's values when queued
    Column("batch", Integer, nullable=False),
    Column("position", Integer, nullable=False),  # order within the batch: most informative first
    Column("strategy", String(100), nullable=False),
    Column("score", Float, nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("prediction", String(200)),
    Column("confidence", Float),
    Column("status", String(20), nullable=False, default=Status.QUEUED.value),
    Column("label", String(200)),
    Column("labelled_by", String(200)),
    Column("labelled_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("queue", "sample_ref", name="uq_scanflow_label_item_sample"),
    Index("ix_scanflow_label_items_queue_status", "queue", "status"),
)

events = Table(
    "scanflow_label_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("item_id", Integer, ForeignKey("scanflow_label_items.id"), nullable=False),
    Column("queue", String(200), nullable=False),
    Column("action", String(20), nullable=False),  # label, skip, undo, use
    Column("label", String(200)),
    Column("who", String(200)),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("undone", Integer, nullable=False, default=0),  # 1 once an undo reverted this event
)

claims = Table(
    "scanflow_label_claims",
    metadata,
    # The sample each person has on screen, so people labelling one queue together are shown
    # different samples. One per person and queue; it lapses at `until` (a person who walked away).
    Column("queue", String(200), primary_key=True),
    Column("who", String(200), primary_key=True),
    Column("item_id", Integer, ForeignKey("scanflow_label_items.id"), nullable=False, unique=True),
    Column("until", DateTime(timezone=True), nullable=False),
)
