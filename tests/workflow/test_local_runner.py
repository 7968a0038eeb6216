"""The local runner: processes, data exchange, parallel limits, failures, retries, timeouts."""

from __future__ import annotations

import time
from pathlib import Path

import psutil
import pytest

from scanflow import Executor, Workflow
from scanflow.run.capacity import Capacity, CapacityError
from scanflow.run.local import LocalBackend
from scanflow.run.status import RunStatus, StepStatus

from .runs import max_overlap, quiet_console, read_json, run

TIMED_STEP = """
import json, os, sys, time
from pathlib import Path

def timed(name, seconds=0.4):
    start = time.time()
    time.sleep(seconds)
    Path("times").mkdir(exist_ok=True)
    Path("times", name + ".json").write_text(json.dumps([start, time.time()]))
"""


def intervals(data_dir: Path) -> list[tuple[float, float]]:
    return [tuple(read_json(p)) for p in sorted((data_dir / "times").glob("*.json"))]


def test_scripts_get_parameters_and_share_the_data_directory(write) -> None:
    write(
        "produce.py",
        """
        import argparse, json, os
        p = argparse.ArgumentParser()
        p.add_argument("--rows", type=int); p.add_argument("--scale", type=float)
        p.add_argument("--flag"); p.add_argument("--items")
        a = p.parse_args()
        json.dump({"rows": a.rows, "scale": a.scale, "flag": a.flag, "items": json.loads(a.items),
                   "cwd": os.getcwd(), "data_dir": os.environ["SCANFLOW_DATA_DIR"]}, open("made.json", "w"))
        print("produced")
        """,
    )
    write(
        "consume.py",
        "import json; d = json.load(open('made.json')); open('seen.txt', 'w').write(str(d['rows']))\n",
    )
    workflow = Workflow(
        "exchange",
        env_manager="current",
        nodes=[
            Executor(
                "produce",
                file="produce.py",
                parameters={"rows": 3, "scale": 0.5, "flag": True, "items": [1, 2]},
            ),
            Executor("consume", file="consume.py"),
        ],
    )
    result = run(workflow)
    assert result.ok
    made = read_json(result.data_dir / "made.json")
    assert made["rows"] == 3 and made["scale"] == 0.5 and made["flag"] == "true" and made["items"] == [1, 2]
    assert Path(made["cwd"]) == result.data_dir and Path(made["data_dir"]) == result.data_dir
    assert (result.data_dir / "seen.txt").read_text() == "3"
    assert "produced" in Path(result.steps["produce"].log_path).read_text()


def test_function_steps_get_keyword_arguments(write) -> None:
    write(
        "steps.py",
        """
        import os
        def make(n, label="x"):
            print("making", n)
            open("made.txt", "w").write(label * n)
            return {"made": n}
        """,
    )
    workflow = Workflow(
        "fn",
        env_manager="current",
        nodes=[Executor("make", function="steps:make", parameters={"n": 3, "label": "ab"})],
    )
    result = run(workflow)
    assert result.raise_for_status() is result, "a run that succeeded passes through"
    assert (result.data_dir / "made.txt").read_text() == "ababab"
    assert "making 3" in result.log("make")
    with pytest.raises(ValueError, match="was not tracked"):
        result.metrics()
    assert "make (done)" in result._repr_svg_(), "in Jupyter: the run's picture"


def test_a_function_that_raises_fails_with_its_traceback(write) -> None:
    write("steps.py", "def boom():\n    raise ValueError('bad value 42')\n")
    result = run(Workflow("fn", env_manager="current", nodes=[Executor("boom", function="steps:boom")]))
    record = result.steps["boom"]
    assert record.status is StepStatus.FAILED and record.exit_code == 1
    log = Path(record.log_path).read_text()
    assert "ValueError: bad value 42" in log and "Traceback" in log
    assert "function_worker" not in log, "the traceback starts in the step's own code"


@pytest.mark.parametrize(
    ("function", "parameters", "message"),
    [
        ("steps:mkae", {}, "steps.py has no 'mkae'; it defines make"),
        ("stpes:make", {}, "no module named 'stpes' next to the workflow file"),
        ("steps:make", {"m": 1}, "takes (n, label='x'), which does not fit the step's parameters ['m']"),
        ("steps:LIMIT", {}, "'LIMIT' is not a function (it is int)"),
    ],
)
def test_a_function_step_the_workflow_names_wrongly_says_what_is_wrong(
    write, function: str, parameters: dict, message: str
) -> None:
    write("steps.py", "LIMIT = 3\ndef make(n, label='x'):\n    return {'n': n}\n")
    step = Executor("make", function=function, parameters=parameters)
    result = run(Workflow("fn", env_manager="current", nodes=[step]))
    record = result.steps["make"]
    assert record.status is StepStatus.FAILED
    log = Path(record.log_path).read_text()
    assert f"error: function '{function}'" in log and message in log
    assert "Traceback" not in log


def test_max_parallel_bounds_concurrency(write) -> None:
    write("steps.py", TIMED_STEP)
    nodes = [Executor(f"s{i}", function="steps:timed", parameters={"name": f"s{i}"}) for i in range(6)]
    result = run(Workflow("par", parallel=True, env_manager="current", nodes=nodes), max_parallel=2)
    assert result.ok
    assert max_overlap(intervals(result.data_dir)) == 2


def test_declared_cpu_and_memory_never_exceed_the_host(write) -> None:
    write("steps.py", TIMED_STEP)
    host = Capacity(cpu=4, memory=1024**3)
    cpu_heavy = [
        Executor(f"c{i}", function="steps:timed", parameters={"name": f"c{i}"}, resources={"cpu": 2})
        for i in range(4)
    ]
    result = run(
        Workflow("cpu", parallel=True, env_manager="current", nodes=cpu_heavy),
        backend=LocalBackend(capacity=host),
    )
    assert result.ok and max_overlap(intervals(result.data_dir)) == 2

    memory_heavy = [
        Executor(
            f"m{i}",
            function="steps:timed",
            parameters={"name": f"m{i}"},
            resources={"cpu": 0.5, "memory": "600Mi"},
        )
        for i in range(3)
    ]
    result = run(
        Workflow("mem", parallel=True, env_manager="current", nodes=memory_heavy),
        backend=LocalBackend(capacity=host),
    )
    assert result.ok and max_overlap(intervals(result.data_dir)) == 1


def test_a_step_larger_than_the_machine_is_refused_before_running(project) -> None:
    workflow = Workflow(
        "big", nodes=[Executor("huge", function="m:f", resources={"cpu": 64, "memory": "10Ti"})]
    )
    with pytest.raises(CapacityError) as caught:
        run(workflow, backend=LocalBackend(capacity=Capacity(cpu=2, memory=8 * 1024**3)))
    assert "asks for 64 CPUs but this machine has 2" in str(caught.value)
    assert "10Ti of memory" in str(caught.value)
    assert not (project / ".scanflow" / "runs").exists()


def test_failure_skips_dependents_and_independent_branches_go_on(write) -> None:
    write("ok.py", "print('fine')\n")
    write("bad.py", "import sys; print('about to fail'); sys.exit(3)\n")
    workflow = Workflow(
        "branches",
        env_manager="current",
        nodes=[
            Executor("bad", file="bad.py"),
            Executor("after_bad", file="ok.py", depends_on=["bad"]),
            Workflow("later", depends_on=["after_bad"], nodes=[Executor("deep", file="ok.py")]),
            Executor("independent", file="ok.py"),
            Executor("after_independent", file="ok.py", depends_on=["independent"]),
        ],
    )
    result = run(workflow)
    assert result.status is RunStatus.FAILED
    steps = result.steps
    assert steps["bad"].status is StepStatus.FAILED and steps["bad"].exit_code == 3
    assert steps["bad"].reason == "exit code 3"
    assert steps["after_bad"].status is StepStatus.SKIPPED and "'bad' failed" in steps["after_bad"].reason
    assert steps["later/deep"].status is StepStatus.SKIPPED
    assert steps["independent"].status is StepStatus.DONE
    assert steps["after_independent"].status is StepStatus.DONE


def test_a_failed_step_shows_its_last_log_lines(write) -> None:
    write("bad.py", "import sys\nfor i in range(30): print('line', i)\nsys.exit(2)\n")
    console = quiet_console()
    result = run(
        Workflow("w", env_manager="current", nodes=[Executor("bad", file="bad.py")]), console=console
    )
    shown = console.file.getvalue()
    assert "bad failed: exit code 2" in shown
    assert "line 29" in shown and "line 5" not in shown.split("bad failed")[1]
    assert result.steps["bad"].log_path in shown.replace("\n", "")


def test_fail_fast_stops_everything(write) -> None:
    write("bad.py", "import sys, time; time.sleep(0.3); sys.exit(1)\n")
    write("slow.py", "import time; time.sleep(30)\n")
    workflow = Workflow(
        "ff",
        parallel=True,
        env_manager="current",
        nodes=[
            Executor("bad", file="bad.py"),
            Executor("slow", file="slow.py"),
            Executor("later", file="slow.py", depends_on=["slow"]),
        ],
    )
    started = time.time()
    result = run(workflow, fail_fast=True)
    assert time.time() - started < 15
    assert result.steps["bad"].status is StepStatus.FAILED
    assert result.steps["slow"].status is StepStatus.CANCELLED
    assert result.steps["later"].status is StepStatus.CANCELLED
    assert result.status is RunStatus.FAILED


def test_retries_with_backoff(write) -> None:
    write(
        "flaky.py",
        """
        import sys, time
        from pathlib import Path
        tries = Path("tries.txt")
        with tries.open("a") as f: f.write(f"{time.time()}\\n")
        sys.exit(0 if len(tries.read_text().split()) >= 3 else 1)
        """,
    )
    result = run(
        Workflow(
            "r", env_manager="current", nodes=[Executor("flaky", file="flaky.py", retries=2, retry_delay=0.2)]
        )
    )
    assert result.ok and result.steps["flaky"].attempts == 3
    times = [float(t) for t in (result.data_dir / "tries.txt").read_text().split()]
    assert times[1] - times[0] >= 0.2 and times[2] - times[1] >= 0.4, "the delay doubles after each failure"

    (Path.cwd() / "flaky.py").write_text("import sys; sys.exit(1)\n")
    result = run(
        Workflow(
            "r",
            env_manager="current",
            nodes=[Executor("flaky", file="flaky.py", retries=1, retry_delay=0.05)],
        )
    )
    assert result.steps["flaky"].status is StepStatus.FAILED and result.steps["flaky"].attempts == 2
    assert "attempt 2 of 2" in Path(result.steps["flaky"].log_path).read_text()


def test_timeout_kills_the_whole_process_tree(write) -> None:
    write(
        "hang.py",
        """
        import os, subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        open("pids.txt", "w").write(f"{os.getpid()} {child.pid}")
        time.sleep(120)
        """,
    )
    started = time.time()
    result = run(Workflow("t", env_manager="current", nodes=[Executor("hang", file="hang.py", timeout=1.5)]))
    assert time.time() - started < 20
    record = result.steps["hang"]
    assert record.status is StepStatus.FAILED and record.reason == "timed out after 1.5s"
    for pid in map(int, (result.data_dir / "pids.txt").read_text().split()):
        assert _gone(pid), f"process {pid} of the timed-out step is still running"


def test_a_declared_output_that_is_not_written_fails_the_step(write) -> None:
    write("lazy.py", "print('forgot to write')\n")
    result = run(
        Workflow("o", env_manager="current", nodes=[Executor("lazy", file="lazy.py", outputs=["model.bin"])])
    )
    assert result.steps["lazy"].status is StepStatus.FAILED
    assert result.steps["lazy"].reason == "declared output not written: model.bin"


def test_a_declared_input_that_is_not_there_fails_the_step_before_it_starts(write) -> None:
    write("step.py", "open('ran.txt', 'w').write('ran')\n")
    write("producer.py", "open('features.csv', 'w').write('x\\n1\\n')\n")
    steps = [
        Executor("early", file="step.py", inputs=["features.csv"]),  # forgot depends_on: [producer]
        Executor("orphan", file="step.py", inputs=["labels.csv"]),
        Executor("after", file="step.py", depends_on=["orphan"]),
        Executor("producer", file="producer.py", outputs=["features.csv"]),
    ]
    result = run(Workflow("i", parallel=True, env_manager="current", nodes=steps), max_parallel=1)
    early, orphan = result.steps["early"], result.steps["orphan"]
    assert early.status is StepStatus.FAILED and orphan.status is StepStatus.FAILED
    assert early.reason == (
        "declared input not in the data directory: features.csv ('producer' writes it;"
        " make 'early' depend on it)"
    )
    assert orphan.reason == "declared input not in the data directory: labels.csv (no step writes it)"
    assert early.log_path is None and not (result.data_dir / "ran.txt").exists(), "neither step started"
    assert result.steps["after"].status is StepStatus.SKIPPED


def test_steps_left_running_in_the_background_are_stopped(write) -> None:
    write(
        "daemon.py",
        """
        import subprocess, sys
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        open("pid.txt", "w").write(str(child.pid))
        """,
    )
    result = run(Workflow("d", env_manager="current", nodes=[Executor("daemon", file="daemon.py")]))
    assert result.ok
    assert _gone(int((result.data_dir / "pid.txt").read_text()))


def _gone(pid: int, wait: float = 5.0) -> bool:
    deadline = time.time() + wait
    while time.time() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


class RefusingBackend(LocalBackend):
    """Failure injection: the backend cannot start step 'b' (a full disk, a name taken, a daemon gone)."""

    def start(self, launch, on_exit):  # noqa: ANN001, ANN201
        if launch.step.key == "b":
            raise RuntimeError("no room for b")
        return super().start(launch, on_exit)


def test_a_step_the_backend_cannot_start_fails_the_run(write) -> None:
    write("ok.py", "print('ok')\n")
    workflow = Workflow(
        "refused",
        env_manager="current",
        nodes=[
            Executor("a", file="ok.py"),
            Executor("b", file="ok.py", depends_on=["a"], retries=1, retry_delay=0.01),
            Executor("c", file="ok.py", depends_on=["b"]),
        ],
    )
    result = run(workflow, backend=RefusingBackend())
    assert result.status is RunStatus.FAILED, "a step that never started is no success"
    b = result.steps["b"]
    assert (b.status, b.reason, b.attempts) == (StepStatus.FAILED, "could not start: no room for b", 2)
    assert result.steps["c"].status is StepStatus.SKIPPED


@pytest.mark.parametrize("terminal", [False, True], ids=["pipe", "terminal"])
def test_a_chatty_step_streams_every_line_exactly_once(write, terminal: bool) -> None:
    import io

    from rich.console import Console

    write("chatty.py", "for i in range(30000):\n    print('line', i)\n")
    console = Console(file=io.StringIO(), width=120, force_terminal=terminal, color_system=None)
    started = time.time()
    result = run(
        Workflow("chatty", env_manager="current", nodes=[Executor("talk", file="chatty.py")]),
        console=console,
        live=False,
    )
    assert result.ok
    streamed = [line for line in console.file.getvalue().splitlines() if line.startswith("talk │ line ")]
    assert streamed == [f"talk │ line {i}" for i in range(30000)], "in order, none lost, none twice"
    assert time.time() - started < 60


def test_a_large_runs_summary_lists_what_needs_attention_and_counts_the_rest(write) -> None:
    write("steps.py", "def ok():\n    return {}\n\ndef bad():\n    raise ValueError('no')\n")
    nodes = [Executor(f"s{i}", function="steps:ok") for i in range(44)]
    console = quiet_console()
    assert run(Workflow("many", env_manager="current", nodes=nodes), console=console).ok
    assert "all 44 steps succeeded" in console.file.getvalue(), "not an empty table"
    console = quiet_console()
    nodes.append(Executor("broken", function="steps:bad"))
    assert not run(Workflow("many", env_manager="current", nodes=nodes), console=console).ok
    end = console.file.getvalue().split("many run ")[-1]
    assert "broken" in end and "ValueError" in end and "and 44 more steps that succeeded" in end
    assert "s3 " not in end


def test_a_step_that_dies_of_an_exception_is_reported_with_its_error_line(write) -> None:
    write("boom.py", "raise KeyError('customer_id')\n")
    write("quits.py", "import sys\nprint('ValueError: only printed')\nsys.exit(2)\n")
    write("steps.py", "def bad():\n    raise ValueError('the input has no rows')\n")
    write("stops.py", "import sys\nprint('checking')\nsys.exit('error: the table has no id column')\n")
    nodes = [
        Executor("script", file="boom.py"),
        Executor("function", function="steps:bad"),
        Executor("quits", file="quits.py"),
        Executor("stops", file="stops.py"),
    ]
    result = run(Workflow("errors", env_manager="current", parallel=True, nodes=nodes))
    steps = result.steps
    assert steps["script"].reason == "exit code 1: KeyError: 'customer_id'"
    assert steps["function"].reason == "exit code 1: ValueError: the input has no rows"
    assert steps["quits"].reason == "exit code 2", "no traceback: nothing to quote"
    assert steps["stops"].reason == "exit code 1: the table has no id column"
