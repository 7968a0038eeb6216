"""Problems a user can act on, from pydantic's validation errors of spec models.

Shared by the YAML loader (which adds file positions) and by spec objects built
in Python, so both name the node, the field and the fix the same way.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, ValidationError

from scanflow.spec.errors import Location, Problem, did_you_mean


def problems_from(
    exc: ValidationError,
    model: type[BaseModel],
    node_label: str | None,
    key_for_name: str = "name",
    where: Callable[[tuple], Location | None] = lambda field_path: None,
) -> list[Problem]:
    """Readable problems from a pydantic error: one per field, with its position when ``where`` knows it.

    ``key_for_name`` is what the user wrote for the name (``executor`` in YAML).
    """
    problems: list[Problem] = []
    seen_fields: set[tuple] = set()
    known = [key_for_name if f == "name" else f for f in model.model_fields]
    for error in exc.errors():
        loc = tuple(error["loc"])
        # Unions report one error per member; keep the first per field.
        field_loc = tuple(
            p for p in loc if not (isinstance(p, str) and ("[" in p or p in {"str", "int", "float"}))
        )
        if field_loc in seen_fields:
            continue
        seen_fields.add(field_loc)
        written = tuple(key_for_name if p == "name" else p for p in field_loc)
        place = where(written)
        if error["type"] == "extra_forbidden" and len(field_loc) == 1:
            key = str(field_loc[0])
            problems.append(Problem(f"unknown field '{key}'", node_label, place, did_you_mean(key, known)))
            continue
        if error["type"] == "extra_forbidden":
            key = str(field_loc[-1])
            parent = ".".join(map(str, written[:-1]))
            submodel = _submodel(model, str(field_loc[0]))
            choices = list(submodel.model_fields) if submodel else []
            problems.append(
                Problem(f"unknown field '{key}' in '{parent}'", node_label, place, did_you_mean(key, choices))
            )
            continue
        message = error["msg"].removeprefix("Value error, ")
        if written:
            label = ".".join(map(str, written))
            message = f"{label}: {message}"
            if error["type"] not in {"value_error", "missing"}:
                message += f" (got {error.get('input')!r})"
        problems.append(Problem(message, node_label, place))
    return problems


def _submodel(model: type[BaseModel], field: str) -> type[BaseModel] | None:
    info = model.model_fields.get(field)
    annotation = getattr(info, "annotation", None)
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
