"""What differs between two runs of a workflow: parameters, metrics and step outcomes, step by step.

The question after "the new run scored worse" is "what did I change?": this
lines the two runs' steps up by their path in the workflow (``train/svm``)
and keeps only what differs, so a run with fifty parameters shows the two
that moved.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from scanflow.track.query import RunNode
from scanflow.track.store import TAG_NODE

MISSING = None  # the step or value is not in that run


@dataclass(frozen=True)
class Difference:
    step: str  # the step's path, or "" for the workflow run itself
    kind: str  # "param", "metric", "status" or "step" (a step only one run has)
    name: str
    left: str | float | None
    right: str | float | None

    @property
    def change(self) -> float | None:
        """``right - left`` for metrics both runs have."""
        if self.kind == "metric" and isinstance(self.left, float) and isinstance(self.right, float):
            return round(self.right - self.left, 12)  # 0.93 - 0.91 is 0.02, not 0.020000000000000018
        return None

    def to_json(self) -> dict:
        return asdict(self) | {"change": self.change}


def differences(left: RunNode, right: RunNode) -> list[Difference]:
    """Every parameter, metric and status that differs, step by step, in the left run's order."""
    left_steps, right_steps = _steps(left), _steps(right)
    found: list[Difference] = []
    for step in [*left_steps, *(s for s in right_steps if s not in left_steps)]:
        a, b = left_steps.get(step), right_steps.get(step)
        if a is None or b is None:
            found.append(Difference(step, "step", "ran", "yes" if a else MISSING, "yes" if b else MISSING))
            continue
        if a.status != b.status:
            found.append(Difference(step, "status", "status", a.status, b.status))
        found += _compare(step, "param", a.params, b.params)
        found += _compare(step, "metric", a.metrics, b.metrics)
    return found


def _steps(root: RunNode) -> dict[str, RunNode]:
    """Nodes by their path in the workflow; the workflow run itself is ""."""
    return {
        ("" if node is root else node.run.data.tags.get(TAG_NODE) or node.name): node
        for node in root.walk()
        if node is root or node.kind not in ("workflow", "nested")
    }


def _compare(step: str, kind: str, left: dict, right: dict) -> list[Difference]:
    names = [*left, *(n for n in right if n not in left)]
    return [
        Difference(step, kind, name, left.get(name, MISSING), right.get(name, MISSING))
        for name in names
        if left.get(name, MISSING) != right.get(name, MISSING)
    ]
