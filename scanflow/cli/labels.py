"""`scanflow labels`: the label queues, each one's progress and people, and exports of their labels."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.text import Text

from scanflow.cli.common import HomeOption, JsonOutput, TrackingUri, console, fail, print_json, shown_path
from scanflow.cli.interact import LabelStoreUrl, interact_errors

if TYPE_CHECKING:
    from scanflow.interact.sources import Samples

LABELS_EXPERIMENT = "scanflow-labels"
QueueName = Annotated[str, typer.Argument(help="label queue", show_default=False)]
labels_app = typer.Typer(help="List the label queues, show one's batches and people, or export its labels.")


@labels_app.callback(invoke_without_command=True)
def labels_list(
    ctx: typer.Context, as_json: JsonOutput = False, store: LabelStoreUrl = None, home: HomeOption = None
) -> None:
    """List the label queues: where their samples come from, and how far the labelling has come."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.table import Table

    from scanflow.database import describe
    from scanflow.interact.sources import open_source
    from scanflow.interact.store import LabelStore, NotInStore, default_url

    errors = interact_errors()
    url = store or default_url(home)
    none_yet = f"No label queue yet in {describe(url)}. Start one with `scanflow label --source`."
    rows: list[dict] = []
    try:
        with LabelStore(url, create=False) as labels:
            for name in labels.queue_names():
                source = open_source(labels.queue(name).source).describe()
                rows.append({"queue": name, **_counts(labels.progress(name)), "source": source})
    except NotInStore:
        pass  # no store yet: no queue to list
    except errors as error:
        raise fail(str(error)) from None
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print(none_yet)
        return
    table = Table(title="Label queues")
    table.add_column("queue", no_wrap=True)
    for status in STATUSES:
        table.add_column(status, justify="right", no_wrap=True)
    table.add_column("source", overflow="fold")
    for row in rows:
        source = Text(shown_path(row["source"]))
        table.add_row(Text(row["queue"]), *(str(row[status]) for status in STATUSES), source)
    console.print(table)


STATUSES = ("queued", "labelled", "skipped", "used")


def _counts(progress: object) -> dict[str, int]:
    return {status: getattr(progress, status) for status in STATUSES}


@labels_app.command("show")
def labels_show(
    queue: QueueName,
    as_json: JsonOutput = False,
    store: LabelStoreUrl = None,
    home: HomeOption = None,
) -> None:
    """One queue: its samples, each batch's progress, what each person answered, labels per class."""
    from rich.table import Table

    from scanflow.interact.sources import open_source
    from scanflow.interact.store import LabelStore

    errors = interact_errors()
    try:
        with LabelStore(store, home=home, create=False) as labels:
            found = labels.queue(queue)
            batches, people, classes = (
                labels.batches(queue),
                labels.labellers(queue),
                labels.classes_given(queue),
            )
    except errors as error:
        raise fail(str(error)) from None
    if as_json:
        print_json(
            {
                "queue": queue,
                "source": open_source(found.source).describe(),
                "classes": found.classes,
                "model": found.model,
                **{
                    title: [{key: name, **_counts(progress)} for name, progress in rows.items()]
                    for title, key, rows in (
                        ("batches", "batch", batches),
                        ("labellers", "who", people),
                        ("labels_per_class", "class", classes if people else {}),
                    )
                },
            }
        )
        return
    console.print(f"[bold]{escape(queue)}[/]: samples from {escape(open_source(found.source).describe())}")
    model = f"; model {found.model}" if found.model else ""
    console.print(f"classes: {', '.join(map(str, found.classes))}{model}", markup=False)
    answered = ("labelled", "skipped", "used")
    for title, key, rows, statuses in (
        ("Batches", "batch", batches, ("queued", *answered)),
        ("Labellers", "who", people, answered),
        ("Labels per class", "class", classes if people else {}, ("labelled", "used")),
    ):
        if not rows:
            continue
        table = Table(title=title)
        table.add_column(key, no_wrap=True)
        for status in statuses:
            table.add_column(status, justify="right")
        for name, progress in rows.items():
            table.add_row(Text(str(name)), *(str(getattr(progress, status)) for status in statuses))
        console.print(table)
    if not batches:
        console.print(f"Nothing queued yet: `scanflow label --queue {queue} --source DATA` queues a batch.")


@labels_app.command("export")
def labels_export(
    queue: QueueName,
    path: Annotated[
        Path, typer.Argument(help="dataset file to write: .npz, .csv or .parquet", show_default=False)
    ],
    track: Annotated[
        bool, typer.Option("--track", help="also log the file to MLflow, as a dataset artifact")
    ] = False,
    store: LabelStoreUrl = None,
    tracking_uri: TrackingUri = None,
    home: HomeOption = None,
) -> None:
    """Write a queue's labelled samples (used ones too) as a dataset, and optionally track it in MLflow."""
    from scanflow.interact.export import labelled_samples, write_labelled
    from scanflow.interact.store import LabelStore

    errors = interact_errors()
    try:
        with LabelStore(store, home=home, create=False) as labels:
            labels.queue(queue)  # the error lists the queues there are
            if not labels.labels(queue):
                raise fail(
                    f"queue '{queue}' has no labels yet; label some with `scanflow label --queue {queue}`",
                    code=1,
                )
            labelled = labelled_samples(labels, queue)
        written = write_labelled(labelled, path)
    except (*errors, OSError) as error:
        raise fail(str(error), code=1) from None
    console.print(f"wrote {len(labelled)} labelled samples of '{queue}' to {written}", markup=False)
    if track:
        console.print(f"tracked as {_track_export(written, labelled, queue, tracking_uri, home)}")


def _track_export(
    path: Path, labelled: Samples, queue: str, tracking_uri: str | None, home: Path | None
) -> str:
    """Log the exported file in a run of the `scanflow-labels` experiment; its URI is a dataset source."""
    from scanflow.home import Home
    from scanflow.interact.export import track_labelled
    from scanflow.track.store import (
        artifact_location,
        ensure_experiment,
        open_client,
        prepare_store,
        tracked_run,
    )

    project = Home.resolve(home)
    uri = project.tracking_uri(tracking_uri)
    prepare_store(uri)
    client = open_client(uri)
    experiment = ensure_experiment(
        client, LABELS_EXPERIMENT, artifact_location(project, uri, LABELS_EXPERIMENT)
    )
    with tracked_run(client, experiment, f"export-{queue}", {"scanflow.queue": queue}) as run_id:
        return track_labelled(client, run_id, path, labelled, context="export")
