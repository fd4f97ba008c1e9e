"""Names and paths that come from users: kept inside the app's own folders.

Dataset and run names become folder names under the cache or runs dir, and the UI accepts a few free
paths (an extra docs folder). A name with `../` or `/`, or a path that resolves outside the allowed
roots (also through a symlink), would let a visitor read or overwrite files elsewhere on the machine.
"""
from __future__ import annotations

import os
import re
import shutil
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


TMP_DIR = ".tmp"  # beside the user's folders; user names cannot start with "." (see check_name)


def temp_dir_for(target: Path) -> Path:
    """A fresh temporary folder for building `target`, outside the user's namespace.

    A sibling named `target.tmp-build` could be a user's own folder (and was deleted by the next build);
    `.tmp/<name>-<random>` can never be one, and two builds of the same name never share it.
    """
    import uuid

    root = target.parent / TMP_DIR
    root.mkdir(parents=True, exist_ok=True)
    return root / f"{target.name}-{uuid.uuid4().hex[:12]}"


def refuse_symlink(path: Path, what: str) -> None:
    """A user folder that is a symbolic link would make the app write (or delete) wherever it points."""
    if path.is_symlink():
        raise ConfigError(f"The {what} {path} is a symbolic link; the app only writes real folders. Remove "
                          "the link or pick another name.")


def free_name(path: Path) -> Path:
    """`path` if nothing is there, else the first free `path-2`, `path-3`, … (keep both, never replace)."""
    if not path.exists() and not path.is_symlink():
        return path
    for n in range(2, 10_000):
        candidate = path.with_name(f"{path.name}-{n}")
        if not candidate.exists() and not candidate.is_symlink():
            return candidate
    raise ConfigError(f"Too many folders named {path.name}-N; pick another name.")


def swap_in(tmp: Path, target: Path) -> None:
    """Move the finished `tmp` to `target`, replacing an earlier one only once the new one is complete."""
    old = None
    if target.exists():
        old = temp_dir_for(target)
        os.replace(target, old)
    os.replace(tmp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
