"""Nothing is silently overwritten or deleted, temporary folders stay out of the user's names, and a
folder that is a symbolic link (or an absurd id) gets a clear message and leaves nothing behind."""
from __future__ import annotations

import json

import pytest

from iacdemo.errors import ConfigError, DataError, JobError, ModelError
from iacdemo.models.loader import resolve_model_path
from iacdemo.training import runs
from iacdemo.training.config import TrainConfig
from iacdemo.training.runner import JobRunner
from iacdemo.ui.state import AppContext
from iacdemo.ui.tabs import data_tab, train_tab
from tests.ui_support import isolated_settings

PAGE = "*/r/dynamodb_contributor_insights.html.markdown"
FILES = ["terraform-provider-aws-docs.jsonl.gz"]


@pytest.fixture()
def ctx(settings, tmp_path) -> AppContext:
    return AppContext(isolated_settings(settings, tmp_path))


def _build(ctx, name):
    return data_tab.run_build(ctx, FILES, "", ["DynamoDB"], PAGE, "128", False, name)


def _leftovers(folder):
    return sorted(p.name for p in folder.rglob("*") if ".tmp" in p.name) if folder.exists() else []


def test_rebuilding_a_dataset_name_keeps_the_earlier_one(ctx):
    first = _build(ctx, "docs-corpus")
    marker = first.out_dir / "stats.json"
    before = marker.read_text()
    second = _build(ctx, "docs-corpus")  # a second visitor with the default name
    assert first.out_dir.name == "docs-corpus" and second.out_dir.name == "docs-corpus-2"
    assert marker.read_text() == before
    assert "docs-corpus-2" in data_tab.summary_md(second.stats, second.out_dir)
    assert _leftovers(ctx.settings.datasets_dir) == []


def test_building_a_name_never_deletes_a_dataset_called_name_tmp_build(ctx):
    victim = _build(ctx, "victim.tmp-build")
    _build(ctx, "victim")
    assert (victim.out_dir / "state.json").is_file() and (victim.out_dir / "stats.json").is_file()
    names = [v for _, v in data_tab.corpus_choices(ctx.settings)]
    assert "victim.tmp-build" in names and "victim" in names


def test_a_dataset_folder_that_is_a_symlink_is_refused_and_nothing_is_left(ctx, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("mine")
    ctx.settings.datasets_dir.mkdir(parents=True, exist_ok=True)
    (ctx.settings.datasets_dir / "linked").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(DataError, match="symbolic link"):
        _build(ctx, "linked")
    assert [p.name for p in elsewhere.iterdir()] == ["keep.txt"]
    assert _leftovers(ctx.settings.datasets_dir) == []


@pytest.fixture()
def adapter_run(ctx, tiny_model_dir):
    """A run folder with a real (untrained) LoRA adapter on the tiny model: enough to export."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    run_dir = ctx.settings.runs_dir / "done"
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model_dir),
                           LoraConfig(r=2, target_modules=["q_proj"], task_type="CAUSAL_LM"))
    model.save_pretrained(run_dir / runs.ADAPTER_DIR)
    (run_dir / runs.ADAPTER_DIR / runs.ADAPTER_META).write_text(json.dumps({"base_model": str(tiny_model_dir)}))
    runs.write_status(run_dir, status="finished", step=1, total_steps=1)
    return run_dir


def test_re_exporting_keeps_the_earlier_export_and_a_name_tmp_export_folder(ctx, adapter_run):
    exports = ctx.settings.exports_dir
    victim = exports / "X.tmp-export"
    victim.mkdir(parents=True)
    (victim / "precious.txt").write_text("mine")
    first = train_tab.export_job(ctx, "done", "X")
    second = train_tab.export_job(ctx, "done", "X")
    assert first.name == "X" and second.name == "X-2"
    assert (first / "iacdemo_export.json").is_file() and (second / "config.json").is_file()
    assert (victim / "precious.txt").read_text() == "mine"
    assert _leftovers(exports) == ["X.tmp-export"]  # only the user's own folder of that name


def test_an_export_folder_that_is_a_symlink_is_refused_and_nothing_is_left(ctx, adapter_run, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    ctx.settings.exports_dir.mkdir(parents=True, exist_ok=True)
    (ctx.settings.exports_dir / "linked").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(ConfigError, match="symbolic link"):
        train_tab.export_job(ctx, "done", "linked")
    assert list(elsewhere.iterdir()) == [] and _leftovers(ctx.settings.exports_dir) == []


def test_a_run_folder_that_is_a_symlink_is_refused_listed_and_not_deleted(ctx, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "status.json").write_text('{"status": "finished"}')
    ctx.settings.runs_dir.mkdir(parents=True, exist_ok=True)
    (ctx.settings.runs_dir / "linked").symlink_to(elsewhere, target_is_directory=True)
    dataset = tmp_path / "data"
    dataset.mkdir()
    with pytest.raises(JobError, match="symbolic link"):
        JobRunner(ctx.settings).start(TrainConfig(dataset=str(dataset), run_name="linked", max_steps=1))
    with pytest.raises(JobError, match="symbolic link"):
        runs.delete_run("linked", ctx.settings)
    assert (elsewhere / "status.json").is_file() and not (elsewhere / "config.json").exists()
    (info,) = runs.list_runs(ctx.settings)
    assert info.status == "unreadable" and "symbolic link" in info.error


def test_a_5000_character_model_id_is_a_clear_error(settings, tmp_path):
    long_id = "a" * 5000
    with pytest.raises(ModelError, match="5,000 characters long"):
        resolve_model_path(long_id, settings)
    with pytest.raises(ModelError, match="Unknown model"):
        resolve_model_path("x" * 300, settings)  # one path part over the OS limit of 255 bytes
    with pytest.raises(ConfigError, match="too long"):
        TrainConfig(dataset=str(tmp_path), model=long_id, run_name="r", max_steps=1).validate()
    with pytest.raises(ConfigError, match="folder not found"):
        TrainConfig(dataset="d" * 300, run_name="r", max_steps=1).validate()
