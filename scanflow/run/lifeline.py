"""A watcher that stops what a run leaves running when its Scanflow process is killed.

Ctrl-C and SIGTERM stop every step of a run. ``kill -9``, the OOM killer or a
crashed notebook kernel give Scanflow no chance to, and each step process leads
a session of its own (so a Ctrl-C reaches only Scanflow): it would go on with
nobody to wait for it, as would a run's containers, services and tracker.

So each run starts a small watcher that holds the read end of a pipe only the
run's process writes to. The run tells it each step process it starts, and
``done`` when it ends. A pipe that closes without ``done`` means that process
died: the watcher stops the processes it was told of and removes the run's
containers, services, network and volumes. The run's records stay as they
were, so it is listed as interrupted and ``scanflow resume`` continues it.

The watcher imports nothing heavy until it has something to do, and it runs
in a session of its own, so the Ctrl-C that stops a run does not stop it.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

DONE = "done"
LOG_NAME = "lifeline.log"  # in the run's folder: what the watcher stopped, and when
_WATCHERS: list[subprocess.Popen] = []  # started by this process, not yet reaped


def _reap() -> None:
    """Collect the exit of watchers that ended, without waiting for those that have not."""
    _WATCHERS[:] = [watcher for watcher in _WATCHERS if watcher.poll() is None]


@atexit.register
def _reap_at_exit(timeout: float = 1.0) -> None:
    """Let watchers told "done" a moment to end, so none is left unreaped behind this process."""
    deadline = time.monotonic() + timeout
    for watcher in _WATCHERS:
        with contextlib.suppress(subprocess.TimeoutExpired):
            watcher.wait(timeout=max(0.0, deadline - time.monotonic()))
    _reap()


class Lifeline:
    """The run's end of the pipe: start the watcher, report step processes, say ``done``.

    Anything else that starts processes meant to end with it (``tracker up``)
    uses one too, with no run: it only reports processes.
    """

    def __init__(self, run_id: str = "", backend: str = "local", log_dir: Path | None = None):
        self._pipe: IO[str] | None = None
        package_root = str(Path(__file__).resolve().parents[2])  # this very Scanflow, however it is found
        path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
        try:
            watcher = subprocess.Popen(
                [sys.executable, "-m", "scanflow.run.lifeline", str(log_dir or ""), run_id or "-", backend],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env={**os.environ, "PYTHONPATH": path},
                start_new_session=True,
                text=True,
            )
        except OSError:  # no watcher: a killed run is still stopped by its resume
            return
        _reap()
        _WATCHERS.append(watcher)
        self._pipe = watcher.stdin

    def process_started(self, process: dict[str, Any]) -> None:
        """Note a process (``leftovers.process_ref``) to stop, with its tree, should this one die."""
        self._send(f"process {process['pid']} {process['started']}")

    def close(self) -> None:
        """The run ended here, whichever way: the watcher has nothing to do."""
        self._send(DONE)
        if self._pipe is not None:
            with contextlib.suppress(OSError):
                self._pipe.close()
            self._pipe = None

    def _send(self, line: str) -> None:
        if self._pipe is None:
            return
        try:
            self._pipe.write(line + "\n")
            self._pipe.flush()
        except (OSError, ValueError):  # the watcher is gone: nothing to tell
            self._pipe = None

    def __enter__(self) -> Lifeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def watch(lines: IO[str], run_id: str, backend: str) -> list[str]:
    """Read the run's messages until the pipe closes; clean up unless it said ``done``."""
    processes: list[dict[str, Any]] = []
    for line in lines:
        kind, *fields = line.split()
        if kind == DONE:
            return []
        if kind == "process" and len(fields) == 2:
            processes.append({"pid": int(fields[0]), "started": float(fields[1])})
    return clean_up(processes, run_id, backend)


def clean_up(processes: list[dict[str, Any]], run_id: str, backend: str) -> list[str]:
    """Stop the step processes still alive and remove the run's containers; say what was done."""
    from scanflow.run.leftovers import stop_if_alive

    done = [f"stopped process {process['pid']}" for process in processes if stop_if_alive(process)]
    if backend in ("docker", "swarm") and run_id:
        from scanflow.run.docker import clear_run
        from scanflow.run.docker_engine import connect

        if removed := clear_run(connect(), run_id):
            done.append(f"removed {removed}")
    return done


def main(argv: list[str]) -> int:
    log_dir, run_id, backend = argv[0], "" if argv[1] == "-" else argv[1], argv[2]
    try:
        done = watch(sys.stdin, run_id, backend)
    except Exception as error:  # a resume still stops what is left; say why this could not
        done = [f"could not clean up: {type(error).__name__}: {error}"]
    if done and log_dir and Path(log_dir).is_dir():
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with open(Path(log_dir, LOG_NAME), "a") as log:
            log.writelines(f"{stamp} the run's Scanflow process ended mid-run; {what}\n" for what in done)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
