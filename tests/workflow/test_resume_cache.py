"""`scanflow resume` reruns only what did not succeed; the step cache skips unchanged steps."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest

from scanflow import Executor, SpecError, Workflow
from scanflow.run.cache import StepCache
from scanflow.run.state import RunStore
from scanflow.run.status import RunStatus, StepStatus

from .runs import quiet_console, resume, run

COUNTING = """
import os, sys
import threading
from pathlib import Path
name = sys.argv[sys.argv.index("--name") + 1]
counts = Path(os.environ["SCANFLOW_WORKFLOW_DIR"]) / "counts"
counts.mkdir(exist_ok=True)
(counts / name).open("a").write("x")
if Path(os.environ["SCANFLOW_WORKFLOW_DIR"], "broken-" + name).exists():
    sys.exit(f"{name} is broken")
Path(name + ".out").write_text(name)
"""


def runs_of(name: str) -> int:
    path = Path("counts") / name
    return len(path.read_text()) if path.exists() else 0


def counting_workflow() -> Workflow:
    def step(name: str, **kw) -> Executor:
        return Executor(name, file="count.py", parameters={"name": name}, **kw)

    return Workflow(
        "resumable",
        env_manager="current",
        nodes=[
            step("first"),
            Workflow("middle", depends_on=["first"], parallel=True, nodes=[step("left"), step("right")]),
            step("last", depends_on=["middle"]),
        ],
    )


def test_resume_reruns_only_failed_and_skipped_steps(write) -> None:
    write("count.py", COUNTING)
    write("broken-right", "")
    first = run(counting_workflow())
    assert first.status is RunStatus.FAILED
    assert first.steps["middle/right"].status is StepStatus.FAILED
    assert first.steps["last"].status is StepStatus.SKIPPED

    Path("broken-right").unlink()  # the user fixes the problem
    second = resume(first.run_id[:12])
    assert second.ok and second.run_id == first.run_id
    assert {k: runs_of(k.split("/")[-1]) for k in second.steps} == {
        "first": 1,
        "middle/left": 1,
        "middle/right": 2,
        "last": 1,
    }
    assert (second.data_dir / "last.out").exists() and (second.data_dir / "first.out").exists()

    third = resume(first.run_id)
    assert third.ok and runs_of("last") == 1, "a finished run has nothing to resume"


def test_targets_run_only_what_they_need_and_a_resume_runs_the_rest(write) -> None:
    write("count.py", COUNTING)
    partial = run(counting_workflow(), targets=["middle/left"])
    assert partial.ok and list(partial.steps) == ["first", "middle/left"], "the target and its upstream"
    assert (runs_of("first"), runs_of("left"), runs_of("right"), runs_of("last")) == (1, 1, 0, 0)

    rest = resume(partial.run_id)
    assert rest.ok and (runs_of("first"), runs_of("left"), runs_of("right"), runs_of("last")) == (1, 1, 1, 1)

    nested = run(counting_workflow(), targets=["middle"])
    assert list(nested.steps) == ["first", "middle/left", "middle/right"], "a nested workflow: all of it"
    with pytest.raises(SpecError, match="no step or nested workflow 'midle' to run \\(did you mean 'middle'"):
        run(counting_workflow(), targets=["midle"])


def test_a_resumed_failure_shows_its_own_output_and_time(write) -> None:
    write(
        "fail.py",
        """
        import os, time
        attempt = len(open("tries").read()) if os.path.exists("tries") else 0
        open("tries", "a").write("x")
        time.sleep(1.0 if attempt == 0 else 0)
        raise SystemExit(f"broken on try {attempt + 1}")
        """,
    )
    workflow = Workflow("again", env_manager="current", nodes=[Executor("fail", file="fail.py")])
    first = run(workflow)
    assert first.status is RunStatus.FAILED

    console = quiet_console()
    second = resume(first.run_id, console=console)
    shown = console.file.getvalue()
    assert "broken on try 2" in shown
    assert "broken on try 1" not in shown, "the panel shows this attempt, not the log's history"
    took = re.search(r"again run \S+: failed in (\d+ms|0\.\ds)\b", shown)
    assert took, "the resume's own time, under a second, not counted from the first run (1 s and more)"
    log = Path(second.steps["fail"].log_path).read_text()
    assert log.index("broken on try 1") < log.index("--- attempt 1 of 1, resume #1 ---") < log.index("try 2")


EDITABLE = """
name: editable
env_manager: current
nodes:
  - {executor: first, file: count.py, parameters: {name: first}}
  - {executor: second, file: count.py, parameters: {name: second}, depends_on: [first]}
  - {executor: third, file: count.py, parameters: {name: third}, depends_on: [second]}
"""


def test_a_resume_takes_the_fixes_made_to_the_workflow_file(write) -> None:
    write("count.py", COUNTING + 'if "--extra" in sys.argv: Path("extra.out").write_text("yes")\n')
    write("broken-second", "")
    spec = write("wf.yaml", EDITABLE)
    first = run(spec)
    assert first.steps["second"].status is StepStatus.FAILED

    # The fix is in the file: 'second' gets a parameter that makes it succeed differently.
    Path("broken-second").unlink()
    spec.write_text(EDITABLE.replace("{name: second}", "{name: second, extra: 1}"))
    console = quiet_console()
    second = resume(first.run_id, console=console)
    assert second.ok
    assert (second.data_dir / "extra.out").read_text() == "yes", "the edited parameter reached the step"
    assert {name: runs_of(name) for name in ("first", "second", "third")} == {
        "first": 1,
        "second": 2,
        "third": 1,
    }
    assert "changed: 'second'" in console.file.getvalue()

    # A succeeded step that changes reruns with what depends on it; what it depends on does not.
    spec.write_text(EDITABLE.replace("{name: second}", "{name: second, extra: 2}"))
    third = resume(first.run_id)
    assert third.ok and {name: runs_of(name) for name in ("first", "second", "third")} == {
        "first": 1,
        "second": 3,
        "third": 2,
    }
    assert resume(first.run_id).ok and runs_of("second") == 3, "nothing changed since: nothing reruns"


def test_steps_added_to_or_removed_from_the_file_join_or_leave_the_run(write) -> None:
    write("count.py", COUNTING)
    spec = write("wf.yaml", EDITABLE)
    first = run(spec)
    assert first.ok
    third = "  - {executor: third, file: count.py, parameters: {name: third}, depends_on: [second]}\n"
    fourth = "  - {executor: fourth, file: count.py, parameters: {name: fourth}}\n"
    assert third in EDITABLE
    spec.write_text(EDITABLE.replace(third, fourth))
    second = resume(first.run_id)
    assert second.ok and runs_of("fourth") == 1 and runs_of("first") == 1
    assert set(second.steps) == {"first", "second", "fourth"}, "'third' left the run"


def test_a_workflow_changed_in_python_after_reading_its_file_resumes_as_it_ran(write) -> None:
    write("count.py", COUNTING)
    write("broken-third", "")
    workflow = Workflow.from_yaml(write("wf.yaml", EDITABLE))
    workflow.nodes[1].parameters["extra"] = 1  # not in the file
    first = run(workflow)
    assert first.steps["third"].status is StepStatus.FAILED
    Path("broken-third").unlink()
    assert resume(first.run_id).ok
    assert runs_of("second") == 1, "the file's 'second' differs from the one that ran, yet it is no edit"


def test_original_resumes_the_run_as_it_was_and_a_broken_file_says_so(write) -> None:
    write("count.py", COUNTING)
    write("broken-second", "")
    spec = write("wf.yaml", EDITABLE)
    first = run(spec)
    Path("broken-second").unlink()
    spec.write_text("name: editable\nnodes: [")  # saved half-edited
    with pytest.raises(SpecError) as caught:
        resume(first.run_id)
    assert "YAML syntax error" in str(caught.value) and "--original" in str(caught.value)
    assert resume(first.run_id, original=True).ok, "the run's own copy of the workflow"
    spec.unlink()
    console = quiet_console()
    resume(first.run_id, console=console)
    assert "wf.yaml is gone: resuming the workflow as the run had it" in console.file.getvalue()

    spec.write_text(EDITABLE.replace("name: editable", "name: other"))
    with pytest.raises(SpecError, match="now defines workflow 'other', but run .* is of 'editable'"):
        resume(first.run_id)


def test_resume_of_an_unknown_run_names_recent_runs(write) -> None:
    write("count.py", COUNTING)
    done = run(counting_workflow())
    try:
        resume("does-not-exist")
    except LookupError as error:
        assert "no run 'does-not-exist'" in str(error) and done.run_id in str(error)
    else:
        raise AssertionError("resume of an unknown run must fail")


CACHED = """
import json, os, sys
import threading
from pathlib import Path
scale = float(sys.argv[sys.argv.index("--scale") + 1])
Path(os.environ["SCANFLOW_WORKFLOW_DIR"], "calls").open("a").write("x")
data = json.loads(Path("input.json").read_text())
Path("out").mkdir(exist_ok=True)
Path("out/result.json").write_text(json.dumps([v * scale for v in data]))
"""


def cached_workflow(scale: float) -> Workflow:
    return Workflow(
        "cached",
        env_manager="current",
        nodes=[
            Executor("source", function="source:write"),
            Executor(
                "compute",
                file="compute.py",
                parameters={"scale": scale},
                inputs=["input.json"],
                outputs=["out/result.json"],
                cache=True,
            ),
        ],
    )


def test_cache_hit_skips_the_step_and_restores_its_outputs(write) -> None:
    write("compute.py", CACHED)
    write("source.py", "import json\ndef write():\n    json.dump([1, 2, 3], open('input.json', 'w'))\n")
    first = run(cached_workflow(2.0))
    assert first.steps["compute"].status is StepStatus.DONE
    second = run(cached_workflow(2.0))
    assert second.steps["compute"].status is StepStatus.CACHED
    assert Path("calls").read_text() == "x", "a cache hit must not run the step"
    assert (second.data_dir / "out/result.json").read_text() == "[2.0, 4.0, 6.0]"

    third = run(cached_workflow(3.0))  # a parameter changed: miss
    assert third.steps["compute"].status is StepStatus.DONE and Path("calls").read_text() == "xx"

    write("source.py", "import json\ndef write():\n    json.dump([5], open('input.json', 'w'))\n")
    fourth = run(cached_workflow(3.0))  # an input changed: miss
    assert fourth.steps["compute"].status is StepStatus.DONE
    assert (fourth.data_dir / "out/result.json").read_text() == "[15.0]"

    write("compute.py", CACHED + "\n# a code change\n")
    fifth = run(cached_workflow(3.0))  # the code changed: miss
    assert fifth.steps["compute"].status is StepStatus.DONE and Path("calls").read_text() == "xxxx"


def test_steps_without_cache_always_run(write) -> None:
    write("compute.py", CACHED)
    write("source.py", "import json\ndef write():\n    json.dump([1], open('input.json', 'w'))\n")
    workflow = cached_workflow(1.0)
    workflow.nodes[1].cache = False
    run(workflow)
    run(workflow)
    assert Path("calls").read_text() == "xx"


def test_the_latest_run_is_the_one_started_last_even_within_one_second(project) -> None:
    store = RunStore(project / ".scanflow" / "runs")
    started = [store.create("w", "name: w\n", project, "local") for _ in range(6)]
    for state in started:
        state.save()
    assert store.recent(1)[0].name == started[-1].run_id, "ids of one second end in random letters"


def test_runs_storing_the_same_step_outputs_at_once_leave_one_complete_entry(project) -> None:
    data = project / "data"
    (data / "out").mkdir(parents=True)
    (data / "out" / "model.bin").write_bytes(b"weights" * 1000)
    cache = StepCache(project / ".scanflow" / "cache")
    start, failures = threading.Barrier(6), []

    def store() -> None:
        start.wait()
        try:
            for _ in range(10):
                cache.store("samekey", ["out/model.bin"], data, {"run_id": "r"})
        except Exception as error:  # what the test looks for
            failures.append(repr(error))

    runs = [threading.Thread(target=store) for _ in range(6)]
    for thread in runs:
        thread.start()
    for thread in runs:
        thread.join(timeout=60)
    assert failures == []
    entry = cache.lookup("samekey", ["out/model.bin"])
    assert entry is not None and (entry / "outputs/out/model.bin").read_bytes() == b"weights" * 1000
    assert [p.name for p in cache.root.iterdir()] == ["samekey"], "no staging copies left behind"
