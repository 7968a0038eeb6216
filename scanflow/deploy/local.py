"""A deployment as a background ``scanflow serve`` process on this machine.

The process outlives the command (or workflow run) that started it, in a
session of its own; ``.scanflow/deployments/<name>.json`` records it (pid,
port, command) and ``<name>.log`` holds its output. It reads the model from
the project's registry, so an alias is followed as with ``scanflow serve``.
Deploying again stops the old process and starts the new one on the same
port, starting the old one again if the new one fails; ``scanflow deploy rm``
stops it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from scanflow.deploy.errors import DeployError
from scanflow.deploy.ports import free_port, port_taken, port_taken_message
from scanflow.deploy.readiness import served_version, wait_ready
from scanflow.deploy.status import DeploymentStatus
from scanflow.follow import follow as follow_file
from scanflow.home import Home
from scanflow.run.backend import Progress
from scanflow.serve.config import TOKEN_VARIABLE
from scanflow.spec.deployment import Deployment

_STOP_GRACE = 30.0  # seconds: the server writes out its prediction log when stopped


@dataclass(frozen=True)
class Record:
    """What `.scanflow/deployments/<name>.json` remembers of a running deployment."""

    name: str
    pid: int
    started: float  # the process's start time, so a reused pid is not taken for ours
    url: str
    port: int
    model: str
    command: list[str]
    token: bool
    workflow: str | None = None
    settings: str = ""  # hash of the command, environment and token: unchanged means nothing to do


class LocalDeployer:
    backend = "local"

    def __init__(self, home: Home, progress: Progress):
        self.folder = home.root / "deployments"
        self.home = home
        self.progress = progress

    # ------------------------------------------------------------ deploying
    def check(self, name: str, deployment: Deployment) -> None:
        record = self._record(name)
        ours = record is not None and record.port == deployment.port and self._alive(record)
        if deployment.port and not ours and port_taken(deployment.host, deployment.port):
            raise DeployError(port_taken_message(deployment.host, deployment.port))

    def deploy(
        self,
        name: str,
        deployment: Deployment,
        tracking_uri: str,
        token: str | None,
        workflow: str | None = None,
        cancelled: threading.Event | None = None,
    ) -> DeploymentStatus:
        previous = self._record(name)
        port = deployment.port or (previous.port if previous else 0) or free_port(deployment.host)
        command = self._command(deployment, tracking_uri, port)
        if (
            previous is not None
            and self._alive(previous)
            and previous.settings == _settings(command, deployment, token)
        ):
            self.progress(f"'{name}' already serves {deployment.model} at {previous.url}: nothing to change")
            return replace(self._status(previous), changed=False)
        was_running = previous is not None and self._alive(previous)
        self._stop(previous)
        try:
            record = self._start(name, deployment, command, port, token, workflow)
            self._wait(record, deployment, cancelled)
        except BaseException:
            self._stop(self._record(name))
            self._path(name).unlink(missing_ok=True)
            if was_running and previous is not None:
                with contextlib.suppress(Exception):
                    again = self._start(name, deployment, previous.command, previous.port, token, workflow)
                    self._wait(again, deployment, None)
                    self.progress(f"started the previous '{name}' again: it answers at {again.url}")
            raise
        return self._status(record)

    def _command(self, deployment: Deployment, tracking_uri: str, port: int) -> list[str]:
        command = [sys.executable, "-m", "scanflow.cli", "serve", deployment.model]
        command += ["--host", deployment.host, "--port", str(port), "--workers", str(deployment.workers)]
        command += ["--tracking-uri", tracking_uri, "--home", str(self.home.root)]
        for checker in deployment.checkers:
            command += ["--checker", checker]
        if deployment.follow_every is not None:
            command += ["--follow-every", f"{deployment.follow_every:g}"]
        if deployment.log_db:
            command += ["--log-db", deployment.log_db]
        if deployment.log_keep is not None:
            command += ["--log-keep", str(deployment.log_keep)]
        return command

    def _start(
        self,
        name: str,
        deployment: Deployment,
        command: list[str],
        port: int,
        token: str | None,
        workflow: str | None,
    ) -> Record:
        import psutil

        self.folder.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **deployment.env, "PYTHONUNBUFFERED": "1"}
        env.pop(TOKEN_VARIABLE, None)
        if token:
            env[TOKEN_VARIABLE] = token
        for variable in ("SCANFLOW_NODE_DIR", "MLFLOW_RUN_ID"):  # a workflow step's, not the server's
            env.pop(variable, None)
        self.progress(f"starting '{name}': scanflow serve {deployment.model} on port {port}")
        with open(self._log(name), "ab") as log:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.home.root.parent,
                start_new_session=True,  # not stopped by the Ctrl-C of the command that started it
            )
        host = "127.0.0.1" if deployment.host in ("0.0.0.0", "::") else deployment.host
        record = Record(
            name=name,
            pid=process.pid,
            started=psutil.Process(process.pid).create_time(),
            url=f"http://{host}:{port}",
            port=port,
            model=command[command.index("serve") + 1],
            command=command,
            token=bool(token),
            workflow=workflow,
            settings=_settings(command, deployment, token),
        )
        self._path(name).write_text(json.dumps(record.__dict__, indent=1))
        return record

    def _wait(self, record: Record, deployment: Deployment, cancelled: threading.Event | None) -> None:
        def problem() -> str | None:
            return None if self._alive(record) else "stopped"

        def logs() -> str:
            lines = self._log(record.name).read_text(errors="replace").splitlines()
            return "\n".join(lines[-30:])

        what = f"deployment '{record.name}'"
        wait_ready(lambda: [record.url], deployment.ready_seconds, problem, logs, what, cancelled)

    # ------------------------------------------------------------- looking
    def _path(self, name: str) -> Path:
        return self.folder / f"{name}.json"

    def logs(self, name: str, write: Callable[[str], None], tail: int | None, follow: bool) -> bool:
        """Write the server's output (the last ``tail`` lines, then more while it runs with ``follow``)."""
        record, path = self._record(name), self._log(name)
        if record is None and not path.is_file():
            return False
        text = path.read_text(errors="replace") if path.is_file() else ""
        lines = text.splitlines(keepends=True)
        write("".join(lines if tail is None else lines[max(0, len(lines) - tail) :]))
        if follow:
            follow_file(path, lambda: self._alive(record), write, start=len(text.encode()))
        return True

    def _log(self, name: str) -> Path:
        return self.folder / f"{name}.log"

    def _record(self, name: str) -> Record | None:
        try:
            return Record(**json.loads(self._path(name).read_text()))
        except (OSError, ValueError, TypeError):
            return None

    @staticmethod
    def _alive(record: Record | None) -> bool:
        import psutil

        if record is None:
            return False
        try:
            process = psutil.Process(record.pid)
            return (
                abs(process.create_time() - record.started) < 1 and process.status() != psutil.STATUS_ZOMBIE
            )
        except psutil.Error:
            return False

    def _status(self, record: Record) -> DeploymentStatus:
        alive = self._alive(record)
        return DeploymentStatus(
            name=record.name,
            backend=self.backend,
            model=record.model,
            version=served_version(record.url) if alive else "",  # an alias moves: ask the server
            state="running" if alive else "stopped",
            replicas=f"{int(alive)}/1",
            urls=(record.url,) if alive else (),
        )

    def statuses(self, name: str | None = None) -> list[DeploymentStatus]:
        paths = [self._path(name)] if name else sorted(self.folder.glob("*.json"))
        records = [self._record(p.stem) for p in paths]
        return [self._status(r) for r in records if r is not None]

    # ------------------------------------------------------------ removing
    def remove(self, name: str) -> bool:
        record = self._record(name)
        if record is None:
            return False
        self._stop(record)
        self._path(name).unlink(missing_ok=True)
        return True

    def _stop(self, record: Record | None) -> None:
        """SIGTERM the server's process group (its workers too), SIGKILL it after the grace period."""
        if record is None or not self._alive(record):
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(record.pid, signal.SIGTERM)
        deadline = time.monotonic() + _STOP_GRACE
        while self._alive(record) and time.monotonic() < deadline:
            time.sleep(0.1)
        if self._alive(record):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(record.pid, signal.SIGKILL)


def _settings(command: list[str], deployment: Deployment, token: str | None) -> str:
    identity = json.dumps([command, deployment.env, token or ""], sort_keys=True)
    return hashlib.sha256(identity.encode()).hexdigest()[:16]
