"""The masked mixed-adapter forward replaces a private peft method: only behind a version and layout check.

A peft it was not checked against, or a LoRA layer missing what it reads, keeps peft's own mixed-batch
forward (with a log line), and the greedy answers stay the same either way.
"""
from __future__ import annotations

import logging

import pytest
import torch

from iacdemo.generation import kernels
from iacdemo.generation.kernels import BASE, masked_mixed_batch_support, use_masked_mixed_batches


def _peft_model():
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, LlamaConfig

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True)
    base = AutoModelForCausalLM.from_config(config).eval()
    return get_peft_model(base, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj", "up_proj"],
                                           init_lora_weights=False)).eval()


def _greedy(model, ids) -> torch.Tensor:
    """Greedy tokens of a base row and a tuned row generated in one mixed batch."""
    with torch.no_grad():
        return model.generate(input_ids=ids.repeat(2, 1), attention_mask=torch.ones(2, ids.shape[1], dtype=torch.long),
                              adapter_names=[BASE, "default"], max_new_tokens=12, do_sample=False, pad_token_id=0)


def _masked_layers(model) -> int:
    return sum(1 for m in model.modules() if getattr(m, "_iacdemo_masked", False))


@pytest.fixture(autouse=True)
def fresh_log_memory(monkeypatch):
    monkeypatch.setattr(kernels, "_fallback_logged", set())


def test_the_installed_peft_is_supported():
    assert masked_mixed_batch_support() == (True, "")  # requirements.txt pins the checked version


def test_an_unchecked_peft_version_keeps_pefts_own_path_with_the_same_greedy_texts(monkeypatch, caplog):
    import peft

    ids = torch.randint(1, 512, (1, 10), generator=torch.Generator().manual_seed(1))
    reference = _greedy(_peft_model(), ids)  # peft's own mixed-batch forward
    assert not torch.equal(reference[0], reference[1])  # the adapter changes the answer: a real comparison

    monkeypatch.setattr(peft, "__version__", "0.99.0")
    fallback = _peft_model()
    with caplog.at_level(logging.WARNING, logger="iacdemo.generation"):
        assert use_masked_mixed_batches(fallback) == 0
        assert use_masked_mixed_batches(fallback) == 0
    assert _masked_layers(fallback) == 0
    lines = [r.getMessage() for r in caplog.records if "peft's own forward" in r.getMessage()]
    assert len(lines) == 1 and "peft 0.99.0" in lines[0]  # said once, not per adapter
    assert torch.equal(_greedy(fallback, ids), reference)

    monkeypatch.undo()
    masked = _peft_model()
    assert use_masked_mixed_batches(masked) == 2 * 3
    assert torch.equal(_greedy(masked, ids), reference)


def test_missing_peft_internals_fall_back(monkeypatch):
    from peft.tuners.lora import layer as lora_layer

    monkeypatch.delattr(lora_layer, "VARIANT_KWARG_KEYS")
    ok, why = masked_mixed_batch_support()
    assert not ok and "VARIANT_KWARG_KEYS" in why
    assert use_masked_mixed_batches(_peft_model()) == 0
    monkeypatch.undo()

    def changed(self, x, adapter_names, *args, **kwargs):  # adapter_names no longer keyword-only
        return x

    monkeypatch.setattr(lora_layer.Linear, "_mixed_batch_forward", changed)
    ok, why = masked_mixed_batch_support()
    assert not ok and "adapter_names" in why


def test_a_layer_missing_an_attribute_keeps_pefts_forward(monkeypatch, caplog):
    model = _peft_model()
    layer = model.base_model.model.model.layers[0].self_attn.q_proj
    own = layer._mixed_batch_forward
    monkeypatch.delattr(layer, "lora_variant")
    with caplog.at_level(logging.WARNING, logger="iacdemo.generation"):
        assert use_masked_mixed_batches(model) == 2 * 3 - 1
    assert layer._mixed_batch_forward == own and not getattr(layer, "_iacdemo_masked", False)
    assert any("lora_variant" in r.getMessage() for r in caplog.records)


def test_every_variant_keyword_of_peft_is_kept_from_the_base_layer(monkeypatch):
    """peft strips all of VARIANT_KWARG_KEYS before calling the base layer; so must the masked forward."""
    from peft.tuners.lora import layer as lora_layer

    monkeypatch.setattr(lora_layer, "VARIANT_KWARG_KEYS", ["alora_offsets", "future_variant_arg"])
    model = _peft_model()
    assert use_masked_mixed_batches(model) == 2 * 3
    layer = model.base_model.model.model.layers[0].mlp.up_proj
    x = torch.randn(2, 3, 64)
    with torch.no_grad():
        out = layer._mixed_batch_forward(x, adapter_names=[BASE, "default"], future_variant_arg=None)
        plain = layer.base_layer(x)
    assert torch.equal(out[0], plain[0]) and not torch.allclose(out[1], plain[1])
