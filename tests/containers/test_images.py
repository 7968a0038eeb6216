"""Step images: named by content, rebuilt only where something changed, with clear failures."""

from __future__ import annotations

import io
import json
import uuid
from importlib import metadata

import pytest
from container_helpers import write
from typer.testing import CliRunner

from scanflow.cli import app
from scanflow.graph import Graph
from scanflow.run import disk
from scanflow.run.images import PYTHON, ImageBuilder, ImageError, default_base_image
from scanflow.spec import Workflow

pytestmark = pytest.mark.docker


def _images(client, project, messages: list[str]) -> dict[str, str]:
    workflow = Workflow.from_yaml(project / "wf.yaml")
    builder = ImageBuilder(client, messages.append)
    graph = Graph.from_workflow(workflow)
    return {step.key: builder.step_image(step, graph.base_dir, workflow.name).tag for step in graph}


def test_unchanged_steps_are_not_rebuilt_and_a_code_change_rebuilds_only_the_code(docker_client, project):
    token = uuid.uuid4().hex  # code no earlier run built: images are named by content
    write(project, "a.py", f"print('a {token}')\n")
    write(project, "b.py", "print('b')\n")
    write(
        project,
        "wf.yaml",
        "name: cached\nnodes:\n  - {executor: a, file: a.py}\n"
        "  - {executor: b, file: b.py, requirements: [six]}\n",
    )
    first: list[str] = []
    tags = _images(docker_client, project, first)
    assert all(":" in tag and not tag.endswith(":latest") for tag in tags.values())
    assert tags["a"] != tags["b"]  # other requirements, other image

    again: list[str] = []
    assert _images(docker_client, project, again) == tags
    assert not [m for m in again if m.startswith(("building", "preparing"))]

    write(project, "a.py", f"print('a {token}, changed')\n")
    changed: list[str] = []
    new_tags = _images(docker_client, project, changed)
    assert new_tags["a"] != tags["a"]
    built = [m for m in changed if m.startswith("building")]
    assert built and all("scanflow-deps" not in m for m in built)  # dependencies were not rebuilt
    labels = docker_client.images.get(new_tags["a"]).labels
    assert labels["scanflow.workflow"] == "cached"


def test_a_failing_build_shows_the_dockerfile_step_and_its_output(docker_client, project):
    write(
        project,
        "image/Dockerfile",
        "FROM python:3.11-slim\nRUN echo preparing the model && exit 7\n",
    )
    write(project, "wf.yaml", "name: broken\nnodes:\n  - {executor: s, dockerfile: image/Dockerfile}\n")
    with pytest.raises(ImageError) as caught:
        _images(docker_client, project, [])
    message = str(caught.value)
    assert "RUN echo preparing the model && exit 7" in message
    assert "preparing the model" in message.split("output:")[1]
    assert "code: 7" in message


def test_a_missing_image_says_how_to_build_or_import_it(docker_client, project):
    write(project, "wf.yaml", "name: lost\nnodes:\n  - {executor: s, image: '127.0.0.1:9/nowhere/model:1'}\n")
    with pytest.raises(
        ImageError, match=r"not on the Docker engine.*\n.*docker build -t 127.0.0.1:9/nowhere"
    ):
        _images(docker_client, project, [])


def test_a_bad_requirement_names_itself_before_any_build(docker_client, project):
    write(project, "s.py", "print('s')\n")
    write(
        project,
        "wf.yaml",
        "name: typo\nnodes:\n"
        "  - {executor: s, file: s.py, requirements: [scanflow-no-such-package-xyz==1.0]}\n",
    )
    with pytest.raises(Exception, match="scanflow-no-such-package-xyz") as caught:
        _images(docker_client, project, [])
    assert "step 's'" in str(caught.value)


def test_a_step_asking_for_another_mlflow_is_told_which_one_its_image_gets(docker_client, project):
    version = metadata.version("mlflow-skinny")
    write(project, "s.py", "print('s')\n")
    step = f"{{executor: s, file: s.py, requirements: ['mlflow-skinny>{version}']}}"
    write(project, "wf.yaml", f"name: newer\nnodes:\n  - {step}\n")
    with pytest.raises(Exception, match=f"Scanflow's own versions \\(mlflow-skinny=={version}\\)"):
        _images(docker_client, project, [])


def test_a_constraints_file_holds_the_versions_in_step_images_too(docker_client, project, monkeypatch):
    write(project, "s.py", "print('s')\n")
    write(project, "pins.txt", "six==1.15.0\n")
    write(project, "wf.yaml", "name: pinned\nnodes:\n  - {executor: s, file: s.py, requirements: [six]}\n")
    monkeypatch.setenv("SCANFLOW_CONSTRAINTS", str(project / "pins.txt"))
    tag = _images(docker_client, project, [])["s"]
    script = "import importlib.metadata as m; print(m.version('six'))"
    assert docker_client.containers.run(tag, [PYTHON, "-c", script], remove=True).decode().strip() == "1.15.0"


def test_scanflow_images_are_listed_and_pruned_only_when_no_container_uses_them(docker_client, project):
    tag = f"scanflow-disk-test:{uuid.uuid4().hex[:12]}"
    base = default_base_image()
    dockerfile = f"FROM {base}\nLABEL scanflow.kind=test\nRUN echo {tag} > /made\n"
    image, _ = docker_client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True)
    second = f"{tag}-again"
    image.tag(*second.split(":"))  # an image with two names is removed by each
    listed = json.loads(CliRunner().invoke(app, ["cache", "--json"]).stdout)
    [ours] = [item for item in listed if item["kind"] == "image" and item["where"] == tag]
    assert not ours["busy"] and ours["bytes"] > 0
    assert not any(item["where"] == base for item in listed), "a base image is never Scanflow's to remove"

    container = docker_client.containers.create(tag, ["true"])
    try:
        [kept] = [k for k in disk.images(docker_client) if k.where == tag]
        assert kept.busy and disk.prunable([kept], older_than_s=0, now=kept.last_used + 1) == []
    finally:
        container.remove(force=True)
    [kept] = [k for k in disk.images(docker_client) if k.where == tag]
    assert disk.prunable([kept], older_than_s=0, now=kept.last_used + 1) == [kept]
    assert disk.remove([kept], docker_client) > 0
    assert not {tag, second} & {t for i in docker_client.images.list() for t in i.tags}
