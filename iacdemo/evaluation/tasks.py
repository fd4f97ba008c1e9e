"""IaC-Eval tasks from the benchmark's CSV (`Resource, Prompt, Rego intent, Difficulty, Reference
output, Intent`), with errors that say which file and which column is wrong."""
from __future__ import annotations

import csv
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from iacdemo.errors import DataError
from iacdemo.settings import Settings, get_settings

COLUMNS = {
    "resource": "Resource",
    "prompt": "Prompt",
    "policy": "Rego intent",
    "difficulty": "Difficulty",
    "reference": "Reference output",
    "intent": "Intent",
}


@dataclass(frozen=True)
class Task:
    id: int  # row number in the CSV (0-based, header excluded): stable across runs of the same file
    resource: str
    prompt: str
    policy: str
    difficulty: int
    reference: str
    intent: str

    def to_dict(self) -> dict:
        return {"id": self.id, "resource": self.resource, "prompt": self.prompt, "difficulty": self.difficulty,
                "intent": self.intent}


def load_tasks(path: str | Path | None = None, settings: Settings | None = None) -> list[Task]:
    """All tasks of an IaC-Eval CSV (the dev split from the settings by default)."""
    csv_path = Path(path) if path is not None else (settings or get_settings()).iac_eval_csv
    if not csv_path.is_file():
        raise DataError(f"IaC-Eval task file not found: {csv_path}")
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    try:
        with csv_path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            header = [h.strip() for h in (reader.fieldnames or [])]
            missing = [col for col in COLUMNS.values() if col not in header]
            if missing:
                raise DataError(f"{csv_path} is not an IaC-Eval task file: missing column(s) "
                                f"{', '.join(missing)} (found: {', '.join(header) or 'no header'}).")
            rows = list(reader)
    except UnicodeDecodeError as exc:
        raise DataError(f"{csv_path} is not UTF-8 text: {exc}") from None
    except csv.Error as exc:
        raise DataError(f"{csv_path} is not a valid CSV file: {exc}") from None
    tasks = []
    for index, row in enumerate(rows):
        row = {(k or "").strip(): v for k, v in row.items()}
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue  # blank line
        difficulty_text = (row.get("Difficulty") or "").strip()
        try:
            difficulty = int(float(difficulty_text))
        except (ValueError, OverflowError):
            raise DataError(f"{csv_path}, row {index + 2}: Difficulty {difficulty_text!r} is not a number.") from None
        prompt, policy = (row.get("Prompt") or "").strip(), row.get("Rego intent") or ""
        if not prompt or not policy.strip():
            raise DataError(f"{csv_path}, row {index + 2}: empty Prompt or Rego intent.")
        tasks.append(Task(id=index, resource=(row.get("Resource") or "").strip(), prompt=prompt, policy=policy,
                          difficulty=difficulty, reference=row.get("Reference output") or "",
                          intent=row.get("Intent") or ""))
    if not tasks:
        raise DataError(f"{csv_path} holds no tasks.")
    return tasks


def select_tasks(tasks: Iterable[Task], difficulties: Iterable[int] | None = None,
                 limit: int | None = None) -> list[Task]:
    """Tasks of the given difficulties, the first `limit` of them (in file order)."""
    wanted = set(difficulties) if difficulties else None
    chosen = [t for t in tasks if wanted is None or t.difficulty in wanted]
    return chosen[:limit] if limit is not None and limit >= 0 else chosen
