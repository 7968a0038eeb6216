"""Reading a prediction request body in the formats of MLflow's scoring server.

JSON bodies carry exactly one of ``dataframe_split`` (``{"columns": [...], "data":
[[...]]}``), ``dataframe_records`` (``[{"col": value}, ...]``), ``instances`` or
``inputs`` (a list of rows, a list of records, or ``{"col": [values]}``), plus
optional ``params``. CSV bodies (``text/csv``) are a header line and rows. Only
the shape of the request is checked here; `signature` checks it against the model.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from scanflow.serve.errors import BadInput, UnsupportedMediaType

Format = Literal["dataframe_split", "dataframe_records", "instances", "inputs"]
FORMATS: tuple[Format, ...] = ("dataframe_split", "dataframe_records", "instances", "inputs")
EXAMPLE = '{"dataframe_split": {"columns": ["a", "b"], "data": [[1.0, 2.0]]}}'


@dataclass(frozen=True)
class Payload:
    """What a request asks to predict, still in its wire shape."""

    format: Format
    data: Any
    params: dict[str, Any] | None = None


def parse_body(body: bytes, content_type: str | None) -> Payload:
    """The payload of a request body; `BadInput` or `UnsupportedMediaType` says what is wrong."""
    media_type, charset = _media_type(content_type)
    if charset not in ("utf-8", "utf8"):
        raise UnsupportedMediaType(f"the body must be UTF-8 encoded, not {charset}")
    if not body.strip():
        raise BadInput(f"the request body is empty; send JSON such as {EXAMPLE}")
    if media_type == "text/csv":
        return _parse_csv(body)
    if media_type in ("application/json", "", "application/x-www-form-urlencoded"):
        return parse_json(body)
    raise UnsupportedMediaType(
        f"content type '{media_type}' is not supported; send application/json (or text/csv)"
    )


def _media_type(content_type: str | None) -> tuple[str, str]:
    if not content_type:
        return "", "utf-8"
    media_type, _, rest = content_type.partition(";")
    charset = "utf-8"
    for parameter in rest.split(";"):
        key, _, value = parameter.strip().partition("=")
        if key.lower() == "charset":
            charset = value.strip().strip('"').lower()
    return media_type.strip().lower(), charset


def parse_json(body: bytes) -> Payload:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise BadInput(f"the body is not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise BadInput(
            f"the body must be a JSON object with one of the keys {', '.join(FORMATS)};"
            f" got a JSON {_json_kind(document)}. Example: {EXAMPLE}"
        )
    present = [key for key in FORMATS if key in document]
    if len(present) != 1:
        found = ", ".join(f"'{key}'" for key in document) or "none"
        raise BadInput(
            f"the body must have exactly one of the keys {', '.join(FORMATS)}; found {found}."
            f" Example: {EXAMPLE}"
        )
    params = document.get("params")
    if params is not None and not isinstance(params, dict):
        raise BadInput(f"'params' must be a JSON object, got a JSON {_json_kind(params)}")
    return Payload(present[0], document[present[0]], params)


def _parse_csv(body: bytes) -> Payload:
    import pandas as pd

    try:
        frame = pd.read_csv(io.BytesIO(body))
    except Exception as error:
        raise BadInput(f"the body is not valid CSV with a header line: {error}") from None
    split = frame.to_dict(orient="split")
    return Payload("dataframe_split", {"columns": split["columns"], "data": split["data"]})


def _json_kind(value: Any) -> str:
    return {list: "array", str: "string", bool: "boolean", type(None): "null", dict: "object"}.get(
        type(value), "number"
    )
