"""Reading small JSON files that anyone with access to the disk can edit (status, config, stats, caches).

A run folder or a cache entry is written by us but may be truncated by a crash, hand-edited, or hold
any bytes at all. One unreadable file must never stop the app from starting or a list from showing:
readers get a value of the expected shape or a reason why not, never an exception they did not ask for.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from iacdemo.errors import DataError

MAX_JSON_BYTES = 16 * 1024 * 1024  # status/config/stats files are kilobytes; a bigger one is not ours


def read_json(path: str | Path, expect: type | tuple[type, ...] = dict, what: str | None = None) -> Any:
    """The parsed file if it is valid UTF-8 JSON of type `expect`; else DataError naming the reason."""
    path = Path(path)
    what = what or path.name
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            raise DataError(f"{what} is larger than {MAX_JSON_BYTES // 2**20} MB")
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{what} cannot be read ({exc.strerror or type(exc).__name__})") from exc
    try:
        value = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DataError(f"{what} is not UTF-8 text (byte {exc.start})") from exc
    except (json.JSONDecodeError, RecursionError) as exc:
        raise DataError(f"{what} is not valid JSON ({str(exc)[:80]})") from exc
    if not isinstance(value, expect):
        names = " or ".join(t.__name__ for t in (expect if isinstance(expect, tuple) else (expect,)))
        kind = {"dict": "a JSON object", "list": "a JSON list"}.get(names, names)
        raise DataError(f"{what} is not {kind} (found {type(value).__name__})")
    return value


def read_json_or(path: str | Path, default: Any, expect: type | tuple[type, ...] = dict) -> tuple[Any, str | None]:
    """(value, None) for a good file; (default, reason) for a missing or broken one."""
    try:
        return read_json(path, expect), None
    except DataError as exc:
        return default, str(exc)


def as_int(value: Any, default: int | None = None, minimum: int | None = 0) -> int | None:
    """An int from a hand-editable field (`"abc"`, `[]`, `true`, `1e400` and negatives give `default`)."""
    if isinstance(value, bool):
        return default
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        value = int(value)
    if not isinstance(value, int) or abs(value) >= 2**63:
        return default
    return default if minimum is not None and value < minimum else value


def as_float(value: Any, default: float | None = None) -> float | None:
    """A finite float from a hand-editable field (strings, NaN and infinities give `default`)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return default
    try:
        value = float(value)
    except OverflowError:
        return default
    return value if math.isfinite(value) else default


def as_str(value: Any, default: str | None = None, limit: int = 2000) -> str | None:
    return value[:limit] if isinstance(value, str) else default
