"""`scanflow export compose` writes only where nothing can be lost, and rewrites its own exports whole.

No engine is needed: the export prepares wheels and build contexts on the host.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from container_helpers import write
from typer.testing import CliRunner

from scanflow.cli import app
from scanflow.run.build_context import GENERATED_MARKER

runner = CliRunner()


@pytest.fixture
def workflow(project: Path) -> Path:
    write(project, "make.py", "print('made')\n")
    return write(
        project,
        "wf.yaml",
        """\
        name: small
        nodes:
          - executor: make
            file: make.py
        """,
    )


def export(*arguments: str):  # noqa: ANN201
    return runner.invoke(app, ["export", "compose", *arguments])


def flat(text: str) -> str:
    return " ".join(text.split())


def test_the_workflow_folder_is_refused_and_left_unmarked(workflow: Path, project: Path) -> None:
    result = export(str(workflow), "-o", ".")
    assert result.exit_code == 1
    assert "holds the workflow's code" in flat(result.output) and "--output compose" in flat(result.output)
    assert not (project / GENERATED_MARKER).exists(), "a marked folder would give images without code"
    assert not (project / "docker-compose.yml").exists()


def test_a_folder_of_other_files_is_refused_untouched(workflow: Path, project: Path) -> None:
    mine = write(project, "mine/docker-compose.yml", "services: {web: {image: nginx}}\n")
    result = export(str(workflow), "-o", "mine")
    assert result.exit_code == 1
    assert "'mine' is not empty and no earlier `scanflow export compose` wrote it" in flat(result.output)
    assert mine.read_text() == "services: {web: {image: nginx}}\n"
    assert not (project / "mine" / GENERATED_MARKER).exists()

    write(project, "a-file", "x")
    result = export(str(workflow), "-o", "a-file")
    assert result.exit_code == 1 and "'a-file' is a file" in result.output


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--endpoint-mode", "round-robin"], "endpoint mode must be one of ('vip', 'dnsrr')"),
        (["--publish-mode", "nodeport"], "publish mode must be one of ('ingress', 'host'), got 'nodeport'"),
        (["--endpoint-mode", "dnsrr"], "set the publish mode to 'host'"),
        (["--tracker-port", "70000"], "the tracker port must be between 1 and 65535, got 70000"),
    ],
)
def test_settings_a_swarm_rejects_are_named_before_anything_is_written(
    workflow: Path, project: Path, option: list[str], message: str
) -> None:
    result = export(str(workflow), "-o", "stack", *option)
    assert result.exit_code == 1
    assert message in flat(result.output)
    assert not (project / "stack").exists()


def test_a_new_export_replaces_the_old_one_and_keeps_what_a_person_added(
    workflow: Path, project: Path
) -> None:
    assert export(str(workflow), "-o", "stack").exit_code == 0
    stack = project / "stack"
    write(stack, "images/removed-step/Dockerfile", "FROM scratch\n")  # a context an older workflow had
    notes = write(stack, "NOTES.md", "deployed on the staging cluster\n")

    result = export(str(workflow), "-o", "stack", "--tracker-port", "5100")
    assert result.exit_code == 0, result.output
    assert not (stack / "images" / "removed-step").exists(), "stale build contexts go"
    assert notes.read_text() == "deployed on the staging cluster\n"
    document = yaml.safe_load((stack / "docker-compose.yml").read_text())
    assert set(document["services"]) == {"tracker", "make"}
    assert document["services"]["tracker"]["ports"][0]["published"] == 5100
    # The export sits in the workflow's folder, yet no image's code holds it.
    contexts = [path for path in (stack / "images").iterdir() if (path / "app").exists()]
    assert contexts and all((context / "app" / "make.py").exists() for context in contexts)
    assert not any((context / "app" / "stack").exists() for context in contexts)
