"""Resumability: each finished step's result is a JSON file in the report folder, reused on rerun.

A step is identified by its name and a fingerprint of everything it depends on (its config sections,
the adapters it measures); a changed fingerprint redoes the step, a matching one is skipped. Results
are written atomically, so an interrupted step leaves no half-written result behind (its answers are
still cached one by one, so the rerun continues where it stopped).
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

from iacdemo import atomic_write

STEPS_DIR = "steps"


class StepCache:
    def __init__(self, report_dir: str | Path):
        self.directory = Path(report_dir) / STEPS_DIR

    def path(self, name: str) -> Path:
        return self.directory / f"{name}.json"

    def get(self, name: str, fingerprint: str) -> dict | None:
        try:
            record = json.loads(self.path(name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict) or record.get("fingerprint") != fingerprint:
            return None
        return record.get("result")

    def put(self, name: str, fingerprint: str, result: dict, seconds: float) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        record = {"step": name, "fingerprint": fingerprint, "seconds": round(seconds, 2), "finished": time.time(),
                  "result": result}
        atomic_write.write_json(self.path(name), record, indent=1, ensure_ascii=False)

    def seconds(self, name: str) -> float | None:
        try:
            return json.loads(self.path(name).read_text(encoding="utf-8")).get("seconds")
        except (OSError, ValueError):
            return None


def run_step(cache: StepCache, name: str, fingerprint: str, fn: Callable[[], dict],
             log: Callable[[str], Any] = lambda message: None) -> tuple[dict, bool]:
    """(result, was_cached): the cached result when the fingerprint matches, else fn()'s (then cached)."""
    cached = cache.get(name, fingerprint)
    if cached is not None:
        log(f"[{name}] cached, skipped")
        return cached, True
    log(f"[{name}] running")
    started = time.perf_counter()
    result = fn()
    cache.put(name, fingerprint, result, time.perf_counter() - started)
    log(f"[{name}] done in {time.perf_counter() - started:.1f} s")
    return result, False
