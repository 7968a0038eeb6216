"""Scheduling overhead: a 100-step DAG (10 chains of 10) in Scanflow, Prefect 3 and Metaflow.

    python -m benchmarks.scheduling [--repeat 3] [--no-peers]

Every number is the wall time of a whole command from a cold process, so it
includes what a user waits for: interpreter start, imports, servers, tracking.
Per-step overhead is (time of the 100-step DAG - time of a 1-step DAG) / 99.
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks.peers import peer_python

CHAINS, DEPTH = 10, 10
SCANFLOW = [sys.executable, "-m", "scanflow.cli"]


@dataclass
class Row:
    tool: str
    mode: str
    steps: int
    total: float  # seconds for the 100-step DAG
    single: float  # seconds for a 1-step DAG
    note: str = ""
    single_steps: int = 1  # steps the 1-step DAG really has (Metaflow adds start, join and end)

    @property
    def per_step_ms(self) -> float:
        return (self.total - self.single) / (self.steps - self.single_steps) * 1000


def timed(command: list[str], cwd: Path, env: dict[str, str] | None = None, repeat: int = 3) -> float:
    """Median wall time of ``command``; fails loudly when it fails."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
        times.append(time.perf_counter() - started)
        if result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(command)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
            )
    return statistics.median(times)


# ---------------------------------------------------------------- Scanflow
def scanflow_yaml(kind: str, chains: int, depth: int) -> str:
    lines = ["name: dag", "parallel: true"]
    if kind == "function":
        lines.append("env_manager: current")
    lines.append("nodes:")
    for c in range(chains):
        lines += [f"  - workflow: chain{c}", "    nodes:"]
        for d in range(depth):
            entry = "function: 'trivial:noop'" if kind == "function" else "file: noop.py"
            lines.append(f"      - {{executor: n{d}, {entry}}}")
    return "\n".join(lines) + "\n"


def bench_scanflow(work: Path, repeat: int) -> list[Row]:
    (work / "trivial.py").write_text("def noop():\n    pass\n")
    (work / "noop.py").write_text("")
    rows = []
    for kind in ("function", "script"):
        (work / f"{kind}.yaml").write_text(scanflow_yaml(kind, CHAINS, DEPTH))
        (work / f"{kind}-1.yaml").write_text(scanflow_yaml(kind, 1, 1))
        for track in (True, False):
            flags = ["-q"] + ([] if track else ["--no-track"])
            subprocess.run(
                [*SCANFLOW, "run", f"{kind}-1.yaml", *flags], cwd=work, capture_output=True
            )  # warm envs
            total = timed([*SCANFLOW, "run", f"{kind}.yaml", *flags], work, repeat=repeat)
            single = timed([*SCANFLOW, "run", f"{kind}-1.yaml", *flags], work, repeat=repeat)
            label = "tracked in MLflow" if track else "--no-track"
            env = "current interpreter" if kind == "function" else "isolated uv env"
            rows.append(Row("scanflow", f"{kind} steps, {label}", CHAINS * DEPTH, total, single, env))
    return rows


def bench_bare(work: Path) -> Row:
    """The floor: one `python -c pass` per step, the chains running concurrently."""
    script = (
        "import subprocess, sys, threading\n"
        f"def chain():\n    [subprocess.run([sys.executable, '-c', 'pass']) for _ in range({DEPTH})]\n"
        f"ts = [threading.Thread(target=chain) for _ in range({CHAINS})]\n"
        "[t.start() for t in ts]; [t.join() for t in ts]\n"
    )
    total = timed([sys.executable, "-c", script], work, repeat=3)
    single = timed(
        [sys.executable, "-c", "import subprocess, sys; subprocess.run([sys.executable, '-c', 'pass'])"], work
    )
    return Row("bare python", "python -c pass per step", CHAINS * DEPTH, total, single, "process-start floor")


def bench_startup(work: Path) -> list[tuple[str, float]]:
    (work / "valid.yaml").write_text(scanflow_yaml("script", CHAINS, DEPTH))
    return [
        ("scanflow --help", timed([*SCANFLOW, "--help"], work, repeat=10)),
        ("scanflow validate (100 steps)", timed([*SCANFLOW, "validate", "valid.yaml"], work, repeat=10)),
    ]


# ------------------------------------------------------------------- peers
PREFECT_FLOW = """
import sys, time
from prefect import flow, task

@task
def noop(i):
    return None

@flow
def dag(chains: int, depth: int):
    started = time.perf_counter()
    ends = []
    for c in range(chains):
        previous = None
        for d in range(depth):
            previous = noop.submit(d, wait_for=[previous] if previous else [])
        ends.append(previous)
    for future in ends:
        future.result()
    print(f"IN_FLOW {time.perf_counter() - started}")

if __name__ == "__main__":
    dag(int(sys.argv[1]), int(sys.argv[2]))
"""


def bench_prefect(work: Path, repeat: int) -> Row:
    python = peer_python("prefect", ["prefect>=3,<4"])
    folder = work / "prefect"
    folder.mkdir()
    (folder / "dag.py").write_text(PREFECT_FLOW)
    env = {**os.environ, "PREFECT_HOME": str(folder / ".prefect"), "PREFECT_LOGGING_LEVEL": "WARNING"}
    subprocess.run(
        [str(python), "dag.py", "1", "1"], cwd=folder, env=env, capture_output=True
    )  # create its DB
    total = timed([str(python), "dag.py", str(CHAINS), str(DEPTH)], folder, env, repeat)
    single = timed([str(python), "dag.py", "1", "1"], folder, env, repeat)
    version = subprocess.run(
        [str(python), "-c", "import prefect; print(prefect.__version__)"], capture_output=True, text=True
    ).stdout.strip()
    return Row(
        "prefect", f"{version}, tasks in a flow", CHAINS * DEPTH, total, single, "ephemeral local server"
    )


def metaflow_source(chains: int, depth: int) -> str:
    lines = [
        "from metaflow import FlowSpec, step",
        "",
        "class Dag(FlowSpec):",
        "    @step",
        "    def start(self):",
    ]
    heads = ", ".join(f"self.c{c}_0" for c in range(chains))
    lines.append(f"        self.next({heads})")
    for c in range(chains):
        for d in range(depth):
            following = f"self.c{c}_{d + 1}" if d + 1 < depth else "self.join"
            lines += ["    @step", f"    def c{c}_{d}(self):", f"        self.next({following})"]
    joined = "self, inputs" if chains > 1 else "self"  # a join needs a split before it
    lines += [
        "    @step",
        f"    def join({joined}):",
        "        self.next(self.end)",
        "    @step",
        "    def end(self):",
        "        pass",
        "",
        "if __name__ == '__main__':",
        "    Dag()",
    ]
    return "\n".join(lines) + "\n"


def bench_metaflow(work: Path, repeat: int) -> Row:
    python = peer_python("metaflow", ["metaflow"])
    folder = work / "metaflow"
    folder.mkdir()
    (folder / "dag.py").write_text(metaflow_source(CHAINS, DEPTH))
    (folder / "one.py").write_text(metaflow_source(1, 1))
    env = {**os.environ, "USERNAME": "bench", "METAFLOW_DEFAULT_DATASTORE": "local"}
    command = ["run", "--max-workers", str(CHAINS)]
    total = timed([str(python), "dag.py", *command], folder, env, repeat)
    single = timed([str(python), "one.py", *command], folder, env, repeat)
    version = subprocess.run(
        [str(python), "-c", "import metaflow; print(metaflow.__version__)"], capture_output=True, text=True
    ).stdout.strip()
    row = Row(
        "metaflow", f"{version}, local", CHAINS * DEPTH + 3, total, single, "103 steps with start/join/end", 4
    )
    return row


# ------------------------------------------------------------------- report
def compile_scanflow() -> None:
    """Write Scanflow's bytecode, as ``pip install`` does.

    An editable checkout run with PYTHONDONTWRITEBYTECODE set would compile
    every module on every start: 0.06-0.12 s that no installed copy pays.
    """
    import scanflow

    compileall.compile_dir(Path(scanflow.__file__).parent, quiet=1)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--no-peers", action="store_true", help="skip Prefect and Metaflow")
    args = parser.parse_args()
    console = Console()
    compile_scanflow()
    work = Path(tempfile.mkdtemp(prefix="scanflow-bench-"))
    env_cache = work / "envs"
    os.environ["SCANFLOW_ENV_CACHE"] = str(env_cache)
    try:
        with console.status("measuring Scanflow..."):
            rows = bench_scanflow(work, args.repeat)
            floor = bench_bare(work)
            startup = bench_startup(work)
        rows.append(floor)
        if not args.no_peers:
            for name, bench in (("Prefect", bench_prefect), ("Metaflow", bench_metaflow)):
                with console.status(f"measuring {name}..."):
                    try:
                        rows.append(bench(work, args.repeat))
                    except Exception as error:  # a peer that cannot run here is reported, not fatal
                        console.print(f"[yellow]{name} skipped:[/] {error}")
        report(console, rows, startup, floor)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(console: Console, rows: list[Row], startup: list[tuple[str, float]], floor: Row) -> None:
    reference = next(
        r for r in rows if r.tool == "scanflow" and r.mode.startswith("script") and "MLflow" in r.mode
    )
    table = Table(
        title=f"{CHAINS} x {DEPTH} DAG of trivial steps, whole command from a cold process (median)"
    )
    for column in (
        "tool",
        "mode",
        "100-step DAG",
        "1-step DAG",
        "per step",
        "x floor",
        "vs scanflow",
        "note",
    ):
        table.add_column(column, justify="left" if column in ("tool", "mode", "note") else "right")
    for row in rows:
        ratio = row.total / reference.total
        table.add_row(
            row.tool,
            row.mode,
            f"{row.total:.2f} s",
            f"{row.single:.2f} s",
            f"{row.per_step_ms:.1f} ms",
            f"{row.per_step_ms / floor.per_step_ms:.1f}",
            f"{ratio:.1f}x",
            row.note,
        )
    console.print(table)
    for label, seconds in startup:
        console.print(f"{label}: {seconds * 1000:.0f} ms")
    fn = {r.mode: r for r in rows if r.tool == "scanflow"}
    targets = [
        ("script-step overhead <= 15 ms (untracked)", fn["script steps, --no-track"].per_step_ms <= 15),
        ("function-step overhead <= 2 ms (untracked)", fn["function steps, --no-track"].per_step_ms <= 2),
        ("whole tracked run of the DAG < 3 s", fn["script steps, tracked in MLflow"].total < 3),
        ("--help and validate < 0.3 s", all(s < 0.3 for _, s in startup)),
    ]
    for label, met in targets:
        console.print(f"{'[green]met[/]' if met else '[red]missed[/]'}  {label}")


if __name__ == "__main__":
    main()
