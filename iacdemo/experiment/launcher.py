"""Starting an experiment from the app and reading its progress and report back (no Gradio here).

The experiment runs as `python -m train.experiment CONFIG` in its own process group, so the app stays
responsive and a closed browser tab does not stop it; everything shown (log tail, report, plots) is
read from the report folder, so a reloaded page finds a running experiment again.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from iacdemo.errors import ConfigError, JobError
from iacdemo.experiment.config import ExperimentConfig, load_config
from iacdemo.settings import REPO_ROOT, Settings, get_settings
from iacdemo.training.runner import job_env
from iacdemo.training.runs import pid_alive, tail_text

EXPERIMENTS_DIR = REPO_ROOT / "experiments"
LOG_FILE = "experiment.log"
PID_FILE = "experiment.pid"
_IMAGE = re.compile(r"^!\[[^\]]*\]\([^)]*\)\s*$", re.M)


@dataclass
class ExperimentStatus:
    name: str
    report_dir: Path
    running: bool
    state: str  # not started, running, finished, failed
    log_tail: str = ""
    report_md: str = ""  # report.md without its image lines (the plots come as files)
    plots: list[Path] = field(default_factory=list)


def experiment_configs(directory: Path = EXPERIMENTS_DIR) -> list[Path]:
    return sorted(directory.glob("*.toml"))


def _pid(report_dir: Path) -> int | None:
    try:
        return int((report_dir / PID_FILE).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def start_experiment(config_path: str | Path, settings: Settings | None = None) -> ExperimentConfig:
    """Check the config (ConfigError at once), then launch it; JobError if it is already running."""
    settings = settings or get_settings()
    if not config_path:
        raise ConfigError("Pick an experiment config.")
    config = load_config(config_path)
    report_dir = config.report_dir(settings)
    if pid_alive(_pid(report_dir)):
        raise JobError(f"Experiment '{config.name}' is already running (pid {_pid(report_dir)}).")
    report_dir.mkdir(parents=True, exist_ok=True)
    with open(report_dir / LOG_FILE, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "train.experiment", str(Path(config_path).resolve()),
                                 "--out", str(report_dir)], cwd=REPO_ROOT, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                env=job_env(settings))
    (report_dir / PID_FILE).write_text(str(proc.pid))
    _CHILDREN[proc.pid] = proc
    return config


_CHILDREN: dict[int, subprocess.Popen] = {}  # reaped on status reads, so no zombie looks alive


def experiment_status(config_path: str | Path, settings: Settings | None = None) -> ExperimentStatus:
    settings = settings or get_settings()
    config = load_config(config_path)
    report_dir = config.report_dir(settings)
    pid = _pid(report_dir)
    if pid in _CHILDREN and _CHILDREN[pid].poll() is not None:
        _CHILDREN.pop(pid)
    running = pid_alive(pid)
    log = tail_text(report_dir / LOG_FILE, 30) if (report_dir / LOG_FILE).is_file() else ""
    report = report_dir / "report.md"
    report_md = _IMAGE.sub("", report.read_text(encoding="utf-8")) if report.is_file() else ""
    if running:
        state = "running"
    elif "error:" in log.rsplit("[slice]", 1)[-1] or "Traceback" in log:
        state = "failed"
    elif report_md:
        state = "finished"
    else:
        state = "not started"
    plots = sorted(report_dir.glob("*.png")) if report_md else []
    return ExperimentStatus(config.name, report_dir, running, state, log, report_md, plots)


def stop_experiment(config_path: str | Path, settings: Settings | None = None) -> None:
    """SIGTERM the experiment's process group; its training run saves a checkpoint, answers are cached."""
    config = load_config(config_path)
    pid = _pid(config.report_dir(settings or get_settings()))
    if not pid_alive(pid):
        raise JobError(f"Experiment '{config.name}' is not running.")
    os.killpg(pid, signal.SIGTERM)
