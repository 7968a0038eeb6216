"""Runs whose Scanflow process was killed (``kill -9``, a closed laptop, an OOM kill).

Nothing then records the end of the run. Its lifeline (``lifeline.py``) stops
the steps' processes, each in a session of its own; should it be killed too,
they go on without anyone to wait for them. Every run notes
which process runs it and every step which process it started, both with
their start times so a recycled pid is never taken for them. A run whose
process is gone while it says "running" was interrupted: listing says so,
and resuming first stops what its steps left running, so two copies of a
step never write the same outputs.
"""

from __future__ import annotations

import os
import signal
import socket
from typing import Any

from scanflow.run.processes import kill_tree
from scanflow.run.state import RunState, mark_unfinished
from scanflow.run.status import RunStatus, StepStatus

INTERRUPTED = "interrupted"  # how a listing shows a run nobody runs any more
_SAME_START = 1.0  # seconds: create times of one process agree to well within this


class RunInProgress(RuntimeError):
    """A run (or several) is still being run by a live Scanflow process; the message names it."""


def process_ref(pid: int | None = None) -> dict[str, Any] | None:
    """``pid`` (default: this process) with its start time, or None when it is already gone."""
    import psutil

    pid = os.getpid() if pid is None else pid
    try:
        return {"pid": pid, "started": psutil.Process(pid).create_time(), "host": socket.gethostname()}
    except psutil.Error:
        return None


def _here(ref: dict[str, Any] | None) -> bool:
    """Whether ``ref`` names a process of this machine (a project folder may be shared)."""
    if not ref:
        return False
    return ref.get("host", socket.gethostname()) == socket.gethostname()


def is_alive(ref: dict[str, Any] | None) -> bool:
    """Whether the very process ``ref`` names still runs (not another one that got its pid)."""
    if not ref:
        return False
    import psutil

    try:
        process = psutil.Process(int(ref["pid"]))
        same = abs(process.create_time() - float(ref["started"])) < _SAME_START
        return same and process.status() != psutil.STATUS_ZOMBIE
    except (psutil.Error, KeyError, TypeError, ValueError):
        return False


def stop_if_alive(ref: dict[str, Any] | None) -> bool:
    """Kill the very process ``ref`` names, with its tree, if it still runs; whether it did."""
    if ref is None or not is_alive(ref):
        return False
    kill_tree(int(ref["pid"]), signal.SIGKILL)
    return True


def in_progress(state: RunState) -> bool:
    """A run a live Scanflow process of this machine is running now."""
    return state.status is RunStatus.RUNNING and _here(state.owner) and is_alive(state.owner)


def interrupted(state: RunState) -> bool:
    """A run that says it is running while the process running it (on this machine) is gone."""
    return state.status is RunStatus.RUNNING and _here(state.owner) and not is_alive(state.owner)


def settle_interrupted(state: RunState) -> list[str]:
    """Before resuming ``state``: refuse a run still in progress, or close an interrupted one.

    Closing stops the processes its unfinished steps left running and records
    those steps as cancelled, so the resume reruns them. Returns what it did.
    """
    if state.status is not RunStatus.RUNNING or not _here(state.owner):
        return []  # finished, or run from another machine: nothing here to check or stop
    if in_progress(state):
        pid = state.owner["pid"]
        raise RunInProgress(
            f"run {state.run_id} is still running in process {pid}: wait for it to end, or stop it"
            f" (Ctrl-C in its terminal, or kill -INT {pid}) and resume then"
        )
    notes = [f"run {state.run_id} was interrupted: its Scanflow process ({state.owner['pid']}) ended mid-run"]
    for record in state.steps.values():
        process = record.extra.get("process")
        if record.status is StepStatus.RUNNING and stop_if_alive(process):
            notes.append(f"stopped what step '{record.key}' left running (process {process['pid']})")
    mark_unfinished(state, StepStatus.CANCELLED, "interrupted: the run's process ended before the step did")
    state.status = RunStatus.CANCELLED
    state.save()
    return notes
