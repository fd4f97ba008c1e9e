"""Record a live side-by-side comparison and replay it later with its original timing.

A talk must survive a GPU machine that is down or slow: record the comparison while rehearsing, then
replay the file on stage. Ticks store per-column deltas (not full texts) so a long answer stays small.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

from iacdemo.errors import DataError

FORMAT_VERSION = 1


@dataclass
class Recording:
    columns: list[str]
    prompt: str = ""
    settings: dict = field(default_factory=dict)
    # (seconds since start, one delta per column): a string to append, or ["=", text] to replace
    ticks: list[tuple[float, list]] = field(default_factory=list)

    def final_texts(self) -> list[str]:
        texts = [""] * len(self.columns)
        for _, deltas in self.ticks:
            texts = apply_deltas(texts, deltas)
        return texts

    def to_json(self) -> str:
        return json.dumps({"version": FORMAT_VERSION, "columns": self.columns, "prompt": self.prompt,
                           "settings": self.settings, "ticks": [[round(t, 3), d] for t, d in self.ticks]},
                          ensure_ascii=False)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json(), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Recording":
        try:  # any bytes, any JSON shape: a clear DataError, never another exception
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
            if not isinstance(raw, dict) or not isinstance(raw.get("columns"), list) \
                    or not isinstance(raw.get("ticks"), list):
                raise ValueError("it needs an object with a 'columns' list and a 'ticks' list")
            columns = [str(c) for c in raw["columns"]]
            ticks = [(_checked_time(t), [_checked_delta(d) for d in deltas]) for t, deltas in raw["ticks"]]
            settings = raw.get("settings") or {}
            if not isinstance(settings, dict):
                raise ValueError("'settings' must be an object")
        except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
            raise DataError(f"{path} is not a side-by-side recording: {exc}") from exc
        if any(len(d) != len(columns) for _, d in ticks):
            raise DataError(f"{path}: a tick has a different number of columns than the header.")
        return cls(columns=columns, prompt=str(raw.get("prompt", "")), settings=settings, ticks=ticks)


def _checked_time(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"a tick time must be a number of seconds, got {value!r}")
    return float(value)


def _checked_delta(delta) -> str | list:
    if isinstance(delta, list):
        if len(delta) != 2 or delta[0] != "=" or not isinstance(delta[1], str):
            raise ValueError(f"a replace delta must be [\"=\", text], got {delta!r}")
        return delta
    return str(delta)


def apply_deltas(texts: Sequence[str], deltas: Sequence) -> list[str]:
    return [d[1] if isinstance(d, list) else t + d for t, d in zip(texts, deltas)]


class Recorder:
    """Wraps a stream of full column texts and records the deltas with their timing."""

    def __init__(self, columns: Sequence[str], prompt: str = "", settings: dict | None = None):
        self.recording = Recording(columns=list(columns), prompt=prompt, settings=dict(settings or {}))
        self._last = [""] * len(columns)
        self._start = time.monotonic()

    def record(self, texts: Sequence[str]) -> None:
        deltas: list = [t[len(prev):] if t.startswith(prev) else ["=", t] for t, prev in zip(texts, self._last)]
        if any(deltas):
            self.recording.ticks.append((time.monotonic() - self._start, deltas))
        self._last = list(texts)

    def wrap(self, stream: Iterator[Sequence[str]]) -> Iterator[list[str]]:
        for texts in stream:
            self.record(texts)
            yield list(texts)


def replay(recording: Recording, speed: float = 1.0, sleep=time.sleep) -> Iterator[list[str]]:
    """Yield the columns' texts as they grew in the recording, `speed` times as fast."""
    if speed <= 0:
        raise DataError("Replay speed must be positive.")
    texts = [""] * len(recording.columns)
    elapsed = 0.0
    for t, deltas in recording.ticks:
        wait = (t - elapsed) / speed
        if wait > 0:
            sleep(min(wait, 2.0))  # a long pause in the recording would look like a hang on stage
        elapsed = t
        texts = apply_deltas(texts, deltas)
        yield list(texts)
