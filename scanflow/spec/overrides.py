"""Parameters set for one run from the command line: ``--set train/svm.C=10``.

Trying a value should not mean editing the workflow file. Only parameters the
step already has can be set, so a typo is an error rather than a silent extra
argument. The run records the values it ran with (its ``workflow.yaml`` and the
step runs' MLflow params), so it stays reproducible.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml

from scanflow.spec.errors import Problem, SpecError, did_you_mean
from scanflow.spec.executor import Executor
from scanflow.spec.workflow import Workflow

FORM = "STEP.PARAMETER=VALUE, e.g. train/svm.C=10"


def apply_overrides(workflow: Workflow, settings: Iterable[str]) -> Workflow:
    """Set each ``STEP.PARAMETER=VALUE`` of ``settings`` on ``workflow`` (changed in place, returned).

    Values read as YAML: ``10`` is a number, ``true`` a boolean, ``[a, b]`` a
    list, anything else a string. Every wrong setting is named at once.
    """
    problems: list[Problem] = []
    steps = {path: node for path, node in workflow.walk() if isinstance(node, Executor)}
    for setting in settings:
        target, equals, text = setting.partition("=")
        step, dot, name = target.strip().rpartition(".")
        if not equals or not dot or not step or not name:
            problems.append(Problem(f"--set {setting!r} is not {FORM}"))
            continue
        node = steps.get(step)
        if node is None:
            problems.append(Problem(f"--set {setting!r}: no step '{step}'", hint=did_you_mean(step, steps)))
        elif name not in node.parameters:
            known = ", ".join(sorted(node.parameters)) or "none"
            problems.append(
                Problem(
                    f"--set {setting!r}: step '{step}' has no parameter '{name}' (it has: {known})",
                    hint=did_you_mean(name, node.parameters) or "add it to the workflow file first",
                )
            )
        else:
            try:
                node.parameters = {**node.parameters, name: _value(text)}
            except ValueError as error:
                problems.append(Problem(f"--set {setting!r}: {error}", hint="quote it to pass it as text"))
    if problems:
        raise SpecError(problems)
    return workflow


def _value(text: str) -> Any:
    """The YAML value of ``text``; text that is not YAML stays text, unless it opens a list or a mapping."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        if text.lstrip().startswith(("[", "{")):  # meant as a list or mapping: a typo, not a string
            problem = getattr(error, "problem", None) or "not valid YAML"
            raise ValueError(f"the value {text!r} is not a valid YAML list or mapping ({problem})") from None
        return text
