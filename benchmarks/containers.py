"""Image build times and per-node overhead of the container backends, printed as a table.

Usage (a Docker engine that is a Swarm manager, with the default base image):
    .venv/bin/python benchmarks/containers.py [--nodes 20] [--skip-swarm]

Targets: warm rebuild (nothing changed) under 2 s, code-change rebuild under 5 s.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from pathlib import Path

from rich.console import Console
from rich.table import Table

from scanflow.graph import Graph
from scanflow.run.docker_engine import connect
from scanflow.run.images import ImageBuilder
from scanflow.run.runner import run_workflow
from scanflow.spec import Workflow


def build_times(folder: Path) -> list[tuple[str, float, str]]:
    """Cold (new requirement set), warm (nothing changed), after a one-line code change."""
    (folder / "step.py").write_text("print('step')\n")
    marker = f"# benchmark {uuid.uuid4().hex}"  # a requirement set no earlier build had
    workflow = Workflow(
        name="bench-build", nodes=[{"name": "step", "file": "step.py", "requirements": ["six", marker]}]
    )
    workflow.base_dir = folder
    client = connect()
    step = next(iter(Graph.from_workflow(workflow)))

    def build() -> float:
        started = time.perf_counter()
        ImageBuilder(client, lambda _: None).step_image(step, folder, workflow.name)
        return time.perf_counter() - started

    cold = build()
    warm = build()
    (folder / "step.py").write_text("print('step, one line changed')\n")
    changed = build()
    return [
        ("image build, cold (wheels + dependency + code image)", cold, ""),
        ("image build, warm (nothing changed)", warm, "target < 2 s"),
        ("image build, one-line code change", changed, "target < 5 s"),
    ]


def dag(folder: Path, nodes: int) -> Workflow:
    """``nodes`` trivial steps in layers of four, each layer waiting for the whole previous one."""
    (folder / "noop.py").write_text("print('ok')\n")
    width = 4
    steps = []
    for index in range(nodes):
        layer = index // width
        before = [f"n{i}" for i in range((layer - 1) * width, layer * width)] if layer else []
        steps.append({"name": f"n{index}", "file": "noop.py", "depends_on": before, "env_manager": "current"})
    workflow = Workflow(name="bench-dag", nodes=steps)
    workflow.base_dir = folder
    return workflow


def backend_times(folder: Path, nodes: int, backends: list[str]) -> list[tuple[str, float, str]]:
    rows = []
    local = None
    for backend in backends:
        workflow = dag(folder, nodes)
        quiet = {"track": False, "stream_logs": False, "live": False, "console": Console(quiet=True)}
        run_workflow(workflow, backend=backend, **quiet)  # builds images and environments first
        started = time.perf_counter()
        result = run_workflow(workflow, backend=backend, **quiet)
        elapsed = time.perf_counter() - started
        assert result.ok, f"{backend}: {result.steps}"
        if backend == "local":
            local = elapsed
            rows.append((f"{nodes}-node DAG on local (wall)", elapsed, ""))
        else:
            extra = (elapsed - (local or 0)) / nodes
            rows.append(
                (f"{nodes}-node DAG on {backend} (wall)", elapsed, f"+{extra:.2f} s per node vs local")
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=20)
    parser.add_argument("--skip-swarm", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("SCANFLOW_SWARM_ENDPOINT_MODE", "dnsrr")
    os.environ.setdefault("SCANFLOW_SWARM_PUBLISH_MODE", "host")
    console = Console()
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        os.chdir(folder)
        with console.status("building images…"):
            rows = build_times(folder)
        backends = ["local", "docker"] + ([] if args.skip_swarm else ["swarm"])
        with console.status("running the DAG on each backend…"):
            rows += backend_times(folder, args.nodes, backends)
    table = Table(title="Scanflow container benchmark")
    table.add_column("measure")
    table.add_column("seconds", justify="right")
    table.add_column("note")
    for name, seconds, note in rows:
        table.add_row(name, f"{seconds:.2f}", note)
    console.print(table)


if __name__ == "__main__":
    main()
