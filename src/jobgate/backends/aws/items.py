"""DynamoDB's attribute-value shapes ⇄ plain fields. Pure functions, no I/O."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from jobgate.backends.fields import decode_cursor
from jobgate.errors import ValidationFailed

Item = dict[str, dict[str, Any]]


def to_attr(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float):
        return {"N": repr(value)}
    if isinstance(value, list | tuple):
        return {"L": [to_attr(v) for v in value]}
    return {"S": str(value)}


def from_attr(attr: Mapping[str, Any]) -> Any:
    if "S" in attr:
        return attr["S"]
    if "N" in attr:
        text = attr["N"]
        return float(text) if any(c in text for c in ".eE") else int(text)
    if "BOOL" in attr:
        return attr["BOOL"]
    if "L" in attr:
        return [from_attr(v) for v in attr["L"]]
    return None


def to_item(fields: Mapping[str, Any]) -> Item:
    return {k: to_attr(v) for k, v in fields.items() if v is not None}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: from_attr(v) for k, v in item.items()}


def start_key(cursor: str | None) -> Any:
    """The DynamoDB start key a cursor carries; a cursor we did not make is a 422."""
    if not cursor:
        return None
    try:
        key = json.loads(decode_cursor(cursor))
    except ValueError as exc:
        raise ValidationFailed("cursor is not valid: pass back the cursor of a page") from exc
    if not isinstance(key, dict):
        raise ValidationFailed("cursor is not valid: pass back the cursor of a page")
    return key
