"""Run folders: their layout, and reading them back (so runs are listed again after an app restart).

A run folder is the only record of a run: the training script writes it, the UI only reads it. Layout:

    RUN_DIR/config.json        every setting (TrainConfig.to_json)
    RUN_DIR/status.json        queued / running / finished / failed / stopped, pid, steps, timestamps, error
    RUN_DIR/metrics.jsonl      one JSON object per logged step (see `read_metrics`)
    RUN_DIR/train.log          the script's log; console.log holds raw stdout/stderr when the app launched it
    RUN_DIR/adapter/           the final (or stop-time) LoRA adapter, standard peft format
    RUN_DIR/checkpoints/step-N resumable state: adapter, optimizer, scheduler, RNG, step
"""
from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iacdemo import atomic_write
from iacdemo.errors import ConfigError, JobError
from iacdemo.safe_json import as_float, as_int, as_str, read_json_or
from iacdemo.settings import Settings, get_settings

CONFIG_FILE = "config.json"
STATUS_FILE = "status.json"
METRICS_FILE = "metrics.jsonl"
LOG_FILE = "train.log"
CONSOLE_FILE = "console.log"
ADAPTER_DIR = "adapter"
CHECKPOINTS_DIR = "checkpoints"
ADAPTER_META = "iacdemo_adapter.json"
LOCK_FILE = ".job.lock"  # in the runs dir: the one running job of this machine (see runner.py)

ACTIVE = ("queued", "running")
STATUSES = ("queued", "running", "finished", "failed", "stopped")

_RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def validate_run_name(name: str) -> str:
    """A run name is one plain folder name: letters, digits, '.', '_' and '-', no path tricks."""
    name = (name or "").strip()
    if not name:
        raise ConfigError("Run name is empty.")
    if not _RUN_NAME.match(name) or ".." in name:
        raise ConfigError(f"Run name {name!r} is not allowed: use letters, digits, '.', '_' and '-' "
                          "(up to 100 characters, no '/' or '..').")
    return name


def run_dir_for(name: str, settings: Settings | None = None) -> Path:
    return (settings or get_settings()).runs_dir / validate_run_name(name)


# --- process liveness --------------------------------------------------------------------------------
def pid_alive(pid: int | None) -> bool:
    """True when `pid` is a live process (a zombie, i.e. exited but not yet reaped, counts as dead)."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat[stat.rindex(")") + 2] not in "ZX"
    except (OSError, ValueError, IndexError):
        return True  # no /proc (macOS): trust kill(0)


def process_start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22); None off Linux."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat[stat.rindex(")") + 2:].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def read_job_lock(runs_dir: Path) -> dict[str, Any]:
    """The job lock's pid, run name and process start time; {} when missing or unreadable."""
    raw, _ = read_json_or(Path(runs_dir) / LOCK_FILE, {})
    if as_int(raw.get("pid")) is None:
        return {}
    return {"pid": as_int(raw.get("pid")), "run_name": as_str(raw.get("run_name"), ""),
            "since": as_float(raw.get("since")), "start_ticks": as_int(raw.get("start_ticks"))}


def lock_is_live(held: dict[str, Any]) -> bool:
    """A lock counts while its process lives (the same process: a reused pid has another start time).

    The run's status.json is deliberately not consulted: a hand-written `{"status": "finished"}`
    must not let a second job start beside the first, nor the running run be deleted.
    """
    if not held or not pid_alive(held.get("pid")):
        return False
    recorded = held.get("start_ticks")
    return recorded is None or process_start_ticks(held["pid"]) in (None, recorded)


# --- status.json ---------------------------------------------------------------------------------------
_INT_FIELDS = ("pid", "launcher_pid", "step", "total_steps", "world_size", "warmup_steps", "trainable_params")
_FLOAT_FIELDS = ("created", "started", "finished", "updated", "elapsed_s", "tokens_per_s", "last_loss")
_STR_FIELDS = ("error", "model", "dataset", "run_name", "device", "dtype", "adapter")


def clean_status(raw: Any) -> dict[str, Any]:
    """status.json's fields with the types readers rely on; a field of the wrong type is left out.

    The file is plain JSON in a folder users can edit: `[]`, `{"step": "abc"}` or an unknown status
    must read as "missing", never crash a list or a poll.
    """
    if not isinstance(raw, dict):
        return {}
    status: dict[str, Any] = {k: v for k, v in raw.items() if isinstance(k, str)
                              and k not in _INT_FIELDS + _FLOAT_FIELDS + _STR_FIELDS + ("status", "data")}
    for key in _INT_FIELDS:
        if key in raw and as_int(raw[key]) is not None:
            status[key] = as_int(raw[key])
    for key in _FLOAT_FIELDS:
        if key in raw and as_float(raw[key]) is not None:
            status[key] = as_float(raw[key])
    for key in _STR_FIELDS:
        if key in raw and as_str(raw[key]) is not None:
            status[key] = as_str(raw[key])
    if raw.get("status") in STATUSES:
        status["status"] = raw["status"]
    if isinstance(raw.get("data"), dict):
        status["data"] = raw["data"]
    return status


def load_status_file(run_dir: Path) -> tuple[dict[str, Any], str | None]:
    """(clean status, None), or ({}, why status.json cannot be read) for a missing or broken file."""
    raw, problem = read_json_or(Path(run_dir) / STATUS_FILE, {})
    return clean_status(raw), problem


def read_status_file(run_dir: Path) -> dict[str, Any]:
    return load_status_file(run_dir)[0]


def write_status(run_dir: Path, **fields: Any) -> dict[str, Any]:
    """Merge `fields` into status.json (atomically, so readers never see half a file)."""
    run_dir = Path(run_dir)
    status = read_status_file(run_dir)
    status.update(fields)
    status["updated"] = time.time()
    atomic_write.write_json(run_dir / STATUS_FILE, status, indent=2, default=str)
    return status


class StatusWriter:
    """The training job's own status, kept in memory and written whole at every update.

    Merging into whatever is on disk (as `write_status` does for the app's one-off writes) would let a
    hand edit stick for the rest of the run: garbage would drop the `status` field for good. The job
    owns its status, so each write restores it.
    """

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.status = read_status_file(self.run_dir)

    def write(self, **fields: Any) -> dict[str, Any]:
        self.status.update(fields)
        self.status["updated"] = time.time()
        atomic_write.write_json(self.run_dir / STATUS_FILE, self.status, indent=2, default=str)
        return dict(self.status)


def _looks_dead(status: dict[str, Any]) -> bool:
    if status.get("status") not in ACTIVE:
        return False
    pids = [status.get("pid"), status.get("launcher_pid")]
    if not any(pids):  # queued a moment ago, the launcher has not recorded the pid yet
        return time.time() - (status.get("updated") or 0) > 30
    return not any(pid_alive(p) for p in pids if p)


def read_status(run_dir: Path) -> dict[str, Any]:
    """status.json, with a run whose process is gone while it claims to run marked failed (and saved so).

    That is how a kill -9, an out-of-memory kill or a crashed app shows up: nobody was left to write
    `failed`, so the reader does it.
    """
    run_dir = Path(run_dir)
    status = read_status_file(run_dir)
    if _looks_dead(status):
        time.sleep(0.2)  # the process may have written its final status just now
        status = read_status_file(run_dir)
        if _looks_dead(status):
            status = write_status(run_dir, status="failed", finished=time.time(),
                                  error=f"process died (pid {status.get('pid')} is gone: killed, out of "
                                        "memory, or the machine restarted)" + _console_hint(run_dir))
    return status


def _console_hint(run_dir: Path) -> str:
    tail = tail_text(run_dir / CONSOLE_FILE, 3).strip()
    return f"; last output: {tail}" if tail else ""


# --- metrics -------------------------------------------------------------------------------------------
def append_metrics(run_dir: Path, row: dict[str, Any]) -> None:
    with open(Path(run_dir) / METRICS_FILE, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(row) + "\n")


_METRIC_NUMBERS = ("loss", "eval_loss", "lr", "grad_norm", "tokens_per_s", "epoch", "gpu_peak_gib")


def clean_metrics_row(raw: Any) -> dict[str, Any] | None:
    """A metrics row with a whole `step`, a number `elapsed_s` and only finite numbers; None if unusable."""
    if not isinstance(raw, dict):
        return None
    step, elapsed = as_int(raw.get("step")), as_float(raw.get("elapsed_s"), 0.0)
    if step is None:
        return None
    row: dict[str, Any] = {"step": step, "elapsed_s": elapsed}
    for key, value in raw.items():  # other fields (added by later versions) pass when they are plain
        if isinstance(key, str) and key not in row and (as_float(value) is not None or isinstance(value, str)):
            row[key] = value
    for key in _METRIC_NUMBERS:
        row.pop(key, None)
        value = as_float(raw.get(key))
        if value is not None:
            row[key] = value
    tokens = as_int(raw.get("tokens"))
    row.pop("tokens", None)
    if tokens is not None:
        row["tokens"] = tokens
    return row


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """Rows of metrics.jsonl in order.

    Each row has `step` and `elapsed_s`; training rows have `loss`, `lr`, `grad_norm`, `tokens_per_s`,
    `tokens` (cumulative non-pad tokens) and `epoch`; rows where the model was evaluated also have
    `eval_loss` — including one row at step 0 (before training, the base model's eval loss) that has no
    `loss`. A half-written last line (the run is writing it right now) is skipped, and so is any line
    that is not UTF-8, not JSON or not a row of numbers (a hand edit or a disk error).
    """
    path = Path(run_dir) / METRICS_FILE
    rows = []
    try:
        with open(path, "rb") as fh:
            for line in fh:
                try:
                    row = clean_metrics_row(json.loads(line.decode("utf-8")))
                except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
                    continue
                if row is not None:
                    rows.append(row)
    except OSError:
        return []
    return rows


def loss_curves(rows: list[dict[str, Any]]) -> dict[str, list[tuple[int, float]]]:
    """(step, value) points of the train and eval loss, ready for a line plot."""
    return {"train": [(r["step"], r["loss"]) for r in rows if r.get("loss") is not None],
            "eval": [(r["step"], r["eval_loss"]) for r in rows if r.get("eval_loss") is not None]}


def tail_text(path: Path, lines: int = 40) -> str:
    """The last `lines` lines of a (possibly large, possibly missing) text file."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            data = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


def latest_checkpoint(run_dir: Path) -> Path | None:
    ckpts = checkpoints(run_dir)
    return ckpts[-1] if ckpts else None


def checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoints, oldest first (a checkpoint is complete once its state.json exists)."""
    root = Path(run_dir) / CHECKPOINTS_DIR
    found = []
    for d in root.glob("step-*") if root.is_dir() else []:
        if (d / "state.json").exists() and d.name[5:].isdigit() and len(d.name) < 30:
            found.append((int(d.name[5:]), d))
    return [d for _, d in sorted(found)]


# --- listing -------------------------------------------------------------------------------------------
@dataclass
class RunInfo:
    name: str
    run_dir: Path
    status: str
    model: str
    dataset: str
    step: int
    total_steps: int
    final_loss: float | None
    eval_loss: float | None
    duration_s: float | None
    adapter_path: Path | None
    created: float | None
    error: str | None

    def as_row(self) -> list[Any]:
        """One row for a runs table: name, status, model, steps, final loss, duration, adapter."""
        loss = f"{self.final_loss:.3f}" if self.final_loss is not None else ""
        duration = f"{self.duration_s / 60:.1f} min" if self.duration_s is not None else ""
        return [self.name, self.status, self.model, f"{self.step}/{self.total_steps}", loss, duration,
                str(self.adapter_path or "")]


ROW_HEADERS = ["run", "status", "model", "steps", "final loss", "duration", "adapter"]


def run_info(run_dir: Path) -> RunInfo:
    """What the runs table shows. A run whose status.json or config.json cannot be read is listed as
    `unreadable` with the reason (in `error`), so one broken file never hides the other runs."""
    run_dir = Path(run_dir)
    status = read_status(run_dir)
    _, status_problem = load_status_file(run_dir)
    config, config_problem = read_json_or(run_dir / CONFIG_FILE, {})
    problem = status_problem if (run_dir / STATUS_FILE).exists() else None
    problem = problem or (config_problem if (run_dir / CONFIG_FILE).exists() else None)
    rows = read_metrics(run_dir)
    train_rows = [r for r in rows if r.get("loss") is not None]
    eval_rows = [r for r in rows if r.get("eval_loss") is not None]
    started, finished = status.get("started"), status.get("finished")
    if status.get("elapsed_s") is not None and status.get("status") not in ACTIVE:
        duration = status["elapsed_s"]  # training time over all sessions of a resumed run
    elif started and finished:
        duration = finished - started
    elif started and status.get("status") in ACTIVE:
        duration = time.time() - started
    else:
        duration = train_rows[-1]["elapsed_s"] if train_rows else None
    adapter = run_dir / ADAPTER_DIR
    state = status.get("status") or ("unreadable" if problem else "unknown")
    return RunInfo(
        name=run_dir.name, run_dir=run_dir, status=state,
        model=status.get("model") or as_str(config.get("model"), ""), dataset=as_str(config.get("dataset"), ""),
        step=status.get("step") or (train_rows[-1]["step"] if train_rows else 0),
        total_steps=status.get("total_steps") or as_int(config.get("max_steps"), 0) or 0,
        final_loss=train_rows[-1]["loss"] if train_rows else None,
        eval_loss=eval_rows[-1]["eval_loss"] if eval_rows else None,
        duration_s=duration, adapter_path=adapter if (adapter / "adapter_config.json").exists() else None,
        created=status.get("created") or _mtime(run_dir),
        error=status.get("error") or (f"unreadable: {problem}" if problem else None))


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def _unreadable(run_dir: Path, reason: str) -> RunInfo:
    return RunInfo(name=run_dir.name, run_dir=run_dir, status="unreadable", model="", dataset="", step=0,
                   total_steps=0, final_loss=None, eval_loss=None, duration_s=None, adapter_path=None,
                   created=None, error=f"unreadable: {reason}")


def list_runs(settings: Settings | None = None) -> list[RunInfo]:
    """Every run folder under the runs dir, newest first."""
    root = (settings or get_settings()).runs_dir
    if not root.is_dir():
        return []
    infos = []
    for d in root.iterdir():
        try:
            if d.is_symlink() and d.is_dir():  # listed, so the user sees why it is not used
                infos.append(_unreadable(d, "a symbolic link, not a run folder of this app"))
            elif d.is_dir() and ((d / STATUS_FILE).exists() or (d / CONFIG_FILE).exists()):
                infos.append(run_info(d))
        except OSError as exc:  # a folder we may not read (permissions, a dangling mount): list it as such
            infos.append(_unreadable(d, str(exc)))
    return sorted(infos, key=lambda i: i.created or 0, reverse=True)


def delete_run(name: str, settings: Settings | None = None) -> None:
    """Remove a run folder; a run that is still going must be stopped first."""
    run_dir = run_dir_for(name, settings)
    if run_dir.is_symlink():
        raise JobError(f"Run {name!r} is a symbolic link, not a run folder of this app: remove the link "
                       "itself if it should go (its target is left alone).")
    if not run_dir.is_dir():
        raise JobError(f"No run named {name!r}.")
    held = read_job_lock(run_dir.parent)
    if read_status(run_dir).get("status") in ACTIVE or (held.get("run_name") == name and lock_is_live(held)):
        raise JobError(f"Run {name!r} is still running: stop it before deleting it.")
    shutil.rmtree(run_dir)
