"""Sharing a small CPU between a training job and the app's own generation.

A presenter trains and compares at the same time. With both on all cores, generation fell from about
20 tok/s to 1.2 tok/s (torch's thread pools of two processes fighting over two cores). So:

* the job runs at a lower CPU priority (`Settings.job_niceness`), always: the scheduler then prefers
  the app whenever both want a core, and the job gets everything the app leaves idle. The job runs in
  its own session, and Linux's autogroup scheduling (on by default on desktops and these machines)
  shares the CPU fairly between sessions whatever their processes' nice values: `os.nice` alone left
  generation as slow as before. So the JobRunner, which made that session, also lowers the session's
  priority (`/proc/<job pid>/autogroup`). Only the runner does it: a job started from a terminal must
  not renice the user's whole terminal session;
* while the app runs its model, it keeps a marker file in the runs dir (`app_using_model`); the job
  checks it before every micro-batch and drops to `Settings.job_yield_threads` torch threads until it
  is gone (per optimizer step was too late: one step takes longer than a short answer).

The marker names the app's pid, so one left behind by a killed app is ignored. Numbers: bench/RESULTS.md
(`bench/bench_generate_while_training.py`).
"""
from __future__ import annotations

import functools
import json
import logging
import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from iacdemo.training.runs import pid_alive

MARKER = ".app-using-model"

_lock = threading.Lock()
_users = 0
_runs_dir: Path | None = None  # set by the app's JobRunner: where a job would look for the marker


def announce_to(runs_dir: Path) -> None:
    """Make this process's model use visible to jobs that watch `runs_dir` (called by JobRunner)."""
    global _runs_dir
    _runs_dir = Path(runs_dir)


@contextmanager
def app_using_model(runs_dir: Path | None = None) -> Iterator[None]:
    """While inside, a training job watching `runs_dir` uses fewer threads (nested uses are counted)."""
    global _users
    folder = Path(runs_dir) if runs_dir is not None else _runs_dir
    if folder is None:
        yield
        return
    marker = folder / MARKER
    with _lock:
        _users += 1
        if _users == 1:
            try:
                folder.mkdir(parents=True, exist_ok=True)
                marker.write_text(json.dumps({"pid": os.getpid()}))
            except OSError:
                pass  # a read-only runs dir: generation still works, the job just does not yield
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                try:
                    marker.unlink()
                except OSError:
                    pass


def while_app_uses_model(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn`, run inside `app_using_model()`: how the model thread wraps every job it is given."""
    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        with app_using_model():
            return fn(*args, **kwargs)
    return wrapped


def app_is_using_model(runs_dir: Path) -> bool:
    """True while an app process that is still alive holds the marker in `runs_dir`."""
    try:
        owner = json.loads((Path(runs_dir) / MARKER).read_bytes())
    except (OSError, ValueError):
        return False
    return isinstance(owner, dict) and isinstance(owner.get("pid"), int) and pid_alive(owner["pid"])


def lower_session_priority(pid: int, niceness: int, log: logging.Logger | None = None) -> bool:
    """Give the session (autogroup) of `pid`, a session leader, the nice value `niceness`; False where
    there is no autogroup. Without it a job in its own session gets half the CPU however nice it is.
    """
    path = Path(f"/proc/{pid}/autogroup")
    if niceness <= 0:
        return False
    try:
        path.write_text(str(niceness))
        return True
    except OSError as exc:  # no autogroup (kernel option off, not Linux) or not permitted
        if log is not None and path.exists():
            log.warning("Could not lower the job session's CPU priority (%s): %s", path, exc)
        return False


class TrainerCpuShare:
    """The job's side: lower priority once, then fewer threads while the app generates."""

    def __init__(self, runs_dir: Path, niceness: int, yield_threads: int, log: logging.Logger | None = None):
        import torch

        self.runs_dir = Path(runs_dir)
        self.niceness = niceness
        self.yield_threads = yield_threads
        self.normal_threads = torch.get_num_threads()
        self.yielding = False
        self.log = log or logging.getLogger(__name__)

    def start(self) -> None:
        if self.niceness <= 0:
            return
        try:
            os.nice(self.niceness)
        except OSError as exc:  # not permitted (a container policy): train at normal priority
            self.log.warning("Could not lower the job's CPU priority: %s", exc)

    def update(self) -> None:
        """Called before every micro-batch: switch thread count when the app starts/stops generating."""
        import torch

        if self.yield_threads <= 0 or self.yield_threads >= self.normal_threads:
            return
        busy = app_is_using_model(self.runs_dir)
        if busy != self.yielding:
            torch.set_num_threads(self.yield_threads if busy else self.normal_threads)
            self.yielding = busy
            self.log.info("App %s its model: training on %d thread(s)", "is using" if busy else "stopped using",
                          torch.get_num_threads())
