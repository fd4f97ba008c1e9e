"""The experiment pipeline end to end on the tiny random model: slice -> two CPT runs -> every system
measured -> report folder; then a rerun that skips every cached step, and a changed [iac_eval] section
that redoes only the task step. Also `train.evaluate --repair N` and the config's error messages.

The tiny model answers nonsense, so the numbers are mostly zeros: what is tested is that every step
really runs on real data (docs slice, provider schema, IaC-Eval tasks, BM25 index, train.cpt) and
that the report holds every system and measurement. Real numbers come from the SmolLM2 configs.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch

from iacdemo.errors import ConfigError
from iacdemo.experiment.config import load_config, parse_config
from iacdemo.experiment.pipeline import (BASE, BASE_RAG, BASE_REPAIR, BETTER, TUNED, TUNED_RAG, TUNED_REPAIR,
                                         run_experiment)
from iacdemo.training.tensorboard_log import read_scalars
from tests.ui_support import linked_cache_dir

ALL_SYSTEMS = {BASE, TUNED, BETTER, BASE_RAG, TUNED_RAG, BASE_REPAIR, TUNED_REPAIR}


def tiny_toml(model: Path, out: Path, limit: int = 1) -> str:
    return f'''
name = "tiny"
model = "{model}"
out = "{out}"
[slice]
services = ["DynamoDB"]
[train]
max_steps = 2
seq_len = 256
batch_size = 2
eval_fraction = 0.2
save_every = 0
cpu_threads = 1
device = "cpu"
chat_mix_ratio = 0.1
[better_data]
enabled = true
chat_mix_ratio = 0.4
[measure]
max_new_tokens = 8
max_types = 2
perplexity_tokens = 48
chat_requests = ["Write Terraform code for an S3 bucket.", "Create a DynamoDB table with Terraform."]
general_prompts = ["What is the capital of France?", "Why is the sky blue?"]
repair_rounds = 1
retrieval_k = 1
cpu_threads = 1
[iac_eval]
limit = {limit}
difficulty = [1]
max_new_tokens = 8
'''


def test_pipeline_end_to_end_then_resumes_from_cache(tiny_model_dir, settings, tasks, tmp_path):
    level_1 = [t.id for t in tasks if t.difficulty == 1]
    out = tmp_path / "report"
    path = tmp_path / "tiny.toml"
    path.write_text(tiny_toml(tiny_model_dir, out))
    seen: set[str] = set()
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        first = run_experiment(load_config(path), settings, progress=lambda label, done, total: seen.add(label))
        assert torch.get_num_threads() == 2, "the config's cpu_threads = 1 leaked out of the experiment"
    finally:
        torch.set_num_threads(threads)
    assert first.ran == ["slice", "train-plain", "train-better-data", "learned", "kept", "task"]
    assert first.skipped == []
    assert {"train tuned", "train tuned (better data)", "perplexity", "docs probes", "chat requests",
            "general questions", "forgetting", "IaC-Eval"} <= seen
    for name in ("report.md", "report.json", "loss.png", "systems.png", "perplexity.png", "repair.png"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    report = json.loads((out / "report.json").read_text())
    assert set(report["table"]) == ALL_SYSTEMS
    tuned = report["table"][TUNED]
    assert tuned["ppl_trained"] > 1 and tuned["ppl_held_out"] > 1  # 2 of the 11 DynamoDB pages held out
    assert report["slice"]["held_out_pages"] >= 1 and report["slice"]["trained_pages"] >= 5
    for key in ("code_block_rate", "plannable_rate", "prose_rate", "drift_rate", "pass_at_1"):
        assert tuned[key] is not None, key
    assert "forgetting_ratio" in tuned  # None when the random base model's general answers are empty
    assert report["iac_eval"]["mode"] in ("static", "real") and report["iac_eval"]["tasks"] == level_1[:1]
    assert [f["finding"][:2] for f in report["findings"]] == ["1.", "2.", "3."]
    md = (out / "report.md").read_text()
    assert "| tuned + repair |" in md and "## The original's findings, as numbers" in md and "![systems.png]" in md
    assert "static mode" in md or "real mode" in md

    # Better data really trained on more (instruction) chat tokens than plain CPT.
    plain = json.loads((out / "runs" / "plain" / "status.json").read_text())["data"]
    better = json.loads((out / "runs" / "better-data" / "status.json").read_text())["data"]
    assert better["chat_tokens"] > plain["chat_tokens"] > 0

    # ... and the difference is the instruction pairs, not only the ratio: at a ratio that takes every
    # example (each at most 4 times), better data has about 2.6x as many distinct chat examples.
    from iacdemo.models import load_tokenizer
    from iacdemo.training.data import build_training_data

    config = load_config(path)
    tokenizer = load_tokenizer(str(tiny_model_dir), settings)
    counts = {}
    for better_data in (False, True):
        train = config.train_config(out / "data" / "slice", tmp_path / "unused", better=better_data)
        train.chat_mix_ratio = 0.9
        counts[better_data] = build_training_data(train, tokenizer, settings).stats["chat_examples"]
    assert counts[False] > 0 and counts[True] >= 2 * counts[False], counts

    # Repair rounds are recorded, round 0 being the single-shot answer.
    task = json.loads((out / "steps" / "task.json").read_text())["result"]
    rounds = task["systems"][TUNED_REPAIR]["by_round"]
    assert [r["round"] for r in rounds] == [0, 1]
    assert rounds[0]["plannable_rate"] == task["systems"][TUNED]["plannable_rate"]
    assert task["repair_answers"][TUNED_REPAIR][0]["rounds"][0]["diagnostics"]  # nonsense has problems

    # TensorBoard event files next to metrics.jsonl, with the same numbers.
    run_dir = out / "runs" / "plain"
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    scalars = read_scalars(run_dir)
    # TensorBoard keeps float32: 10.81805 comes back as 10.8180504, so compare at float32's precision, not
    # by rounding both (which put them on either side of 10.81805 in one run)
    logged = [(m["step"], m["loss"]) for m in metrics if "loss" in m]
    assert [s for s, _ in scalars["train/loss"]] == [s for s, _ in logged]
    assert [v for _, v in scalars["train/loss"]] == pytest.approx([v for _, v in logged], rel=1e-6)
    assert [s for s, _ in scalars["eval/loss"]] == [m["step"] for m in metrics if m.get("eval_loss") is not None]

    # Rerun: every step is cached and skipped, nothing is loaded or trained.
    started = time.perf_counter()
    second = run_experiment(load_config(path), settings)
    assert second.ran == [] and second.skipped == first.ran
    assert second.report["table"] == report["table"]
    assert time.perf_counter() - started < 60

    # A step interrupted (its result missing) is redone from the answer cache: nothing is generated again.
    (out / "steps" / "kept.json").unlink()
    firsts: dict[str, tuple[int, int]] = {}
    rerun = run_experiment(load_config(path), settings,
                           progress=lambda label, done, total: firsts.setdefault(label, (done, total)))
    assert rerun.ran == ["kept"]
    assert firsts["chat requests"][0] == firsts["chat requests"][1] > 0  # all answers were cached
    assert rerun.report["table"] == report["table"]

    # A changed IaC-Eval section redoes only the task step (the first task's answers come from the answer cache).
    path.write_text(tiny_toml(tiny_model_dir, out, limit=2))
    third = run_experiment(load_config(path), settings)
    assert third.ran == ["task"] and third.report["iac_eval"]["tasks"] == level_1[:2]


def test_cli_reports_bad_configs_clearly(tmp_path, capsys):
    from train.experiment import main

    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\nmodel = "m"\n[slice]\nservices = ["DynamoDB"]\n[train]\nlr = -1\n')
    assert main([str(bad)]) == 2
    assert "Learning rate (lr)" in capsys.readouterr().err
    assert main([str(tmp_path / "missing.toml")]) == 2
    assert "Cannot read experiment config" in capsys.readouterr().err
    bad.write_text("name = [")
    assert main([str(bad)]) == 2
    assert "not valid TOML" in capsys.readouterr().err


@pytest.mark.parametrize("data, message", [
    ({"name": "x", "model": "m", "slice": {"services": ["S3"]}, "mesure": {}}, "unknown key(s) mesure"),
    ({"name": "x y", "model": "m", "slice": {"services": ["S3"]}}, "folder-safe name"),
    ({"name": "x", "model": "m"}, "give `services` or `path_pattern`"),
    ({"name": "x", "model": "m", "slice": {"services": ["S3"]}, "train": {"dataset": "d"}}, "cannot set dataset"),
    ({"name": "x", "model": "m", "slice": {"services": ["S3"]}, "train": {"max_step": 5}}, "unknown setting(s) max_step"),
    ({"name": "x", "model": "m", "slice": {"services": ["S3"]}, "measure": {"max_new_tokens": "9"}},
     "max_new_tokens must be int"),
    ({"name": "x", "model": "m", "slice": {"services": ["S3"]}, "measure": {"repair_rounds": -1}},
     "repair_rounds must be at least 0"),
    ({"name": "x", "model": "m", "slice": {"services": ["S3"]}, "iac_eval": {"difficulty": [7]}}, "levels are 1 to 6"),
])
def test_config_errors_name_the_key(data, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_config(data, "exp.toml")


def test_shipped_configs_parse():
    from iacdemo.settings import REPO_ROOT

    names = sorted(p.name for p in (REPO_ROOT / "experiments").glob("*.toml"))
    assert {"smollm2-dynamodb-smoke.toml", "smollm2-dynamodb.toml", "qwen-coder-0.5b.toml"} <= set(names)
    for name in names:
        config = load_config(REPO_ROOT / "experiments" / name)
        assert config.train_config("d", "o").max_steps > 0


def test_evaluate_cli_repair_rounds(tiny_model_dir, settings, tmp_path, monkeypatch):
    from iacdemo.settings import get_settings
    from train.evaluate import main

    monkeypatch.setenv("IACDEMO_CACHE_DIR", str(linked_cache_dir(tmp_path / "cache", settings)))
    get_settings.cache_clear()
    try:
        out = tmp_path / "repair.json"
        args = ["--answers", "generate", "--model", str(tiny_model_dir), "--limit", "2", "--max-new-tokens", "6",
                "--cpu-threads", "1", "--out", str(out)]
        assert main([*args, "--repair", "-1"]) == 2
        assert main([*args, "--repair", "2"]) == 0
    finally:
        get_settings.cache_clear()
    report = json.loads(out.read_text())
    repair = report["repair"]
    assert [r["round"] for r in repair["by_round"]] == [0, 1, 2]
    assert repair["by_round"][0]["plannable_rate"] == report["plannable_rate"]  # round 0 = single shot
    assert repair["repaired_tasks"] == 2  # a random model's answers always have problems
    assert len(report["repair_answers"]) == 2
    rounds = report["repair_answers"][0]["rounds"]
    assert len(rounds) == 3 and all(r["diagnostics"] for r in rounds)


def test_repair_chat_rounds_on_a_loaded_session(tiny_model_dir, settings, schema, tmp_path):
    """The core a Compare-tab repair pane calls: one chat answer, repaired round by round."""
    from iacdemo.experiment.repair_eval import repair_chat
    from iacdemo.generation.session import ModelSession
    from iacdemo.generation.side_by_side import GenSettings

    isolated = settings.with_overrides(cache_dir=linked_cache_dir(tmp_path / "cache", settings))
    session = ModelSession.load(str(tiny_model_dir), settings=isolated)
    broken = '```hcl\nresource "aws_dynamodb_contributor_insights" "b" {\n  index_name = "i"\n}\n```'
    rounds = repair_chat(session, [{"role": "user", "content": "Enable contributor insights on my table."}],
                         broken, rounds=2, gen=GenSettings(max_new_tokens=8), schema=schema, settings=isolated)
    assert len(rounds) == 3 and rounds[0].answer == broken
    assert "required argument `table_name`" in rounds[0].diagnostics[0]
    assert all(r.diagnostics for r in rounds)  # a random model never fixes it: every round is tried
    assert len(list((isolated.eval_dir / "answers").rglob("*.json"))) == 2  # the two repair answers, cached
