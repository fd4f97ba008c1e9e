"""The generation side of the IaC-Eval evaluation: prompts, batched generation, the answer cache, pass@k.

The end-to-end run uses the real embedded model through the CLI (3 tasks, short answers); the plumbing
(mixed-adapter batches, retrieval, sampling, stopping) runs on a tiny random model with the real
tokenizer, which is fast and exercises exactly the same code.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from iacdemo.errors import ConfigError, DataError, JobError, ModelError
from iacdemo.evaluation.answers import (AnswerCache, System, adapter_fingerprint, answer_key, eval_gen_settings,
                                        generate_answers, rag_messages)
from iacdemo.evaluation.comparison import (evaluate_reference, evaluate_systems, list_comparisons,
                                           load_comparison, save_comparison)
from iacdemo.evaluation.prompts import IACEVAL_SYSTEM_PROMPT, task_messages
from iacdemo.settings import REPO_ROOT
from tests.ui_support import linked_cache_dir


@pytest.fixture(scope="module")
def eval_settings(settings, tmp_path_factory):
    return settings.with_overrides(cache_dir=linked_cache_dir(tmp_path_factory.mktemp("eval-cache"), settings))


@pytest.fixture(scope="module")
def tiny_session(tiny_model_dir, settings):
    from iacdemo.generation.session import ModelSession

    return ModelSession.load(str(tiny_model_dir), settings=settings)


@pytest.fixture(scope="module")
def tiny_adapter(tiny_model_dir, tmp_path_factory) -> Path:
    """A LoRA adapter with random (not zero) B matrices, so the tuned rows really differ from base."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    peft = get_peft_model(model, LoraConfig(r=4, lora_alpha=32, target_modules=["q_proj", "v_proj"],
                                            init_lora_weights=False))
    out = tmp_path_factory.mktemp("tiny-run") / "adapter"
    peft.save_pretrained(out)
    return out


def _tiny(tiny_session, eval_settings, tiny_model_dir, tasks, systems, *, cache_dir: Path, **kwargs):
    return generate_answers(tasks, systems, model_id=str(tiny_model_dir), session_provider=lambda: tiny_session,
                            settings=eval_settings, cache=AnswerCache(cache_dir), **kwargs)


# ---- the CLI, end to end, with the real embedded model ---------------------------------------------------------
def _cli(args: list[str], cache_dir: Path) -> tuple[dict, str, float]:
    env = {**os.environ, "IACDEMO_CACHE_DIR": str(cache_dir), "PYTHONUNBUFFERED": "1"}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "train.evaluate", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - started
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr, elapsed


def test_cli_generate_end_to_end_then_cached(settings, tmp_path):
    cache_dir = linked_cache_dir(tmp_path / "cache", settings)
    threads = str(torch.get_num_threads())  # this test's cores (its worker's share under xdist): no oversubscribing
    args = ["--answers", "generate", "--model", "smollm2-135m-instruct", "--limit", "3", "--max-new-tokens", "24",
            "--cpu-threads", threads]
    first, first_err, first_s = _cli([*args, "--out", str(tmp_path / "first.json")], cache_dir)
    second, second_err, second_s = _cli([*args, "--out", str(tmp_path / "second.json")], cache_dir)

    for summary in (first, second):
        assert summary["mode"] in ("static", "real") and summary["answers"] == "generate"
        assert summary["tasks"] == 3 and summary["samples_per_task"] == 1
        assert 0.0 <= summary["pass_at_1"] <= 1.0 and 0.0 <= summary["plannable_rate"] <= 1.0
        assert sum(level["tasks"] for level in summary["by_difficulty"].values()) == 3
        for key in ("code_block_rate", "parse_rate", "hallucinated_type_rate", "unknown_argument_rate"):
            assert 0.0 <= summary[key] <= 1.0
        assert summary["settings"]["greedy"] and summary["settings"]["max_new_tokens"] == 24
    assert first["answers_generated"] == 3 and first["answers_cached"] == 0
    assert second["answers_generated"] == 0 and second["answers_cached"] == 3
    assert "Loading smollm2" in first_err and "Loading" not in second_err  # a cached rerun loads no model
    assert second["seconds"] < first["seconds"] / 3, (first["seconds"], second["seconds"])
    first_results = json.loads((tmp_path / "first.json").read_text())["results"]
    second_results = json.loads((tmp_path / "second.json").read_text())["results"]
    assert [r["task_id"] for r in first_results] == [0, 1, 2]
    assert all(0 < r["new_tokens"] <= 24 and r["answer"].strip() for r in first_results)
    assert [r["answer"] for r in first_results] == [r["answer"] for r in second_results]
    assert [r["passed"] for r in first_results] == [r["passed"] for r in second_results]
    saved = list_comparisons(settings.with_overrides(cache_dir=cache_dir))
    assert len(saved) == 2 and {s["id"] for s in saved} == {first["evaluation_id"], second["evaluation_id"]}
    print(f"CLI generate, 3 tasks x 24 tokens: {first_s:.1f} s; cached rerun {second_s:.1f} s")


def test_cli_generate_user_errors(tmp_path, capsys):
    from train.evaluate import main

    out = str(tmp_path / "x.json")
    assert main(["--answers", "generate", "--samples", "2", "--temperature", "0", "--limit", "1", "--out", out]) == 2
    assert "sampling" in capsys.readouterr().err
    assert main(["--answers", "generate", "--adapter", str(tmp_path), "--limit", "1", "--out", out]) == 2
    assert "no adapter weights" in capsys.readouterr().err
    assert main(["--answers", "generate", "--max-new-tokens", "0", "--limit", "1", "--out", out]) == 2
    assert "Max new tokens" in capsys.readouterr().err


# ---- prompts and retrieval ---------------------------------------------------------------------------------------
def test_rag_puts_retrieved_context_into_the_prompt(tasks, eval_settings, tiny_session, tiny_model_dir, tmp_path):
    from iacdemo.retrieval.bm25_index import get_default_index

    task = next(t for t in tasks if "dynamodb" in t.prompt.lower())
    messages, sources = rag_messages(task, get_default_index(eval_settings), k=2)
    assert messages[0] == {"role": "system", "content": IACEVAL_SYSTEM_PROMPT}
    user = messages[1]["content"]
    assert "retrieved from Terraform documentation" in user
    assert user.rstrip().endswith(task.prompt.rstrip()) or task.prompt in user
    assert user.index("Here is the actual prompt to answer") > user.index("[1]")  # docs before the question
    assert len(sources) == 2 and any("dynamodb" in s for s in sources)
    assert task_messages(task.prompt)[1]["content"] == task.prompt  # without RAG: the prompt alone

    answers = _tiny(tiny_session, eval_settings, tiny_model_dir, [task], [System.make(), System.make(rag=True)],
                    cache_dir=tmp_path, gen=eval_gen_settings(1, 4), retrieval_k=1)
    plain, grounded = answers["base"][0][0], answers["base + RAG"][0][0]
    assert plain.sources == [] and len(grounded.sources) == 1
    assert grounded.prompt_tokens > plain.prompt_tokens + 100  # the docs chunk is in what the model read
    assert len(list(tmp_path.rglob("*.json"))) == 2  # two prompts, two cache entries


# ---- batching, adapters, sampling, stopping ---------------------------------------------------------------------
def test_mixed_adapter_batch_matches_single_system_runs(tasks, eval_settings, tiny_session, tiny_model_dir,
                                                        tiny_adapter, tmp_path):
    gen = eval_gen_settings(1, 6)
    base, tuned = System.make(), System.make(tiny_adapter)
    assert tuned.label.startswith("tuned:tiny-run")  # named after the run folder holding `adapter/`
    both = _tiny(tiny_session, eval_settings, tiny_model_dir, tasks[:2], [base, tuned], cache_dir=tmp_path / "a",
                 gen=gen)
    alone = _tiny(tiny_session, eval_settings, tiny_model_dir, tasks[:2], [tuned], cache_dir=tmp_path / "b",
                  gen=gen)
    assert [a[0].text for a in both[tuned.label]] == [a[0].text for a in alone[tuned.label]]
    assert [a[0].text for a in both["base"]] != [a[0].text for a in both[tuned.label]]
    assert all(a[0].new_tokens > 0 and not a[0].cached for a in both["base"])

    # A retrained adapter (new weights) is not served from the cache.
    fingerprint = adapter_fingerprint(tiny_adapter)
    weights = tiny_adapter / "adapter_model.safetensors"
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))
    assert adapter_fingerprint(tiny_adapter) != fingerprint
    again = _tiny(tiny_session, eval_settings, tiny_model_dir, tasks[:2], [base, tuned], cache_dir=tmp_path / "a",
                  gen=gen)
    assert all(a[0].cached for a in again["base"]) and not any(a[0].cached for a in again[tuned.label])


def test_two_samples_give_pass_at_2(tasks, eval_settings, tiny_session, tiny_model_dir, tmp_path):
    gen = eval_gen_settings(2, 12)
    assert not gen.greedy
    comparison = evaluate_systems(tasks[:2], [System.make()], model_id=str(tiny_model_dir),
                                  session_provider=lambda: tiny_session, samples=2, gen=gen, settings=eval_settings,
                                  cache=AnswerCache(tmp_path))
    report = comparison.reports["base"]
    assert report["samples_per_task"] == 2 and report["samples"] == 4 and "pass_at_2" in report
    for task in comparison.tasks:
        first, second = task["answers"]["base"]
        assert (first["sample"], second["sample"]) == (0, 1)
        assert first["answer"] != second["answer"]  # sampled, not the same greedy answer twice
    assert comparison.settings["samples"] == 2 and not comparison.settings["greedy"]


def test_pass_at_k_from_cached_answers(tasks, eval_settings, tmp_path):
    """One right and one wrong answer per task: pass@1 = 0.5 and pass@2 = 1, with no model at all."""
    reference = evaluate_reference(tasks[:40], settings=eval_settings)
    failed = {f["task_id"] for f in reference.reports["reference"]["failures"]}
    passing = [t for t in tasks[:40] if t.id not in failed]
    chosen = passing[:2]
    assert len(chosen) == 2
    gen, cache = eval_gen_settings(2, 64), AnswerCache(tmp_path)
    for task in chosen:
        messages = task_messages(task.prompt)
        right = f"Here is the program.\n```hcl\n{task.reference}\n```\n"
        cache.put(answer_key("no-model", None, task.id, messages, gen, 0), {"text": right})
        cache.put(answer_key("no-model", None, task.id, messages, gen, 1), {"text": "Sorry, I cannot help."})

    def no_model():
        raise AssertionError("everything is cached: no model may be loaded")

    comparison = evaluate_systems(chosen, [System.make()], model_id="no-model", session_provider=no_model,
                                  samples=2, gen=gen, settings=eval_settings, cache=cache)
    report = comparison.reports["base"]
    assert report["pass_at_1"] == 0.5 and report["pass_at_2"] == 1.0
    assert report["code_block_rate"] == 0.5 and report["answers_cached"] == 4 and comparison.generated == 0
    assert report["failure_causes"] == {"no code": 2}


def test_stop_keeps_finished_batches_and_a_rerun_continues(tasks, eval_settings, tiny_session, tiny_model_dir,
                                                            tmp_path):
    stop = threading.Event()

    def progress(fraction, message):
        if message.startswith("Answer 2/3"):
            stop.set()

    with pytest.raises(JobError, match="1 of 3 answers"):
        _tiny(tiny_session, eval_settings, tiny_model_dir, tasks[:3], [System.make()], cache_dir=tmp_path,
              gen=eval_gen_settings(1, 4), batch_rows=1, progress=progress, stop_event=stop)
    assert len(list(tmp_path.rglob("*.json"))) == 1
    messages = []
    answers = _tiny(tiny_session, eval_settings, tiny_model_dir, tasks[:3], [System.make()], cache_dir=tmp_path,
                    gen=eval_gen_settings(1, 4), batch_rows=1, progress=lambda f, m: messages.append((f, m)))
    assert [a[0].cached for a in answers["base"]] == [True, False, False]
    assert messages[-1][0] == pytest.approx(1.0) and "1 cached" in messages[-1][1]
    assert any("ETA" in m for _, m in messages)


def test_bad_requests_fail_with_clear_errors(tasks, eval_settings, tiny_session, tiny_model_dir, tmp_path):
    with pytest.raises(ConfigError, match="sampling"):
        eval_gen_settings(3, 16, temperature=0)
    with pytest.raises(ConfigError, match="same label"):
        _tiny(tiny_session, eval_settings, tiny_model_dir, tasks[:1], [System.make(), System.make()],
              cache_dir=tmp_path)
    with pytest.raises(ConfigError, match="No tasks"):
        _tiny(tiny_session, eval_settings, tiny_model_dir, [], [System.make()], cache_dir=tmp_path)
    with pytest.raises(ModelError, match="no adapter weights"):
        _tiny(tiny_session, eval_settings, tiny_model_dir, tasks[:1], [System.make(tmp_path)], cache_dir=tmp_path)
    with pytest.raises(ModelError, match="not 'another-model'"):
        _tiny(tiny_session, eval_settings, "another-model", tasks[:1], [System.make()], cache_dir=tmp_path,
              gen=eval_gen_settings(1, 4))


def test_saved_evaluations_round_trip(tasks, eval_settings):
    comparison = evaluate_reference(tasks[:5], settings=eval_settings, selection={"limit": 5})
    assert comparison.mode in ("static", "real") and comparison.reports["reference"]["mode"] == comparison.mode
    path = save_comparison(comparison, eval_settings)
    assert path.parent == eval_settings.eval_dir / "results"
    listed = [m for m in list_comparisons(eval_settings) if m["id"] == comparison.id]
    assert listed and listed[0]["tasks"] == 5 and comparison.mode in listed[0]["title"]
    loaded = load_comparison(comparison.id, eval_settings)
    assert loaded.reports == json.loads(json.dumps(comparison.reports))
    assert loaded.task(tasks[0].id)["answers"]["reference"][0]["code"] == tasks[0].reference
    for bad in ("../../etc/passwd", "", "20260101-000000-zzzzzz"):
        with pytest.raises(DataError):
            load_comparison(bad, eval_settings)
