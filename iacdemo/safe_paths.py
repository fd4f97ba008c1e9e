"""Names and paths that come from users: kept inside the app's own folders.

Dataset and run names become folder names under the cache or runs dir, and the UI accepts a few free
paths (an extra docs folder). A name with `../` or `/`, or a path that resolves outside the allowed
roots (also through a symlink), would let a visitor read or overwrite files elsewhere on the machine.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

from iacdemo.errors import ConfigError, DataError

MAX_NAME_LEN = 80
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def check_name(name: str | None, what: str = "name") -> str:
    """Return the stripped name if it is one safe folder name; else a ConfigError saying why."""
    name = (name or "").strip()
    if not name:
        raise ConfigError(f"The {what} is empty: give a short name such as 'dynamodb-512'.")
    if "/" in name or "\\" in name or ".." in name:
        raise ConfigError(f"The {what} {name!r} must be a plain folder name, without slashes or '..'.")
    if len(name) > MAX_NAME_LEN:
        raise ConfigError(f"The {what} is {len(name)} characters long; keep it under {MAX_NAME_LEN}.")
    if not _NAME.match(name):
        raise ConfigError(f"The {what} {name!r} may only hold letters, digits, '.', '_' and '-', "
                          "and must start with a letter or digit.")
    return name


def resolve_inside(path: str | Path, roots: Iterable[str | Path], what: str = "path") -> Path:
    """Resolve `path` (relative ones against the first root) and refuse it unless it lies in a root."""
    roots = [Path(r).expanduser().resolve() for r in roots]
    if not roots:
        raise ConfigError("No allowed folders configured.")
    text = str(path).strip()
    if not text:
        raise DataError(f"The {what} is empty.")
    raw = Path(text).expanduser()
    resolved = (raw if raw.is_absolute() else roots[0] / raw).resolve()
    if not any(resolved == root or root in resolved.parents for root in roots):
        allowed = ", ".join(str(r) for r in roots)
        raise DataError(f"The {what} {text!r} is outside the app's folders ({allowed}); "
                        "put the files there first.")
    if not resolved.exists():
        raise DataError(f"The {what} {text!r} does not exist (looked at {resolved}).")
    return resolved
