"""Faults: the app process dies mid-job, generated code tries to run commands, paths try to escape.

kill -9 of the training subprocess itself is covered by
tests/test_training_jobs.py::test_kill9_is_reported_as_failed (run marked failed, runner usable again).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from iacdemo.errors import ConfigError
from iacdemo.evaluation.harness import score_answer
from iacdemo.evaluation.tasks import load_tasks
from iacdemo.terraform.modes import STATIC
from iacdemo.experiment.config import ExperimentConfig
from iacdemo.generation.recording import Recording
from iacdemo.hcl.check import check_answer
from iacdemo.settings import REPO_ROOT
from iacdemo.training import runs
from iacdemo.training.runner import JobRunner
from iacdemo.ui import compare_views
from iacdemo.ui.state import AppContext
from iacdemo.ui.tabs import data_tab
from tests.test_job_server import parent_pid

WAIT = 300  # generous: the machine is shared


@pytest.fixture(scope="module")
def job_settings(settings, tmp_path_factory):
    return settings.with_overrides(runs_dir=tmp_path_factory.mktemp("fault-runs"))


# ---- the app dies while a job trains --------------------------------------------------------------------
APP_SCRIPT = textwrap.dedent("""
    import sys, time
    from iacdemo.settings import get_settings
    from iacdemo.training.config import TrainConfig
    from iacdemo.training.runner import JobRunner

    from iacdemo.training.job_server import job_server

    dataset, model, escape, forked = sys.argv[1:5]
    config = TrainConfig(dataset=dataset, model=model, run_name="orphan-" + forked, out=escape, seq_len=64, batch_size=1,
                         max_steps=100000, eval_fraction=0.0, chat_mix_ratio=0.0, save_every=0, device="cpu",
                         cpu_threads=1)
    runner = JobRunner(get_settings())
    if forked == "1":
        assert runner.warm_job_server(wait_s=300), "the job helper did not get ready"
    print(runner.start(config), job_server().helper_pid, flush=True)
    time.sleep(600)
""")


@pytest.mark.parametrize("forked", [True, False], ids=["forked-by-the-job-helper", "fresh-process"])
def test_killed_app_leaves_an_orphan_job_that_a_restarted_app_lists_and_stops(job_settings, page_dataset,
                                                                              tiny_model_dir, tmp_path, forked):
    escape = tmp_path / "elsewhere"  # a hand-crafted `out` must not move the run outside the runs dir
    env = dict(os.environ, IACDEMO_RUNS_DIR=str(job_settings.runs_dir), IACDEMO_DATA_DIR=str(job_settings.data_dir),
               IACDEMO_CACHE_DIR=str(job_settings.cache_dir), PYTHONPATH=str(REPO_ROOT),
               IACDEMO_JOB_SERVER="1" if forked else "0")
    app = subprocess.Popen([sys.executable, "-c", APP_SCRIPT, str(page_dataset), str(tiny_model_dir), str(escape),
                            "1" if forked else "0"],
                           cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        name, helper = app.stdout.readline().split() or ["", ""]
        assert name == f"orphan-{int(forked)}", app.stderr.read() if app.poll() is not None else name
        restarted = JobRunner(job_settings)
        job = runs.read_job_lock(job_settings.runs_dir)["pid"]
        # forked: the job is the helper's child, in a session of its own; else the app's own child
        assert parent_pid(job) == (int(helper) if forked else app.pid)
        assert helper == "None" or forked
        assert os.getsid(job) == job and os.getpgid(job) == job
        deadline = time.monotonic() + WAIT
        while restarted.poll(name).step < 1 and restarted.poll(name).running and time.monotonic() < deadline:
            time.sleep(0.3)
        assert restarted.poll(name).step >= 1, restarted.poll(name).log_tail
    finally:
        app.kill()  # kill -9 of the app process while its job trains
        app.wait(timeout=30)
    if forked:  # the helper ends with its app (its stdin closes); the job it forked does not
        deadline = time.monotonic() + 30
        while runs.pid_alive(int(helper)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not runs.pid_alive(int(helper)), "the job helper outlived its app"

    restarted = JobRunner(job_settings)  # a fresh app process: nothing in memory, only the run folder
    listed = {info.name: info for info in runs.list_runs(job_settings)}
    assert name in listed and listed[name].run_dir == job_settings.runs_dir / name
    assert not escape.exists()
    # The job has its own session, so it outlives the app: it keeps training and is re-attached.
    assert listed[name].status == "running"
    assert restarted.active_run() == name
    step = restarted.poll(name).step
    deadline = time.monotonic() + 60
    while restarted.poll(name).step <= step and time.monotonic() < deadline:
        time.sleep(0.3)
    assert restarted.poll(name).step > step, "the orphaned job stopped training"

    restarted.stop(name)  # the restarted app can stop the orphan (SIGTERM: it saves and exits cleanly)
    snap = restarted.wait(name, timeout=WAIT)
    assert snap.status == "stopped", snap.log_tail
    assert restarted.active_run() is None
    assert (job_settings.runs_dir / name / "adapter" / "adapter_config.json").exists()


# ---- generated code is parsed, never executed -------------------------------------------------------------
def _hostile_answer(marker: Path) -> str:
    return textwrap.dedent(f"""
        Here is the bucket:

        ```hcl
        resource "aws_s3_bucket" "b" {{
          bucket = "demo-bucket"
          provisioner "local-exec" {{
            command = "touch {marker}"
          }}
        }}

        data "external" "pwn" {{
          program = ["sh", "-c", "touch {marker}; echo '{{}}'"]
        }}

        resource "null_resource" "x" {{
          provisioner "local-exec" {{
            command = "touch {marker}"
          }}
        }}
        ```
        """)


def test_generated_code_is_checked_and_scored_but_never_run(settings, schema, tmp_path):
    marker = Path("/tmp") / f"pwned-{uuid.uuid4().hex}"
    answer = _hostile_answer(marker)
    task = next(t for t in load_tasks(settings=settings) if "aws_s3_bucket" in t.reference)

    check = check_answer(answer, schema)  # what the Compare tab's badges run
    assert check.parses
    result = score_answer(task, answer, schema)  # what the evaluation runs per answer (static by default)
    assert result.parses and result.mode == STATIC and "local-exec" in result.code
    assert result.check and result.check.get("parses")
    time.sleep(0.5)
    assert not marker.exists(), "generated code was executed"


def test_evaluations_are_static_unless_real_mode_is_asked_for():
    # Real mode hands generated code to Terraform (jailed, see iacdemo/terraform/sandbox.py): it runs only
    # when a user picks it, never because a machine happens to have Terraform installed.
    from train.evaluate import parse_args

    assert parse_args(["--answers", "reference", "--out", "report.json"]).mode == STATIC
    assert ExperimentConfig("x", "m").iac_eval.mode == STATIC


# ---- user-supplied paths stay inside the app's folders -----------------------------------------------------
def test_recordings_are_saved_inside_the_cache_whatever_the_prompt(settings, tmp_path):
    local = settings.with_overrides(cache_dir=tmp_path / "cache")
    recording = Recording(columns=["Base"], prompt="../../../../tmp/evil /etc/passwd",
                          ticks=[(0.0, ["hello"])])
    path = compare_views.save_recording(recording, local)
    assert compare_views.recordings_dir(local) in path.resolve().parents
    assert json.loads(path.read_text())["prompt"] == recording.prompt
    with pytest.raises(Exception, match="not one of the recordings"):
        compare_views.load_recording(str(tmp_path / "cache" / ".." / "x.json"), local)


def test_dataset_build_with_an_escaping_name_writes_nothing(settings, tmp_path):
    ctx = AppContext(settings.with_overrides(cache_dir=tmp_path / "cache", runs_dir=tmp_path / "runs"))
    for name in ["../outside", "/tmp/outside", "a/../../outside"]:
        with pytest.raises(ConfigError):
            data_tab.run_build(ctx, [], "", ["DynamoDB"], "", 256, False, name)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
