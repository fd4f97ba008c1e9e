"""The experiment's CPT runs: a `train.cpt` job, watched for a progress bar.

The same training as the Train tab and the CLI (no second training loop), launched the same way
(`launch_job`: forked from the job helper on a CPU): the run folder sits in the report folder, and a run
that was interrupted continues from its newest checkpoint on rerun.
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any, Callable

from iacdemo.errors import JobError
from iacdemo.settings import Settings
from iacdemo.training import runs
from iacdemo.training.config import TrainConfig
from iacdemo.training.runner import launch_job

Progress = Callable[[int, int], Any]  # (step, total steps)


def finished_adapter(run_dir: Path) -> Path | None:
    status = runs.read_status_file(run_dir)
    adapter = run_dir / runs.ADAPTER_DIR
    if status.get("status") == "finished" and (adapter / "adapter_config.json").is_file():
        return adapter
    return None


def train_run(config: TrainConfig, settings: Settings, progress: Progress | None = None,
              poll_s: float = 1.0) -> Path:
    """Train (or resume) the run in `config.out`; returns its adapter folder. JobError when it fails."""
    run_dir = Path(config.out)
    done = finished_adapter(run_dir)
    if done is not None:
        return done
    resume = runs.latest_checkpoint(run_dir) is not None
    if not resume and run_dir.exists():
        shutil.rmtree(run_dir)  # a run that died before its first checkpoint: nothing to continue from
    run_dir.mkdir(parents=True, exist_ok=True)
    job = TrainConfig(**{**config.to_dict(), "resume": resume})
    # in this process's group: the Experiment tab's Stop signals the group, and the run must save too
    proc = launch_job(job, settings, run_dir / runs.CONSOLE_FILE, new_session=False)
    try:
        while proc.poll() is None:
            if progress:
                status = runs.read_status_file(run_dir)
                progress(int(status.get("step") or 0), int(status.get("total_steps") or config.max_steps or 0))
            time.sleep(poll_s)
    except BaseException:  # Ctrl-C: let the run save a checkpoint so the rerun resumes it
        proc.terminate()
        proc.wait(timeout=120)
        raise
    status = runs.read_status(run_dir)  # a job that died without a word is marked failed here
    adapter = finished_adapter(run_dir)
    if adapter is None:
        tail = runs.tail_text(run_dir / runs.CONSOLE_FILE, 15)
        raise JobError(f"Training run {run_dir} ended as {status.get('status', 'unknown')}: "
                       f"{status.get('error') or tail}")
    if progress:
        progress(int(status.get("step") or 0), int(status.get("total_steps") or 0))
    return adapter
