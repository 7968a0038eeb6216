"""Resolving and downloading the models to serve in a second process, while the server imports.

At start-up the service needs two slow things: MLflow with its tracking store
(to find the version an alias names and to download it) and the model's own
libraries (scikit-learn). Each costs about two seconds of CPU, and in one
process they add up. A child process does the MLflow part on the other core:
it resolves every model source, downloads the artifacts into a local folder
and answers with one JSON line, while the server imports the web stack and
the model's libraries. The models then load from their folders, plain
scikit-learn models without importing MLflow at all (`direct.py`).

Only the first load goes this way; hot swaps later happen in the running
service, which by then has MLflow imported for following aliases.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from scanflow.errors import first_line
from scanflow.serve.errors import ServeSetupError
from scanflow.serve.registry import ModelSource, ModelVersionRef, Registry, missing_model_files

if TYPE_CHECKING:
    from scanflow.serve.config import ServeConfig

log = logging.getLogger("scanflow.serve")
_REQUEST = "SCANFLOW_FETCH_REQUEST"


@dataclass(frozen=True)
class Fetched:
    """A model version resolved from its source, and the local folder holding it."""

    ref: ModelVersionRef
    path: str


def start_fetch(config: ServeConfig) -> ModelFetch | None:
    """Start fetching the models ``config`` serves; None when they are all local folders."""
    if config.model is not None:
        uris = [config.model]
    else:
        from scanflow.serve.rules import RuleFile

        uris = list(RuleFile.read(config.rules).models.values())  # type: ignore[arg-type]
    return fetch_remote(config.tracking_uri or "", [ModelSource.parse(uri) for uri in uris])


def fetch_remote(tracking_uri: str, sources: Iterable[ModelSource]) -> ModelFetch | None:
    """Start fetching the sources that are not folders on this machine; None when none is."""
    remote = [source.uri for source in sources if local_folder(source.uri) is None]
    return ModelFetch(tracking_uri, remote) if remote else None


class ModelFetch:
    """One child process resolving and downloading model URIs into a temporary folder."""

    def __init__(self, tracking_uri: str, uris: list[str]):
        self.folder = Path(tempfile.mkdtemp(prefix="scanflow-models-"))
        request = {"tracking_uri": tracking_uri, "sources": uris, "folder": str(self.folder)}
        # In the environment rather than the command line: a tracking URI may hold a password.
        self._process = subprocess.Popen(
            [sys.executable, "-m", "scanflow.serve.fetch"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, _REQUEST: json.dumps(request), "PYTHONWARNINGS": "ignore"},
        )

    def result(self) -> dict[str, Fetched] | None:
        """Source URI -> fetched model; None when the child died without an answer.

        Raises `ServeSetupError` when a model cannot be found or downloaded,
        with the message the service would give resolving it itself.
        """
        output, errors = self._process.communicate()
        try:
            answer = json.loads(output.strip().splitlines()[-1])
        except (IndexError, ValueError):
            log.debug("model fetch ended with code %s and no answer: %s", self._process.returncode, errors)
            return None
        if "error" in answer:
            raise ServeSetupError(answer["error"])
        return _decode(answer["models"])

    def close(self) -> None:
        """Stop the child if it still runs and delete the downloads (loaded models stay in memory)."""
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


class ReportedByParent(ServeSetupError):
    """A failure the parent of ``--workers N`` reports itself, once, rather than each worker."""


class HandedOver:
    """The parent's fetch as a worker of ``--workers N`` sees it: a file written when the fetch ends.

    The workers start importing at once, while the parent's child still
    fetches, and then all load from the same downloads. The parent owns the
    folder, so closing here deletes nothing.
    """

    def __init__(self, path: Path):
        self.path = path
        self._parent = os.getppid()

    def result(self) -> dict[str, Fetched] | None:
        while not self.path.exists():
            if os.getppid() != self._parent:
                raise ServeSetupError("the server stopped before its models were fetched")
            time.sleep(0.02)
        answer = json.loads(self.path.read_text())
        if "error" in answer:
            raise ReportedByParent(answer["error"])
        return None if answer["models"] is None else _decode(answer["models"])

    def close(self) -> None:
        pass

    @staticmethod
    def hand_over(fetch: ModelFetch, path: Path) -> str | None:
        """Wait for ``fetch`` and write its outcome to ``path`` for the workers; returns its error."""
        error = None
        try:
            models = fetch.result()
            answer: dict = {"models": None if models is None else _encode(models)}
        except ServeSetupError as failure:
            error = str(failure)
            answer = {"error": error}
        staging = path.with_suffix(".partial")
        staging.write_text(json.dumps(answer))
        staging.replace(path)  # whole or absent: a worker never reads half a file
        return error


Fetching = ModelFetch | HandedOver


def _encode(models: dict[str, Fetched]) -> dict[str, dict]:
    return {uri: {"ref": dataclasses.asdict(found.ref), "path": found.path} for uri, found in models.items()}


def _decode(data: dict[str, dict]) -> dict[str, Fetched]:
    return {uri: Fetched(ModelVersionRef(**item["ref"]), item["path"]) for uri, item in data.items()}


def local_folder(uri: str) -> str | None:
    """The folder a model URI names on this machine, if it is one (nothing to download).

    A bare name that is no folder here is refused by name: MLflow would try to
    download it from nowhere and say so in words about artifacts.
    """
    path = Path(uri).expanduser()
    if "://" in uri:
        return None
    if path.is_dir():
        return str(path.resolve())
    if ":" not in uri:
        what = "a file, not a model folder" if path.exists() else "neither a folder here nor a model URI"
        raise ServeSetupError(
            f"'{uri}' is {what}: give a folder MLflow saved a model to, "
            "models:/NAME@ALIAS, models:/NAME/VERSION or runs:/RUN_ID/PATH"
        )
    return None


def fetch(tracking_uri: str, uris: list[str], folder: Path) -> dict[str, Fetched]:
    """Resolve each URI in the registry and download it under ``folder``: the child's work.

    Every failure becomes a `ServeSetupError` naming the model, so that the
    service reports it rather than trying again (an unreachable server would
    make the user wait twice).
    """
    registry = Registry(tracking_uri)
    models: dict[str, Fetched] = {}
    for number, uri in enumerate(uris):
        try:
            ref = registry.resolve(ModelSource.parse(uri))
            path = local_folder(ref.uri) or _download(ref.uri, folder / str(number))
            _require_model_files(uri, ref, Path(path))
        except ServeSetupError:
            raise
        except Exception as error:
            raise ServeSetupError(f"cannot load the model {uri}: {first_line(error)}") from None
        models[uri] = Fetched(ref, path)
    return models


def _require_model_files(uri: str, ref: ModelVersionRef, path: Path) -> None:
    if not (path / "MLmodel").is_file():
        raise ServeSetupError(f"cannot load the model {uri}: {missing_model_files(ref)}")


def _download(uri: str, destination: Path) -> str:
    import mlflow.artifacts

    return mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(destination))


def main() -> None:
    request = json.loads(os.environ[_REQUEST])
    try:
        models = fetch(request["tracking_uri"], request["sources"], Path(request["folder"]))
        answer: dict = {"models": _encode(models)}
    except ServeSetupError as error:
        answer = {"error": str(error)}
    print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
