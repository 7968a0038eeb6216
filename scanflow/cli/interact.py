"""Commands that bring people in: label samples, and the improve loop that retrains on their labels."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from scanflow.cli.common import (
    HomeOption,
    TlsCert,
    TlsKey,
    TrackingUri,
    console,
    fail,
    https_files,
    load_workflow,
)

if TYPE_CHECKING:
    from scanflow.interact.promotion import Comparison

LabelStoreUrl = Annotated[
    str | None,
    typer.Option(
        "--store", envvar="SCANFLOW_LABEL_STORE", help="label store URL (default: .scanflow/labels.db)"
    ),
]


ImageShape = Annotated[
    str | None,
    typer.Option(
        "--image-shape",
        help="show flat samples as images of HEIGHTxWIDTH\\[xCHANNELS] pixels, e.g. 8x8 for digits",
    ),
]


def parse_image_shape(text: str | None) -> tuple[int, ...] | None:
    """``"8x8"`` -> ``(8, 8)``; the error says what a shape looks like."""
    if text is None:
        return None
    parts = text.lower().replace("×", "x").split("x")
    if not 2 <= len(parts) <= 3 or not all(part.strip().isdigit() and int(part) > 0 for part in parts):
        raise fail(
            f"--image-shape '{text}' is not a shape: give HEIGHTxWIDTH or HEIGHTxWIDTHxCHANNELS, e.g. 8x8"
        )
    return tuple(int(part) for part in parts)


def parse_classes(text: str | None) -> list[str | int] | None:
    """``"cat,dog"`` -> names; ``"0,1,2"`` -> integers, as a model trained on numeric labels has them."""
    if not text:
        return None
    names = [name.strip() for name in text.split(",") if name.strip()]
    if all(name.lstrip("-").isdigit() for name in names):
        return [int(name) for name in names]
    return list(names)


def interact_errors() -> tuple[type[Exception], ...]:
    """Errors of the interact commands that are the user's to fix: printed, never a traceback."""
    from scanflow.extras import MissingExtraError

    try:
        from scanflow.interact.labellers import LabellingTimeout
        from scanflow.interact.trainers import TrainingError
    except MissingExtraError as error:
        raise fail(str(error)) from None
    from scanflow.track.store import TrackingError

    return (ValueError, LookupError, MissingExtraError, LabellingTimeout, TrainingError, TrackingError)


def label(
    queue: Annotated[str, typer.Option("--queue", "-q", help="label queue to work on")],
    source: Annotated[
        str | None,
        typer.Option(
            "--source",
            help="first queue a batch from this dataset (.npz/.csv/.parquet, MLflow artifact URI)"
            " or prediction-log database URL",
        ),
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="registered model that guides the picks: NAME or NAME@ALIAS")
    ] = None,
    classes: Annotated[
        str | None, typer.Option("--classes", help="comma-separated classes, when there is no model")
    ] = None,
    strategy: Annotated[str, typer.Option("--strategy", "-s", help="query strategy")] = "hybrid",
    batch: Annotated[int, typer.Option("--batch", "-n", min=1, help="samples to queue")] = 10,
    image_shape: ImageShape = None,
    terminal: Annotated[
        bool, typer.Option("--terminal", help="label in this terminal instead of a browser")
    ] = False,
    host: Annotated[str, typer.Option(help="address to serve the page on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port of the labelling page")] = 8765,
    tls_cert: TlsCert = None,
    tls_key: TlsKey = None,
    who: Annotated[str | None, typer.Option("--who", help="your name in the label store")] = None,
    browser: Annotated[
        bool, typer.Option("--browser/--no-browser", help="open the page in a browser")
    ] = True,
    store: LabelStoreUrl = None,
    tracking_uri: TrackingUri = None,
    home: HomeOption = None,
) -> None:
    """Label a queue's samples in the browser (or the terminal): digits label, s skips, u undoes."""
    errors = interact_errors()
    shape = parse_image_shape(image_shape)
    tls = https_files(tls_cert, tls_key)
    if not terminal:
        from scanflow.deploy.ports import port_taken, port_taken_message

        if port_taken(host, port):  # before a batch is queued: nothing to undo
            fix = "choose another with --port, or label with --terminal"
            raise fail(port_taken_message(host, port, fix=fix), code=1)
    from scanflow.interact.session import LabellingSession
    from scanflow.interact.store import LabelStore

    try:
        labels = LabelStore(store, home=home, create=source is not None)  # queueing may start a store
        if source is not None:
            from scanflow.interact.selection import queue_from_source
            from scanflow.interact.strategies import make_strategy

            picked = queue_from_source(
                labels,
                queue,
                source,
                model=model,
                classes=parse_classes(classes),
                strategy=make_strategy(strategy),
                batch_size=batch,
                tracking_uri=tracking_uri,
                home=home,
                image_shape=shape,
            )
            if picked.queued:
                console.print(
                    f"queued {len(picked.queued)} of {picked.pool_size} samples ({strategy}) in '{queue}'"
                )
            else:
                console.print(
                    f"every sample of {source} is in queue '{queue}' already: nothing new to queue",
                    markup=False,
                )
        session = LabellingSession(labels, queue, who=who)
        if source is None and shape is not None:
            session.show_as_images(shape)
    except errors as error:
        raise fail(str(error)) from None
    if terminal:
        from scanflow.interact.ui.terminal import label_in_terminal

        try:
            label_in_terminal(session, console=console)
        except errors as error:
            raise fail(str(error), code=1) from None
        return
    from scanflow.interact.ui.app import serve

    def ready(url: str) -> None:
        console.print(
            f"Labelling [bold]{escape(queue)}[/] at {url}  (Ctrl-C to stop; every label is saved at once)"
        )
        if browser:
            import webbrowser

            webbrowser.open(url)

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a person stops labelling
        serve(session, host=host, port=port, tls=tls, on_ready=ready)


def improve(
    model: Annotated[str, typer.Argument(help="registered model to improve", show_default=False)],
    pool: Annotated[
        str, typer.Option("--pool", help="samples to pick from: dataset file/artifact or prediction-log URL")
    ],
    holdout: Annotated[str, typer.Option("--holdout", help="labelled dataset to compare models on")],
    workflow: Annotated[
        Path | None, typer.Option("--workflow", "-w", help="workflow YAML whose step trains the model")
    ] = None,
    step: Annotated[str | None, typer.Option("--step", help="the workflow's training step")] = None,
    fit: Annotated[
        str | None,
        typer.Option("--fit", help="or a function 'pkg.module:fit' taking (X, y), returning a model"),
    ] = None,
    reference: Annotated[
        str | None, typer.Option("--reference", help="labelled data the champion learnt from")
    ] = None,
    strategy: Annotated[str, typer.Option("--strategy", "-s", help="query strategy")] = "hybrid",
    batch: Annotated[int, typer.Option("--batch", "-n", min=1, help="samples to label per round")] = 10,
    rounds: Annotated[int, typer.Option("--rounds", "-r", min=1, help="rounds of the loop")] = 1,
    oracle: Annotated[
        Path | None, typer.Option("--oracle", help="dataset with the true labels, instead of people")
    ] = None,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="seconds to wait for people to label a batch")
    ] = None,
    approve: Annotated[bool, typer.Option("--approve", help="ask before promoting a better model")] = False,
    min_gain: Annotated[float, typer.Option("--min-gain", min=0, help="promote only above this gain")] = 0.0,
    alias: Annotated[str, typer.Option("--alias", help="registry alias of the serving model")] = "champion",
    metric: Annotated[
        str, typer.Option("--metric", help="accuracy, balanced_accuracy, f1_macro")
    ] = "accuracy",
    queue: Annotated[
        str | None, typer.Option("--queue", "-q", help="label queue (default MODEL-improve)")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="seed of the strategy")] = None,
    image_shape: ImageShape = None,
    store: LabelStoreUrl = None,
    tracking_uri: TrackingUri = None,
    home: HomeOption = None,
) -> None:
    """Pick samples, get them labelled, retrain, and promote the model if it beats the champion."""
    errors = interact_errors()
    shape = parse_image_shape(image_shape)
    if (workflow is None) == (fit is None) or (workflow is not None and step is None):
        raise fail("give the trainer: --workflow FILE --step NAME, or --fit pkg.module:function")
    if approve and not sys.stdin.isatty():  # found out now, not after people spent an hour labelling
        raise fail(
            "--approve asks for a yes in this terminal, but the input is not one: run in a terminal,"
            " or drop --approve and set the bar with --min-gain"
        )
    from scanflow.interact.improve import improve as improve_model
    from scanflow.interact.labellers import Oracle, WaitForPeople
    from scanflow.interact.trainers import FunctionTrainer, WorkflowTrainer
    from scanflow.spec import SpecError

    def ask(comparison: Comparison) -> bool:
        return typer.confirm(
            f"{comparison.summary()}. Promote v{comparison.challenger_version}?", default=False
        )

    try:
        if workflow is not None:
            trainer = WorkflowTrainer(load_workflow(workflow), step or "", home=home)
        else:
            from scanflow.objects import import_object

            trainer = FunctionTrainer(import_object(fit or ""))
        result = improve_model(
            model,
            pool=pool,
            holdout=holdout,
            reference=reference,
            trainer=trainer,
            strategy=strategy,
            batch_size=batch,
            rounds=rounds,
            labeller=Oracle(oracle) if oracle else WaitForPeople(timeout=timeout),
            queue=queue,
            store=store,
            alias=alias,
            metric=metric,
            min_gain=min_gain,
            approve=ask if approve else None,
            tracking_uri=tracking_uri,
            home=home,
            seed=seed,
            image_shape=shape,
            report=console.print,
        )
    except (*errors, SpecError, ImportError, AttributeError) as error:
        raise fail(str(error), code=1) from None
    except KeyboardInterrupt:
        raise fail("stopped; every label given so far is kept", code=130) from None
    verdict = f"promoted v{result.champion_version}" if result.promoted else "champion kept"
    console.print(f"[green]✔[/] {model}@{alias}: {verdict} (MLflow run {result.mlflow_run_id})")
