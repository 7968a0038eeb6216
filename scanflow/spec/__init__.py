"""Workflow specs: `Executor`, `Workflow`, `Resources`, their YAML form and validation."""

from scanflow.spec.errors import Location, Problem, SpecError
from scanflow.spec.executor import Executor
from scanflow.spec.resources import Resources
from scanflow.spec.workflow import Workflow

__all__ = ["Executor", "Location", "Problem", "Resources", "SpecError", "Workflow"]
