"""Would Terraform convert this literal to the argument's type? ("Incorrect attribute value type")

Terraform converts a configuration value to the type the provider's schema declares before anything
else, and only some conversions exist: a number or bool becomes a string, "12" a number, "true" a bool,
a tuple a list or set, an object a map; a string never becomes a list, nor a list a string. Only literal
values are judged: anything that reads another object may be unknown until apply.
"""
from __future__ import annotations

import re
from typing import Any

_NUMBER_TEXT = re.compile(r"^\s*-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$")


def type_problem(value: Any, kind: Any) -> str | None:
    """Why `value` cannot convert to the cty type `kind` (JSON form), or None when it can (or may)."""
    if value is None or kind is None or kind == "dynamic":
        return None
    if isinstance(kind, str):
        return _primitive(value, kind)
    if not isinstance(kind, list) or len(kind) != 2:
        return None
    outer, inner = kind
    if outer in ("list", "set"):
        if not isinstance(value, list):
            return f"{outer} of {_name(inner)} required"
        for item in value:
            problem = type_problem(item, inner)
            if problem:
                return f"element: {problem}"
        return None
    if outer == "map":
        if not isinstance(value, dict):
            return f"map of {_name(inner)} required"
        for key, item in value.items():
            problem = type_problem(item, inner)
            if problem:
                return f"element {key!r}: {problem}"
        return None
    if outer == "object":
        return None if isinstance(value, dict) else "object required"
    return None


def _primitive(value: Any, kind: str) -> str | None:
    if isinstance(value, (list, dict)):
        return f"{kind} required"
    if kind == "string":
        return None
    if kind == "number":
        if isinstance(value, bool):
            return "number required"
        if isinstance(value, str) and not _NUMBER_TEXT.match(value):
            return "a number is required"
        return None
    if kind == "bool":
        if isinstance(value, str) and value not in ("true", "false"):
            return "a bool is required"
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return "bool required"
        return None
    return None


def _name(kind: Any) -> str:
    if isinstance(kind, str):
        return kind
    if isinstance(kind, list) and len(kind) == 2:
        return "object" if kind[0] == "object" else f"{kind[0]} of {_name(kind[1])}"
    return "value"


def is_object_collection(kind: Any) -> bool:
    """A list or set of objects: Terraform also accepts such an attribute written as blocks."""
    return (isinstance(kind, list) and len(kind) == 2 and kind[0] in ("list", "set")
            and isinstance(kind[1], list) and len(kind[1]) == 2 and kind[1][0] == "object")
