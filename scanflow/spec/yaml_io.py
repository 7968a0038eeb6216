"""YAML <-> spec objects, with errors that carry the file, line and column.

The YAML shape mirrors the Python objects one-to-one: an executor is a mapping
whose ``executor`` key holds its name, a nested workflow one whose ``workflow``
key does, a deployment one whose ``deployment`` key does, and every other key
is a field of the same name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from scanflow.spec.deployment import Deployment
from scanflow.spec.errors import Location, Problem, SpecError, did_you_mean
from scanflow.spec.executor import Executor
from scanflow.spec.field_problems import problems_from
from scanflow.spec.workflow import Workflow
from scanflow.text_files import NotText, read_text

YamlPath = tuple[str | int, ...]
_KIND_KEYS = ("executor", "workflow", "deployment")
_NODE_KINDS = "'executor: NAME' or 'workflow: NAME' (or 'deployment: NAME' to serve a model)"
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: 10x faster, with the same marks


# ------------------------------------------------------------------ reading
class _Source:
    """Parsed YAML plus the position of every key and list item in it."""

    def __init__(self, text: str, filename: str):
        self.filename = filename
        self.positions: dict[YamlPath, Location] = {}
        self.problems: list[Problem] = []
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
            self.data = loader.construct_document(root) if root is not None else None
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            where = self._location(mark) if mark else None
            what = exc.problem or "invalid YAML"
            if exc.context and exc.context_mark and exc.context_mark is not mark:
                opened = exc.context_mark
                what += f" ({exc.context} at line {opened.line + 1}, column {opened.column + 1})"
            raise SpecError([Problem(f"YAML syntax error: {what}", location=where)]) from None
        finally:
            loader.dispose()
        if root is not None:
            self._index(root, ())

    def _location(self, mark: yaml.Mark) -> Location:
        return Location(self.filename, mark.line + 1, mark.column + 1)

    def _index(self, node: yaml.Node, path: YamlPath) -> None:
        self.positions.setdefault(path, self._location(node.start_mark))
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in node.value:
                key = str(key_node.value)
                if key in seen:
                    self.problems.append(
                        Problem(f"duplicate key '{key}'", location=self._location(key_node.start_mark))
                    )
                seen.add(key)
                self.positions[(*path, key)] = self._location(key_node.start_mark)
                self._index(value_node, (*path, key))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self._index(item, (*path, index))

    def where(self, path: YamlPath) -> Location | None:
        """Position of ``path``, or of its closest ancestor that has one."""
        while path not in self.positions and path:
            path = path[:-1]
        return self.positions.get(path)


DEFAULT_FILES = ("workflow.yaml", "workflow.yml")


def workflow_file(path: str | Path) -> Path:
    """``path`` itself, or the ``workflow.yaml`` of the folder it names."""
    given = Path(path)
    if given.is_dir():
        shown = given.resolve() if given == Path(".") else given
        found = [given / name for name in DEFAULT_FILES if (given / name).is_file()]
        if len(found) == 1:
            return found[0]
        if found:
            raise SpecError([Problem(f"folder '{shown}' holds both {' and '.join(DEFAULT_FILES)}: give one")])
        others = sorted(p.name for p in given.glob("*.y*ml") if p.is_file())
        hint = f"YAML files there: {', '.join(others)}" if others else "it holds no YAML file"
        raise SpecError(
            [Problem(f"folder '{shown}' has no {DEFAULT_FILES[0]}: give the workflow file", hint=hint)]
        )
    if not given.is_file():
        raise SpecError([Problem(f"workflow file '{given}' not found", hint="check the path")])
    return given


def load_workflow(path: str | Path) -> Workflow:
    """Read, parse and validate a workflow YAML file (or the ``workflow.yaml`` of a folder)."""
    file = workflow_file(path)
    try:
        text = read_text(file, "workflow file")
    except NotText as error:
        raise SpecError([Problem(str(error))]) from None
    return parse_workflow(text, filename=str(file), base_dir=file.parent)


def parse_workflow(text: str, filename: str = "<string>", base_dir: str | Path | None = None) -> Workflow:
    """Build a ``Workflow`` from YAML text; raise ``SpecError`` naming every problem."""
    source = _Source(text, filename)
    if not isinstance(source.data, dict):
        raise SpecError(
            [Problem("a workflow file must be a mapping with 'name' and 'nodes'", location=source.where(()))]
        )
    data = dict(source.data)
    if "name" not in data and "workflow" in data:
        data["name"] = data.pop("workflow")
    builder = _Builder(source)
    workflow = builder.workflow(data, (), node_path=None)
    problems = source.problems + builder.problems
    if problems or workflow is None:
        raise SpecError(problems)
    workflow._source = filename
    workflow._locations = builder.locations
    workflow.base_dir = Path(base_dir) if base_dir is not None else Path.cwd()
    from scanflow.spec.validation import validate

    validate(workflow, check_files=base_dir is not None)
    return workflow


class _Builder:
    """Turns plain YAML data into spec objects, collecting problems as it goes."""

    def __init__(self, source: _Source):
        self.source = source
        self.problems: list[Problem] = []
        self.locations: dict[tuple[str, str | None], Location] = {}

    def _remember(self, data: dict[str, Any], path: YamlPath, node_path: str | None) -> None:
        """Keep where each node and field was written, for later validation messages."""
        label = node_path or ""
        if (where := self.source.where(path)) is not None:
            self.locations[(label, None)] = where
        for key in data:
            if (where := self.source.positions.get((*path, str(key)))) is not None:
                self.locations[(label, str(key))] = where

    def node(self, data: Any, path: YamlPath, parent: str | None) -> Executor | Workflow | Deployment | None:
        where = self.source.where(path)
        if not isinstance(data, dict):
            self.problems.append(Problem(f"each node must be a mapping with {_NODE_KINDS}", parent, where))
            return None
        kinds = [k for k in _KIND_KEYS if k in data]
        if len(kinds) != 1:
            message = (
                f"a node has {' and '.join(repr(k) for k in kinds)}; keep one"
                if kinds
                else f"a node needs {_NODE_KINDS}"
            )
            hint = None
            if not kinds:
                for key in data:
                    hint = hint or did_you_mean(str(key), _KIND_KEYS)
            self.problems.append(Problem(message, parent, where, hint))
            return None
        fields = dict(data)
        name = fields.pop(kinds[0])
        fields = {"name": name, **fields}
        node_path = f"{parent}/{name}" if parent else str(name)
        self._remember(data, path, node_path)
        if kinds[0] == "workflow":
            return self.workflow(fields, path, node_path, key_for_name="workflow")
        if kinds[0] == "deployment":
            return self._validate(Deployment, fields, path, node_path, key_for_name="deployment")
        return self._validate(Executor, fields, path, node_path, key_for_name="executor")

    def workflow(
        self, data: dict[str, Any], path: YamlPath, node_path: str | None, key_for_name: str = "name"
    ) -> Workflow | None:
        if node_path is None:
            self._remember(data, path, None)
        children = data.get("nodes", [])
        fields = {k: v for k, v in data.items() if k != "nodes"}
        built: list[Executor | Workflow | Deployment] = []
        if not isinstance(children, list):
            self.problems.append(
                Problem("'nodes' must be a list of nodes", node_path, self.source.where((*path, "nodes")))
            )
        else:
            for index, child in enumerate(children):
                node = self.node(child, (*path, "nodes", index), node_path)
                if node is not None:
                    built.append(node)
            if len(built) == len(children):
                fields["nodes"] = built
        workflow = self._validate(Workflow, fields, path, node_path, key_for_name)
        if workflow is not None and "nodes" in data and "nodes" not in fields:
            return None  # a child was invalid; its problem is already recorded
        return workflow

    def _validate(
        self,
        model: type[BaseModel],
        fields: dict[str, Any],
        path: YamlPath,
        node_path: str | None,
        key_for_name: str,
    ) -> Any:
        try:
            return model.model_validate(fields)
        except ValidationError as exc:
            self.problems.extend(
                problems_from(
                    exc,
                    model,
                    node_path or (str(fields.get("name")) if fields.get("name") else None),
                    key_for_name,
                    lambda field_path: self.source.where((*path, *field_path)),
                )
            )
            return None


# ------------------------------------------------------------------ writing
_EXECUTOR_FIRST = ("file", "function", "depends_on")
_WORKFLOW_FIRST = ("description", "parallel", "depends_on")
_DEPLOYMENT_FIRST = ("model", "depends_on", "backend")


def _ordered(head: dict[str, Any], data: dict[str, Any], first: tuple[str, ...]) -> dict[str, Any]:
    """Kind and name first, then the fields a reader looks for, then the rest as declared."""
    ordered = dict(head)
    ordered.update({k: data[k] for k in first if k in data})
    ordered.update({k: v for k, v in data.items() if k not in first})
    return ordered


def executor_to_dict(executor: Executor) -> dict[str, Any]:
    data = executor.model_dump(exclude_unset=True, mode="json")
    return _ordered({"executor": data.pop("name")}, data, _EXECUTOR_FIRST)


def deployment_to_dict(deployment: Deployment) -> dict[str, Any]:
    data = deployment.model_dump(exclude_unset=True, mode="json")
    return _ordered({"deployment": data.pop("name")}, data, _DEPLOYMENT_FIRST)


def workflow_to_dict(workflow: Workflow, top: bool = False) -> dict[str, Any]:
    data = workflow.model_dump(exclude_unset=True, exclude={"nodes"}, mode="json")
    name = data.pop("name")
    head = {"name": name} if top else {"workflow": name}
    data["nodes"] = [_node_to_dict(n) for n in workflow.nodes]
    return _ordered(head, data, _WORKFLOW_FIRST)


def _node_to_dict(node: Executor | Workflow | Deployment) -> dict[str, Any]:
    if isinstance(node, Workflow):
        return workflow_to_dict(node)
    if isinstance(node, Deployment):
        return deployment_to_dict(node)
    return executor_to_dict(node)


class _Dumper(yaml.SafeDumper):
    """Lists and small mappings of plain values in flow style (``depends_on: [a, b]``,
    ``resources: {cpu: 2}``); nodes and everything nested in blocks."""


def _plain(value: object) -> bool:
    return isinstance(value, str | int | float | bool) or value is None


def _represent_list(dumper: yaml.SafeDumper, items: list) -> yaml.Node:
    flat = bool(items) and all(_plain(i) for i in items)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", items, flow_style=flat)


def _represent_dict(dumper: yaml.SafeDumper, mapping: dict) -> yaml.Node:
    flat = (
        0 < len(mapping) <= 4
        and all(_plain(v) for v in mapping.values())
        and not set(mapping) & set(_KIND_KEYS)
    )
    node = dumper.represent_mapping("tag:yaml.org,2002:map", mapping, flow_style=flat)
    return node


_Dumper.add_representer(list, _represent_list)
_Dumper.add_representer(dict, _represent_dict)


def dump_workflow(workflow: Workflow) -> str:
    return yaml.dump(
        workflow_to_dict(workflow, top=True),
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=100,
    )
