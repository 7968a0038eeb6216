"""The local backend: each step a process on this machine, in its own environment."""

from __future__ import annotations

import json
import os
from pathlib import Path

from scanflow.graph import Step
from scanflow.run.backend import (
    Backend,
    BackendError,
    ExitCallback,
    ExitKind,
    Handle,
    Launch,
    Progress,
)
from scanflow.run.capacity import Capacity
from scanflow.run.envs import EnvCache, EnvSpec, env_spec_for
from scanflow.run.processes import (
    WORKER_FILE,
    FunctionWorkerPool,
    ProcessHandle,
    WorkerHandle,
    script_arguments,
    start_process,
    stop_process,
)


class LocalBackend(Backend):
    """Runs scripts as processes and functions in reusable worker processes.

    Steps in ``env_manager: current`` use this interpreter; others a cached uv
    environment. ``grace`` is how long a stopped step gets between SIGTERM and
    SIGKILL.
    """

    name = "local"

    def __init__(
        self,
        env_cache: EnvCache | None = None,
        grace: float = 5.0,
        capacity: Capacity | None = None,
        max_parallel: int | None = None,
    ):
        self.env_cache = env_cache or EnvCache()
        self.grace = grace
        self.capacity = capacity or Capacity.of_host(max_parallel)
        self._interpreters: dict[str, Path] = {}
        self._specs: dict[str, EnvSpec] = {}
        self._pool = FunctionWorkerPool()

    def check_capacity(self, steps: list[Step]) -> None:
        self.capacity.check(steps)

    def prepare(self, steps: list[Step], base_dir: Path, progress: Progress) -> dict[str, str]:
        by_hash: dict[str, EnvSpec] = {}
        owners: dict[str, str] = {}
        for step in steps:
            self._check_runnable(step)
            spec = env_spec_for(step.executor, base_dir)
            self._specs[step.key] = spec
            by_hash.setdefault(spec.hash, spec)
            owners.setdefault(spec.hash, step.key)
        for env_hash, spec in by_hash.items():
            if not self.env_cache.is_ready(spec):
                progress(f"building environment {env_hash} ({spec.describe()}) for '{owners[env_hash]}'")
            self.env_cache.ensure(spec, owner=owners[env_hash])
        for step in steps:
            self._interpreters[step.key] = self.env_cache.interpreter(self._specs[step.key])
        in_process = [s for s in steps if s.executor.function and self._specs[s.key].current]
        if in_process:
            self._pool.warm(min(len(in_process), max(1, int(self.capacity.cpu))))
        return {key: spec.hash for key, spec in self._specs.items()}

    def _check_runnable(self, step: Step) -> None:
        if step.executor.file is None and step.executor.function is None:
            raise BackendError(
                f"step '{step.key}' only names a container image; run it with --backend docker"
            )

    def start(self, launch: Launch, on_exit: ExitCallback) -> Handle:
        executor = launch.step.executor
        spec = self._specs[launch.step.key]
        python = str(self._interpreters[launch.step.key])
        env = self._environment(launch, spec)
        if executor.function is None:
            script = _resolve(launch.base_dir, executor.file or "")
            argv = [python, str(script), *script_arguments(executor.parameters)]
            return start_process(argv, launch, env, on_exit)
        task = {
            "function": executor.function,
            "parameters": executor.parameters,
            "env": env,
            "cwd": str(launch.data_dir),
            "sys_path": [str(launch.base_dir)],
            "log_path": str(launch.log_path),
            "result_path": str(launch.node_dir / "result.json"),
        }
        if spec.current:
            return self._pool.start(launch, task, on_exit)
        task_file = launch.node_dir / "task.json"
        task_file.write_text(json.dumps(task))
        return start_process([python, "-u", str(WORKER_FILE), "--once", str(task_file)], launch, env, on_exit)

    def _environment(self, launch: Launch, spec: EnvSpec) -> dict[str, str]:
        env = dict(os.environ)
        if not spec.current:
            env.pop("PYTHONPATH", None)  # host packages must not leak into an isolated env
        env.pop("VIRTUAL_ENV", None)
        env.update(launch.step.executor.env)
        env.update(launch.env)
        env.setdefault("PYTHONUNBUFFERED", "1")  # logs stream while the step runs
        return env

    def stop(self, handle: Handle, reason: ExitKind) -> None:
        handle.stop_reason = reason
        if isinstance(handle, ProcessHandle):
            stop_process(handle.process.pid, self.grace)
        elif isinstance(handle, WorkerHandle):
            self._pool.stop(handle, self.grace)

    def close(self) -> None:
        self._pool.close()


def _resolve(base_dir: Path, relative: str) -> Path:
    path = Path(relative)
    return path if path.is_absolute() else (base_dir / path).resolve()
