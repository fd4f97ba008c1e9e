"""Side-by-side generation with the real embedded model and real LoRA adapters trained here for a few steps."""
from __future__ import annotations

import json
import shutil
import threading

import pytest
import torch

from iacdemo.corpus.sources import provider_pages
from iacdemo.errors import ConfigError, ModelError
from iacdemo.generation.prompts import RAG_INSTRUCTION
from iacdemo.generation.perplexity import perplexity, perplexity_compare
from iacdemo.generation.session import ModelSession
from iacdemo.generation.side_by_side import (Column, GenSettings, default_columns, generate_side_by_side,
                                             stream_sequential, stream_side_by_side)
from iacdemo.models import load_model
from iacdemo.settings import get_settings

PROMPT = "Create a DynamoDB Contributor Insights resource for a specific table with custom settings"


def _doc_page(type_name: str) -> str:
    corpus = get_settings().corpus_dir / "terraform-provider-aws-docs.jsonl.gz"
    for name, doc in provider_pages([corpus], kind="r"):
        if name == type_name:
            return doc.text
    raise AssertionError(f"{type_name} not in the corpus")


def _train_adapter(out_dir, text: str, seed: int, steps: int) -> None:
    """A real LoRA adapter: a few AdamW steps of continued pre-training on one docs page (steps=0: a
    random, untrained one, which is enough where only "differs from the base" matters)."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    loaded = load_model()  # its own copy: get_peft_model changes the model in place
    model = get_peft_model(loaded.model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0,
                                                    target_modules=["q_proj", "v_proj"],
                                                    init_lora_weights=steps > 0))
    model.train()
    ids = loaded.tokenizer(text, return_tensors="pt")["input_ids"][:, :64]
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    for _ in range(steps):
        model(input_ids=ids, labels=ids).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.save_pretrained(str(out_dir))


@pytest.fixture(scope="module")
def page():
    return _doc_page("aws_dynamodb_contributor_insights")


@pytest.fixture(scope="module")
def adapters(tmp_path_factory, page):
    root = tmp_path_factory.mktemp("adapters")
    _train_adapter(root / "runs" / "iac" / "adapter", page, seed=0, steps=3)
    _train_adapter(root / "second", "", seed=1, steps=0)
    return root


@pytest.fixture(scope="module")
def session(adapters):
    session = ModelSession.load()
    session.plain_logits = session.call(_logits, session, None)  # before any adapter exists
    session.base_ptrs = {n: p.data_ptr() for n, p in session.base_model.named_parameters()}
    session.plain_bytes = session.weight_bytes()["base"]
    assert session.attach_adapter(adapters / "runs" / "iac" / "adapter") == "iac"
    return session


def _run(stream):
    ticks = [list(t) for t in stream]
    return ticks, ticks[-1]


def test_both_panes_stream_text(session):
    stream = stream_side_by_side(session, default_columns("iac"), PROMPT, GenSettings(max_new_tokens=10))
    ticks, final = _run(stream)
    assert stream.labels == ["Base model", "Fine-tuned (iac)"]
    assert all(len(t) == 2 for t in ticks) and len(ticks) >= 5  # one tick per token, not one at the end
    assert all(text.strip() for text in final)
    assert ticks[0] == ["", ""] and len(ticks[2][0]) <= len(final[0])
    assert stream.stats.new_tokens == [10, 10] or any(stream.stats.finished)
    assert not session.busy


def _logits(session, adapter):
    ids = session.tokenizer(PROMPT, return_tensors="pt")["input_ids"]
    with session.use_adapter(adapter) as model, torch.inference_mode():
        return model(input_ids=ids).logits


def test_adapter_really_changes_the_logits_and_off_means_base(session):
    with session.lock:
        base, tuned = session.call(_logits, session, None), session.call(_logits, session, "iac")
    assert torch.equal(base, session.plain_logits)
    assert (tuned - base).abs().max().item() > 0.1


def test_mixed_batch_equals_each_columns_own_greedy_output(session):
    gen = GenSettings(max_new_tokens=12)
    batched = stream_side_by_side(session, default_columns("iac"), PROMPT, gen)
    _, batched_texts = _run(batched)
    sequential = stream_sequential(session, default_columns("iac"), PROMPT, gen)
    _, single_texts = _run(sequential)
    assert batched_texts == single_texts
    assert batched_texts[0] != batched_texts[1]  # the adapter matters, so the equality means something


def test_shared_model_holds_one_copy_of_the_weights(session, adapters):
    second = session.attach_adapter(adapters / "second")
    try:
        after = {n.replace("base_layer.", ""): p.data_ptr() for n, p in session.base_model.named_parameters()
                 if "lora_" not in n}
        assert after == session.base_ptrs  # the base weights were neither copied nor moved
        sizes = session.weight_bytes()
        assert sizes["base"] == session.plain_bytes
        assert 0 < sizes["adapters"] < 0.02 * sizes["base"]
        texts = generate_side_by_side(session, [Column("base", None), Column("iac", "iac"), Column("s3", second)],
                                      PROMPT, GenSettings(max_new_tokens=4))
        assert len(texts) == 3 and all(t.strip() for t in texts)
    finally:
        session.detach_adapter(second)
    assert session.adapter_names == ["iac"]


def test_same_seed_gives_the_same_sampled_answer(session):
    def sample(seed):
        gen = GenSettings(temperature=1.5, top_p=1.0, max_new_tokens=16, seed=seed)
        return generate_side_by_side(session, default_columns("iac"), PROMPT, gen)

    first = sample(1234)
    assert sample(1234) == first
    assert sample(4321) != first


def test_stop_event_ends_generation_early(session):
    stop = threading.Event()
    stream = stream_side_by_side(session, default_columns("iac"), PROMPT,
                                 GenSettings(max_new_tokens=300, repetition_penalty=1.0), stop_event=stop)
    for i, _ in enumerate(stream):
        if i == 3:
            stop.set()
    assert stream.stats.stopped and max(stream.stats.new_tokens) < 20
    assert not session.busy


def test_abandoning_a_stream_releases_the_model(session):
    stream = iter(stream_side_by_side(session, default_columns("iac"), PROMPT, GenSettings(max_new_tokens=300)))
    for _ in range(3):
        next(stream)
    assert session.busy
    stream.close()  # what happens when the UI cancels the event or the browser goes away
    assert not session.busy


@pytest.mark.parametrize("problem", ["missing", "no_config", "bad_json", "no_weights", "other_base_name",
                                     "other_base_shapes", "corrupt_weights", "truncated_weights",
                                     "nan_weights"])
def test_bad_adapters_raise_model_error_and_the_session_keeps_working(session, adapters, tmp_path, problem):
    bad = tmp_path / "bad"
    good = adapters / "runs" / "iac" / "adapter"
    if problem != "missing":
        shutil.copytree(good, bad)
    config_file, weights = bad / "adapter_config.json", bad / "adapter_model.safetensors"
    if problem == "no_config":
        config_file.unlink()
    elif problem == "bad_json":
        config_file.write_text("{not json")
    elif problem == "no_weights":
        weights.unlink()
    elif problem == "other_base_name":
        config = json.loads(config_file.read_text())
        config["base_model_name_or_path"] = "Qwen/Qwen2.5-Coder-0.5B-Instruct"
        config_file.write_text(json.dumps(config))
    elif problem == "other_base_shapes":
        _save_adapter_of_a_tiny_model(bad, base_name=json.loads(config_file.read_text())["base_model_name_or_path"])
    elif problem == "corrupt_weights":
        weights.write_bytes(b"\x00garbage" * 10)
    elif problem == "truncated_weights":
        weights.write_bytes(weights.read_bytes()[:-4096])
    elif problem == "nan_weights":
        from safetensors.torch import load_file, save_file

        tensors = load_file(str(weights))
        tensors = {k: torch.full_like(v, float("nan")) if "lora_B" in k else v for k, v in tensors.items()}
        save_file(tensors, str(weights))
    with pytest.raises(ModelError) as error:
        session.attach_adapter(bad)
    assert str(bad) in str(error.value)
    assert session.adapter_names == ["iac"]
    texts = generate_side_by_side(session, default_columns("iac"), PROMPT, GenSettings(max_new_tokens=3))
    assert all(t.strip() for t in texts)


def _save_adapter_of_a_tiny_model(out_dir, base_name: str) -> None:
    """An adapter trained on a different (tiny, random) model that claims our base model's name."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, LlamaConfig

    config = LlamaConfig(vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2)
    tiny = get_peft_model(AutoModelForCausalLM.from_config(config),
                          LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))
    shutil.rmtree(out_dir)
    tiny.save_pretrained(str(out_dir))
    adapter_config = json.loads((out_dir / "adapter_config.json").read_text())
    adapter_config["base_model_name_or_path"] = base_name
    (out_dir / "adapter_config.json").write_text(json.dumps(adapter_config))


def test_unknown_adapter_in_a_column_is_refused(session):
    with pytest.raises(ModelError, match="not loaded"):
        stream_side_by_side(session, [Column("x", "nope")], PROMPT)


def test_empty_prompt_is_a_config_error(session):
    with pytest.raises(ConfigError, match="empty"):
        blank = [{"role": "user", "content": [{"type": "text", "text": " "}]}]
        stream_side_by_side(session, default_columns("iac"), blank)
    with pytest.raises(ConfigError, match="empty"):
        stream_side_by_side(session, default_columns("iac"), "", raw=True)


def test_huge_prompt_is_truncated_with_a_note_not_a_crash(session):
    settings = get_settings().with_overrides(max_prompt_chars=1500)  # keeps the prefill short on CPU
    huge = "variable \"x\" {}\n" * 6250 + "Now write an S3 bucket."  # 100k characters
    stream = stream_side_by_side(session, [Column("Base", None)], huge, GenSettings(max_new_tokens=3),
                                 settings=settings)
    _, final = _run(stream)
    assert any("characters" in n for n in stream.notes) and "Now write an S3 bucket." in stream.prompts[0].text
    assert final[0].strip()


def test_doc_completion_continues_raw_text(session):
    text = "# Resource: aws_dynamodb_contributor_insights\n\nProvides a DynamoDB contributor insights resource\n\n"
    stream = stream_side_by_side(session, default_columns("iac"), text, GenSettings(max_new_tokens=8), raw=True)
    _, final = _run(stream)
    assert stream.prompts[0].text == text and all(t.strip() for t in final)


def test_retrieval_column_is_grounded_or_says_why_not(session):
    columns = [Column("Base", None), Column("Tuned", "iac"), Column("Base + docs", None, rag=True)]
    gen = GenSettings(max_new_tokens=8)
    stream = stream_side_by_side(session, columns, PROMPT, gen, retrieval_k=1)  # 1 excerpt: a short prefill
    _, final = _run(stream)
    assert final[0].strip() and final[1].strip()
    grounded = stream.prompts[2]
    assert RAG_INSTRUCTION in grounded.text and len(grounded.input_ids) > len(stream.prompts[0].input_ids)
    assert any("Retrieved docs" in n for n in stream.notes) and final[2].strip()
    # the grounded row is longer, so the others were left-padded: padding must not change any answer
    sequential = stream_sequential(session, columns, PROMPT, gen, retrieval_k=1)
    _, single = _run(sequential)
    assert final == single


def test_perplexity_of_the_training_page_drops_under_the_adapter(session, page):
    scores = perplexity_compare(session, page, [None, "iac"], max_tokens=128, window=64)
    assert set(scores) == {"base", "iac"} and all(1 < v < 1e4 for v in scores.values())
    assert scores["iac"] < scores["base"]
    # windows change the score only through the context lost at window borders
    assert perplexity(session, page, None, max_tokens=128, window=128) <= scores["base"] * 1.05
    with pytest.raises(ConfigError):
        perplexity(session, "   ")


def test_each_pane_keeps_its_own_history(session):
    base_history = [{"role": "user", "content": "Name one AWS storage service."},
                     {"role": "assistant", "content": "Amazon S3 BASE-ANSWER"}]
    tuned_history = [{"role": "user", "content": [{"type": "text", "text": "Name one AWS storage service."}]},
                     {"role": "assistant", "content": [{"type": "text", "text": "Amazon EFS TUNED-ANSWER"}]}]
    stream = stream_side_by_side(session, default_columns("iac"), "Now write Terraform for it.",
                                 GenSettings(max_new_tokens=4), histories=[base_history, tuned_history])
    _, final = _run(stream)
    base_prompt, tuned_prompt = (p.text for p in stream.prompts)
    assert "BASE-ANSWER" in base_prompt and "TUNED-ANSWER" not in base_prompt
    assert "TUNED-ANSWER" in tuned_prompt and tuned_prompt.rstrip().endswith("assistant")
    assert all(t.strip() for t in final)
    with pytest.raises(ConfigError, match="histories"):
        stream_side_by_side(session, default_columns("iac"), "x", histories=[base_history])
