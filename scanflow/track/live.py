"""Which steps need their MLflow run before they start.

A step that calls MLflow itself (``mlflow.log_metric``, ``mlflow.sklearn.log_model``)
must find its run in ``MLFLOW_RUN_ID`` when it starts. Opening a run costs a
few milliseconds of store writes, so steps that cannot call MLflow are recorded
when they end instead. A step may call MLflow when its requirements ask for it,
or when its code, or a module of the workflow folder that its code imports
(followed transitively), imports it.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from scanflow.graph import Step
from scanflow.run.envs import read_requirements

_MLFLOW_REQUIREMENT = re.compile(r"^(mlflow|mlflow-skinny)\b", re.IGNORECASE)
_MAX_MODULES = 200  # a workflow folder larger than this is not worth walking


def wants_live_run(step: Step, base_dir: Path) -> bool:
    executor = step.executor
    try:
        requirements = read_requirements(executor.requirements, base_dir)
    except OSError:
        requirements = []
    if any(_MLFLOW_REQUIREMENT.match(r) for r in requirements):
        return True
    if executor.file:
        entry = base_dir / executor.file
    elif executor.function:
        entry = _module_file(executor.function.partition(":")[0], base_dir)
    else:
        return False
    return entry is not None and _imports_mlflow(entry, base_dir)


def _imports_mlflow(entry: Path, base_dir: Path) -> bool:
    """Whether ``entry`` or a local module it imports (transitively) imports mlflow."""
    pending, seen = [entry], set()
    while pending and len(seen) < _MAX_MODULES:
        path = pending.pop()
        if path in seen:
            continue
        seen.add(path)
        for module in _imported_modules(path):
            if module.split(".")[0] == "mlflow":
                return True
            local = _module_file(module, base_dir, relative_to=path.parent)
            if local is not None:
                pending.append(local)
    return False


def _imported_modules(path: Path) -> set[str]:
    try:
        tree = ast.parse(path.read_text(errors="replace"))
    except (OSError, SyntaxError, ValueError):
        return set()
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif _is_dynamic_import(node):
            modules.add(node.args[0].value)
    return modules


def _is_dynamic_import(node: ast.AST) -> bool:
    """``importlib.import_module("x")`` or ``__import__("x")`` with a literal name."""
    if not isinstance(node, ast.Call) or not node.args:
        return False
    name = getattr(node.func, "attr", getattr(node.func, "id", ""))
    first = node.args[0]
    return (
        name in ("import_module", "__import__")
        and isinstance(first, ast.Constant)
        and isinstance(first.value, str)
    )


def _module_file(module: str, base_dir: Path, relative_to: Path | None = None) -> Path | None:
    """The file of ``module`` if it lives in the workflow folder (or next to the importer)."""
    relative = Path(*module.split("."))
    for root in dict.fromkeys(filter(None, (relative_to, base_dir))):
        for candidate in (root / relative.with_suffix(".py"), root / relative / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None
