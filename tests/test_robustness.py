"""Bad inputs get a clear `IacdemoError` (shown verbatim in the tab's red error box), never a crash.

One test per row of docs/robustness.md that is not already covered elsewhere; all cheap (no model
weights, no training), so the table stays honest without slowing the suite. Rows covered by slower
tests elsewhere (model loading, adapters, real jobs) are cited in the table instead.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from iacdemo.errors import ConfigError, DataError, IacdemoError, JobError, ModelError
from iacdemo.evaluation.rego import evaluate_policy
from iacdemo.evaluation.tasks import load_tasks
from iacdemo.generation.recording import Recording, replay
from iacdemo.generation.side_by_side import GenSettings
from iacdemo.models.device import pick_device
from iacdemo.models.loader import resolve_model_path
from iacdemo.training import runs
from iacdemo.training.config import TrainConfig
from iacdemo.training.data import load_rows
from iacdemo.training.runner import JobRunner
from iacdemo.ui import compare_views
from iacdemo.ui.state import AppContext
from iacdemo.ui.tabs import data_tab, evaluate_tab, train_tab


@pytest.fixture()
def local(settings, tmp_path):
    """Settings whose runs and cache dirs are private to the test (data stays the real shared data)."""
    return settings.with_overrides(runs_dir=tmp_path / "runs", cache_dir=tmp_path / "cache")


@pytest.fixture()
def ctx(local) -> AppContext:
    return AppContext(local)


def _fake_running_run(settings, name: str) -> Path:
    """A run folder that says it is running, owned by a live process (this test's own pid)."""
    run_dir = settings.runs_dir / name
    run_dir.mkdir(parents=True)
    runs.write_status(run_dir, status="running", pid=os.getpid(), launcher_pid=os.getpid(), run_name=name,
                      created=time.time())
    (settings.runs_dir / ".job.lock").write_text(json.dumps({"pid": os.getpid(), "run_name": name,
                                                             "since": time.time()}))
    return run_dir


# ---- models ------------------------------------------------------------------------------------------------
def test_model_id_that_is_a_path_outside_any_model_is_refused(local, tmp_path):
    with pytest.raises(ModelError, match="Unknown model"):
        resolve_model_path("../../etc/passwd", local)
    with pytest.raises(ModelError, match="not a model folder"):
        resolve_model_path(str(tmp_path), local)


def test_unknown_device_is_a_config_error():
    with pytest.raises(ConfigError, match="Unknown device"):
        pick_device("tpu")


# ---- datasets ----------------------------------------------------------------------------------------------
def test_missing_dataset_folder(local, tmp_path):
    with pytest.raises(ConfigError, match="folder not found"):
        TrainConfig(dataset=str(tmp_path / "gone"), max_steps=1).validate()
    with pytest.raises(DataError, match="does not exist"):
        train_tab.resolve_dataset("no-such-corpus", local)


def test_empty_and_corrupt_datasets(tmp_path):
    from datasets import Dataset

    blank = tmp_path / "blank"
    Dataset.from_dict({"text": [" ", ""], "source": ["a", "a"], "path": ["p", "q"], "subcategory": ["", ""], "n_tokens": [1, 0],
                       }).save_to_disk(str(blank))
    with pytest.raises(DataError, match="has no text rows"):
        load_rows(blank)
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "dataset_info.json").write_text("{broken")
    (corrupt / "data-00000-of-00001.arrow").write_bytes(b"\x00not arrow" * 20)
    with pytest.raises(DataError):
        load_rows(corrupt)


def test_zero_row_dataset_says_it_is_empty(tmp_path):
    from datasets import Dataset

    empty = tmp_path / "zero-rows"
    Dataset.from_dict({"text": [], "source": [], "path": [], "subcategory": [], "n_tokens": []}).save_to_disk(str(empty))
    with pytest.raises(DataError, match="empty|no text rows"):  # not "IndexError: list index out of range"
        load_rows(empty)


def test_dataset_typed_outside_the_app_dirs_is_refused(local, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    with pytest.raises(DataError, match="outside the app's folders"):
        train_tab.resolve_dataset(str(outside), local)
    with pytest.raises(DataError, match="outside the app's folders"):
        train_tab.resolve_dataset("../../../../etc", local)
    local.datasets_dir.mkdir(parents=True)
    (local.datasets_dir / "sneaky").symlink_to(outside)  # a symlink inside that points outside
    with pytest.raises(DataError, match="outside the app's folders"):
        train_tab.resolve_dataset("sneaky", local)


@pytest.mark.parametrize("name", ["../evil", "a/b", "..", "/tmp/x", ".hidden", "a b", "x" * 81, ""])
def test_dataset_output_name_must_be_one_plain_folder(local, name):
    with pytest.raises(ConfigError):
        data_tab.dataset_dir(name, local)


def test_docs_path_outside_app_dirs_is_refused(local):
    with pytest.raises(DataError, match="outside the app's folders"):
        data_tab.resolve_sources([], "/etc", local)
    with pytest.raises(DataError, match="Unknown source file"):
        data_tab.resolve_sources(["../../secret.jsonl.gz"], "", local)


@pytest.mark.parametrize("value", ["inf", "nan", "-inf"])
def test_non_finite_sequence_length_is_a_config_error(value):
    with pytest.raises(ConfigError):
        data_tab.parse_seq_len(value)


# ---- training hyperparameters and jobs ---------------------------------------------------------------------
@pytest.mark.parametrize("field, raw, words", [
    ("lr", "fast", "is not a number"), ("batch_size", "2.5", "whole number"), ("lora_r", "0", "below the minimum"),
    ("lr", "5", "above the maximum"), ("epochs", "nan", "not a finite number"), ("seq_len", "", "value is required"),
    ("scheduler", "warp", "is not one of"), ("packing", "maybe", "not true or false"),
])
def test_bad_hyperparameters_name_the_field(tmp_path, field, raw, words):
    values = TrainConfig(dataset=str(tmp_path)).to_dict()
    values[field] = raw
    with pytest.raises(ConfigError, match=words) as error:
        TrainConfig.from_form(values)
    assert f"({field})" in str(error.value)


def test_corrupt_config_json_is_a_config_error(tmp_path):
    bad = tmp_path / "config.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="Not a valid config.json"):
        TrainConfig.from_json(bad)
    bad.write_text(json.dumps({"dataset": str(tmp_path), "lr": "fast"}))  # a hand-edited run config
    with pytest.raises(ConfigError, match="is not a number"):
        TrainConfig.from_json(bad).validate()


@pytest.mark.parametrize("name", ["../escape", "a/b", "/abs", "..", "x/../../y"])
def test_run_name_with_path_parts_creates_nothing(local, tmp_path, name):
    runner = JobRunner(local)
    with pytest.raises(ConfigError, match="not allowed"):
        runner.start(TrainConfig(dataset=str(tmp_path), run_name=name, max_steps=1))
    assert not (tmp_path / "escape").exists() and not Path("/abs").exists()
    assert not local.runs_dir.exists() or not any(local.runs_dir.iterdir())


def test_second_job_is_refused_while_one_runs(local, tmp_path):
    _fake_running_run(local, "busy")
    runner = JobRunner(local)
    assert runner.active_run() == "busy"
    with pytest.raises(JobError, match="already running"):
        runner.start(TrainConfig(dataset=str(tmp_path), run_name="second", max_steps=1))
    assert not (local.runs_dir / "second").exists()


def test_deleting_the_running_run_is_refused_and_keeps_its_files(local, ctx):
    run_dir = _fake_running_run(local, "busy")
    (run_dir / "metrics.jsonl").write_text('{"step": 1, "loss": 2.0, "elapsed_s": 1}\n')
    with pytest.raises(JobError, match="stop it before deleting"):
        train_tab.delete_job(ctx, "busy", confirmed=True)
    with pytest.raises(JobError, match="still running"):
        runs.delete_run("busy", local)
    assert (run_dir / "metrics.jsonl").exists()
    with pytest.raises(ConfigError, match="not allowed"):
        train_tab.delete_job(ctx, "../runs", confirmed=True)
    assert local.runs_dir.is_dir()


def test_export_folder_name_with_path_parts_is_refused(local, ctx):
    run_dir = local.runs_dir / "done"
    run_dir.mkdir(parents=True)
    runs.write_status(run_dir, status="finished")
    for folder in ["../../outside", "/tmp/x", "a/b"]:
        with pytest.raises(ConfigError, match="plain folder name"):
            train_tab.export_job(ctx, "done", folder)
    assert not (local.cache_dir.parent / "outside").exists()


def test_stop_without_a_job(local, ctx):
    with pytest.raises(JobError, match="No training job is running"):
        train_tab.stop_job(ctx)


# ---- generation settings ------------------------------------------------------------------------------------
def test_max_tokens_above_the_cap_and_bad_numbers(local):
    cap = local.max_new_tokens_cap
    with pytest.raises(ConfigError, match=f"between 1 and {cap}"):
        GenSettings.from_form(max_new_tokens=cap + 1, settings=local)
    with pytest.raises(ConfigError, match="Temperature must be a number"):
        GenSettings.from_form(temperature="hot", settings=local)
    with pytest.raises(ConfigError, match="finite"):
        GenSettings.from_form(top_p="nan", settings=local)
    with pytest.raises(ConfigError, match="Temperature must be a number between 0 and 2; you typed 5, which is above"):
        GenSettings.from_form(temperature=5, settings=local)


# ---- recordings ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("content", ["{not json", "[1, 2]", "null", '{"columns": ["a"]}',
                                     '{"columns": ["a"], "ticks": [[0.1]]}'])
def test_bad_recording_files(tmp_path, content):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    with pytest.raises(DataError, match="not a side-by-side recording"):
        Recording.load(bad)


def test_recording_with_a_malformed_replace_delta_is_refused_not_a_crash(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"columns": ["a"], "ticks": [[0.0, [["only-one-item"]]]]}))
    try:
        recording = Recording.load(bad)
    except DataError:
        return
    list(replay(recording, speed=1000, sleep=lambda s: None))  # must not raise IndexError


def test_replay_refuses_paths_outside_the_recording_folders(local):
    for choice in ["/etc/passwd", "../../README.md", str(local.cache_dir / "recordings" / "x.json")]:
        with pytest.raises(DataError, match="not one of the recordings"):
            compare_views.load_recording(choice, local)


# ---- evaluation inputs -------------------------------------------------------------------------------------
def test_malformed_iac_eval_csv(tmp_path):
    bad = tmp_path / "tasks.csv"
    bad.write_text("Resource,Prompt\naws_s3_bucket,make a bucket\n")
    with pytest.raises(DataError, match="missing column"):
        load_tasks(bad)
    bad.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(DataError):
        load_tasks(bad)


@pytest.mark.parametrize("difficulty", ["hard", "nan", "inf"])
def test_non_numeric_difficulty_is_a_data_error(tmp_path, difficulty):
    bad = tmp_path / "tasks.csv"
    bad.write_text("Resource,Prompt,Rego intent,Difficulty,Reference output,Intent\n"
                   f"aws_s3_bucket,make a bucket,package x,{difficulty},,\n")
    with pytest.raises(DataError, match="Difficulty"):
        load_tasks(bad)


def test_rego_policy_that_does_not_compile_scores_as_an_error():
    outcome = evaluate_policy("package broken\nallow { input.x = = 1 }", {"resource_changes": []})
    assert not outcome.passed and "does not compile" in outcome.error


@pytest.mark.parametrize("count", ["many", "-1", "2.5", "inf", "nan"])
def test_bad_task_count_in_the_evaluate_tab(ctx, count):
    with pytest.raises(ConfigError, match="Number of tasks"):
        evaluate_tab.tasks_from_form(ctx, [1], count)


def test_evaluate_tab_system_choices(ctx):
    with pytest.raises(ConfigError, match="Unknown system"):
        evaluate_tab.systems_from_form(["rm -rf /"], None)
    with pytest.raises(ConfigError, match="tuned adapter"):
        evaluate_tab.systems_from_form([evaluate_tab.TUNED], "")


def test_every_error_class_is_a_user_facing_error():
    for cls in (ConfigError, DataError, JobError, ModelError):
        assert issubclass(cls, IacdemoError)
