"""Launching, watching and stopping training jobs from the app.

A job is `python -m train.cpt ...` in a subprocess with its own process group (start_new_session), as
LLaMA-Factory's web UI does: a crash or an out-of-memory kill takes the job down, never the app, and
Stop can signal the whole group (torchrun and its ranks). Everything the UI shows is read back from the
run folder, so a reloaded page or a restarted app re-attaches to a running job with `active_run()`.
On a CPU the job is forked from the job helper instead of started fresh (job_server.py): the same
session, console and environment, without the imports before the first step.

One job at a time per machine: `runs_dir/.job.lock` holds the job's pid (and its start time, so a
reused pid is not mistaken for the job), so a second app process sees it too; a lock whose process is
gone is stale and ignored. Whether a job runs is decided by that lock and the process alone, never by
the run's status.json, which anyone can edit while the job runs.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from iacdemo import atomic_write
from iacdemo.errors import ConfigError, JobError
from iacdemo.models.device import pick_device
from iacdemo.models.registry import get_spec
from iacdemo.settings import REPO_ROOT, Settings, get_settings
from iacdemo.training import cpu_share, runs
from iacdemo.training.config import TrainConfig
from iacdemo.training.job_server import JobServerError, job_server

LOCK_FILE = runs.LOCK_FILE
HELPER_WAIT_S = 120.0  # how long a Start waits for the job helper's imports; then the job starts fresh
log = logging.getLogger(__name__)


@dataclass
class JobSnapshot:
    """What the Train tab shows, read fresh from the run folder at each poll."""

    run_name: str
    status: str
    running: bool
    step: int
    total_steps: int
    progress: float  # 0..1
    tokens_per_s: float | None
    eta_s: float | None
    elapsed_s: float | None
    loss: float | None
    eval_loss: float | None
    metrics: list[dict[str, Any]] = field(default_factory=list)
    log_tail: str = ""
    error: str | None = None
    adapter_path: str | None = None
    gpu_peak_gib: float | None = None  # CUDA runs only: the number that says whether a bigger batch fits

    def summary(self) -> str:
        """One status line: "running · step 12/55 · loss 2.310 · 105 tok/s · ETA 3m10s"."""
        parts = [self.status, f"step {self.step}/{self.total_steps or '?'}"]
        if self.loss is not None:
            parts.append(f"loss {self.loss:.3f}")
        if self.eval_loss is not None:
            parts.append(f"eval {self.eval_loss:.3f}")
        if self.tokens_per_s:
            parts.append(f"{self.tokens_per_s:,.0f} tok/s")
        if self.running and self.eta_s is not None:
            parts.append(f"ETA {format_seconds(self.eta_s)}")
        if self.error:
            parts.append(f"error: {self.error}")
        return " · ".join(parts)


def format_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def _eta(rows: list[dict[str, Any]], total: int) -> float | None:
    """Seconds left, from the pace of the last (up to 10) logged steps."""
    train = [r for r in rows if r.get("loss") is not None]
    if not train or not total:
        return None
    last = train[-1]
    first = train[-10] if len(train) >= 10 else train[0]
    if last["step"] > first["step"]:
        per_step = (last["elapsed_s"] - first["elapsed_s"]) / (last["step"] - first["step"])
    else:
        per_step = last["elapsed_s"] / max(1, last["step"])
    return max(0.0, (total - last["step"]) * per_step)


def auto_run_name(model: str) -> str:
    stem = Path(model.rstrip("/")).name or "run"
    stem = "".join(c if c.isalnum() or c in "._-" else "-" for c in stem).strip(".-_") or "run"
    return f"{stem[:60]}-{time.strftime('%Y%m%d-%H%M%S')}"


class ForkedJob:
    """A job forked by the job helper: not our child, so its end is seen in /proc, not by waitpid."""

    def __init__(self, pid: int):
        self.pid = pid
        self.start_ticks = runs.process_start_ticks(pid)

    def poll(self) -> int | None:
        """None while it runs, else 0 (its exit code went to the helper; status.json says how it ended)."""
        alive = runs.lock_is_live({"pid": self.pid, "start_ticks": self.start_ticks})
        return None if alive else 0

    def terminate(self) -> None:
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"job {self.pid}", timeout)
            time.sleep(0.05)
        return 0


class JobRunner:
    def __init__(self, settings: Settings | None = None, python: str = sys.executable):
        self.settings = settings or get_settings()
        self.python = python
        self._procs: dict[str, subprocess.Popen | ForkedJob] = {}
        self._mutex = threading.Lock()  # Gradio calls from several threads
        cpu_share.announce_to(self.settings.runs_dir)  # our model use makes a running job step aside

    @property
    def lock_path(self) -> Path:
        return self.settings.runs_dir / LOCK_FILE

    # --- lock -----------------------------------------------------------------------------------------
    def _read_lock(self) -> dict[str, Any]:
        return runs.read_job_lock(self.settings.runs_dir)

    def _write_lock(self, info: dict[str, Any]) -> None:
        atomic_write.write_json(self.lock_path, info)

    def _acquire(self, run_name: str) -> None:
        self.settings.runs_dir.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            try:
                fd = os.open(self.lock_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                self._reap()
                held = self._read_lock()
                if self._holds(held):
                    raise JobError(f"A training job is already running (run '{held.get('run_name')}', pid "
                                   f"{held.get('pid')}): one job at a time on this machine. Stop it or wait "
                                   "for it to finish.") from None
                try:
                    self.lock_path.unlink()  # stale: its process is gone
                except FileNotFoundError:
                    pass
                continue
            with os.fdopen(fd, "w") as fh:
                json.dump({"pid": os.getpid(), "run_name": run_name, "since": time.time(),
                           "start_ticks": runs.process_start_ticks(os.getpid())}, fh)
            return
        raise JobError("Could not take the job lock; another app is starting a job right now. Try again.")

    def _release(self, run_name: str) -> None:
        if self._read_lock().get("run_name") == run_name:
            try:
                self.lock_path.unlink()
            except FileNotFoundError:
                pass

    def _reap(self) -> None:
        """Collect exit codes of our own finished children (so they are not zombies counted as alive)."""
        for name, proc in list(self._procs.items()):
            if proc.poll() is not None:
                del self._procs[name]
                self._release(name)

    # --- public API -----------------------------------------------------------------------------------
    def _holds(self, held: dict[str, Any]) -> bool:
        return runs.lock_is_live(held)  # the process alone decides, never the editable status.json

    def active_run(self) -> str | None:
        """The name of the running job, if any (also one started by another app process)."""
        with self._mutex:
            self._reap()
            held = self._read_lock()
            if self._holds(held):
                return held.get("run_name")
            if held:
                self._release(held.get("run_name"))
            return None

    def start(self, config: TrainConfig) -> str:
        """Validate, create the run folder (status `queued`) and launch the job; returns the run name."""
        config.validate(check_paths=True)
        name = runs.validate_run_name(config.run_name or auto_run_name(config.model))
        run_dir = self.settings.runs_dir / name
        model = Path(config.model).expanduser()
        try:
            local_model = model.is_dir() and not get_spec(config.model)
        except OSError:  # a name the file system rejects is no local folder (the job reports the id)
            local_model = False
        config = replace(config, run_name=name, out=str(run_dir),  # the job runs elsewhere: absolute paths
                         dataset=str(Path(config.dataset).expanduser().resolve()),
                         model=str(model.resolve()) if local_model else config.model)
        if run_dir.is_symlink():  # training would write wherever the link points
            raise JobError(f"The run folder {run_dir} is a symbolic link; the app only writes real folders in "
                           f"{self.settings.runs_dir}. Remove the link or pick another run name.")
        if forks_jobs(self.settings, config) and not self._holds(self._read_lock()):
            # a helper still importing is further along than a fresh process would be, and both at once
            # would fight over the CPU: wait for it here, before the mutex, so that other visitors' polls
            # and refusals do not wait too
            job_server(self.python).warm(job_env(self.settings), wait_s=HELPER_WAIT_S)
        with self._mutex:
            if not config.resume and run_dir.exists() and any(run_dir.iterdir()):
                raise JobError(f"A run named '{name}' already exists: pick another name, resume it or delete it.")
            if config.resume and runs.latest_checkpoint(run_dir) is None:
                raise JobError(f"Run '{name}' has no checkpoint to resume from.")
            self._acquire(name)
            try:
                run_dir.mkdir(parents=True, exist_ok=True)
                (run_dir / runs.CONFIG_FILE).write_text(config.to_json())
                created = runs.read_status_file(run_dir).get("created") or time.time()
                runs.write_status(run_dir, status="queued", error=None, pid=None, launcher_pid=None,
                                  model=config.model, dataset=config.dataset, run_name=name, created=created,
                                  total_steps=config.max_steps or None, finished=None)
                proc = launch_job(config, self.settings, run_dir / runs.CONSOLE_FILE, self.python)
                self._procs[name] = proc
                # the job's session is its own: lower the whole session, or the scheduler's autogroups
                # would still give it half the CPU while the app generates (cpu_share.py)
                cpu_share.lower_session_priority(proc.pid, self.settings.job_niceness)
                self._write_lock({"pid": proc.pid, "run_name": name, "since": time.time(),
                                  "start_ticks": runs.process_start_ticks(proc.pid)})
                runs.write_status(run_dir, launcher_pid=proc.pid)
            except Exception as exc:
                self._release(name)
                if run_dir.is_dir():
                    runs.write_status(run_dir, status="failed", error=f"Could not launch the job: {exc}",
                                      finished=time.time())
                raise JobError(f"Could not launch the training job: {exc}") from exc
        return name

    def warm_job_server(self, wait_s: float = 0.0) -> bool:
        """Start the job helper's imports now (the Train tab calls this when shown); see warm_job_helper."""
        return warm_job_helper(self.settings, self.python, wait_s)

    def resume(self, run_name: str, max_steps: int | None = None) -> str:
        """Continue a stopped (or finished, with more steps) run from its newest checkpoint."""
        run_dir = runs.run_dir_for(run_name, self.settings)
        if not (run_dir / runs.CONFIG_FILE).exists():
            raise JobError(f"No run named '{run_name}'.")
        config = TrainConfig.from_json(run_dir / runs.CONFIG_FILE)
        config = replace(config, resume=True, run_name=run_name, out="",
                         max_steps=max_steps if max_steps is not None else config.max_steps)
        return self.start(config)

    def live_pid(self, run_name: str) -> int | None:
        """The pid of `run_name`'s job when the job lock says it is the running one, else None."""
        held = self._read_lock()
        if held.get("run_name") == run_name and self._holds(held):
            return held["pid"]
        return None

    def stop(self, run_name: str | None = None, force: bool = False) -> None:
        """SIGTERM the job's process group (it saves a checkpoint and the adapter); `force`: SIGKILL.

        The pid comes from the job lock, so a hand-edited status.json cannot hide a running job from Stop;
        the status file is only the fallback for a job started without this runner (from a shell).
        """
        held = self._read_lock()
        run_name = run_name or (held.get("run_name") if self._holds(held) else None)
        if not run_name:
            raise JobError("No training job is running.")
        pid = self.live_pid(run_name)
        if pid is None:
            status = runs.read_status(runs.run_dir_for(run_name, self.settings))
            if status.get("status") not in runs.ACTIVE:
                raise JobError(f"Run '{run_name}' is not running (status: {status.get('status', 'unknown')}).")
            pid = status.get("launcher_pid") or status.get("pid")
        if not pid or pid == os.getpid():  # the lock still names this app: Popen has not returned yet
            raise JobError(f"Run '{run_name}' is still being launched; try Stop again in a moment.")
        sig = signal.SIGKILL if force else signal.SIGTERM
        try:
            if os.getpgid(pid) == pid:  # our job is a group leader: signal torchrun and every rank at once
                os.killpg(pid, sig)
            else:  # started from a shell: signal only the process itself
                os.kill(pid, sig)
        except ProcessLookupError:
            pass

    def poll(self, run_name: str, log_lines: int = 40) -> JobSnapshot:
        """The job's state for the UI's polling loop (cheap: a few small file reads)."""
        with self._mutex:
            self._reap()
        run_dir = runs.run_dir_for(run_name, self.settings)
        if not run_dir.is_dir():
            raise JobError(f"No run named '{run_name}'.")
        status = runs.read_status(run_dir)
        rows = runs.read_metrics(run_dir)
        train = [r for r in rows if r.get("loss") is not None]
        evals = [r for r in rows if r.get("eval_loss") is not None]
        state = status.get("status", "unknown")
        step = status.get("step") or (train[-1]["step"] if train else 0)
        total = status.get("total_steps") or 0
        if self.live_pid(run_name) is not None and state not in runs.ACTIVE:
            state = "running"  # the lock's process lives: whatever the (editable) status file says
        running = state in runs.ACTIVE
        log = runs.tail_text(run_dir / runs.LOG_FILE, log_lines)
        if state == "failed" or not log:
            console = runs.tail_text(run_dir / runs.CONSOLE_FILE, 15 if log else log_lines)
            if console and console not in log:
                log = (log + "\n--- console output ---\n" + console).strip()
        adapter = run_dir / runs.ADAPTER_DIR
        return JobSnapshot(
            run_name=run_name, status=state, running=running, step=step, total_steps=total,
            progress=min(1.0, step / total) if total else 0.0,
            tokens_per_s=train[-1].get("tokens_per_s") if train else None,
            eta_s=_eta(rows, total) if running else None,
            elapsed_s=train[-1]["elapsed_s"] if train else None,
            loss=train[-1]["loss"] if train else None, eval_loss=evals[-1]["eval_loss"] if evals else None,
            metrics=rows, log_tail=log, error=status.get("error"),
            adapter_path=str(adapter) if (adapter / "adapter_config.json").exists() else None,
            gpu_peak_gib=train[-1].get("gpu_peak_gib") if train else None)

    def wait(self, run_name: str, timeout: float = 600.0, interval: float = 0.5) -> JobSnapshot:
        """Block until the job leaves queued/running (or `timeout` passes); for scripts and tests."""
        deadline = time.monotonic() + timeout
        while True:
            snap = self.poll(run_name)
            if not snap.running or time.monotonic() > deadline:
                break
            time.sleep(interval)
        proc = self._procs.get(run_name)
        if proc is not None and not snap.running:  # final status written: let the process finish exiting
            try:
                proc.wait(timeout=max(1.0, min(30.0, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                pass
            with self._mutex:
                self._reap()
        return snap


def job_env(settings: Settings) -> dict[str, str]:
    """The environment a job runs in: this process's, plus the settings of the runner that starts it
    (tests and apps with custom dirs), since the job reads its settings from the environment."""
    env = dict(os.environ)
    s = settings
    env.update(IACDEMO_DATA_DIR=str(s.data_dir), IACDEMO_RUNS_DIR=str(s.runs_dir),
               IACDEMO_CACHE_DIR=str(s.cache_dir), IACDEMO_MODEL=s.default_model, PYTHONUNBUFFERED="1",
               IACDEMO_JOB_NICE=str(s.job_niceness), IACDEMO_JOB_YIELD_THREADS=str(s.job_yield_threads))
    if s.device:
        env["IACDEMO_DEVICE"] = s.device
    if s.offline:
        env["HF_HUB_OFFLINE"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def forks_jobs(settings: Settings, config: TrainConfig) -> bool:
    """Whether `config`'s job is forked from the job helper: only where that is the same as a fresh
    process, i.e. one process on the CPU, on Linux (a CUDA or MPS context does not survive a fork)."""
    if not (settings.job_server and config.num_processes == 1 and sys.platform.startswith("linux")):
        return False
    preferred = config.device if config.device != "auto" else settings.device  # as train.cpt picks
    try:
        return pick_device(preferred or None)[0] == "cpu"
    except ConfigError:
        return False  # the job reports the bad device itself


def warm_job_helper(settings: Settings, python: str = sys.executable, wait_s: float = 0.0) -> bool:
    """Start the job helper's imports now, so that the first job is forked too (without this, the first
    job of an app starts as a fresh process while the helper imports). True once the helper is ready
    (waiting up to `wait_s`); False where jobs are not forked here."""
    return forks_jobs(settings, TrainConfig()) and job_server(python).warm(job_env(settings), wait_s)


def launch_job(config: TrainConfig, settings: Settings, console_path: Path, python: str = sys.executable,
               new_session: bool = True) -> subprocess.Popen | ForkedJob:
    """Start `config`'s job, its output appended to `console_path`: forked from the job helper where that
    is the same as a fresh process (forks_jobs), else `python -m train.cpt` (or torchrun) as a subprocess.

    `new_session`: the job outlives this process and is stopped through its own process group (the
    runner's jobs); False keeps it in this process's group, so stopping that group stops the job too (an
    experiment's runs). `config.out` must be set: the job runs in another working folder.
    """
    env = job_env(settings)
    if forks_jobs(settings, config):
        try:
            return ForkedJob(job_server(python).launch(config.to_cli_args(), env, REPO_ROOT, console_path,
                                                       wait_s=HELPER_WAIT_S, new_session=new_session))
        except JobServerError as exc:
            log.info("Starting the job as a fresh process: %s", exc)
    with open(console_path, "ab") as console:
        return subprocess.Popen(config.launch_argv(settings, python), cwd=REPO_ROOT, stdin=subprocess.DEVNULL,
                                stdout=console, stderr=subprocess.STDOUT, start_new_session=new_session, env=env)
