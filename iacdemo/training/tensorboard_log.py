"""Every metrics row of a run also goes to TensorBoard event files, next to `metrics.jsonl`.

Event files are what TensorBoard reads and what W&B imports (`wandb sync --sync-tensorboard DIR`), so a
run can be watched in the tools people already use: `tensorboard --logdir runs/` shows every run.
`metrics.jsonl` stays the source of truth for the app; the event files are a copy, and a failure to
write them (tensorboard not installed, a read-only folder) never stops a training run.
"""
from __future__ import annotations

import atexit
import logging
import numbers
from pathlib import Path
from typing import Any

TB_DIR = "tensorboard"  # under the run folder
# Row keys that are not curves (or are the x axis).
_NOT_SCALARS = frozenset({"step"})
# Curves grouped the way TensorBoard shows them: train/loss, eval/loss, ...
_TAGS = {"loss": "train/loss", "eval_loss": "eval/loss", "lr": "train/lr", "grad_norm": "train/grad_norm",
         "tokens_per_s": "perf/tokens_per_s", "tokens": "train/tokens", "epoch": "train/epoch",
         "elapsed_s": "perf/elapsed_s", "gpu_peak_gib": "perf/gpu_peak_gib"}

_writers: dict[str, Any] = {}
_log = logging.getLogger("cpt")


def tag_for(key: str) -> str:
    return _TAGS.get(key, f"other/{key}")


def _writer(run_dir: Path) -> Any | None:
    key = str(Path(run_dir).resolve())
    if key not in _writers:
        try:
            from torch.utils.tensorboard import SummaryWriter  # tensorboard loads only in a training job

            _writers[key] = SummaryWriter(log_dir=str(Path(run_dir) / TB_DIR))
        except Exception as exc:  # ImportError without the tensorboard package, OSError on a read-only disk
            _log.warning("TensorBoard event files are off for this run: %s", exc)
            _writers[key] = None
    return _writers[key]


def log_metrics_row(run_dir: str | Path, row: dict[str, Any]) -> None:
    """Write the row's numbers as scalars at its step, and flush (a crashed run keeps its curves)."""
    writer = _writer(Path(run_dir))
    if writer is None or "step" not in row:
        return
    try:
        for key, value in row.items():
            if key in _NOT_SCALARS or isinstance(value, bool) or not isinstance(value, numbers.Real):
                continue
            writer.add_scalar(tag_for(key), float(value), int(row["step"]))
        writer.flush()
    except Exception as exc:
        _log.warning("Could not write TensorBoard scalars: %s", exc)


def close_all() -> None:
    for writer in _writers.values():
        if writer is not None:
            writer.close()
    _writers.clear()


atexit.register(close_all)


def read_scalars(run_dir: str | Path) -> dict[str, list[tuple[int, float]]]:
    """{tag: [(step, value), ...]} from a run's event files (what TensorBoard itself would show)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # not at app start

    accumulator = EventAccumulator(str(Path(run_dir) / TB_DIR))
    accumulator.Reload()
    return {tag: [(e.step, e.value) for e in accumulator.Scalars(tag)]
            for tag in accumulator.Tags().get("scalars", [])}
