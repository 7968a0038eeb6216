"""Checks a whole workflow before anything runs, reporting every problem at once.

Field-level checks (types, units, unknown keys) live in the pydantic models;
this module checks what needs the whole tree: names, edges, cycles and files.
"""

from __future__ import annotations

from pathlib import Path

from scanflow.graph import find_cycle, sibling_edges
from scanflow.spec.deployment import Deployment
from scanflow.spec.errors import Problem, SpecError, did_you_mean
from scanflow.spec.executor import Executor
from scanflow.spec.workflow import Workflow


def validate(workflow: Workflow, check_files: bool = True) -> None:
    """Raise ``SpecError`` listing every problem in ``workflow``."""
    problems = _Checker(workflow, check_files).run()
    if problems:
        raise SpecError(problems)


class _Checker:
    def __init__(self, root: Workflow, check_files: bool):
        self.root = root
        self.check_files = check_files
        self.problems: list[Problem] = []
        self.all_paths = {path for path, _ in root.walk()}

    def run(self) -> list[Problem]:
        self._workflow(self.root, "")
        return self.problems

    def _add(self, message: str, node: str, field: str | None = None, hint: str | None = None) -> None:
        where = self.root.location(node, field)
        self.problems.append(Problem(message, node or None, where, hint))

    def _workflow(self, workflow: Workflow, path: str) -> None:
        label = path or workflow.name
        if not workflow.nodes:
            self._add(f"workflow '{label}' has no nodes", path, "nodes", "add at least one executor")
            return
        names: set[str] = set()
        duplicates = False
        for node in workflow.nodes:
            child = f"{path}/{node.name}" if path else node.name
            if node.name in names:
                duplicates = True
                self._add(
                    f"duplicate name '{node.name}' in workflow '{label}'",
                    child,
                    hint="names must be unique among siblings",
                )
            names.add(node.name)
        if not duplicates:  # edges between ambiguous names would only add noise
            self._edges(workflow, path, names)
        if isinstance(workflow.requirements, str) and self.check_files:
            self._file_exists(workflow.requirements, path, "requirements", "requirements file")
        for node in workflow.nodes:
            child = f"{path}/{node.name}" if path else node.name
            if isinstance(node, Workflow):
                self._workflow(node, child)
            elif isinstance(node, Deployment):
                self._deployment(node, child)
            else:
                self._executor(node, child)

    def _edges(self, workflow: Workflow, path: str, names: set[str]) -> None:
        for node in workflow.nodes:
            child = f"{path}/{node.name}" if path else node.name
            for dep in node.depends_on:
                if dep == node.name:
                    self._add("depends on itself", child, "depends_on")
                elif dep not in names:
                    elsewhere = sorted(p for p in self.all_paths if p.split("/")[-1] == dep)
                    if elsewhere:
                        hint = (
                            f"'{dep}' is at '{elsewhere[0]}'; depend on a sibling,"
                            " such as the workflow that contains it"
                        )
                    else:
                        hint = did_you_mean(dep, names - {node.name})
                    self._add(f"unknown dependency '{dep}'", child, "depends_on", hint)
        edges = {  # a self-edge is reported above; as a cycle it would be said twice
            n: [d for d in deps if d in names and d != n] for n, deps in sibling_edges(workflow).items()
        }
        cycle = find_cycle(edges)
        if cycle:
            first = f"{path}/{cycle[0]}" if path else cycle[0]
            self._add(
                f"dependency cycle: {' -> '.join(cycle)}", first, "depends_on", "remove one of these edges"
            )

    def _executor(self, executor: Executor, path: str) -> None:
        if not self.check_files:
            return
        if executor.file is not None:
            self._file_exists(executor.file, path, "file", "script")
        if isinstance(executor.requirements, str):
            self._file_exists(executor.requirements, path, "requirements", "requirements file")
        if executor.dockerfile is not None:
            self._file_exists(executor.dockerfile, path, "dockerfile", "Dockerfile")

    def _deployment(self, deployment: Deployment, path: str) -> None:
        if not self.check_files:
            return
        for checker in deployment.checkers:
            target = checker.rpartition(":")[0] if checker.count(":") == 1 else checker
            if target.endswith(".py"):
                self._file_exists(target, path, "checkers", "checker file")

    def _file_exists(self, relative: str, path: str, field: str, what: str) -> None:
        target = Path(relative)
        if not target.is_absolute():
            target = self.root.base_dir / target
        if target.is_dir():
            self._add(f"{what} '{relative}' is a folder", path, field, f"point '{field}' at a file in it")
        elif not target.is_file():
            folder = target.parent
            nearby = [p.name for p in folder.glob("*") if p.is_file()] if folder.is_dir() else []
            hint = did_you_mean(target.name, nearby) or f"paths are relative to {self.root.base_dir}"
            self._add(f"{what} '{relative}' not found", path, field, hint)
