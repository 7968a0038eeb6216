"""The README's demo: the digits example trains three models and registers a champion."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scanflow.track.query import find_workflow_run, run_tree
from scanflow.track.store import open_client

EXAMPLE = Path(__file__).parents[2] / "examples" / "digits"


@pytest.mark.slow
def test_digits_example_registers_a_champion_with_nested_runs(project: Path, tracking: str) -> None:
    shutil.copytree(EXAMPLE, project / "digits", ignore=shutil.ignore_patterns(".scanflow"))
    (project / "digits" / ".scanflow").symlink_to(project / ".scanflow")  # the fixture's store
    result = subprocess.run(
        [sys.executable, "-m", "scanflow.cli", "run", "workflow.yaml", "-q"],
        cwd=project / "digits",
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    client = open_client(tracking)
    champion = client.get_model_version_by_alias("digits", "champion")
    assert float(champion.tags["test_accuracy"]) > 0.95

    run_id = next((project / ".scanflow" / "runs").iterdir()).name
    tree = run_tree(client, find_workflow_run(client, run_id))
    assert [c.name for c in tree.children] == ["gather", "preprocess", "train", "evaluate"]
    train = next(c for c in tree.children if c.name == "train")
    assert sorted(c.name for c in train.children) == ["forest", "logreg", "svm"]
    assert all("cv_accuracy" in c.metrics for c in train.children)
    evaluate = next(c for c in tree.children if c.name == "evaluate")
    assert evaluate.metrics["best_test_accuracy"] == pytest.approx(
        float(champion.tags["test_accuracy"]), abs=1e-4
    )
    # The registered model comes from one of the step runs of this workflow run.
    sources = {c.run.info.run_id for c in train.children}
    assert champion.run_id in sources
