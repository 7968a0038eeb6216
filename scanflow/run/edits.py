"""What changed in a workflow since a run, and so what a resume must rerun.

"Fix the failing steps, then resume" includes fixes to the workflow file: a
parameter, a requirement, a timeout. A resume therefore reads the file again.
A step reruns when it did not succeed, when its definition changed (or it is
new), and when anything upstream of it reruns, since its inputs may change.
Steps the file no longer has leave the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from scanflow.graph import Graph, Step
from scanflow.run.state import RunState
from scanflow.spec.errors import Problem, SpecError
from scanflow.spec.workflow import Workflow


@dataclass
class Edits:
    """How the workflow file differs from the workflow a run was started with."""

    file: Path | None = None  # the file read again; None when the run's own copy is used
    gone: Path | None = None  # the run's file, no longer there: its own copy is used instead
    changed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.changed or self.added or self.removed)

    def describe(self) -> str:
        parts = [
            f"{label} {', '.join(repr(key) for key in keys)}"
            for label, keys in (("changed:", self.changed), ("new:", self.added), ("removed:", self.removed))
            if keys
        ]
        return f"{self.file} changed since the run ({'; '.join(parts)})"


def source_file(workflow: Workflow, spec_yaml: str) -> str | None:
    """The file ``workflow`` was read from, when it still says exactly that workflow.

    A workflow read from a file and then changed in Python is not what the file
    says: a resume reading the file would undo those changes, so it keeps the
    run's own copy instead.
    """
    if not workflow.source or not Path(workflow.source).is_file():
        return None
    path = Path(workflow.source).resolve()
    try:
        on_disk = Workflow.from_yaml(path).to_yaml()
    except SpecError:
        return None
    return str(path) if on_disk == spec_yaml else None


def workflow_to_resume(state: RunState, original: bool = False) -> tuple[Workflow, Edits]:
    """The workflow a resume runs: the file as it is now, else the run's own copy.

    The run's copy is used with ``original``, for runs started from Python
    objects (no file), and when the file is gone.
    """
    kept = state.recorded_workflow()
    source = Path(state.spec_file) if state.spec_file else None
    if original or source is None:
        return kept, Edits()
    if not source.is_file():
        return kept, Edits(gone=source)
    try:
        current = Workflow.from_yaml(source)
        current.validate_spec()
    except SpecError as error:
        *others, last = error.problems
        fix = f"fix {source}, or resume the run as it was defined with --original"
        raise SpecError([*others, replace(last, hint=f"{last.hint}; {fix}" if last.hint else fix)]) from None
    if current.name != state.workflow:
        raise SpecError(
            [
                Problem(
                    f"{source} now defines workflow '{current.name}', but run {state.run_id} is of"
                    f" '{state.workflow}'",
                    hint="run it anew with `scanflow run`, or resume as the run was with --original",
                )
            ]
        )
    before, now = Graph.from_workflow(kept).steps, Graph.from_workflow(current).steps
    edits = Edits(
        source,
        changed=[k for k in now if k in before and _definition(now[k]) != _definition(before[k])],
        added=[k for k in now if k not in before],
        removed=[k for k in before if k not in now],
    )
    return current, edits


def steps_to_rerun(graph: Graph, state: RunState, edits: Edits) -> list[str]:
    """Keys of ``graph`` to run again, in graph order."""
    touched = {*edits.changed, *edits.added}
    for key in list(touched):
        touched |= graph.downstream(key)
    return [
        key
        for key in graph.steps
        if key in touched or key not in state.steps or not state.steps[key].status.succeeded
    ]


def _definition(step: Step) -> tuple[Any, ...]:
    """What makes a step the same step: its settings (workflow defaults applied) and its edges."""
    deployment = step.deployment.model_dump(mode="json") if step.deployment is not None else None
    return (step.executor.model_dump(mode="json"), sorted(step.upstream), step.workflows, deployment)
