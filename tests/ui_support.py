"""Helpers shared by the UI tests (unit and browser)."""
from __future__ import annotations

import socket
from pathlib import Path

from iacdemo.settings import Settings


def linked_cache_dir(target: Path, settings: Settings) -> Path:
    """A fresh cache dir that shares the real one's content-keyed caches (the converted embedded model, its
    wheel, the provider schema, the RAG index), so none is rebuilt per test, while built datasets and
    evaluation results land in the temporary dir. Each of those caches is keyed by what it was built from
    (a checksum or fingerprint), so sharing them cannot hand a test a stale one."""
    target.mkdir(parents=True, exist_ok=True)
    for shared in ("models", "wheels", "schema", "rag"):
        source = settings.cache_dir / shared
        source.mkdir(parents=True, exist_ok=True)
        link = target / shared
        if not link.exists():
            link.symlink_to(source.resolve(), target_is_directory=True)
    return target


def isolated_settings(settings: Settings, tmp: Path, **overrides) -> Settings:
    """Settings whose runs and cache live under `tmp` (models shared, see `linked_cache_dir`)."""
    return settings.with_overrides(cache_dir=linked_cache_dir(tmp / "cache", settings), runs_dir=tmp / "runs",
                                   **overrides)


def free_port() -> int:
    """A port nothing listens on now, for an app this test starts."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
