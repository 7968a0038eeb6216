"""`scanflow optimize`: convert a model to ONNX, prove it answers the same, time it, register it.

Between training and serving: the optimized model is a new version of the
same registered model, so `scanflow serve` and deployments take it like any
other, and moving an alias to it switches the servers that follow the alias.
It is registered only when it agrees with the original on the rows checked;
otherwise nothing changes in the registry and the tracked run says why.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from scanflow.errors import first_line
from scanflow.extras import require
from scanflow.home import Home
from scanflow.optimize.agreement import Agreement, ComparisonError, agreement
from scanflow.optimize.convert import ConversionError, Converted, convert
from scanflow.optimize.quantize import QuantizeError, quantize_int8
from scanflow.optimize.timing import Latency, measure, speedup
from scanflow.serve.errors import ServeSetupError
from scanflow.serve.registry import ModelSource, ModelVersionRef, Registry, missing_model_files

RUNTIMES = ("onnxruntime", "openvino")  # each the name of its package
COMPARISONS = ("values", "top-class")  # of a regressor's or network's outputs; classifiers by label
EXPERIMENT = "scanflow-optimize"
MODEL_CODE = Path(__file__).with_name("onnx_model.py")


class OptimizeError(ValueError):
    """The model cannot be optimized, or the optimized model does not answer like the original."""


@dataclass(frozen=True)
class OptimizeOptions:
    """How to optimize, and how close the result must stay to the original."""

    runtime: str = "onnxruntime"
    threads: int = 0  # per prediction; 0: the runtime decides
    min_agreement: float = 0.999  # least fraction of rows answered the same
    tolerance: float = 1e-3  # relative difference accepted in a value (regressors, networks)
    quantize: bool = False  # int8 weights in MatMul/Gemm layers (ONNX Runtime)
    compare: str = "values"  # how a network's outputs are compared: values, or top-class (class scores)

    def __post_init__(self) -> None:
        if self.runtime not in RUNTIMES:
            raise OptimizeError(f"unknown runtime '{self.runtime}'; use one of {', '.join(RUNTIMES)}")
        if not 0 <= self.min_agreement <= 1:
            raise OptimizeError(f"min_agreement is a fraction between 0 and 1, got {self.min_agreement}")
        if self.threads < 0:
            raise OptimizeError(f"threads must be 0 (the runtime decides) or more, got {self.threads}")
        if not 0 < self.tolerance < 1:
            raise OptimizeError(f"tolerance is a relative difference between 0 and 1, got {self.tolerance}")
        if self.compare not in COMPARISONS:
            raise OptimizeError(f"unknown comparison '{self.compare}'; use one of {', '.join(COMPARISONS)}")
        if self.quantize and self.runtime != "onnxruntime":
            raise OptimizeError("--quantize makes int8 weights for ONNX Runtime: use --runtime onnxruntime")

    def require_runtime(self) -> None:
        extra = "optimize" if self.runtime == "onnxruntime" else "openvino"
        require(self.runtime, extra, f"running {self.runtime}")


@dataclass
class OptimizeResult:
    """What `optimize_model` made, measured and registered."""

    source: ModelVersionRef
    options: OptimizeOptions
    converted: Converted
    agreement: Agreement
    data: str  # where the rows checked came from
    before: Latency
    after: Latency
    run_id: str
    model_uri: str  # runs:/<run>/model
    registered_name: str | None = None
    registered_version: str | None = None
    alias: str | None = None

    @property
    def runtime(self) -> str:
        return self.options.runtime

    @property
    def served_uri(self) -> str:
        """The URI to serve the optimized model by."""
        if self.registered_version:
            return f"models:/{self.registered_name}/{self.registered_version}"
        return self.model_uri

    @property
    def one_row_speedup(self) -> float:
        return speedup(self.before.one_row, self.after.one_row)

    @property
    def batch_speedup(self) -> float:
        return speedup(self.before.batch, self.after.batch)

    def describe(self) -> dict[str, Any]:
        """The result as plain data, for ``--json`` and scripts."""
        checked = self.agreement
        return {
            "source": self.source.uri,
            "estimator": self.converted.estimator,
            "framework": self.converted.framework,
            "runtime": self.runtime,
            "quantized": self.options.quantize,
            "data": self.data,
            "agreement": {
                "compared": checked.kind,
                "rows": checked.rows,
                "matching": checked.matching,
                "fraction": checked.fraction,
                "ties": checked.ties,
                "max_difference": None if np.isnan(checked.max_difference) else checked.max_difference,
            },
            "one_row_ms": {"original": 1000 * self.before.one_row, "optimized": 1000 * self.after.one_row},
            "batch_ms": {"original": 1000 * self.before.batch, "optimized": 1000 * self.after.batch},
            "batch_rows": self.before.batch_rows,
            "one_row_speedup": self.one_row_speedup,
            "batch_speedup": self.batch_speedup,
            "run_id": self.run_id,
            "model_uri": self.served_uri,
            "registered": {"name": self.registered_name, "version": self.registered_version}
            if self.registered_version
            else None,
            "alias": self.alias,
        }


def optimize_model(
    model: str,
    *,
    data: str | Path | np.ndarray | None = None,
    runtime: str = "onnxruntime",
    threads: int = 0,
    min_agreement: float = 0.999,
    tolerance: float = 1e-3,
    quantize: bool = False,
    compare: str = "values",
    register: str | None = None,
    alias: str | None = None,
    tracking_uri: str | None = None,
    home: str | Path | None = None,
    report: Callable[[str], None] | None = None,
) -> OptimizeResult:
    """Convert ``model`` (an MLflow model URI) to ONNX and register it beside the original.

    ``data``: rows to check the optimized model on (a dataset file or an
    array); by default the model's logged input example. ``register``: the
    registered model to add a version to (default: the original's).
    ``alias``: move this alias to the new version once it passed the check.
    ``quantize``: int8 weights for networks; ``tolerance``: the relative
    difference accepted in a regressor's or network's outputs; ``compare``:
    ``top-class`` compares a network's class scores by their highest.
    """
    options = OptimizeOptions(runtime, threads, min_agreement, tolerance, quantize, compare)
    options.require_runtime()
    from scanflow.track.store import TrackingError, prepare_store

    say = report or (lambda message: None)
    given = _read_rows(data)
    project = Home.resolve(home)
    uri = project.tracking_uri(tracking_uri)
    with contextlib.suppress(TrackingError):  # a server that is down is named by the registry's first call
        prepare_store(uri)
    registry = Registry(uri)
    try:
        ref = registry.resolve(ModelSource.parse(model))
    except ServeSetupError as error:
        raise OptimizeError(str(error)) from None
    target = register or (ref.name if ref.version and ref.uri.startswith("models:/") else None)
    if alias and not target:
        raise OptimizeError(f"--alias needs a registered model: {model} is not one; add --register NAME")

    with tempfile.TemporaryDirectory(prefix="scanflow-optimize-") as scratch:
        folder = _download(ref, uri, Path(scratch) / "original")
        import mlflow.models

        original = mlflow.models.Model.load(str(folder))
        example = _input_example(original, folder)
        if given is None and example is None:
            raise OptimizeError(
                "the model has no logged input example to check the optimized model on:"
                " give --data FILE (.npz, .csv or .parquet) with rows the model takes"
            )
        say(f"converting {ref.uri} to ONNX")
        onnx_path = Path(scratch) / "model.onnx"
        converted, optimized = _convert(folder, original, onnx_path, options)
        features, described = _rows(given, example, converted)
        say(f"checking it on {described}")
        try:
            checked, before, after = _check_and_time(converted, optimized, features, options, say)
        except ComparisonError as error:
            raise OptimizeError(str(error)) from None
        except Exception as error:
            raise OptimizeError(
                f"the models cannot predict on {described}: {first_line(error)}. Give rows the model takes"
            ) from None
        result = OptimizeResult(ref, options, converted, checked, described, before, after, "", "")
        saved = _Saved(original.signature, example, onnx_path, Path(scratch) / "optimized")
        _track(registry, project, result, saved, target, alias)
    return result


def _convert(folder: Path, original: Any, onnx_path: Path, options: OptimizeOptions) -> tuple[Converted, Any]:
    """The ONNX graph (written to ``onnx_path``) and the optimized model loaded from it."""
    try:
        converted = convert(folder, original)
        if options.quantize:
            converted.onnx = quantize_int8(converted.onnx)
    except (ConversionError, QuantizeError) as error:
        raise OptimizeError(str(error)) from None
    converted.config.update(runtime=options.runtime, threads=options.threads)
    onnx_path.write_bytes(converted.onnx)
    return converted, _load_optimized(onnx_path, converted.config, options.runtime)


def _check_and_time(
    converted: Converted,
    optimized: Any,
    features: np.ndarray,
    options: OptimizeOptions,
    say: Callable[[str], None],
) -> tuple[Agreement, Latency, Latency]:
    with warnings.catch_warnings():
        # Rows go in as arrays, as `scanflow serve` gives them, even to an estimator fitted on a table.
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        checked = agreement(
            converted,
            optimized,
            features,
            min_agreement=options.min_agreement,
            rtol=options.tolerance,
            top_class=options.compare == "top-class",
        )
        say("timing both")
        return checked, measure(converted.predict, features), measure(optimized.predict_values, features)


def _download(ref: ModelVersionRef, tracking_uri: str, destination: Path) -> Path:
    local = Path(ref.uri)
    if not ref.uri.startswith(("models:/", "runs:/")) and "://" not in ref.uri:
        if not (local / "MLmodel").is_file():
            raise OptimizeError(missing_model_files(ref))
        return local
    import mlflow.artifacts

    destination.mkdir(parents=True)
    try:
        found = mlflow.artifacts.download_artifacts(
            artifact_uri=ref.uri, dst_path=str(destination), tracking_uri=tracking_uri
        )
    except Exception as error:
        raise OptimizeError(f"cannot download {ref.uri}: {first_line(error)}") from None
    if not (Path(found) / "MLmodel").is_file():
        raise OptimizeError(missing_model_files(ref))
    return Path(found)


def _load_optimized(path: Path, config: dict[str, Any], runtime: str) -> Any:
    from scanflow.optimize.onnx_model import OnnxModel

    model = OnnxModel()
    try:
        model.load(str(path), config)
    except Exception as error:
        reason = _runtime_reason(error)
        hint = ""
        if runtime == "openvino":
            hint = " OpenVINO runs neural networks; classic scikit-learn models need --runtime onnxruntime"
        raise OptimizeError(f"{runtime} cannot load the converted model: {reason}.{hint}") from None
    return model


def _runtime_reason(error: Exception) -> str:
    """The line of a runtime's error that names the problem (OpenVINO's first names a C++ file)."""
    for line in str(error).splitlines():
        if "No conversion rule found for operations" in line:
            return line.strip(" -")
    return first_line(error)


def _input_example(original: Any, folder: Path) -> Any:
    try:
        return original.load_input_example(str(folder))
    except Exception:  # an example MLflow cannot read back is no example
        return None


def _read_rows(data: str | Path | np.ndarray | None) -> tuple[np.ndarray, str] | None:
    """The rows the user gave, read before any conversion so a wrong file fails at once."""
    if data is None:
        return None
    if isinstance(data, np.ndarray):
        return data, f"{len(data)} given rows"
    from scanflow.interact.sources.dataset import DatasetError, read_dataset

    try:
        samples = read_dataset(Path(data))
    except DatasetError as error:
        raise OptimizeError(str(error)) from None
    return samples.features, f"{len(samples.features)} rows of {data}"


def _rows(given: tuple[np.ndarray, str] | None, example: Any, converted: Converted) -> tuple[np.ndarray, str]:
    """The rows to check and time on, shaped as the model takes them, and where they came from.

    Rows keep full precision: the original gets them as it would in serving,
    and the optimized model casts them to its float32 itself, which is what
    the check is to catch.
    """
    if given is None:
        rows = example.to_numpy() if hasattr(example, "to_numpy") else example
        given = np.asarray(rows), f"the model's input example ({len(rows)} rows; --data checks more)"
    rows, described = given
    dtype = converted.config["input_dtype"] if converted.kind == "tensor" else "float64"
    try:
        features = np.asarray(rows, dtype=dtype)
    except (TypeError, ValueError) as error:
        raise OptimizeError(f"{described}: not all numbers ({first_line(error)})") from None
    shape = converted.config.get("input_shape") or [converted.config.get("n_features")]
    if all(size is not None and size > 0 for size in shape):
        if features.ndim == 2 and len(shape) > 1 and features.shape[1] == int(np.prod(shape)):
            features = features.reshape((len(features), *shape))  # flat rows of an image model
        if list(features.shape[1:]) != list(shape):
            raise OptimizeError(
                f"{described} are rows of {_values(features.shape[1:])}, but the model takes"
                f" {_values(tuple(shape))}: give data with the model's columns"
            )
    return features, described


def _values(shape: tuple[int, ...]) -> str:
    return f"{shape[0]} values" if len(shape) == 1 else "x".join(map(str, shape)) + " values"


@dataclass(frozen=True)
class _Saved:
    """What the optimized model's folder is made of."""

    signature: Any
    input_example: Any
    onnx_path: Path
    folder: Path


def _track(
    registry: Registry,
    project: Home,
    result: OptimizeResult,
    saved: _Saved,
    target: str | None,
    alias: str | None,
) -> None:
    """Log the run (and the model, when it passed), register it and move the alias."""
    from scanflow.track.store import TAG_KIND, artifact_location, ensure_experiment, tracked_run

    client = registry.client
    experiment = registry.experiment_of(result.source.run_id)
    if experiment is None:
        location = artifact_location(project, registry.tracking_uri, EXPERIMENT)
        experiment = ensure_experiment(client, EXPERIMENT, location)
    checked = result.agreement
    tags = {TAG_KIND: "optimize", "scanflow.source": result.source.uri}
    name = f"optimize-{result.source.name}" + (f"-v{result.source.version}" if result.source.version else "")
    with tracked_run(client, experiment, name, tags) as run_id:
        result.run_id = run_id
        _log(client, run_id, result)
        if not checked.ok:
            looser = {
                "values": "--tolerance or --min-agreement (or --compare top-class for class scores)"
            }.get(checked.kind, "--min-agreement")
            message = (
                f"the ONNX model does not answer like {result.source.uri}: {checked.summary()}, below the"
                f" {100 * result.options.min_agreement:.2f}% required; nothing was registered (run {run_id})."
                f" Check on more representative rows, or accept it with a looser {looser}"
            )
            client.set_tag(run_id, "mlflow.note.content", message)
            raise OptimizeError(message)
        _save(result, saved)
        client.log_artifacts(run_id, str(saved.folder), "model")
        result.model_uri = f"runs:/{run_id}/model"
        if target:
            _register(client, result, target, alias, run_id)


def _log(client: Any, run_id: str, result: OptimizeResult) -> None:
    from mlflow.entities import Metric, Param

    converted, checked = result.converted, result.agreement
    params = {
        "source": result.source.uri,
        "runtime": f"{result.runtime} {version(result.runtime)}",
        "converter": converted.converter,
        "framework": converted.framework,
        "estimator": converted.estimator,
        "rows_checked": checked.rows,
        "data": result.data,
        "min_agreement": result.options.min_agreement,
        "tolerance": result.options.tolerance,
        "quantize": "int8" if result.options.quantize else "none",
        "compare": checked.kind,
        "threads": result.options.threads,
    }
    metrics = {
        "agreement": checked.fraction,
        "one_row_ms_original": 1000 * result.before.one_row,
        "one_row_ms_optimized": 1000 * result.after.one_row,
        "one_row_speedup": result.one_row_speedup,
        "batch_ms_original": 1000 * result.before.batch,
        "batch_ms_optimized": 1000 * result.after.batch,
        "batch_speedup": result.batch_speedup,
    }
    if not np.isnan(checked.max_difference):
        metrics["max_difference"] = checked.max_difference
    now = int(time.time() * 1000)
    client.log_batch(
        run_id,
        params=[Param(key, str(value)[:6000]) for key, value in params.items()],
        metrics=[Metric(key, float(value), now, 0) for key, value in metrics.items() if np.isfinite(value)],
    )


def _save(result: OptimizeResult, saved: _Saved) -> None:
    """Write the optimized model's MLflow folder: the ONNX graph, its loader, the original's signature."""
    import mlflow
    import mlflow.pyfunc

    requirements = [
        f"mlflow=={mlflow.__version__}",
        f"{result.runtime}=={version(result.runtime)}",  # each runtime is named after its package
        f"numpy=={np.__version__}",
    ]
    with warnings.catch_warnings():  # MLflow asks for an input example; the original may have none to pass on
        warnings.filterwarnings("ignore", message=".*An input example was not provided")
        mlflow.pyfunc.save_model(
            str(saved.folder),
            python_model=str(MODEL_CODE),
            artifacts={"onnx_model": str(saved.onnx_path)},
            model_config=json.loads(json.dumps(result.converted.config)),
            signature=saved.signature,
            input_example=saved.input_example,
            pip_requirements=requirements,
        )


def _register(client: Any, result: OptimizeResult, name: str, alias: str | None, run_id: str) -> None:
    from mlflow.exceptions import MlflowException

    with contextlib.suppress(MlflowException):  # already registered
        client.create_registered_model(name)
    source = f"{client.get_run(run_id).info.artifact_uri}/model"
    created = client.create_model_version(name, source, run_id=run_id)
    result.registered_name, result.registered_version = name, str(created.version)
    origin = f"{result.source.name}/{result.source.version}" if result.source.version else result.source.uri
    for key, value in {
        "scanflow.optimized_from": origin,
        "scanflow.runtime": result.runtime + (" int8" if result.options.quantize else ""),
        "scanflow.agreement": f"{result.agreement.fraction:.6f}",
    }.items():
        client.set_model_version_tag(name, created.version, key, value)
    if alias:
        client.set_registered_model_alias(name, alias, created.version)
        result.alias = alias
