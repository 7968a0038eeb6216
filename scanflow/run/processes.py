"""Starting, watching and stopping step processes and everything they spawn.

Each step process leads its own session (process group), so stopping a step
stops its whole tree, and a Ctrl-C in the terminal reaches only Scanflow,
which then stops the steps itself and records them as cancelled.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scanflow.run.backend import Exit, ExitKind, Handle, Launch

WORKER_FILE = Path(__file__).with_name("function_worker.py")


def script_arguments(parameters: dict[str, Any]) -> list[str]:
    """``{"C": 10, "fast": True}`` -> ``["--C", "10", "--fast", "true"]``.

    Booleans become ``true``/``false`` and lists or mappings JSON, so a script can
    parse every value with one ``type=`` in argparse; ``None`` leaves the flag out.
    """
    arguments: list[str] = []
    for key, value in parameters.items():
        if value is None:
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, list | dict):
            text = json.dumps(value)
        else:
            text = str(value)
        arguments += [f"--{key}", text]
    return arguments


def kill_tree(pid: int, sig: int = signal.SIGTERM) -> None:
    """Signal a process group and any descendant that left it."""
    try:
        import psutil

        descendants = psutil.Process(pid).children(recursive=True)
    except Exception:  # the process is gone, or psutil cannot see it
        descendants = []
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
    for child in descendants:
        with contextlib.suppress(Exception):
            child.send_signal(sig)


class ProcessHandle(Handle):
    def __init__(self, launch: Launch, process: subprocess.Popen):
        super().__init__(launch)
        self.process = process

    @property
    def pid(self) -> int | None:
        return self.process.pid


def start_process(
    argv: list[str], launch: Launch, env: dict[str, str], on_exit: Callable[[Exit], None]
) -> ProcessHandle:
    """Start ``argv`` in the data directory with output appended to the step's log."""
    with open(launch.log_path, "ab") as log:
        process = subprocess.Popen(
            argv,
            cwd=launch.data_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    handle = ProcessHandle(launch, process)

    def watch() -> None:
        code = process.wait()
        kill_tree(process.pid, signal.SIGKILL)  # nothing the step left behind keeps running
        on_exit(Exit(code, handle.stop_reason or ExitKind.EXITED))

    threading.Thread(target=watch, name=f"watch-{launch.step.key}", daemon=True).start()
    return handle


def stop_process(pid: int, grace: float) -> None:
    """SIGTERM the tree now and SIGKILL it after ``grace`` seconds."""
    kill_tree(pid, signal.SIGTERM)
    timer = threading.Timer(grace, kill_tree, args=(pid, signal.SIGKILL))
    timer.daemon = True
    timer.start()


# ------------------------------------------------------------- function steps
class _Worker:
    """One long-lived interpreter that runs function steps one at a time.

    A thread of its own sends each task and waits for the answer, so starting a
    function step costs a queue put, not a thread or a process.
    """

    def __init__(self, python: str, env: dict[str, str]):
        task_read, self._task_write = os.pipe()
        self._reply_read, reply_write = os.pipe()
        self.process = subprocess.Popen(
            [python, "-u", str(WORKER_FILE), "--serve", str(task_read), str(reply_write)],
            pass_fds=(task_read, reply_write),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        os.close(task_read)
        os.close(reply_write)
        self.tasks = os.fdopen(self._task_write, "w", buffering=1)
        self.replies = os.fdopen(self._reply_read)
        self._inbox: queue.Queue[tuple[dict[str, Any], Callable[[int | None], None]] | None] = queue.Queue()
        threading.Thread(target=self._serve, name=f"fn-worker-{self.process.pid}", daemon=True).start()

    def submit(self, task: dict[str, Any], done: Callable[[int | None], None]) -> None:
        """Run ``task``; ``done`` gets its exit code, or None when the worker died doing it."""
        self._inbox.put((task, done))

    def _serve(self) -> None:
        while (item := self._inbox.get()) is not None:
            task, done = item
            done(self._call(task))

    def _call(self, task: dict[str, Any]) -> int | None:
        try:
            self.tasks.write(json.dumps(task) + "\n")
            line = self.replies.readline()
        except (BrokenPipeError, OSError, ValueError):
            return None
        return json.loads(line)["code"] if line else None

    def close(self) -> None:
        self._inbox.put(None)
        with contextlib.suppress(OSError):
            self.tasks.close()
        kill_tree(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            self.process.wait(timeout=5)


class WorkerHandle(Handle):
    def __init__(self, launch: Launch):
        super().__init__(launch)
        self.worker: _Worker | None = None

    @property
    def pid(self) -> int | None:
        return self.worker.process.pid if self.worker is not None else None


class FunctionWorkerPool:
    """Reusable interpreters for function steps in the current environment.

    A function step then costs a message, not a process start. A worker whose
    step is stopped (timeout, cancel) is killed with its tree and replaced.
    """

    def __init__(self, python: str = sys.executable):
        self.python = python
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()
        self._all: set[_Worker] = set()

    def warm(self, count: int) -> None:
        """Start ``count`` workers ahead of time, so the first steps do not wait."""
        workers = [self._spawn() for _ in range(max(0, count - len(self._idle)))]
        with self._lock:
            self._idle += workers

    def _spawn(self) -> _Worker:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        worker = _Worker(self.python, env)
        with self._lock:
            self._all.add(worker)
        return worker

    def _take(self) -> _Worker:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return self._spawn()

    def start(self, launch: Launch, task: dict[str, Any], on_exit: Callable[[Exit], None]) -> WorkerHandle:
        handle = WorkerHandle(launch)
        worker = self._take()
        handle.worker = worker

        def done(code: int | None) -> None:
            if code is None:  # the worker died (killed, crashed): report how, and replace it
                code = worker.process.wait()
                self._discard(worker)
            elif handle.stop_reason is None:
                with self._lock:
                    self._idle.append(worker)
            else:
                self._discard(worker)
            on_exit(Exit(code, handle.stop_reason or ExitKind.EXITED))

        worker.submit(task, done)
        return handle

    def stop(self, handle: WorkerHandle, grace: float) -> None:
        if handle.worker is not None:
            stop_process(handle.worker.process.pid, grace)

    def _discard(self, worker: _Worker) -> None:
        worker.close()
        with self._lock:
            self._all.discard(worker)

    def close(self) -> None:
        with self._lock:
            workers = list(self._all)
            self._all.clear()
            self._idle.clear()
        for worker in workers:
            worker.close()
