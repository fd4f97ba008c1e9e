"""The job lock and the live state never depend on status.json, which a user can edit mid-run."""
from __future__ import annotations

import time

import pytest

from iacdemo.errors import JobError
from iacdemo.training import runs
from iacdemo.training.config import TrainConfig
from iacdemo.training.runner import JobRunner

WAIT = 300


def _until(predicate, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    pytest.fail("timed out")


def test_hand_edited_status_json_mid_run_neither_hides_the_job_nor_frees_the_lock(settings, tmp_path,
                                                                               tiny_model_dir, page_dataset):
    local = settings.with_overrides(runs_dir=tmp_path / "runs")
    runner = JobRunner(local)
    config = dict(dataset=str(page_dataset), model=str(tiny_model_dir), seq_len=64, batch_size=2,
                  eval_fraction=0.0, chat_mix_ratio=0.0, save_every=0, device="cpu", cpu_threads=1, log_every=1)
    name = runner.start(TrainConfig(run_name="edited", max_steps=100000, **config))
    run_dir = local.runs_dir / name
    _until(lambda: runner.poll(name).step >= 1)

    (run_dir / "status.json").write_bytes(b"\xff garbage")
    snap = runner.poll(name)
    assert snap.running and snap.status == "running"  # the lock's process lives: still running
    _until(lambda: runs.read_status_file(run_dir).get("status") == "running")  # the job's next write restores it

    (run_dir / "status.json").write_text('{"status": "finished"}')
    assert runner.active_run() == name
    with pytest.raises(JobError, match="already running"):
        runner.start(TrainConfig(run_name="second", max_steps=1, **config))
    assert not (local.runs_dir / "second").exists()
    with pytest.raises(JobError, match="still running"):
        runs.delete_run(name, local)

    (run_dir / "status.json").write_text("[]")
    runner.stop()  # Stop finds the job through the lock, not through the file
    final = runner.wait(name, timeout=WAIT)
    assert final.status == "stopped" and not final.running
    assert runner.active_run() is None
