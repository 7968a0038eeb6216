"""`scanflow optimize`: a registered model as ONNX, checked against the original and timed."""

from __future__ import annotations

import contextlib
import enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from scanflow.cli.common import HomeOption, JsonOutput, TrackingUri, console, fail, print_json

if TYPE_CHECKING:
    from scanflow.optimize import OptimizeResult


class Runtime(enum.StrEnum):
    """What runs the ONNX graph (the names of `scanflow.optimize.RUNTIMES`)."""

    onnxruntime = "onnxruntime"
    openvino = "openvino"


class Comparison(enum.StrEnum):
    """How a regressor's or network's outputs are compared (`scanflow.optimize.COMPARISONS`)."""

    values = "values"
    top_class = "top-class"


def optimize(
    model: Annotated[
        str,
        typer.Argument(help="MLflow model URI: models:/NAME@ALIAS, models:/NAME/VERSION, runs:/..., a path"),
    ],
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            "-d",
            help="rows to check and time on (.npz, .csv, .parquet) \\[default: the model's input example]",
            show_default=False,
        ),
    ] = None,
    runtime: Annotated[
        Runtime, typer.Option(help="onnxruntime (any model), or openvino (neural networks)")
    ] = Runtime.onnxruntime,
    threads: Annotated[
        int, typer.Option(min=0, help="threads per prediction (0: the runtime decides; 1 suits many workers)")
    ] = 0,
    min_agreement: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="least fraction of rows where both models answer the same"),
    ] = 0.999,
    tolerance: Annotated[
        float,
        typer.Option(
            min=0.0, max=1.0, help="relative difference accepted in a regressor's or network's outputs"
        ),
    ] = 1e-3,
    compare: Annotated[
        Comparison,
        typer.Option(help="a network's outputs: values, or top-class for class scores (classifiers: labels)"),
    ] = Comparison.values,
    quantize: Annotated[
        bool, typer.Option("--quantize", help="int8 weights in a network's matrix products (onnxruntime)")
    ] = False,
    register: Annotated[
        str | None,
        typer.Option(help="registered model to add the optimized version to \\[default: the original's]"),
    ] = None,
    alias: Annotated[
        str | None,
        typer.Option(help="move this alias to the optimized version (servers following it switch)"),
    ] = None,
    tracking_uri: TrackingUri = None,
    home: HomeOption = None,
    as_json: JsonOutput = False,
) -> None:
    """Convert a model to ONNX, check it answers like the original, time both, and register it."""
    from scanflow.extras import MissingExtraError
    from scanflow.optimize import OptimizeError, optimize_model

    try:
        with console.status("optimizing…") if not as_json else contextlib.nullcontext() as status:
            result = optimize_model(
                model,
                data=data,
                runtime=runtime.value,
                threads=threads,
                min_agreement=min_agreement,
                tolerance=tolerance,
                quantize=quantize,
                compare=compare.value,
                register=register,
                alias=alias,
                tracking_uri=tracking_uri,
                home=home,
                report=(lambda message: status.update(escape(message) + "…")) if status else None,
            )
    except (OptimizeError, MissingExtraError) as error:
        raise fail(str(error), 1) from None
    if as_json:
        print_json(result.describe())
    else:
        _print(result)


def _print(result: OptimizeResult) -> None:
    converted = result.converted
    console.print(
        f"[bold]{escape(result.source.uri)}[/] ({escape(converted.estimator)}, {escape(converted.framework)})"
        f" → ONNX{' with int8 weights' if result.options.quantize else ''}, run by {result.runtime}"
    )
    console.print(f"checked on {escape(result.data)}: {escape(result.agreement.summary())}", highlight=False)
    table = Table(box=None, pad_edge=False)
    table.add_column("prediction")
    table.add_column("original", justify="right")
    table.add_column("optimized", justify="right")
    table.add_column("speed-up", justify="right")
    table.add_row(
        "one row", _time(result.before.one_row), _time(result.after.one_row), _ratio(result.one_row_speedup)
    )
    table.add_row(
        f"{result.before.batch_rows} rows",
        _time(result.before.batch),
        _time(result.after.batch),
        _ratio(result.batch_speedup),
    )
    console.print(table)
    if result.registered_version:
        where = f"registered {result.registered_name}/{result.registered_version}"
        if result.alias:
            where += f"; {result.registered_name}@{result.alias} now names it (servers following it switch)"
    else:
        where = f"logged as {result.model_uri} (not registered: add --register NAME)"
    console.print(escape(where), highlight=False)
    console.print(f"serve it: [bold]scanflow serve {escape(result.served_uri)}[/]")


def _time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def _ratio(value: float) -> str:
    return f"{value:.1f}x" if value >= 1 else f"{value:.2f}x (slower)"
