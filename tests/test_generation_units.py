"""Prompt building, settings validation, streaming bookkeeping, callouts and presets (real tokenizer, no model)."""
from __future__ import annotations

import csv
import sys

import pytest
import torch

from iacdemo.errors import ConfigError
from iacdemo.generation.callouts import callout_kind, count_callouts, highlight_callouts
from iacdemo.generation.presets import load_presets
from iacdemo.generation.prompts import (build_messages, content_text, normalise_messages, prepare_chat_prompt,
                                        prepare_raw_prompt, prompt_token_budget)
from iacdemo.generation.session import adapter_name_for
from iacdemo.generation.side_by_side import GenSettings
from iacdemo.generation.streamer import BatchTextStreamer
from iacdemo.models import load_tokenizer
from iacdemo.settings import SYSTEM_PROMPT, get_settings


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer()


# -- messages -----------------------------------------------------------------------------------------

def test_content_text_accepts_strings_and_gradio_parts():
    assert content_text("hi") == "hi"
    assert content_text([{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]) == "ab"
    assert content_text([{"type": "file", "file": {"path": "/x.png"}}]) == ""
    assert content_text(None) == ""


def test_normalise_messages_keeps_roles_and_drops_gradio_extras():
    history = [
        {"role": "user", "content": [{"type": "text", "text": "make a bucket"}], "metadata": {"title": None}},
        {"role": "assistant", "content": "resource ...", "options": []},
        {"role": "tool", "content": "ignored"},
        {"role": "user", "content": "   "},
    ]
    assert normalise_messages(history) == [{"role": "user", "content": "make a bucket"},
                                           {"role": "assistant", "content": "resource ..."}]


def test_build_messages_adds_the_terraform_system_prompt_unless_history_has_one():
    msgs = build_messages([], "hello")
    assert msgs[0] == {"role": "system", "content": SYSTEM_PROMPT}
    custom = build_messages([{"role": "system", "content": "Be brief."}], "hello")
    assert custom[0]["content"] == "Be brief." and custom[-1] == {"role": "user", "content": "hello"}


# -- chat prompts -------------------------------------------------------------------------------------

def test_chat_prompt_uses_template_system_prompt_and_history(tokenizer):
    history = [{"role": "user", "content": "first question"}, {"role": "assistant", "content": "first answer"},
               {"role": "user", "content": [{"type": "text", "text": "second question"}]}]
    prompt = prepare_chat_prompt(tokenizer, history, max_prompt_tokens=2000, max_chars=20_000)
    assert SYSTEM_PROMPT in prompt.text
    assert prompt.text.index("first answer") < prompt.text.index("second question")
    assert prompt.text.rstrip().endswith("assistant")  # generation prompt appended
    assert prompt.query == "second question" and prompt.notes == ()
    assert prompt.input_ids == tokenizer(prompt.text, add_special_tokens=False)["input_ids"]


@pytest.mark.parametrize("messages", [[], [{"role": "user", "content": "  \n"}],
                                      [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]])
def test_chat_prompt_without_a_user_request_is_a_config_error(tokenizer, messages):
    with pytest.raises(ConfigError, match="empty"):
        prepare_chat_prompt(tokenizer, messages, max_prompt_tokens=2000, max_chars=20_000)


def test_long_history_drops_oldest_turns_first(tokenizer):
    history = []
    for i in range(30):
        history += [{"role": "user", "content": f"question {i} " + "lorem ipsum " * 30},
                    {"role": "assistant", "content": f"answer {i} " + "dolor sit " * 30}]
    history.append({"role": "user", "content": "final request"})
    prompt = prepare_chat_prompt(tokenizer, history, max_prompt_tokens=600, max_chars=20_000)
    assert len(prompt.input_ids) <= 600
    assert "final request" in prompt.text and "answer 29" in prompt.text and "question 0 " not in prompt.text
    assert "oldest turn" in prompt.notes[0]


def test_huge_request_is_cut_from_the_left_with_a_note(tokenizer):
    request = "START " + "x" * 100_000 + " the end of the request"
    prompt = prepare_chat_prompt(tokenizer, [{"role": "user", "content": request}], max_prompt_tokens=300,
                                 max_chars=20_000)
    assert len(prompt.input_ids) <= 300
    assert "the end of the request" in prompt.text and "START" not in prompt.text
    assert SYSTEM_PROMPT in prompt.text  # the system prompt survives the cut
    assert any("characters" in n for n in prompt.notes) and any("tokens" in n for n in prompt.notes)


def test_context_goes_before_the_request_and_is_cut_first(tokenizer):
    context = "DOCS " + "aws_s3_bucket argument reference. " * 400
    prompt = prepare_chat_prompt(tokenizer, [{"role": "user", "content": "make a bucket"}],
                                 max_prompt_tokens=200, max_chars=20_000, context=context)
    assert len(prompt.input_ids) <= 200 and prompt.text.rstrip().endswith("assistant")
    assert "make a bucket" in prompt.text and "DOCS" not in prompt.text
    assert prompt.query == "make a bucket"


def test_token_budget_rejects_answers_longer_than_the_context():
    assert prompt_token_budget(8192, 1024) == 7168
    with pytest.raises(ConfigError, match="Max new tokens"):
        prompt_token_budget(512, 510)


# -- raw prompts --------------------------------------------------------------------------------------

def test_raw_prompt_has_no_chat_template(tokenizer):
    text = "# Resource: aws_dynamodb_contributor_insights\n\n"
    prompt = prepare_raw_prompt(tokenizer, text, max_prompt_tokens=1000, max_chars=20_000)
    assert prompt.text == text and "<|im_start|>" not in tokenizer.decode(prompt.input_ids)
    with pytest.raises(ConfigError, match="empty"):
        prepare_raw_prompt(tokenizer, " \n ", max_prompt_tokens=1000, max_chars=20_000)


def test_raw_prompt_keeps_the_end_of_a_long_text(tokenizer):
    text = "beginning " * 5000 + "\n~> **Note:**"
    prompt = prepare_raw_prompt(tokenizer, text, max_prompt_tokens=100, max_chars=20_000)
    assert len(prompt.input_ids) == 100 and prompt.text.endswith("~> **Note:**")
    assert len(prompt.notes) == 2


# -- generation settings ------------------------------------------------------------------------------

def test_gen_settings_from_form_parses_strings_and_blanks():
    gen = GenSettings.from_form("0.7", 0.9, "128", "", "")
    assert gen == GenSettings(temperature=0.7, top_p=0.9, max_new_tokens=128,
                              repetition_penalty=GenSettings().repetition_penalty, seed=None)
    assert GenSettings.from_form(0, 1, 64.0, 1.0, 7.0).seed == 7
    assert GenSettings().greedy and not gen.greedy


@pytest.mark.parametrize("kwargs, message", [
    ({"temperature": "hot"}, "Temperature must be a number"),
    ({"top_p": 0}, "Top-p"),
    ({"max_new_tokens": 10**6}, "Max new tokens must be a whole number between 1 and"),
    ({"max_new_tokens": 12.5}, "whole number"),
    ({"repetition_penalty": float("nan")}, "finite"),
    ({"seed": -3}, "Seed"),
    ({"temperature": 5}, "Temperature must be a number between 0 and 2; you typed 5, which is above"),
])
def test_gen_settings_rejects_bad_values(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        GenSettings.from_form(**kwargs)


def test_max_new_tokens_cap_comes_from_settings():
    settings = get_settings().with_overrides(max_new_tokens_cap=64)
    GenSettings(max_new_tokens=64).validated(settings)
    with pytest.raises(ConfigError, match="between 1 and 64"):
        GenSettings(max_new_tokens=65).validated(settings)


# -- batch streamer -----------------------------------------------------------------------------------

def test_batch_streamer_stops_each_row_at_its_own_eos(tokenizer):
    eos = tokenizer.eos_token_id
    hello = tokenizer("resource", add_special_tokens=False)["input_ids"]
    bucket = tokenizer(" bucket", add_special_tokens=False)["input_ids"]
    streamer = BatchTextStreamer(tokenizer, 2, {eos})
    streamer.put(torch.tensor([[5, 6], [7, 8]]))  # the prompt, which generate() puts first
    streamer.put(torch.tensor([hello[0], hello[0]]))
    streamer.put(torch.tensor([eos, bucket[0]]))
    streamer.put(torch.tensor([eos, eos]))  # generate pads finished rows with the pad (= eos) token
    streamer.end()
    ticks = list(streamer)
    assert ticks[-1] == ["resource", "resource bucket"]
    assert streamer.finished == [True, True] and len(streamer.token_ids[0]) == 1


def test_batch_streamer_reraises_worker_errors(tokenizer):
    streamer = BatchTextStreamer(tokenizer, 1, {0})
    streamer.fail(RuntimeError("boom"))
    with pytest.raises(RuntimeError, match="boom"):
        list(streamer)


# -- callouts ---------------------------------------------------------------------------------------

def test_callout_kinds():
    assert callout_kind("~> **Note:** Only one per table.") == "important"
    assert callout_kind("-> This is informational") == "note"
    assert callout_kind("!> **Warning:** destroys data") == "warning"
    assert callout_kind("**NOTE:** also") == "note"
    assert callout_kind("Warning: bare word") == "warning"
    assert callout_kind("* `table_name` - (Required) Note: inline is not a callout") is None
    assert callout_kind('resource "aws_s3_bucket" "b" {') is None


def test_highlight_callouts_escapes_and_marks_only_callouts():
    html = highlight_callouts('<script>alert(1)</script>\n~> **Note:** keep <this>\nplain line')
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert html.count('class="iac-callout ') == 1 and "keep &lt;this&gt;" in html
    assert count_callouts("-> a\nb\n!> c") == 2


# -- presets ------------------------------------------------------------------------------------------

def test_presets_hold_the_original_task_and_real_iac_eval_prompts():
    settings = get_settings()
    presets = load_presets(settings)
    prompts = [p.prompt for p in presets.chat]
    assert prompts[0] == "Create a DynamoDB Contributor Insights resource for a specific table with custom settings"
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    with open(settings.iac_eval_csv, newline="", encoding="utf-8") as handle:
        csv_prompts = {row["Prompt"].strip() for row in csv.DictReader(handle)}
    from_csv = [p for p in presets.chat if p.source.startswith("IaC-Eval")]
    assert len(from_csv) >= 5 and all(p.prompt in csv_prompts for p in from_csv)
    assert len(set(prompts)) == len(prompts)  # the original task is also in IaC-Eval: listed once
    doc_texts = [p.text for p in presets.doc]
    assert any(t.startswith("# Resource: aws_dynamodb_contributor_insights\n\n") for t in doc_texts)
    assert "~> **Note:**" in doc_texts and presets.notes == []


def test_presets_without_the_benchmark_csv_still_load(tmp_path):
    presets = load_presets(get_settings().with_overrides(data_dir=tmp_path))
    assert presets.chat and presets.doc
    assert not any(p.source.startswith("IaC-Eval") for p in presets.chat)
    assert "IaC-Eval presets unavailable" in presets.notes[0]


def test_adapter_names_are_peft_safe(tmp_path):
    assert adapter_name_for(tmp_path / "runs" / "cpt.v2 demo" / "adapter") == "cpt_v2_demo"
    assert adapter_name_for(tmp_path / "my-lora") == "my-lora"
    assert adapter_name_for(tmp_path / "__base__") == "adapter_base"


# -- CPU decoding kernels -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_model():
    from transformers import AutoModelForCausalLM, LlamaConfig

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True)
    return AutoModelForCausalLM.from_config(config).eval()


def test_skinny_matmuls_match_the_plain_kernels(tiny_model):
    from iacdemo.generation.kernels import use_skinny_decode_matmuls

    ids = torch.randint(0, 512, (3, 12))
    with torch.inference_mode():
        before = [tiny_model(input_ids=ids[:rows, -1:]).logits for rows in (1, 2, 3)]
        prompt_before = tiny_model(input_ids=ids).logits
        assert use_skinny_decode_matmuls(tiny_model) == 2 * 7 + 1  # 7 projections per layer + the vocabulary
        assert use_skinny_decode_matmuls(tiny_model) == 0  # idempotent
        after = [tiny_model(input_ids=ids[:rows, -1:]).logits for rows in (1, 2, 3)]
        prompt_after = tiny_model(input_ids=ids).logits
    for a, b in zip(before, after):
        assert a.shape == b.shape and torch.allclose(a, b, atol=1e-5)
    assert torch.equal(prompt_before, prompt_after)  # 36 rows: the usual kernel, bit for bit
    assert tiny_model.lm_head.weight is tiny_model.model.embed_tokens.weight  # still tied
    x = torch.randn(1, 64, requires_grad=True)  # training keeps autograd's usual path
    tiny_model.model.layers[0].mlp.up_proj(x).sum().backward()
    assert x.grad is not None



def test_masked_mixed_batch_in_bf16_matches_each_rows_own_forward():
    """bf16 base + fp32 LoRA (a GPU session): a mixed batch must round like the single-adapter forward.

    peft's own mixed-batch forward rounds the LoRA output to bf16 before adding it; ours adds in fp32 and
    rounds once, so the tuned row equals the tuned model run alone (checked on an H200 too, see
    bench/check_mixed_batch.py)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, LlamaConfig

    from iacdemo.generation.kernels import BASE, use_masked_mixed_batches

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True)
    base = AutoModelForCausalLM.from_config(config).to(torch.bfloat16).eval()
    model = get_peft_model(base, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj", "up_proj"],
                                            init_lora_weights=False)).eval()
    assert model.base_model.model.model.layers[0].self_attn.q_proj.lora_A["default"].weight.dtype == torch.float32
    ids = torch.randint(0, 512, (1, 24))
    batch = ids.repeat(2, 1)
    with torch.no_grad():
        peft_own = model(input_ids=batch, adapter_names=[BASE, "default"]).logits.float()
        assert use_masked_mixed_batches(model) == 2 * 3
        ours = model(input_ids=batch, adapter_names=[BASE, "default"]).logits.float()
        tuned = model(input_ids=ids).logits.float()[0]
        with model.disable_adapter():
            plain = model(input_ids=ids).logits.float()[0]
    assert torch.equal(ours[0], plain)  # base row: exactly the base model
    effect = (tuned - plain).abs().max()
    assert effect > 0.01  # the adapter matters, so the comparison means something
    ours_error, peft_error = (ours[1] - tuned).abs().max(), (peft_own[1] - tuned).abs().max()
    assert ours_error == 0 or ours_error < 0.5 * peft_error  # here: 0 vs 0.0049 (rounding twice)
