"""Which docs pages a run trained on and which it held out, recorded in the run folder.

Perplexity on a held-out page is the fair test of what training did (the model never saw it), and a
trained page shows memorisation for contrast; other tabs ask these functions instead of re-deriving
the split. The training script writes `pages.json` once its data is built. Runs from before that file
existed get the split re-derived from their config.json: `split_by_page` is a stable hash of each path,
so the answer is the same as long as the run's dataset still exists.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

from iacdemo import atomic_write
from iacdemo.errors import DataError
from iacdemo.training.data import load_rows, split_by_page

PAGES_FILE = "pages.json"


def write_page_split(run_dir: Path, trained: Iterable[str], held_out: Iterable[str]) -> Path:
    """Record the split (sorted, atomically: a reader never sees half a file)."""
    path = Path(run_dir) / PAGES_FILE
    data = {"trained": sorted(set(trained)), "held_out": sorted(set(held_out))}
    atomic_write.write_json(path, data, indent=2)
    return path


def page_split(run_dir: Path) -> dict[str, list[str]]:
    """{"trained": [...], "held_out": [...]} (doc paths as in the dataset rows); both empty when unknown."""
    run_dir = Path(run_dir)
    try:
        data = json.loads((run_dir / PAGES_FILE).read_text(encoding="utf-8"))
        return {"trained": [str(p) for p in data.get("trained") or []],
                "held_out": [str(p) for p in data.get("held_out") or []]}
    except (OSError, ValueError, AttributeError, TypeError):
        return _derived_split(run_dir)


def held_out_pages(run_dir: Path) -> list[str]:
    """Pages of the run's dataset kept out of training (its eval split), sorted; [] when none or unknown."""
    return page_split(run_dir)["held_out"]


def trained_pages(run_dir: Path) -> list[str]:
    """Pages the run trained on, sorted; [] when unknown."""
    return page_split(run_dir)["trained"]


def _derived_split(run_dir: Path) -> dict[str, list[str]]:
    empty: dict[str, list[str]] = {"trained": [], "held_out": []}
    try:
        config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
        dataset = str(config.get("dataset") or "").strip()
        fraction = float(config.get("eval_fraction") or 0)
    except (OSError, ValueError, AttributeError, TypeError):
        return empty
    if not dataset:
        return empty
    try:
        rows, _ = load_rows(dataset, str(config.get("subcategory") or ""))
    except DataError:
        return empty
    train_rows, eval_rows = split_by_page(rows, fraction)
    return {"trained": sorted({r["path"] for r in train_rows}), "held_out": sorted({r["path"] for r in eval_rows})}
