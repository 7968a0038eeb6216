"""Pictures of a workflow: Graphviz DOT, and SVG with or without the Graphviz binary.

Nested workflows are drawn as boxes (clusters) around their steps. With the
``dot`` program installed we let Graphviz lay the graph out; without it a small
layered layout written here still gives a readable SVG (in Jupyter too).
"""

from __future__ import annotations

import shutil
import subprocess
from html import escape
from pathlib import Path

from scanflow.graph import Graph, Step

_NODE_W, _NODE_H, _GAP_X, _GAP_Y, _PAD = 150, 36, 30, 60, 14

# (fill, stroke) of a step by its status in a run (`scanflow graph --run`), as the console colours them.
STATUS_COLOURS = {
    "done": ("#d9f2d9", "#2e7d32"),
    "cached": ("#d9f2d9", "#2e7d32"),
    "failed": ("#fbdcdc", "#c62828"),
    "running": ("#fff3cd", "#b8860b"),
    "pending": ("#ffffff", "#888888"),
    "skipped": ("#eeeeee", "#888888"),
    "cancelled": ("#f3e0f5", "#8e24aa"),
}
Statuses = dict[str, str] | None  # step key -> status; None draws the workflow itself


def to_dot(graph: Graph, statuses: Statuses = None) -> str:
    lines = [
        f'digraph "{graph.workflow.name}" {{',
        "  rankdir=TB; compound=true; fontname=Helvetica;",
        '  node [shape=box, style="rounded,filled", fillcolor="#e8f1fb", color="#4a78a8",'
        " fontname=Helvetica];",
        f'  label="{graph.workflow.name}"; labelloc=t;',
    ]
    children: dict[str, list[str]] = {"": []}
    for path in graph.nested:
        children.setdefault(path, [])
        parent = path.rsplit("/", 1)[0] if "/" in path else ""
        children.setdefault(parent, []).append(path)
    members: dict[str, list[str]] = {}
    for step in graph:
        members.setdefault(step.workflows[-1] if step.workflows else "", []).append(step.key)

    def emit(path: str, indent: str) -> None:
        for key in members.get(path, []):
            step = graph.steps[key]
            look = ', shape=component, fillcolor="#e3f4e1", color="#4a8a4a"' if step.deployment else ""
            if statuses is not None:
                fill, stroke = _status_colours(statuses, key)
                look += f', fillcolor="{fill}", color="{stroke}"'
            lines.append(f'{indent}"{key}" [label="{_label(step, statuses)}"{look}];')
        for sub in children.get(path, []):
            cluster = "cluster_" + sub.replace("/", "__").replace("-", "_").replace(".", "_")
            name = graph.nested[sub].name
            style = "dashed" if graph.nested[sub].parallel else "solid"
            lines.append(f'{indent}subgraph "{cluster}" {{')
            lines.append(f'{indent}  label="{name}"; style="rounded,{style}"; color="#888888";')
            emit(sub, indent + "  ")
            lines.append(f"{indent}}}")

    emit("", "  ")
    for step in graph:
        for up in sorted(step.upstream):
            lines.append(f'  "{up}" -> "{step.key}";')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _label(step: Step, statuses: Statuses = None) -> str:
    """A step's name, marked ``ƒ`` for a function and ``▶`` for a deployment (a served model).

    Drawing a run, the step's status follows its name (colour alone is not enough to read).
    """
    status = f" ({statuses.get(step.key, 'not run')})" if statuses is not None else ""
    if step.deployment is not None:
        return f"▶ {step.name}{status}"
    return ("ƒ " if step.executor.function else "") + step.name + status


def _status_colours(statuses: dict[str, str], key: str) -> tuple[str, str]:
    return STATUS_COLOURS.get(statuses.get(key, ""), ("#ffffff", "#bbbbbb"))


def has_graphviz() -> bool:
    return shutil.which("dot") is not None


def render_svg(graph: Graph, use_graphviz: bool | None = None, statuses: Statuses = None) -> str:
    """SVG text of the graph (coloured by ``statuses`` for a run): Graphviz when available, else ours."""
    if use_graphviz is None:
        use_graphviz = has_graphviz()
    if use_graphviz:
        dot = to_dot(graph, statuses)
        result = subprocess.run(["dot", "-Tsvg"], input=dot, capture_output=True, text=True)
        if result.returncode == 0:
            return result.stdout
    return _fallback_svg(graph, statuses)


def write_picture(graph: Graph, output: Path, statuses: Statuses = None) -> None:
    """Write ``.svg``, ``.dot`` or (with Graphviz) ``.png``/``.pdf``, by the file's suffix."""
    suffix = output.suffix.lower()
    if suffix in (".dot", ".gv", ".svg", ".png", ".pdf"):
        output.parent.mkdir(parents=True, exist_ok=True)
    if suffix in (".dot", ".gv"):
        output.write_text(to_dot(graph, statuses))
    elif suffix == ".svg":
        output.write_text(render_svg(graph, statuses=statuses))
    elif suffix in (".png", ".pdf"):
        if not has_graphviz():
            raise RuntimeError(
                f"writing {suffix} needs Graphviz's `dot` (apt-get install graphviz); .svg works without it"
            )
        subprocess.run(
            ["dot", f"-T{suffix[1:]}", "-o", str(output)],
            input=to_dot(graph, statuses),
            text=True,
            check=True,
        )
    else:
        raise ValueError(f"unknown picture format '{suffix}': use .svg, .dot, .png or .pdf")


def _fallback_svg(graph: Graph, statuses: Statuses = None) -> str:
    """A layered drawing: a step's row is the length of the longest path to it."""
    depth: dict[str, int] = {}
    for step in graph:  # steps are in topological order
        depth[step.key] = 1 + max((depth[u] for u in step.upstream), default=-1)
    rows: dict[int, list[str]] = {}
    for key, row in depth.items():
        rows.setdefault(row, []).append(key)
    width = max(len(r) for r in rows.values()) if rows else 1
    nesting = max((len(s.workflows) for s in graph), default=0)
    margin = _PAD * (nesting + 1)
    position: dict[str, tuple[float, float]] = {}
    total_w = width * (_NODE_W + _GAP_X) + 2 * margin
    for row, keys in rows.items():
        offset = (total_w - len(keys) * (_NODE_W + _GAP_X)) / 2 + _GAP_X / 2
        for i, key in enumerate(keys):
            position[key] = (offset + i * (_NODE_W + _GAP_X), margin + 30 + row * (_NODE_H + _GAP_Y))
    total_h = margin * 2 + 30 + len(rows) * (_NODE_H + _GAP_Y)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total_w:.0f}" height="{total_h:.0f}"'
        f' viewBox="0 0 {total_w:.0f} {total_h:.0f}"'
        ' font-family="Helvetica, Arial, sans-serif" font-size="13">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7"'
        ' orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#4a78a8"/></marker></defs>',
        f'<text x="{total_w / 2:.0f}" y="20" text-anchor="middle" font-weight="bold">'
        f"{escape(graph.workflow.name)}</text>",
    ]
    for path, nested in sorted(graph.nested.items(), key=lambda item: item[0].count("/")):
        inside = [k for k in position if k.startswith(path + "/")]
        if not inside:
            continue
        level = path.count("/") + 1
        pad = _PAD * (nesting - level + 1)
        xs = [position[k][0] for k in inside]
        ys = [position[k][1] for k in inside]
        x0, y0 = min(xs) - pad, min(ys) - pad - 14
        x1, y1 = max(xs) + _NODE_W + pad, max(ys) + _NODE_H + pad
        dash = ' stroke-dasharray="6 4"' if nested.parallel else ""
        parts.append(
            f'<g class="cluster"><rect x="{x0:.0f}" y="{y0:.0f}" width="{x1 - x0:.0f}" height="{y1 - y0:.0f}"'
            f' rx="8" fill="none" stroke="#888"{dash}/><text x="{x0 + 8:.0f}" y="{y0 + 13:.0f}"'
            f' fill="#555">{escape(nested.name)}</text></g>'
        )
    for step in graph:
        x, y = position[step.key]
        for up in step.upstream:
            ux, uy = position[up]
            x0, y0, x1 = ux + _NODE_W / 2, uy + _NODE_H, x + _NODE_W / 2
            parts.append(
                f'<path d="M {x0:.0f} {y0:.0f} C {x0:.0f} {y0 + 30:.0f},'
                f' {x1:.0f} {y - 30:.0f}, {x1:.0f} {y:.0f}" fill="none"'
                ' stroke="#4a78a8" marker-end="url(#arrow)"/>'
            )
    for step in graph:
        x, y = position[step.key]
        label = _label(step, statuses)
        fill, stroke = ("#e3f4e1", "#4a8a4a") if step.deployment else ("#e8f1fb", "#4a78a8")
        if statuses is not None:
            fill, stroke = _status_colours(statuses, step.key)
        parts.append(
            f'<g class="node" id="{escape(step.key)}"><rect x="{x:.0f}" y="{y:.0f}" width="{_NODE_W}"'
            f' height="{_NODE_H}" rx="6" fill="{fill}" stroke="{stroke}"/>'
            f'<text x="{x + _NODE_W / 2:.0f}" y="{y + _NODE_H / 2 + 4:.0f}" text-anchor="middle">'
            f"{escape(label)}</text></g>"
        )
    parts.append("</svg>")
    return "\n".join(parts)
