"""`Executor`: one step of a workflow, with its environment, parameters and resources."""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from scanflow.spec.quantities import parse_duration
from scanflow.spec.resources import Resources

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
EnvManager = Literal["uv", "current"]
_FUNCTION_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


class Node(BaseModel):
    """What executors and workflows share: a name and the names they wait for."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    name: str = Field(pattern=NAME_PATTERN, max_length=63)
    depends_on: list[str] = Field(default_factory=list)

    def __init__(self, name: str | None = None, /, **data: Any) -> None:
        # Allow Executor("train", file=...) as well as Executor(name="train", ...).
        if name is not None:
            data["name"] = name
        super().__init__(**data)

    @field_validator("depends_on", mode="before")
    @classmethod
    def _one_name_is_a_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class Executor(Node):
    """One step: a Python script (``file``) or an importable function (``function``).

    A script receives ``parameters`` as ``--key value`` arguments, a function as
    keyword arguments. Each executor runs in its own environment built from
    ``requirements`` (``env_manager: current`` reuses the running interpreter).
    """

    file: str | None = Field(default=None, description="script path, relative to the workflow")
    function: str | None = Field(default=None, description="'pkg.module:function'")
    parameters: dict[str, Any] = Field(default_factory=dict)
    requirements: str | list[str] | None = Field(
        default=None, description="a requirements file or a list of requirement strings"
    )
    env: dict[str, str] = Field(default_factory=dict, description="environment variables")
    env_manager: EnvManager | None = Field(
        default=None, description="'uv' (isolated, the default) or 'current' (this interpreter)"
    )
    python: str | None = Field(default=None, description="Python version for the environment")
    resources: Resources = Field(default_factory=Resources)
    retries: int = Field(default=0, ge=0)
    retry_delay: float = Field(default=1.0, ge=0, description="seconds before the first retry")
    timeout: str | float | None = Field(default=None, description="seconds, or '30s', '5m'...")
    inputs: list[str] = Field(default_factory=list, description="files read from the data dir")
    outputs: list[str] = Field(default_factory=list, description="files written to the data dir")
    cache: bool = False
    image: str | None = Field(default=None, description="ready container image to run in")
    base_image: str | None = Field(default=None, description="image to build the step's image on")
    dockerfile: str | None = Field(default=None, description="the user's own Dockerfile")
    placement: list[str] = Field(
        default_factory=list, description="cluster placement constraints, e.g. 'node.labels.gpu==true'"
    )

    @field_validator("env", mode="before")
    @classmethod
    def _env_values_are_text(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): _env_text(v) for k, v in value.items()}
        return value

    @field_validator("parameters", mode="before")
    @classmethod
    def _parameters_are_plain_values(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): _plain(v, f"parameter '{k}'") for k, v in value.items()}
        return value

    @field_validator("function")
    @classmethod
    def _function_is_importable_path(cls, value: str | None) -> str | None:
        if value is not None and not _FUNCTION_RE.match(value):
            raise ValueError(f"function must look like 'package.module:function', got {value!r}")
        return value

    @field_validator("timeout")
    @classmethod
    def _timeout_is_a_duration(cls, value: str | float | None) -> str | float | None:
        if value is not None:
            parse_duration(value)
        return value

    @field_validator("inputs", "outputs")
    @classmethod
    def _paths_stay_in_data_dir(cls, paths: list[str]) -> list[str]:
        for path in paths:
            parts = path.replace("\\", "/").split("/")
            if path.startswith("/") or ".." in parts:
                raise ValueError(
                    f"'{path}' must be a path inside the workflow's data directory (relative, without '..')"
                )
        return paths

    @model_validator(mode="after")
    def _exactly_one_entry_point(self) -> Executor:
        if self.image is None and self.dockerfile is None and (self.file is None) == (self.function is None):
            raise ValueError("give exactly one of 'file' (a script) or 'function' ('pkg.module:function')")
        if self.file is not None and self.function is not None:
            raise ValueError("give either 'file' or 'function', not both")
        return self

    @property
    def timeout_seconds(self) -> float | None:
        return parse_duration(self.timeout) if self.timeout is not None else None

    @property
    def kind(self) -> str:
        return "function" if self.function else "script"


def _plain(value: Any, where: str) -> Any:
    """``value`` as YAML and the command line can carry it: NumPy numbers and arrays become Python ones.

    Parameters go into the run's ``workflow.yaml``, onto a script's command line
    and into MLflow params, so anything else is refused here, by name.
    """
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v, f"{where}['{k}']") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if hasattr(value, "tolist") and callable(value.tolist):  # NumPy arrays and scalars, pandas Series
        return _plain(value.tolist(), where)
    if isinstance(value, PurePath):
        return str(value)
    raise ValueError(
        f"{where} is of type '{type(value).__name__}': parameters must be numbers, text, booleans, lists or"
        " mappings of these (they are written to YAML and passed on the command line)"
    )


def _env_text(value: Any) -> str:
    """Environment variables are text; YAML may hand us numbers or booleans."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
