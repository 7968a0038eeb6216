"""How much a machine can run at once, and the running tally against it.

The scheduler starts a step only when the CPUs and memory it declares fit in
what is left, so the declared needs of running steps never exceed the host.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from scanflow.graph import Step
from scanflow.run.backend import BackendError
from scanflow.spec.quantities import format_bytes
from scanflow.spec.resources import Resources


class CapacityError(BackendError):
    """A step asks for more than the machine (or the backend) can ever give."""


@dataclass(frozen=True)
class Capacity:
    cpu: float
    memory: int
    gpu: int = 0
    max_parallel: int | None = None

    @classmethod
    def of_host(cls, max_parallel: int | None = None) -> Capacity:
        return cls(cpu=_host_cpus(), memory=_host_memory(), gpu=_host_gpus(), max_parallel=max_parallel)

    def check(self, steps: list[Step], where: str = "this machine") -> None:
        problems = []
        for step in steps:
            r = step.executor.resources
            if r.cpu_request > self.cpu:
                problems.append(
                    f"step '{step.key}' asks for {r.cpu_request:g} CPUs but {where} has {self.cpu:g}"
                )
            if r.memory_bytes > self.memory:
                problems.append(
                    f"step '{step.key}' asks for {r.memory} of memory but {where} has"
                    f" {format_bytes(self.memory)}"
                )
            if r.gpu > self.gpu:
                problems.append(f"step '{step.key}' asks for {r.gpu} GPUs but {where} has {self.gpu}")
        if problems:
            raise CapacityError(
                "\n".join(problems)
                + "\nLower the step's resources, or run it on a cluster (--backend swarm)."
            )


@dataclass
class Budget:
    """What running steps hold against a ``Capacity``."""

    capacity: Capacity
    held: dict[str, Resources] = field(default_factory=dict)

    def fits(self, resources: Resources) -> bool:
        if self.capacity.max_parallel is not None and len(self.held) >= self.capacity.max_parallel:
            return False
        if not self.held:
            return True  # a step that fits the machine at all may always run alone
        cpu = sum(r.cpu_request for r in self.held.values()) + resources.cpu_request
        memory = sum(r.memory_bytes for r in self.held.values()) + resources.memory_bytes
        gpu = sum(r.gpu for r in self.held.values()) + resources.gpu
        return cpu <= self.capacity.cpu + 1e-9 and memory <= self.capacity.memory and gpu <= self.capacity.gpu

    def take(self, key: str, resources: Resources) -> None:
        self.held[key] = resources

    def release(self, key: str) -> None:
        self.held.pop(key, None)


def _host_cpus() -> float:
    try:
        cpus = float(len(os.sched_getaffinity(0)))
    except AttributeError:
        cpus = float(os.cpu_count() or 1)
    quota = _read_first(Path("/sys/fs/cgroup/cpu.max"))
    if quota and not quota.startswith("max"):
        limit, period = quota.split()[:2]
        cpus = min(cpus, int(limit) / int(period))
    return cpus


def _host_memory() -> int:
    import psutil

    memory = psutil.virtual_memory().total
    limit = _read_first(Path("/sys/fs/cgroup/memory.max"))
    if limit and limit.isdigit():
        memory = min(memory, int(limit))
    return memory


def _host_gpus() -> int:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"])
    return len(list(Path("/dev").glob("nvidia[0-9]*")))


def _read_first(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None
