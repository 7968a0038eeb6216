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

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from scanflow.serve.errors import ServeSetupError
from scanflow.serve.registry import ModelSource, ModelVersionRef, Registry

if TYPE_CHECKING:
    from scanflow.serve.config import ServeConfig

log = logging.getLogger("scanflow.serve")


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
    remote = [uri for uri in (ModelSource.parse(uri).uri for uri in uris) if local_folder(uri) is None]
    return ModelFetch(config.tracking_uri or "", remote) if remote else None


class ModelFetch:
    """One child process resolving and downloading model URIs into a temporary folder."""

    def __init__(self, tracking_uri: str, uris: list[str]):
        self.folder = Path(tempfile.mkdtemp(prefix="scanflow-models-"))
        request = {"tracking_uri": tracking_uri, "sources": uris, "folder": str(self.folder)}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "scanflow.serve.fetch"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps(request))
        self._process.stdin.close()

    def result(self) -> dict[str, Fetched] | None:
        """Source URI -> fetched model; None when the child died without an answer.

        Raises `ServeSetupError` when a model cannot be found or downloaded,
        with the message the service would give resolving it itself.
        """
        assert self._process.stdout is not None and self._process.stderr is not None
        output = self._process.stdout.read()
        errors = self._process.stderr.read()
        self._process.wait()
        try:
            answer = json.loads(output.strip().splitlines()[-1])
        except (IndexError, ValueError):
            log.debug("model fetch ended with code %s and no answer: %s", self._process.returncode, errors)
            return None
        if "error" in answer:
            raise ServeSetupError(answer["error"])
        return {
            uri: Fetched(ModelVersionRef(**item["ref"]), item["path"])
            for uri, item in answer["models"].items()
        }

    def close(self) -> None:
        """Stop the child if it still runs and delete the downloads (loaded models stay in memory)."""
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


def local_folder(uri: str) -> str | None:
    """The folder a model URI names on this machine, if it is one (nothing to download)."""
    path = Path(uri).expanduser()
    return str(path.resolve()) if "://" not in uri and path.is_dir() else None


def fetch(tracking_uri: str, uris: list[str], folder: Path) -> dict[str, dict]:
    """Resolve each URI in the registry and download it under ``folder``: the child's work."""
    registry = Registry(tracking_uri)
    models: dict[str, dict] = {}
    for number, uri in enumerate(uris):
        ref = registry.resolve(ModelSource.parse(uri))
        path = local_folder(ref.uri)
        if path is None:
            import mlflow.artifacts

            try:
                path = mlflow.artifacts.download_artifacts(
                    artifact_uri=ref.uri, dst_path=str(folder / str(number))
                )
            except Exception as error:
                reason = str(getattr(error, "message", error)).splitlines()[0]
                raise ServeSetupError(f"cannot load the model {ref.uri}: {reason}") from None
        models[uri] = {"ref": ref.__dict__, "path": path}
    return models


def main() -> None:
    request = json.loads(sys.stdin.read())
    try:
        answer: dict = {"models": fetch(request["tracking_uri"], request["sources"], Path(request["folder"]))}
    except ServeSetupError as error:
        answer = {"error": str(error)}
    print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
