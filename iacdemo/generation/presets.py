"""Ready-made prompts for a live demo: chat tasks for Compare, page openers for Doc completion.

`assets/presets.json` holds the hand-written ones and a rule picking a handful of IaC-Eval tasks from
the benchmark CSV (so the demo shows real benchmark prompts without copying the data). A missing CSV
only removes those tasks; the demo still has its built-in presets.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iacdemo.errors import DataError
from iacdemo.evaluation.tasks import load_tasks
from iacdemo.settings import ASSETS_DIR, Settings, get_settings

PRESETS_FILE = ASSETS_DIR / "presets.json"


@dataclass(frozen=True)
class ChatPreset:
    title: str
    prompt: str
    source: str = ""


@dataclass(frozen=True)
class DocPreset:
    title: str
    text: str
    source: str = ""


@dataclass(frozen=True)
class Presets:
    chat: list[ChatPreset]
    doc: list[DocPreset]
    notes: list[str] = field(default_factory=list)  # e.g. "IaC-Eval tasks unavailable: ..."

    def chat_choices(self) -> list[tuple[str, str]]:
        """(label, prompt) pairs for a dropdown."""
        return [(p.title, p.prompt) for p in self.chat]

    def doc_choices(self) -> list[tuple[str, str]]:
        return [(p.title, p.text) for p in self.doc]


def _resource_set(resources: str) -> frozenset[str]:
    return frozenset(r.strip() for r in resources.split(",") if r.strip())


def _iac_eval_rows(csv_path: Path) -> list[tuple[str, str, int]]:
    """(resource, prompt, difficulty) of every task, through the evaluation package's loader."""
    return [(t.resource, t.prompt, int(t.difficulty)) for t in load_tasks(csv_path)]


def pick_iac_eval_presets(rule: dict[str, Any], csv_path: Path) -> list[ChatPreset]:
    """For each wanted resource set, the first short enough task of low enough difficulty."""
    rows = _iac_eval_rows(csv_path)
    max_difficulty = int(rule.get("max_difficulty", 3))
    max_chars = int(rule.get("max_prompt_chars", 300))
    presets = []
    for wanted in rule.get("resources", []):
        wanted_set = _resource_set(wanted)
        for resource, prompt, difficulty in rows:
            if (_resource_set(resource) == wanted_set and difficulty <= max_difficulty
                    and 0 < len(prompt) <= max_chars):
                short = prompt if len(prompt) <= 70 else prompt[:67].rstrip() + "..."
                presets.append(ChatPreset(title=f"IaC-Eval (difficulty {difficulty}): {short}", prompt=prompt,
                                          source=f"IaC-Eval dev split; resources: {resource}"))
                break
    return presets


def load_presets(settings: Settings | None = None, path: str | Path | None = None) -> Presets:
    settings = settings or get_settings()
    path = Path(path) if path is not None else PRESETS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"Cannot read the presets file {path}: {exc}") from exc
    chat = [ChatPreset(**item) for item in data.get("chat", [])]
    doc = [DocPreset(**item) for item in data.get("doc", [])]
    notes: list[str] = []
    if data.get("iac_eval"):
        try:
            seen = {p.prompt.strip().lower() for p in chat}
            for preset in pick_iac_eval_presets(data["iac_eval"], settings.iac_eval_csv):
                if preset.prompt.strip().lower() not in seen:
                    chat.append(preset)
        except (DataError, OSError) as exc:
            notes.append(f"IaC-Eval presets unavailable: {exc}")
    return Presets(chat=chat, doc=doc, notes=notes)
