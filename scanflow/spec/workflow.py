"""`Workflow`: a named DAG of executors and nested workflows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field, PrivateAttr, field_validator

from scanflow.spec.deployment import Deployment
from scanflow.spec.executor import EnvManager, Executor, Node, PathText

if TYPE_CHECKING:
    from scanflow.run.result import RunResult


class Workflow(Node):
    """A named DAG of nodes; a node is an ``Executor``, another ``Workflow`` or a ``Deployment``.

    Order comes from ``depends_on`` edges between siblings. ``parallel=True`` runs
    all children side by side; with neither, children run in the order written.
    ``env``, ``env_manager``, ``python``, ``requirements`` and ``base_image`` set
    here are defaults for every executor inside.
    """

    description: str | None = None
    parallel: bool = False
    nodes: list[Executor | Workflow | Deployment] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    env_manager: EnvManager | None = None
    python: str | None = None
    requirements: Annotated[str | list[str] | None, PathText] = None
    base_image: str | None = None

    _base_dir: Path | None = PrivateAttr(default=None)
    _source: str | None = PrivateAttr(default=None)
    _locations: dict = PrivateAttr(default_factory=dict)  # (node path, field) -> Location

    @field_validator("nodes", mode="before")
    @classmethod
    def _nodes_are_nodes(cls, value: Any) -> Any:
        """One node or a list of them; anything else named, since pydantic would list every union member."""
        items = [value] if isinstance(value, Node) else value
        if not isinstance(items, list | tuple):
            raise ValueError(f"a list of Executor, Workflow or Deployment is needed, got {items!r}")
        for index, item in enumerate(items):
            if not isinstance(item, Node | dict):
                raise ValueError(
                    f"item {index} is {item!r}: a node is an Executor(...), a Workflow(...)"
                    " or a Deployment(...)"
                )
        return list(items)

    # ----------------------------------------------------------------- building
    def add(self, *nodes: Executor | Workflow | Deployment) -> Workflow:
        """Append nodes (in order) and return self, for chaining."""
        self.nodes = [*self.nodes, *nodes]
        return self

    def __getitem__(self, name: str) -> Executor | Workflow | Deployment:
        """The child named ``name``; ``a/b`` reaches into nested workflows."""
        head, _, rest = name.partition("/")
        for node in self.nodes:
            if node.name == head:
                if rest:
                    if not isinstance(node, Workflow):
                        raise KeyError(f"'{head}' is not a workflow, it has no node '{rest}'")
                    return node[rest]
                return node
        raise KeyError(f"workflow '{self.name}' has no node '{head}'")

    def walk(self, prefix: str = "") -> Iterator[tuple[str, Executor | Workflow | Deployment]]:
        """Every node below this workflow with its path (``train/svm``), depth first."""
        for node in self.nodes:
            path = f"{prefix}{node.name}"
            yield path, node
            if isinstance(node, Workflow):
                yield from node.walk(prefix=f"{path}/")

    @property
    def base_dir(self) -> Path:
        """Folder that relative ``file`` and ``requirements`` paths start from."""
        return self._base_dir if self._base_dir is not None else Path.cwd()

    @base_dir.setter
    def base_dir(self, value: str | Path) -> None:
        self._base_dir = Path(value).resolve()

    @property
    def source(self) -> str | None:
        """The YAML file this workflow came from, if any (for error locations)."""
        return self._source

    def location(self, node_path: str = "", field: str | None = None):  # noqa: ANN201
        """Where a node (or one of its fields) was written in YAML, if known."""
        return self._locations.get((node_path, field)) or self._locations.get((node_path, None))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Workflow) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    # ------------------------------------------------------------------- YAML
    @classmethod
    def from_yaml(cls, path: str | Path) -> Workflow:
        """Load and validate a workflow from a YAML file."""
        from scanflow.spec.yaml_io import load_workflow

        return load_workflow(path)

    @classmethod
    def from_yaml_string(cls, text: str, base_dir: str | Path | None = None) -> Workflow:
        from scanflow.spec.yaml_io import parse_workflow

        return parse_workflow(text, filename="<string>", base_dir=base_dir)

    def to_yaml(self, path: str | Path | None = None) -> str:
        """The YAML text of this workflow; written to ``path`` when given."""
        from scanflow.spec.yaml_io import dump_workflow

        text = dump_workflow(self)
        if path is not None:
            Path(path).write_text(text)
        return text

    def to_dict(self) -> dict[str, Any]:
        from scanflow.spec.yaml_io import workflow_to_dict

        return workflow_to_dict(self, top=True)

    # --------------------------------------------------------------- actions
    def validate_spec(self, check_files: bool = True) -> Workflow:
        """Raise ``SpecError`` listing every problem; return self when valid."""
        from scanflow.spec.validation import validate

        validate(self, check_files=check_files)
        return self

    def run(self, **options: Any) -> RunResult:
        """Run the workflow (locally by default). See ``scanflow.run.run_workflow``."""
        from scanflow.run.runner import run_workflow

        return run_workflow(self, **options)

    def graph(self):  # noqa: ANN201 - avoids importing graph machinery at spec import
        from scanflow.graph import Graph

        return Graph.from_workflow(self)

    def _repr_svg_(self) -> str:
        from scanflow.graph_render import render_svg

        return render_svg(self.graph())


Workflow.model_rebuild()
