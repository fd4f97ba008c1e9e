"""Perplexity of a documentation page under the base model and under each adapter.

Evidence of learning beyond eyeballing samples: continued pre-training on the docs should make a docs
page (ideally one held out of training) less surprising to the tuned model than to the base model.
Long pages are scored in consecutive windows no longer than the model's context.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F

from iacdemo.errors import ConfigError
from iacdemo.generation.session import ModelSession

BASE_LABEL = "base"


def _nll_sum(model, ids: list[int], window: int, device: str) -> tuple[float, int]:
    """Summed negative log-likelihood and number of predicted tokens over non-overlapping windows."""
    total, count = 0.0, 0
    for start in range(0, len(ids), window):
        chunk = ids[start:start + window]
        if len(chunk) < 2:
            continue
        input_ids = torch.tensor([chunk], device=device)
        logits = model(input_ids=input_ids).logits[0, :-1].float()
        total += F.cross_entropy(logits, input_ids[0, 1:], reduction="sum").item()
        count += len(chunk) - 1
    return total, count


def perplexity(session: ModelSession, text: str, adapter: str | None = None, *, max_tokens: int = 4096,
               window: int = 1024) -> float:
    """exp(mean NLL per token) of `text` under the base model (adapter None) or an adapter.

    Only the first `max_tokens` tokens are scored, to keep a click in the UI under a few seconds.
    """
    if not isinstance(text, str) or not text.strip():
        raise ConfigError("Pick or paste a documentation page to score: the text is empty.")
    if max_tokens < 2 or window < 2:
        raise ConfigError("max_tokens and window must be at least 2.")
    ids = list(session.tokenizer(text)["input_ids"])[:max_tokens]
    if len(ids) < 2:
        raise ConfigError("The text is a single token; perplexity needs at least two.")
    window = min(window, session.context_length)

    def score() -> tuple[float, int]:
        with session.use_adapter(adapter) as model, torch.inference_mode():
            return _nll_sum(model, ids, window, session.device)

    with session.lock:
        total, count = session.call(score)
    return math.exp(total / count)


def perplexity_compare(session: ModelSession, text: str, adapters: Sequence[str | None] = (None,),
                       **kwargs) -> dict[str, float]:
    """{"base": ppl, "<adapter>": ppl, ...} for the same text; lower means the model finds it likelier."""
    for adapter in adapters:
        session.require_adapter(adapter)
    return {(BASE_LABEL if a is None else a): perplexity(session, text, a, **kwargs) for a in adapters}
