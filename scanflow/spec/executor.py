"""`Executor`: one step of a workflow, with its environment, parameters and resources."""

from __future__ import annotations

import os
import re
from contextvars import ContextVar
from pathlib import PurePath
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from scanflow.spec.errors import SpecError
from scanflow.spec.field_problems import problems_from
from scanflow.spec.quantities import parse_duration
from scanflow.spec.resources import Resources

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_VALIDATING: ContextVar[bool] = ContextVar("scanflow_spec_validating", default=False)
_NAME_LIMIT = 63  # a DNS label: names become container, service and host names
EnvManager = Literal["uv", "current"]


def _path_text(value: Any) -> Any:
    """A ``Path`` given where a file's name goes, as the text YAML and the runner use."""
    return os.fspath(value) if isinstance(value, os.PathLike) else value


PathText = BeforeValidator(_path_text)
_FUNCTION_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


class Node(BaseModel):
    """What executors and workflows share: a name and the names they wait for."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    name: str
    depends_on: list[str] = Field(default_factory=list)

    def __init__(self, name: str | None = None, /, **data: Any) -> None:
        # Allow Executor("train", file=...) as well as Executor(name="train", ...).
        if name is not None:
            data["name"] = name
        if _VALIDATING.get():  # inside another node or model_validate: the outermost call words the errors
            super().__init__(**data)
            return
        token = _VALIDATING.set(True)
        try:
            super().__init__(**data)
        except ValidationError as exc:  # the same problems, worded as for a YAML file
            label = data.get("name") if isinstance(data.get("name"), str) else None
            raise SpecError(problems_from(exc, type(self), label)) from None
        finally:
            _VALIDATING.reset(token)

    @classmethod
    def model_validate(cls, *args: Any, **kwargs: Any) -> Any:
        """Pydantic's errors, unchanged: the YAML loader places each in the file."""
        token = _VALIDATING.set(True)
        try:
            return super().model_validate(*args, **kwargs)
        finally:
            _VALIDATING.reset(token)

    @field_validator("name")
    @classmethod
    def _name_fits_everywhere(cls, value: str) -> str:
        if not _NAME_RE.match(value):
            raise ValueError(
                f"{value!r} is not a valid name: use letters, digits, '_', '.' and '-',"
                " starting with a letter or digit"
            )
        if len(value) > _NAME_LIMIT:
            raise ValueError(f"{value!r} is {len(value)} characters long; names take at most {_NAME_LIMIT}")
        return value

    @field_validator("depends_on", mode="before")
    @classmethod
    def _names_of_nodes(cls, value: Any) -> Any:
        """``depends_on`` takes names or the nodes themselves, one or a list."""
        items = value if isinstance(value, list | tuple) else [value]
        return [item.name if isinstance(item, Node) else item for item in items]


class Executor(Node):
    """One step: a Python script (``file``) or an importable function (``function``).

    A script receives ``parameters`` as ``--key value`` arguments, a function as
    keyword arguments. Each executor runs in its own environment built from
    ``requirements`` (``env_manager: current`` reuses the running interpreter).
    """

    file: Annotated[str | None, PathText] = Field(
        default=None, description="script path, relative to the workflow"
    )
    function: str | None = Field(default=None, description="'pkg.module:function'")
    parameters: dict[str, Any] = Field(default_factory=dict)
    requirements: Annotated[str | list[str] | None, PathText] = Field(
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
    dockerfile: Annotated[str | None, PathText] = Field(default=None, description="the user's own Dockerfile")
    placement: list[str] = Field(
        default_factory=list, description="cluster placement constraints, e.g. 'node.labels.gpu==true'"
    )

    @field_validator("function", mode="before")
    @classmethod
    def _function_as_import_path(cls, value: Any) -> Any:
        return import_path(value) if callable(value) else value

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


def import_path(function: Any) -> str:
    """``module:function`` for a function a step's worker can import; refuse the others, saying why."""
    module, qualname = getattr(function, "__module__", None), getattr(function, "__qualname__", "")
    name = getattr(function, "__name__", repr(function))
    if "<" in qualname or "." in qualname:  # a lambda, a nested function, a method
        raise ValueError(
            f"function {qualname!r} is not at the top level of its module:"
            " a step can only call a module-level function"
        )
    if module in (None, "__main__"):
        raise ValueError(
            f"function {name!r} is defined in the script being run, which a step cannot import:"
            " move it to a module next to the workflow (steps.py) and import it from there,"
            " or give 'module:function'"
        )
    return f"{module}:{qualname}"


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
