"""A tiny random model that speaks the embedded model's tokenizer.

For checks of the plumbing, not of what a model learns: the tests and benchmarks that start, stop,
resume or fork training jobs need real training steps, and a 2-layer, 64-wide Qwen2 takes a step in
milliseconds where the embedded 135M model takes seconds. Same tokenizer, so the same datasets fit it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any


def save_tiny_model(tokenizer: Any, out_dir: Path) -> Path:
    """Write a randomly initialised 2-layer Qwen2 and `tokenizer` to `out_dir`; the folder loads like any model."""
    from transformers import AutoModelForCausalLM, Qwen2Config  # transformers is slow to import

    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                         tie_word_embeddings=True, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    out_dir = Path(out_dir)
    AutoModelForCausalLM.from_config(config).save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir
