"""Workflow specs: `Executor`, `Workflow`, `Deployment`, `Resources`, their YAML form and validation."""

from scanflow.spec.deployment import Deployment
from scanflow.spec.errors import Location, Problem, SpecError
from scanflow.spec.executor import Executor
from scanflow.spec.resources import Resources
from scanflow.spec.workflow import Workflow

__all__ = ["Deployment", "Executor", "Location", "Problem", "Resources", "SpecError", "Workflow"]
