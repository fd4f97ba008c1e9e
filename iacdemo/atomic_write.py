"""Writing a file so that a reader sees the old content or the new, never half of the new.

Status files, locks, caches and results are read by other threads and processes while they are written
(the Train tab polls status.json while the job writes it). Every writer goes through here: a temporary
file beside the target (same filesystem, so the rename is atomic), then `os.replace`. The temporary name
comes from `mkstemp`, unique per call, so two threads of one process writing the same file cannot
interleave (a name built from the pid alone could).
"""
from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

FILE_MODE = 0o644  # mkstemp's 0o600 would hide a cache or status file from the other users of a shared box


@contextmanager
def atomic_file(path: Path, binary: bool = False) -> Iterator[IO]:
    """Yield a file to write; it becomes `path` when the block ends, and is removed if the block raises."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as fh:
            yield fh
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    with atomic_file(path) as fh:
        fh.write(text)


def write_json(path: Path, data: Any, **dump_options: Any) -> None:
    """`json.dump` atomically; `dump_options` as json.dump takes them (indent, default, ensure_ascii)."""
    with atomic_file(path) as fh:
        json.dump(data, fh, **dump_options)
