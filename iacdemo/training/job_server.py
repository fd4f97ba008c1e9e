"""Start CPU training jobs by forking a process that has already imported the training libraries.

A fresh `python -m train.cpt` spends seconds importing torch, transformers, peft, accelerate and
datasets before its first step; on a small CPU machine that is most of a short demo job
(bench/RESULTS.md, "The job helper"). So the app keeps one helper process that
imports them once and forks each job from itself. The forked job is what `python -m train.cpt` would
be: its own session (so Stop signals its process group and the app's Ctrl-C does not reach it), the
console file as stdout and stderr, the runner's environment and working folder.

Where a fork is not the same as a fresh process, jobs start the old way (`runner.forks_jobs`):
CUDA and MPS (a CUDA context does not survive a fork), several processes (torchrun), non-Linux. The
helper is restarted when the project's source files change, so an edited train/cpt.py is what runs,
and when the environment that the libraries read at import time (HF_HUB_OFFLINE, HF_HOME, ...)
changes. The helper exits when the app does (its stdin closes); jobs it started live on, as jobs
started with Popen did. It ignores SIGCHLD, so the kernel reaps finished jobs and no zombie counts
as a running job.
"""
from __future__ import annotations

import atexit
import importlib
import io
import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iacdemo.settings import REPO_ROOT, get_settings
from iacdemo.training.runs import pid_alive

log = logging.getLogger(__name__)

PRELOAD = ("torch", "transformers", "peft", "accelerate", "datasets", "train.cpt",
           "transformers.models.llama.modeling_llama", "transformers.models.qwen2.modeling_qwen2")
JOB_MODULE = "train.cpt"
READY = "ready"
GIVE_UP_AFTER_S = 60.0  # a helper not ready after a wait this long is stuck, not slow
_SOURCE_DIRS = ("iacdemo", "train")
# Variables the libraries read when imported (hub offline mode and cache paths, what gets imported, the
# OpenMP pool): a helper imported under other values is replaced. The job gets its whole environment in
# any case; the rest is read when used (our IACDEMO_* through get_settings()), or set by torch itself
# while the app runs (TORCHINDUCTOR_CACHE_DIR), and must not cost a restart.
IMPORT_TIME_ENV = ("HF_", "HUGGINGFACE_", "TRANSFORMERS_", "DATASETS_", "PEFT_", "ACCELERATE_", "TOKENIZERS_",
                   "PYTHON", "OMP_", "MKL_", "XDG_CACHE_HOME", "HOME")


# --- the helper process ---------------------------------------------------------------------------------
def _preload() -> None:
    for name in PRELOAD:
        importlib.import_module(name)
    getattr(importlib.import_module("transformers"), "get_scheduler")  # a lazy attribute cpt uses


def _redirect_stdio(console: str) -> None:
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    out = os.open(console, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(out, 1)
    os.dup2(out, 2)
    for fd in (devnull, out):
        os.close(fd)
    sys.stdin = open(0, closefd=False)
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), write_through=True)
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), write_through=True)


def _run_job(request: dict[str, Any], started_w: int) -> int:
    """In the forked child: become the job (own session, console, env), run train.cpt's main."""
    for sig in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    if request.get("new_session", True):
        os.setsid()
    os.write(started_w, b"1")  # the runner may now signal our group and renice our session
    os.close(started_w)
    try:  # `top` and `ps -o comm` name the job, not the helper it was forked from
        Path("/proc/self/comm").write_text("train.cpt")
    except OSError:
        pass
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    get_settings.cache_clear()
    _redirect_stdio(request["console"])
    argv = list(request["argv"])
    sys.argv = [JOB_MODULE.replace(".", "/") + ".py", *argv]
    try:
        code = importlib.import_module(JOB_MODULE).main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if not isinstance(exc.code, (int, type(None))):
            print(exc.code, file=sys.stderr)
    except BaseException:  # noqa: BLE001 - what a fresh process would print before dying
        traceback.print_exc()
        code = 1
    atexit._run_exitfuncs()  # what interpreter exit would run (logging, tensorboard writers)
    return int(code or 0)


def _fork_job(request: dict[str, Any], replies_fd: int) -> dict[str, Any]:
    started_r, started_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(started_r)
        os.close(replies_fd)  # the job must not hold the app's pipe open
        code = 1
        try:
            code = _run_job(request, started_w)
        except BaseException:  # noqa: BLE001 - before main(): e.g. the console file cannot be opened
            traceback.print_exc()
        finally:
            os._exit(code)
    os.close(started_w)
    with os.fdopen(started_r, "rb") as started:
        ready = started.read(1)
    return {"pid": pid} if ready else {"error": "the forked job died before it started"}


def serve() -> int:
    """The helper's main loop: one JSON request per stdin line, one JSON reply per stdout line."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the app's Ctrl-C: the app ends, then our stdin does
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # whatever a library prints goes to stderr, not into the replies
    _preload()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps jobs: a finished job is gone at once
    print(READY, file=replies, flush=True)
    for line in sys.stdin:
        try:
            reply = _fork_job(json.loads(line), replies.fileno())
        except Exception as exc:  # noqa: BLE001 - the app hears why and starts the job the old way
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(reply), file=replies, flush=True)
    return 0


# --- the app's side -----------------------------------------------------------------------------------
def source_fingerprint() -> int:
    """A hash of every project Python file's path, size and mtime: what the helper imported. Any
    change counts, an older mtime too (files copied or checked out with their times)."""
    stamps = []
    for folder in _SOURCE_DIRS:
        for path in (REPO_ROOT / folder).rglob("*.py"):
            try:
                stat = path.stat()
            except OSError:
                continue
            stamps.append((str(path), stat.st_size, stat.st_mtime_ns))
    return hash(tuple(sorted(stamps)))


def _import_env(env: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in env.items() if k.startswith(IMPORT_TIME_ENV)))


@dataclass
class _Helper:
    process: subprocess.Popen
    import_env: tuple[tuple[str, str], ...]
    sources: int
    ready: bool = False

    def alive(self) -> bool:
        # poll() alone still says alive for a moment after a kill -9 (the exiting leader of a process with
        # threads cannot be reaped yet); /proc already shows it as gone
        return self.process.poll() is None and pid_alive(self.process.pid)

    def wait_ready(self, timeout_s: float) -> bool:
        if not self.ready and self.alive():
            line = _read_line(self.process, timeout_s)
            self.ready = line == READY
            if line == "":  # its stdout closed: it is exiting, let it finish so alive() says so
                try:
                    self.process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
        return self.ready and self.alive()

    def close(self) -> None:
        """End the helper (not its jobs: each is in a session of its own and lives on)."""
        for pipe in (self.process.stdin, self.process.stdout):
            try:
                pipe.close()
            except OSError:
                pass
        self.process.terminate()  # it may be importing, not reading its stdin
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _read_line(process: subprocess.Popen, timeout_s: float) -> str | None:
    """The next line from the helper; None when none came within `timeout_s`, "" when its stdout closed."""
    ready, _, _ = select.select([process.stdout], [], [], timeout_s)
    if not ready:
        return None
    line = process.stdout.readline()
    return line.decode().strip() if line else ""


class JobServer:
    """The app's handle on the helper; one per app process (`job_server()`), shared by every JobRunner.

    A helper that dies before it is ready, or is not ready within a full wait, is not started again until
    the source files change (a broken install or a fixed syntax error): jobs start as fresh processes,
    which say what is wrong in their own console.
    """

    def __init__(self, python: str = sys.executable):
        self.python = python
        self._helper: _Helper | None = None
        self._given_up: tuple[int, str] | None = None  # (source fingerprint, why)
        self._lock = threading.Lock()

    def warm(self, env: dict[str, str], wait_s: float = 0.0) -> bool:
        """Start the helper now (its imports run in the background) so the first job is forked too;
        True once it is ready (waiting up to `wait_s` for that).

        With no wait, a helper that another thread is starting or using is left to it: False at once. (The
        Train tab warms on every tab select, and must not wait behind a Start that waits for the imports.)
        """
        if not self._lock.acquire(blocking=wait_s > 0):
            return False
        try:
            return self._ready(env, wait_s) is not None
        except JobServerError:
            return False
        finally:
            self._lock.release()

    @property
    def helper_pid(self) -> int | None:
        """The helper's pid while it runs: every forked job is its child."""
        helper = self._helper
        return helper.process.pid if helper is not None and helper.alive() else None

    def _ready(self, env: dict[str, str], wait_s: float) -> _Helper | None:
        """The current helper if it is ready within `wait_s`, None while it imports; JobServerError when
        there is none to be had."""
        sources = source_fingerprint()
        if self._given_up is not None:
            if self._given_up[0] == sources:
                raise JobServerError(self._given_up[1])
            self._given_up = None
        helper = self._helper
        if helper is not None and (not helper.alive() or helper.import_env != _import_env(env)
                                   or helper.sources != sources):
            helper.close()  # stale code, another import-time environment, or dead since its last job
            helper = self._helper = None
        if helper is None:
            process = subprocess.Popen([self.python, "-m", __name__], cwd=REPO_ROOT, env=env,
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            helper = self._helper = _Helper(process, _import_env(env), sources)
        if helper.wait_ready(wait_s):
            return helper
        if helper.ready:  # it had served and died in the last moment: launch's retry starts another
            helper.close()
            self._helper = None
            raise HelperGone("the job helper exited")
        why = None
        if not helper.alive():
            why = f"the job helper exited (code {helper.process.returncode}) before it was ready"
        elif wait_s >= GIVE_UP_AFTER_S:
            why = f"the job helper was not ready after {wait_s:.0f} s"
        if why:
            log.warning("%s: training jobs start as fresh processes until the source files change", why)
            helper.close()
            self._helper, self._given_up = None, (sources, why)
            raise JobServerError(why)
        return None

    def launch(self, argv: list[str], env: dict[str, str], cwd: Path, console: Path, wait_s: float = 0.0,
               new_session: bool = True) -> int:
        """Fork a `train.cpt` job with these arguments; its pid. JobServerError: start it another way.

        `new_session=False` leaves the job in the helper's process group, which is its app's: a signal to
        that group (the Experiment tab's Stop, a terminal's Ctrl-C) reaches the job too.

        A helper still importing after `wait_s` is left to finish for the next job (JobRunner.start
        waits for it first, outside its mutex).
        """
        request = {"argv": argv, "env": env, "cwd": str(cwd), "console": str(console), "new_session": new_session}
        with self._lock:
            for _ in range(2):  # a helper that died since its last job (killed, out of memory) is replaced once
                try:
                    helper = self._ready(env, wait_s)
                except HelperGone:
                    continue
                if helper is None:
                    raise JobServerError("the job helper is still importing the libraries")
                try:
                    helper.process.stdin.write((json.dumps(request) + "\n").encode())
                    helper.process.stdin.flush()
                    line = _read_line(helper.process, 60.0)
                except OSError:  # its stdin is closed: it is gone
                    line = ""
                if line:
                    reply = json.loads(line)
                    if "pid" not in reply:
                        raise JobServerError(reply.get("error", "no pid"))
                    return int(reply["pid"])
                helper.close()
                self._helper = None
                if line is None:  # alive but silent for a minute: do not wait for another one
                    break
            raise JobServerError("the job helper did not answer")

    def close(self) -> None:
        with self._lock:
            if self._helper is not None:
                self._helper.close()
                self._helper = None


class JobServerError(RuntimeError):
    """The helper could not fork this job; the runner starts it as a fresh process instead."""


class HelperGone(JobServerError):
    """The ready helper died just now; the next attempt starts another (not a reason to give up)."""


_servers: dict[str, JobServer] = {}
_servers_lock = threading.Lock()


def job_server(python: str = sys.executable) -> JobServer:
    """The process-wide helper handle for `python` (started on first use)."""
    with _servers_lock:
        if python not in _servers:
            _servers[python] = JobServer(python)
        return _servers[python]


if __name__ == "__main__":
    sys.exit(serve())
