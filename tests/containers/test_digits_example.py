"""The digits example runs unchanged in containers and registers its champion in the workflow's tracker."""

from __future__ import annotations

import shutil
from importlib import metadata
from pathlib import Path

import pytest
from mlflow import MlflowClient

from scanflow.graph import Graph
from scanflow.run.docker import DockerBackend
from scanflow.run.images import PYTHON, ImageBuilder
from scanflow.run.runner import run_workflow
from scanflow.run.swarm import SwarmBackend
from scanflow.run.workflow_tracker import remove_tracker_stores
from scanflow.spec import Workflow
from scanflow.track.query import find_workflow_run, run_tree

EXAMPLE = Path(__file__).parents[2] / "examples" / "digits"

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture
def digits(project: Path, docker_client) -> Path:
    shutil.copytree(EXAMPLE, project / "digits", ignore=shutil.ignore_patterns(".scanflow"))
    remove_tracker_stores(docker_client, "digits")
    yield project / "digits" / "workflow.yaml"
    remove_tracker_stores(docker_client, "digits")


def _mlflow_in_step_image(docker_client, workflow_file: Path, key: str) -> str:
    """The MLflow a step's image holds (the example asks for any mlflow-skinny >= 3.1)."""
    graph = Graph.from_workflow(Workflow.from_yaml(workflow_file))
    image = ImageBuilder(docker_client, lambda message: None).step_image(
        graph.steps[key], graph.base_dir, "digits"
    )
    script = "import importlib.metadata as m; print(m.version('mlflow-skinny'))"
    return docker_client.containers.run(image.tag, [PYTHON, "-c", script], remove=True).decode().strip()


@pytest.mark.parametrize("backend_class", [DockerBackend, SwarmBackend], ids=["docker", "swarm"])
def test_the_digits_example_registers_a_champion_in_the_workflows_tracker(
    digits: Path, docker_client, swarm_settings, backend_class
) -> None:
    if backend_class is SwarmBackend:
        swarm = docker_client.info().get("Swarm", {})
        assert swarm.get("LocalNodeState") == "active", "CI makes this engine a Swarm manager"
    backend = backend_class(keep_tracker=True)
    result = run_workflow(digits, backend=backend, stream_logs=False)
    try:
        assert result.ok, {
            k: (r.reason, Path(r.log_path).read_text()[-800:])
            for k, r in result.steps.items()
            if not r.status.succeeded
        }
        client = MlflowClient(backend.tracker.host_uri, backend.tracker.host_uri)
        champion = client.get_model_version_by_alias("digits", "champion")
        assert float(champion.tags["test_accuracy"]) > 0.95
        tree = run_tree(client, find_workflow_run(client, result.run_id))
        train = next(c for c in tree.children if c.name == "train")
        assert sorted(c.name for c in train.children) == ["forest", "logreg", "svm"]
        assert champion.run_id in {c.run.info.run_id for c in train.children}
        assert all(c.run.data.tags["scanflow.backend"] == backend.name for c in train.children)
        assert _mlflow_in_step_image(docker_client, digits, "train/svm") == metadata.version("mlflow-skinny")
    finally:
        backend.keep_tracker = False
        backend.close()
