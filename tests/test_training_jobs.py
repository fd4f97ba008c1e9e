"""Real CPT jobs on the embedded model, launched through the JobRunner like the app does.

Kept short (64-token blocks, batch 2, a few steps) so the module runs in about two minutes on 2 cores.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
import shutil
import signal
import time

import pytest
import torch

from iacdemo.errors import ConfigError, JobError, ModelError
from iacdemo.training.config import TrainConfig
from iacdemo.training.data import load_rows
from iacdemo.training.export import export_merged, load_adapter_model
from iacdemo.training.packing import Example, collate, pack_examples
from iacdemo.training.runner import JobRunner
from iacdemo.training.runs import delete_run, list_runs, read_metrics, read_status

WAIT = 420  # generous: the machine is shared
pytestmark = pytest.mark.slow  # every test here runs or starts a real training job


@pytest.fixture(scope="module")
def job_settings(settings, tmp_path_factory):
    return settings.with_overrides(runs_dir=tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="module")
def runner(job_settings):
    return JobRunner(job_settings)


@pytest.fixture(scope="module")
def datasets_root(settings, tmp_path_factory, loaded_model):
    """Two real corpora from the corpus builder: the DynamoDB service and its contributor-insights page."""
    from iacdemo.corpus.build import build_corpus

    root = tmp_path_factory.mktemp("datasets")
    build_corpus(None, out_dir=root / "dynamodb", seq_len=512, services=["DynamoDB"], settings=settings,
                 tokenizer=loaded_model.tokenizer)
    build_corpus(None, out_dir=root / "page", seq_len=512, services=["DynamoDB"],
                 path_pattern="*/r/dynamodb_contributor_insights.html.markdown", settings=settings,
                 tokenizer=loaded_model.tokenizer)
    return root


def small(dataset, name, **overrides) -> TrainConfig:
    # torch's default threads: the test only waits while its job trains, so the job gets all the cores this
    # test has (both in a plain run; its worker's share under xdist, tests/conftest.py). Two threads on a
    # worker's one core took 179 s instead of 20 (bench/RESULTS.md, "Test suite wall time").
    values = dict(dataset=str(dataset), run_name=name, seq_len=64, batch_size=2, eval_fraction=0.0,
                  chat_mix_ratio=0.0, save_every=0, device="cpu", cpu_threads=0)
    values.update(overrides)
    return TrainConfig(**values)


def wait_for_step(runner, name, step, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        snap = runner.poll(name)
        if snap.step >= step or not snap.running:
            return snap
        time.sleep(0.3)
    pytest.fail(f"{name} did not reach step {step} in {timeout} s")


def page_loss(model, tokenizer, text: str) -> float:
    blocks = pack_examples([Example.plain(tokenizer(text, add_special_tokens=False)["input_ids"])], 64,
                           tokenizer.eos_token_id)
    batch = collate(blocks, 64, tokenizer.pad_token_id)
    with torch.no_grad():
        return model(**batch).loss.item()


def test_overfit_a_page_loss_decreases(runner, datasets_root, job_settings):
    name = runner.start(small(datasets_root / "page", "overfit", max_steps=10, lr=2e-3, lora_dropout=0.0,
                              scheduler="constant", warmup_ratio=0.0))
    assert name == "overfit"
    snap = runner.wait(name, timeout=WAIT)
    assert snap.status == "finished", snap.log_tail
    rows = read_metrics(job_settings.runs_dir / name)
    assert [r["step"] for r in rows] == list(range(1, 11))  # first step logged: short runs plot
    assert all({"loss", "lr", "grad_norm", "tokens_per_s", "elapsed_s"} <= r.keys() for r in rows)
    first = sum(r["loss"] for r in rows[:3]) / 3
    last = sum(r["loss"] for r in rows[-3:]) / 3
    assert last < 0.6 * first, (first, last)
    assert snap.progress == 1.0 and snap.adapter_path
    info = next(i for i in list_runs(job_settings) if i.name == name)
    assert (info.status, info.step, info.total_steps, info.model) == ("finished", 10, 10, "smollm2-135m-instruct")
    assert info.final_loss == rows[-1]["loss"] and info.adapter_path and info.duration_s > 0
    saved = TrainConfig.from_json(job_settings.runs_dir / name / "config.json")
    assert saved.lr == 2e-3 and saved.max_steps == 10


def test_adapter_loads_and_exports_merged(job_settings, tmp_path, tiny_model_dir, settings):
    from transformers import AutoModelForCausalLM

    run_dir = job_settings.runs_dir / "overfit"
    meta = json.loads((run_dir / "adapter" / "iacdemo_adapter.json").read_text())
    assert meta["base_model"] == "smollm2-135m-instruct" and meta["step"] == 10
    tuned, tokenizer, base = load_adapter_model(run_dir, settings=settings)
    page = load_rows(json.loads((run_dir / "config.json").read_text())["dataset"])[0][0]["text"]
    tuned_loss = page_loss(tuned, tokenizer, page)
    with tuned.disable_adapter():
        base_loss = page_loss(tuned, tokenizer, page)
    assert tuned_loss < base_loss - 0.3, (base_loss, tuned_loss)

    out = export_merged(run_dir, tmp_path / "merged", settings=settings)
    merged = AutoModelForCausalLM.from_pretrained(out)
    assert abs(page_loss(merged, tokenizer, page) - tuned_loss) < 1e-3
    assert (out / "tokenizer.json").exists()

    with pytest.raises(ModelError, match="trained on 'smollm2-135m-instruct'"):
        export_merged(run_dir, tmp_path / "wrong", model_id=str(tiny_model_dir), settings=settings)
    broken = tmp_path / "broken"
    shutil.copytree(run_dir / "adapter", broken)
    (broken / "iacdemo_adapter.json").write_text(json.dumps({"base_model": str(tiny_model_dir)}))
    with pytest.raises(ModelError, match="Cannot load the adapter"):  # shapes of another model
        load_adapter_model(broken, settings=settings)
    with pytest.raises(ConfigError, match="not empty"):
        export_merged(run_dir, tmp_path, settings=settings)


def test_failing_job_ends_failed_and_runner_keeps_working(runner, tmp_path):
    not_a_dataset = tmp_path / "not-a-dataset"
    not_a_dataset.mkdir()
    name = runner.start(small(not_a_dataset, "broken", max_steps=3))
    snap = runner.wait(name, timeout=WAIT)
    assert snap.status == "failed" and "No corpus at" in snap.error
    assert "No corpus at" in snap.log_tail
    assert runner.active_run() is None


def test_stop_refuse_second_and_resume(runner, datasets_root, job_settings, tiny_model_dir):
    # the tiny model: stopping, refusing and resuming are the point, and the embedded model trains above
    name = runner.start(small(datasets_root / "dynamodb", "stopme", model=str(tiny_model_dir), max_steps=10**5,
                              eval_fraction=0.1, eval_every=0, eval_max_batches=2))
    snap = wait_for_step(runner, name, 2)
    assert snap.running, snap.log_tail
    assert snap.eta_s is not None and snap.tokens_per_s and 0 < snap.progress < 1
    assert runner.active_run() == name
    other_app = JobRunner(job_settings)  # a second app process sees the lock too
    assert other_app.active_run() == name
    with pytest.raises(JobError, match="already running"):
        other_app.start(small(datasets_root / "page", "second", max_steps=1))
    with pytest.raises(JobError, match="still running"):
        delete_run(name, job_settings)

    runner.stop(name)
    snap = runner.wait(name, timeout=WAIT)
    assert snap.status == "stopped", snap.log_tail
    stopped_at = snap.step
    run_dir = job_settings.runs_dir / name
    assert (run_dir / "checkpoints" / f"step-{stopped_at}" / "optimizer.pt").exists()
    rows = read_metrics(run_dir)
    assert rows[0]["step"] == 0 and "eval_loss" in rows[0]  # base model's eval loss before training
    model, _, _ = load_adapter_model(run_dir, settings=job_settings)  # the stop-time adapter is a normal peft adapter
    assert any("lora_A" in n for n, _ in model.named_parameters())
    del model

    runner.resume(name, max_steps=stopped_at + 2)
    snap = runner.wait(name, timeout=WAIT)
    assert snap.status == "finished", snap.log_tail
    steps = [r["step"] for r in read_metrics(run_dir) if "loss" in r]
    assert steps == list(range(1, stopped_at + 3))  # continued, not restarted
    assert read_status(run_dir)["step"] == stopped_at + 2
    assert f"Resumed from step-{stopped_at}" in (run_dir / "train.log").read_text()
    assert runner.active_run() is None


def test_kill9_is_reported_as_failed(runner, datasets_root, job_settings, tiny_model_dir):
    name = runner.start(small(datasets_root / "dynamodb", "killed", model=str(tiny_model_dir), max_steps=10**5))
    snap = wait_for_step(runner, name, 1)
    assert snap.running
    pid = read_status(job_settings.runs_dir / name)["launcher_pid"]
    autogroup = Path(f"/proc/{pid}/autogroup")
    if autogroup.exists() and job_settings.job_niceness > 0:  # the job's own session yields to the app's
        assert autogroup.read_text().split()[-1] == str(job_settings.job_niceness)
        # a process in the root autogroup (started outside any new session, as in CI) reads "" here
        assert Path("/proc/self/autogroup").read_text().strip() != autogroup.read_text().strip()
    os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while runner.poll(name).running and time.monotonic() < deadline:
        time.sleep(0.2)
    info = next(i for i in list_runs(job_settings) if i.name == name)
    assert info.status == "failed" and "process died" in info.error
    assert runner.active_run() is None
    delete_run(name, job_settings)
    assert not (job_settings.runs_dir / name).exists()


def test_embeddings_padding_checkpointing_on_a_tied_model(runner, datasets_root, tiny_model_dir, tmp_path,
                                                          job_settings, settings):
    """Trainable (tied) embeddings + no packing + gradient checkpointing + rsLoRA, all from the flags."""
    from transformers import AutoModelForCausalLM

    from train.cpt import prepare_run_dir

    config = small(datasets_root / "dynamodb", "emb", model=str(tiny_model_dir), max_steps=3, seq_len=128,
                   train_embeddings=True, embed_lr=1e-3, packing=False, gradient_checkpointing=True,
                   use_rslora=True, cpu_threads=1)
    snap = runner.wait(runner.start(config), timeout=WAIT)
    assert snap.status == "finished", snap.log_tail
    out = job_settings.runs_dir / "emb"
    status = read_status(out)
    assert status["status"] == "finished" and status["data"]["pad_fraction"] > 0.05
    adapter_cfg = json.loads((out / "adapter" / "adapter_config.json").read_text())
    saved = adapter_cfg["modules_to_save"]  # tied: only the input embedding, lm_head reuses its copy
    assert "embed_tokens" in saved and not any("lm_head" in m for m in saved) and adapter_cfg["use_rslora"]
    assert adapter_cfg["ensure_weight_tying"] is True

    tuned, tok, _ = load_adapter_model(out, settings=settings)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    emb = tuned.get_input_embeddings()
    trained = emb.modules_to_save["default"].weight
    assert not torch.equal(trained, base.get_input_embeddings().weight)  # the embeddings really trained
    merged_dir = export_merged(out, tmp_path / "merged", settings=settings)
    merged = AutoModelForCausalLM.from_pretrained(merged_dir)
    assert merged.get_output_embeddings().weight.data_ptr() == merged.get_input_embeddings().weight.data_ptr()
    ids = torch.tensor([tok("resource \"aws_dynamodb_table\" \"t\" {")["input_ids"]])
    with torch.no_grad():
        assert torch.allclose(merged(input_ids=ids).logits, tuned(input_ids=ids).logits, atol=1e-4)

    broken = tmp_path / "broken"
    shutil.copytree(out / "adapter", broken)
    (broken / "adapter_model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ModelError, match="Cannot load the adapter"):
        load_adapter_model(broken, settings=settings)

    # a second plain start into the same folder (from a shell: the runner refuses it earlier) is refused
    # before anything is written (main() turns the ConfigError into exit code 2)
    with pytest.raises(ConfigError, match="already holds a run"):
        prepare_run_dir(out, config)
    assert read_status(out)["status"] == "finished"


def test_precision_bf16_runs_and_is_recorded(runner, datasets_root, tiny_model_dir, job_settings, capsys):
    """--precision picks the frozen weights' dtype (bf16 here on a CPU: slow, but it must still train)."""
    config = small(datasets_root / "dynamodb", "bf16", model=str(tiny_model_dir), max_steps=2, precision="bf16",
                   cpu_threads=1)
    snap = runner.wait(runner.start(config), timeout=WAIT)
    assert snap.status == "finished", snap.log_tail
    out = job_settings.runs_dir / "bf16"
    status = read_status(out)
    assert status["status"] == "finished" and status["dtype"] == "bfloat16"
    assert json.loads((out / "config.json").read_text())["precision"] == "bf16"
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert all(math.isfinite(r["loss"]) for r in rows if "loss" in r)
    from train.cpt import main  # the refusal comes from the flag parser: no process needed to see it

    with pytest.raises(SystemExit) as refused:
        main([*config.to_cli_args(), "--precision", "fp16"])
    assert refused.value.code == 2 and "fp16" in capsys.readouterr().err
