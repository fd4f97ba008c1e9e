"""The job helper: CPU jobs forked from a process that has imported the training libraries once.

Real processes throughout: a real helper, real forked jobs on the tiny model, real signals. What a job
does once it runs (loss, checkpoints, stop/resume, kill -9) is tested in test_training_jobs.py, whose
jobs are forked the same way; the app-killed case is in test_faults.py (forked and fresh).
"""
from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from iacdemo.settings import REPO_ROOT
from iacdemo.training import runs
from iacdemo.training.config import TrainConfig
from iacdemo.training.job_server import JobServer, job_server
from iacdemo.training.runner import JobRunner, job_env, launch_job

WAIT = 300  # generous: the machine is shared
pytestmark = pytest.mark.slow


@pytest.fixture
def runner(settings, tmp_path):
    runner = JobRunner(settings.with_overrides(runs_dir=tmp_path / "runs"))
    assert runner.warm_job_server(wait_s=WAIT), "the job helper did not get ready"
    return runner


def _config(dataset: Path, model: Path, name: str, **overrides) -> TrainConfig:
    values = dict(dataset=str(dataset), model=str(model), run_name=name, seq_len=64, batch_size=1,
                  eval_fraction=0.0, chat_mix_ratio=0.0, save_every=0, device="cpu", cpu_threads=1, max_steps=2)
    return TrainConfig(**{**values, **overrides})


def parent_pid(pid: int) -> int:
    """The parent of `pid` (/proc/PID/stat field 4): whether a job was forked by the helper or not."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2:].split()[1])


def _gone(pid: int, timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while runs.pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not runs.pid_alive(pid)


def test_a_forked_job_is_a_job_of_its_own_and_ends_like_a_fresh_one(runner, page_dataset, tiny_model_dir):
    helper = job_server().helper_pid
    name = runner.start(_config(page_dataset, tiny_model_dir, "forked", max_steps=400))
    pid = runs.read_job_lock(runner.settings.runs_dir)["pid"]
    # the helper's child, yet in a session and process group of its own: Stop signals the group
    assert parent_pid(pid) == helper and os.getsid(pid) == pid and os.getpgid(pid) == pid
    assert os.getsid(helper) != pid
    autogroup = Path(f"/proc/{pid}/autogroup")
    if autogroup.exists():  # the runner lowered the job's session, not the app's
        assert autogroup.read_text().split()[-1] == str(runner.settings.job_niceness)
    deadline = time.monotonic() + WAIT
    while runner.poll(name).step < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert runner.poll(name).running and runner.active_run() == name
    runner.stop(name)  # SIGTERM to its group: it saves and ends "stopped"
    snap = runner.wait(name, timeout=WAIT)
    assert snap.status == "stopped", snap.log_tail
    assert _gone(pid) and runner.active_run() is None  # reaped by the kernel: no zombie holds the lock
    console = (runner.settings.runs_dir / name / runs.CONSOLE_FILE).read_text()
    assert "Stopped at step" in console  # the job's output went to its console file, as with Popen
    assert runs.pid_alive(helper) and job_server().helper_pid == helper  # and the helper serves the next


def test_a_killed_helper_is_replaced_and_the_next_job_is_forked_by_the_new_one(runner, page_dataset,
                                                                            tiny_model_dir):
    helper = job_server().helper_pid
    os.kill(helper, signal.SIGKILL)  # e.g. the out-of-memory killer
    assert _gone(helper)
    name = runner.start(_config(page_dataset, tiny_model_dir, "after-helper-died"))
    pid = runs.read_job_lock(runner.settings.runs_dir)["pid"]
    assert parent_pid(pid) == job_server().helper_pid != helper
    assert runner.wait(name, timeout=WAIT).status == "finished"


def test_a_helper_that_cannot_start_is_given_up_and_jobs_start_as_fresh_processes(settings, tmp_path,
                                                                                   page_dataset, tiny_model_dir):
    # a Python that runs everything but the helper (as a broken install of one of its imports would)
    python = tmp_path / "python"
    python.write_text(f'#!/bin/sh\n[ "$2" = "iacdemo.training.job_server" ] && exit 3\nexec {sys.executable} "$@"\n')
    python.chmod(0o755)
    runner = JobRunner(settings.with_overrides(runs_dir=tmp_path / "runs"), python=str(python))
    assert not runner.warm_job_server(wait_s=WAIT)
    assert not job_server(str(python)).warm(job_env(runner.settings), wait_s=WAIT)  # given up: not restarted
    assert job_server(str(python)).helper_pid is None
    name = runner.start(_config(page_dataset, tiny_model_dir, "fresh"))
    pid = runs.read_job_lock(runner.settings.runs_dir)["pid"]
    assert parent_pid(pid) == os.getpid() and os.getsid(pid) == pid  # `python -m train.cpt`, as before
    snap = runner.wait(name, timeout=WAIT)
    assert snap.status == "finished", snap.log_tail


def test_the_helper_is_replaced_when_the_code_or_the_import_environment_changes(settings):
    server = JobServer()  # its own helper: the shared one stays as it is
    env = job_env(settings)
    try:
        server.warm(env)
        first = server.helper_pid
        for harmless in ({"IACDEMO_RUNS_DIR": "/elsewhere"},  # read per job, not at import: same helper
                         {"TORCHINDUCTOR_CACHE_DIR": "/tmp/inductor"}):  # torch sets it when a model loads
            server.warm({**env, **harmless})
            assert server.helper_pid == first
        server.warm({**env, "HF_HUB_OFFLINE": "1"})  # huggingface_hub reads it when imported
        second = server.helper_pid
        assert second != first and _gone(first)

        source = REPO_ROOT / "train" / "__init__.py"  # an edited source file: the next job must run it
        stat = source.stat()
        try:
            os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
            server.warm({**env, "HF_HUB_OFFLINE": "1"})
        finally:
            os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        assert server.helper_pid != second and _gone(second)
    finally:
        server.close()


def test_an_experiments_run_stays_in_its_process_group_so_stopping_the_experiment_stops_it(
        runner, page_dataset, tiny_model_dir, tmp_path):
    run_dir = tmp_path / "experiment-run"
    run_dir.mkdir()
    config = _config(page_dataset, tiny_model_dir, "", out=str(run_dir), max_steps=400)
    job = launch_job(config, runner.settings, run_dir / runs.CONSOLE_FILE, new_session=False)
    # forked, yet in this process's group and session: the Experiment tab's Stop (a SIGTERM to the
    # experiment's group) reaches it, as it reached the subprocess before
    assert parent_pid(job.pid) == job_server().helper_pid
    assert os.getpgid(job.pid) == os.getpgid(0) and os.getsid(job.pid) == os.getsid(0)
    deadline = time.monotonic() + WAIT
    while not runs.read_status_file(run_dir).get("step") and time.monotonic() < deadline:
        time.sleep(0.1)
    job.terminate()
    job.wait(timeout=WAIT)
    assert runs.read_status(run_dir)["status"] == "stopped"


def test_warming_without_a_wait_never_waits_behind_another_thread(settings):
    """The Train tab warms the helper on every tab select (no wait). While a Start waits for the helper's
    imports it holds the helper's lock for seconds; the tab select must return at once, not queue behind."""
    import threading

    server = JobServer()
    env = job_env(settings)
    entered, release = threading.Event(), threading.Event()
    real_ready = server._ready

    def slow_ready(env, wait_s):  # a Start inside its wait for the imports
        entered.set()
        release.wait(30)
        return real_ready(env, 0)

    server._ready = slow_ready
    starting = threading.Thread(target=server.warm, args=(env, WAIT))
    starting.start()
    try:
        assert entered.wait(30)
        started = time.monotonic()
        assert server.warm(env) is False
        assert time.monotonic() - started < 1.0
    finally:
        release.set()
        starting.join()
        server.close()
