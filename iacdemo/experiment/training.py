"""The experiment's CPT runs: `python -m train.cpt` in a subprocess, watched for a progress bar.

The same training as the Train tab and the CLI (no second training loop): the run folder sits in the
report folder, and a run that was interrupted continues from its newest checkpoint on rerun.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

from iacdemo.errors import JobError
from iacdemo.settings import REPO_ROOT, Settings
from iacdemo.training import runs
from iacdemo.training.config import TrainConfig

Progress = Callable[[int, int], Any]  # (step, total steps)


def _env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(IACDEMO_DATA_DIR=str(settings.data_dir), IACDEMO_RUNS_DIR=str(settings.runs_dir),
               IACDEMO_CACHE_DIR=str(settings.cache_dir), PYTHONUNBUFFERED="1")
    if settings.device:
        env["IACDEMO_DEVICE"] = settings.device
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


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
    argv = TrainConfig(**{**config.to_dict(), "resume": resume}).launch_argv(settings, sys.executable)
    with open(run_dir / runs.CONSOLE_FILE, "ab") as console:
        proc = subprocess.Popen(argv, cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=console,
                                stderr=subprocess.STDOUT, env=_env(settings))
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
    status = runs.read_status_file(run_dir)
    adapter = finished_adapter(run_dir)
    if proc.returncode != 0 or adapter is None:
        tail = runs.tail_text(run_dir / runs.CONSOLE_FILE, 15)
        raise JobError(f"Training run {run_dir} ended as {status.get('status', 'unknown')} "
                       f"(exit code {proc.returncode}): {status.get('error') or tail}")
    if progress:
        progress(int(status.get("step") or 0), int(status.get("total_steps") or 0))
    return adapter
