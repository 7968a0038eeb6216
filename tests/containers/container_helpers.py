"""Helpers the container tests share: writing workflow files, finding what a run left."""

from __future__ import annotations

import textwrap
import time
import urllib.request
from pathlib import Path


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def run_labels(client, run_id: str) -> dict[str, list]:
    """What of a run is still on the engine."""
    selected = {"label": [f"scanflow.run={run_id}"]}
    return {
        "containers": client.containers.list(all=True, filters=selected),
        "networks": client.networks.list(filters=selected),
        "services": client.services.list(filters=selected) if _is_swarm(client) else [],
    }


def _is_swarm(client) -> bool:
    return client.info().get("Swarm", {}).get("LocalNodeState") == "active"


def left_after(client, run_id: str, timeout: float = 40.0) -> dict[str, list]:
    """What of a run is still there once the engine had time to finish removals it accepted.

    Swarm removes an overlay network some seconds after the network's last task is gone.
    """
    import time

    deadline = time.time() + timeout
    while True:
        left = run_labels(client, run_id)
        if not any(left.values()) or time.time() > deadline:
            return left
        time.sleep(0.5)


def lifeline_log(project, run_id: str, timeout: float = 30.0) -> str:
    """What a killed run's lifeline did, once it wrote it (after removing everything)."""
    import time

    log = project / ".scanflow" / "runs" / run_id / "lifeline.log"
    deadline = time.time() + timeout
    while not log.exists() and time.time() < deadline:
        time.sleep(0.2)
    return log.read_text()


def start_sleeping_run(client, project: Path, workflow: str, *options: str):  # noqa: ANN201 - (Popen, Container)
    """`scanflow run OPTIONS` of one step that sleeps, in a process of its own; returned with
    the step's container once that runs."""
    import subprocess
    import sys
    import time

    write(project, "step.py", "import time\ntime.sleep(120)\n")
    write(project, "wf.yaml", f"name: {workflow}\nnodes:\n  - {{executor: a, file: step.py}}\n")
    command = [sys.executable, "-m", "scanflow.cli", "run", "wf.yaml", *options]
    process = subprocess.Popen(command, cwd=project, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    selected = {"label": [f"scanflow.workflow={workflow}", "scanflow.kind=step"]}
    deadline = time.time() + 120
    while time.time() < deadline and not client.containers.list(filters=selected):
        time.sleep(0.2)
    [step] = client.containers.list(filters=selected)
    return process, step


def write_pipeline(project: Path) -> Path:
    """A small workflow like a user's: files through the data dir, a function, MLflow logging."""
    write(
        project,
        "make.py",
        """\
        import argparse
        parser = argparse.ArgumentParser()
        parser.add_argument("--count", type=int)
        args = parser.parse_args()
        with open("numbers.txt", "w") as out:
            out.write(" ".join(str(i) for i in range(args.count)))
        print("made", args.count, "numbers")
        """,
    )
    write(
        project,
        "train.py",
        """\
        import os
        import mlflow
        import scanflow
        numbers = [int(n) for n in open("numbers.txt").read().split()]
        total = sum(numbers)
        print("total", total)
        scanflow.log_metric("total", total)
        with mlflow.start_run(run_id=os.environ.get("MLFLOW_RUN_ID")):  # set by Scanflow
            mlflow.log_metric("count", len(numbers))
        """,
    )
    write(
        project,
        "helpers.py",
        """\
        import scanflow
        def double(x):
            data = scanflow.data_dir()
            (data / "double.txt").write_text(str(2 * x))
            print("doubled", x)
            return {"double": 2 * x}
        """,
    )
    write(project, "requirements.txt", "mlflow-skinny\n")
    return write(
        project,
        "wf.yaml",
        """\
        name: pipe
        nodes:
          - executor: make
            file: make.py
            parameters: {count: 5}
            outputs: [numbers.txt]
          - executor: train
            file: train.py
            requirements: requirements.txt
            depends_on: [make]
          - executor: double
            function: "helpers:double"
            parameters: {x: 21}
            depends_on: [make]
        """,
    )


def wait_healthy(uri: str, timeout: float = 120) -> None:
    """Wait until the MLflow server at ``uri`` answers its health check."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2):
                return
        except OSError:
            time.sleep(1)
    raise AssertionError(f"the tracker at {uri} did not answer within {timeout:.0f} s")
