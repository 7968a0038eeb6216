"""The DAG of a workflow: nested workflows flattened into steps with their edges.

Nesting is kept for tracking and drawing (every step knows the workflows that
enclose it); scheduling only sees steps and the steps they wait for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from scanflow.spec.deployment import Deployment
from scanflow.spec.errors import Problem, SpecError, did_you_mean
from scanflow.spec.executor import Executor
from scanflow.spec.workflow import Workflow

_INHERITED = ("env_manager", "python", "requirements", "base_image")


@dataclass(frozen=True)
class Step:
    """One executor placed in the graph, with the workflow defaults applied."""

    key: str  # "train/svm": unique path of the executor in the workflow tree
    executor: Executor
    workflows: tuple[str, ...]  # paths of the enclosing nested workflows, outermost first
    upstream: frozenset[str] = field(default_factory=frozenset)
    deployment: Deployment | None = None  # set for a Deployment node (executor: its step form)

    @property
    def name(self) -> str:
        return self.executor.name


def sibling_edges(workflow: Workflow) -> dict[str, list[str]]:
    """For each child, the siblings it waits for.

    ``depends_on`` edges when any child declares one (or the workflow is
    parallel); otherwise every child waits for the one written before it.
    """
    names = [n.name for n in workflow.nodes]
    if workflow.parallel or any(n.depends_on for n in workflow.nodes):
        return {n.name: list(n.depends_on) for n in workflow.nodes}
    return {name: names[i - 1 : i] for i, name in enumerate(names)}


def find_cycle(edges: Mapping[str, Iterable[str]]) -> list[str] | None:
    """A dependency cycle as a closed path ``[a, b, c, a]``, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in edges.get(node, ()):
            if dep not in edges:
                continue
            if state.get(dep) == 1:
                return [*stack[stack.index(dep) :], dep]
            if dep not in state and (cycle := visit(dep)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in edges:
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def topological(names: list[str], edges: Mapping[str, Iterable[str]]) -> list[str]:
    """Names ordered so each comes after what it waits for; ties keep written order."""
    pending = {n: set(edges.get(n, ())) & set(names) for n in names}
    order: list[str] = []
    while pending:
        ready = [n for n in names if n in pending and not pending[n]]
        if not ready:
            cycle = find_cycle({n: pending[n] for n in pending}) or list(pending)
            raise SpecError([Problem(f"dependency cycle: {' -> '.join(cycle)}")])
        for name in ready:
            order.append(name)
            del pending[name]
        for deps in pending.values():
            deps.difference_update(ready)
    return order


class Graph:
    """Steps of a workflow in an order that respects every edge."""

    def __init__(self, workflow: Workflow, steps: list[Step], nested: dict[str, Workflow]):
        self.workflow = workflow
        self.steps: dict[str, Step] = {s.key: s for s in steps}
        self.nested = nested  # path -> nested Workflow, outer before inner

    @classmethod
    def from_workflow(cls, workflow: Workflow) -> Graph:
        steps: list[Step] = []
        nested: dict[str, Workflow] = {}
        _flatten(workflow, "", (), {}, frozenset(), steps, nested)
        return cls(workflow, steps, nested)

    @property
    def base_dir(self) -> Path:
        return self.workflow.base_dir

    def __len__(self) -> int:
        return len(self.steps)

    def __iter__(self):
        return iter(self.steps.values())

    @cached_property
    def _children(self) -> dict[str, set[str]]:
        children: dict[str, set[str]] = {key: set() for key in self.steps}
        for step in self.steps.values():
            for up in step.upstream:
                children[up].add(step.key)
        return children

    def downstream(self, key: str) -> set[str]:
        """Every step that waits, directly or not, for ``key``."""
        return _reachable(key, self._children.__getitem__)

    def upstream(self, key: str) -> set[str]:
        """Every step ``key`` waits for, directly or not."""
        return _reachable(key, lambda step: self.steps[step].upstream)

    def writers_of(self, path: str, reader: str) -> list[str]:
        """The steps, other than ``reader``, that declare ``path`` as an output."""
        return [k for k, s in self.steps.items() if k != reader and path in s.executor.outputs]

    def needed_for(self, targets: Iterable[str]) -> list[str]:
        """The steps that ``targets`` (step paths, or nested workflows' paths) need: them and their upstream.

        In graph order. An unknown target raises `SpecError`, naming the closest step.
        """
        wanted: set[str] = set()
        for target in targets:
            chosen = [k for k in self.steps if k == target or k.startswith(f"{target}/")]
            if not chosen:
                names = [*self.steps, *self.nested]
                hint = did_you_mean(target, names) or f"steps: {', '.join(self.steps)}"
                raise SpecError([Problem(f"no step or nested workflow '{target}' to run", hint=hint)])
            for key in chosen:
                wanted |= {key, *self.upstream(key)}
        return [key for key in self.steps if key in wanted]

    def unwritten_inputs(self) -> list[str]:
        """Declared inputs that no step running before their reader declares as an output.

        Not errors: a step may write a file it does not declare. But when the file
        is missing at run time the reader fails, so ``validate`` says it early.
        """
        notes = []
        for step in self.steps.values():
            before = self.upstream(step.key)
            for path in step.executor.inputs:
                if any(path in self.steps[up].executor.outputs for up in before):
                    continue
                writers = self.writers_of(path, step.key)
                fix = f"make it depend on '{writers[0]}', which writes it" if writers else "none declares it"
                notes.append(f"step '{step.key}' reads '{path}' but no step before it writes it ({fix})")
        return notes

    def subset(self, keys: Iterable[str]) -> list[Step]:
        wanted = set(keys)
        return [s for s in self.steps.values() if s.key in wanted]


def _reachable(start: str, neighbours: Callable[[str], Iterable[str]]) -> set[str]:
    """Every step reached from ``start`` by following ``neighbours``, ``start`` excluded."""
    found: set[str] = set()
    frontier = [start]
    while frontier:
        for step in neighbours(frontier.pop()):
            if step not in found:
                found.add(step)
                frontier.append(step)
    return found


def _flatten(
    workflow: Workflow,
    prefix: str,
    enclosing: tuple[str, ...],
    defaults: dict,
    entry_upstream: frozenset[str],
    steps: list[Step],
    nested: dict[str, Workflow],
) -> set[str]:
    """Append the steps of ``workflow`` to ``steps``; return its sink step keys."""
    defaults = _merge_defaults(defaults, workflow)
    edges = sibling_edges(workflow)
    by_name = {n.name: n for n in workflow.nodes}
    sinks_of: dict[str, set[str]] = {}
    for name in topological(list(by_name), edges):
        node = by_name[name]
        deps = edges[name]
        upstream = frozenset().union(*(sinks_of[d] for d in deps)) if deps else entry_upstream
        key = f"{prefix}{name}"
        if isinstance(node, Workflow):
            nested[key] = node
            sinks_of[name] = _flatten(node, f"{key}/", (*enclosing, key), defaults, upstream, steps, nested)
        elif isinstance(node, Deployment):
            steps.append(Step(key, node.as_executor(), enclosing, upstream, deployment=node))
            sinks_of[name] = {key}
        else:
            steps.append(Step(key, _apply_defaults(node, defaults), enclosing, upstream))
            sinks_of[name] = {key}
    depended_on = {d for deps in edges.values() for d in deps}
    return set().union(*(sinks_of[n] for n in by_name if n not in depended_on))


def _merge_defaults(defaults: dict, workflow: Workflow) -> dict:
    merged = dict(defaults)
    merged["env"] = {**defaults.get("env", {}), **workflow.env}
    for name in _INHERITED:
        value = getattr(workflow, name)
        if value is not None:
            merged[name] = value
    return merged


def _apply_defaults(executor: Executor, defaults: dict) -> Executor:
    update: dict = {}
    if defaults.get("env"):
        update["env"] = {**defaults["env"], **executor.env}
    for name in _INHERITED:
        if getattr(executor, name) is None and defaults.get(name) is not None:
            update[name] = defaults[name]
    return executor.model_copy(update=update) if update else executor
