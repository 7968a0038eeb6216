"""Rule files: which model answers a request, decided per request.

A rule file names the models and lists rules; the first rule whose conditions
all hold picks the model, else ``default`` answers::

    models:
      accurate: models:/digits@champion
      fast: models:/digits-small@champion
    default: accurate
    rules:
      - name: phones
        use: fast
        when: {header: {x-device-type: [phone, watch]}}
      - name: overloaded
        use: fast
        when: {latency: {model: accurate, percentile: 95, above_ms: 50, window_s: 60}}

``latency`` looks at the requests the named model answered in the last
``window_s`` seconds; once it stops getting traffic its window empties and it
is tried again, so the rule settles by itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from scanflow.serve.errors import ServeSetupError
from scanflow.serve.holder import ModelSet, ModelSlot
from scanflow.text_files import NotText, read_text

Values = str | list[str]


class LatencyCondition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(None, description="whose latency; default: the default model")
    percentile: Annotated[float, Field(gt=0, le=100)] = 95
    above_ms: Annotated[float, Field(ge=0)]
    window_s: Annotated[float, Field(gt=0)] = 60
    min_requests: Annotated[int, Field(ge=1)] = 20


class When(BaseModel):
    model_config = ConfigDict(extra="forbid")

    header: dict[str, Values] | None = None
    query: dict[str, Values] | None = None
    latency: LatencyCondition | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> When:
        if self.header is None and self.query is None and self.latency is None:
            raise ValueError("give at least one condition: header, query or latency")
        return self


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    use: str
    when: When


class RuleFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    models: dict[str, str] = Field(min_length=1)
    default: str
    rules: list[Rule] = []

    @model_validator(mode="after")
    def _known_models(self) -> RuleFile:
        known = set(self.models)
        wanted = [("default", self.default)]
        for number, rule in enumerate(self.rules):
            where = f"rules[{number}]" + (f" ({rule.name})" if rule.name else "")
            wanted.append((f"{where}.use", rule.use))
            if rule.when.latency and rule.when.latency.model:
                wanted.append((f"{where}.when.latency.model", rule.when.latency.model))
        for field, name in wanted:
            if name not in known:
                raise ValueError(
                    f"{field}: unknown model '{name}'; the models are {', '.join(sorted(known))}"
                )
        return self

    @classmethod
    def read(cls, path: str | Path) -> RuleFile:
        path = Path(path)
        try:
            document = yaml.safe_load(read_text(path, "the rule file"))
        except OSError as error:
            raise ServeSetupError(f"cannot read the rule file {path}: {error.strerror}") from None
        except NotText as error:
            raise ServeSetupError(str(error)) from None
        except yaml.YAMLError as error:
            raise ServeSetupError(f"{path}: not valid YAML: {error}") from None
        try:
            return cls.model_validate(document or {})
        except ValidationError as error:
            problems = "; ".join(_problem(e) for e in error.errors())
            raise ServeSetupError(f"{path}: {problems}") from None


def _problem(error: Any) -> str:
    where = ".".join(str(part) for part in error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


class Router:
    """Picks the slot that answers a request: by URL, by the first matching rule, or the default."""

    def __init__(self, models: ModelSet, rules: list[Rule] | None = None):
        self.models = models
        self.rules = rules or []
        for rule in self.rules:
            if rule.when.latency is not None:
                watched = models.slots[rule.when.latency.model or models.default]
                watched.latency.horizon_s = max(watched.latency.horizon_s, rule.when.latency.window_s)

    def choose(self, headers: Mapping[str, str], query: Mapping[str, str]) -> tuple[ModelSlot, str]:
        """The slot for a request and the name of the rule that chose it ("default" if none)."""
        for number, rule in enumerate(self.rules):
            if self._holds(rule.when, headers, query):
                return self.models.slots[rule.use], rule.name or f"rule-{number}"
        return self.models.slots[self.models.default], "default"

    def _holds(self, when: When, headers: Mapping[str, str], query: Mapping[str, str]) -> bool:
        if when.header and not _matches(when.header, headers):
            return False
        if when.query and not _matches(when.query, query):
            return False
        if when.latency:
            condition = when.latency
            window = self.models.slots[condition.model or self.models.default].latency
            value = window.percentile(condition.percentile, condition.window_s, condition.min_requests)
            if value is None or value <= condition.above_ms:
                return False
        return True


def _matches(wanted: dict[str, Values], given: Mapping[str, str]) -> bool:
    for key, values in wanted.items():
        value = given.get(key)
        if value is None or value not in ([values] if isinstance(values, str) else values):
            return False
    return True
