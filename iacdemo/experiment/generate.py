"""Answers to arbitrary requests (chat or raw text), for any system, batched and cached on disk.

The experiment asks hundreds of small questions (probes, chat requests, general questions, repair
turns) of several systems. They go through the same batched generation as the Compare tab and the
IaC-Eval answers (`SideBySideStream`: rows of one `generate`, each with its own adapter and prompt),
in batches of neighbouring requests, and every answer is cached by everything that determines it, so
an interrupted or repeated experiment only generates what is missing.
"""
from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from iacdemo.errors import JobError
from iacdemo.evaluation.answers import AnswerCache, adapter_fingerprint
from iacdemo.generation.prompts import prepare_chat_prompt, prepare_raw_prompt, prompt_token_budget
from iacdemo.generation.side_by_side import Column, SideBySideStream
from iacdemo.settings import Settings, get_settings

Progress = Callable[[int, int], Any]  # (done, total)


@dataclass(frozen=True)
class Request:
    """One answer to produce. `messages` (chat) or `raw` (text to continue, no chat template)."""

    adapter: str | None  # adapter folder; None = the base model
    messages: tuple[tuple[str, str], ...] = ()  # (role, content) pairs, last one the user's
    raw: str = ""
    context: str = ""  # retrieved docs put in front of the request (RAG systems)

    @classmethod
    def chat(cls, adapter: str | None, messages: Sequence[dict], context: str = "") -> "Request":
        return cls(adapter, tuple((m["role"], m["content"]) for m in messages), "", context)

    def message_dicts(self) -> list[dict[str, str]]:
        return [{"role": r, "content": c} for r, c in self.messages]


@dataclass
class Generated:
    text: str
    new_tokens: int = 0
    cached: bool = False
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def request_key(model_id: str, request: Request, gen: Any, fingerprints: dict) -> str:
    return _digest({"v": 1, "kind": "experiment", "model": model_id, "adapter": fingerprints[request.adapter],
                    "messages": request.messages, "raw": request.raw, "context": request.context,
                    "gen": [gen.temperature, gen.top_p, gen.max_new_tokens, gen.repetition_penalty,
                            None if gen.greedy else gen.seed]})


def generate_requests(requests: Sequence[Request], *, model_id: str, session_provider: Callable[[], Any],
                      gen: Any, cache: AnswerCache, batch_rows: int = 4, settings: Settings | None = None,
                      progress: Progress | None = None) -> list[Generated]:
    """Every request's answer, in order; only uncached ones load the model and generate.

    Chat and raw requests, and short and long prompts, are batched apart (sorted by kind and prompt
    length) so short prompts are not left-padded to long ones.
    """
    settings = settings or get_settings()
    fingerprints = {a: adapter_fingerprint(a) for a in {r.adapter for r in requests}}
    keys = [request_key(model_id, r, gen, fingerprints) for r in requests]
    out: list[Generated | None] = [None] * len(requests)
    for i, key in enumerate(keys):
        record = cache.get(key)
        if record is not None:
            out[i] = Generated(record["text"], int(record.get("new_tokens") or 0), True,
                               float(record.get("seconds") or 0.0), list(record.get("notes") or []))
    missing = [i for i, g in enumerate(out) if g is None]
    done = len(requests) - len(missing)
    if progress:
        progress(done, len(requests))
    if missing:
        session = session_provider()
        names = {None: None}
        for adapter in {requests[i].adapter for i in missing}:
            if adapter:
                names[adapter] = session.attach_adapter(adapter)
        prompts = {i: _prepare(session, requests[i], gen, settings) for i in missing}
        missing.sort(key=lambda i: (bool(requests[i].raw), len(prompts[i].input_ids)))
        for start in range(0, len(missing), batch_rows):
            batch = missing[start:start + batch_rows]
            for i, generated in zip(batch, _generate_batch(session, [requests[i] for i in batch],
                                                           [prompts[i] for i in batch], names, gen)):
                out[i] = generated
                cache.put(keys[i], {"text": generated.text, "new_tokens": generated.new_tokens,
                                    "seconds": generated.seconds, "notes": generated.notes, "model": model_id,
                                    "adapter": requests[i].adapter})
            done += len(batch)
            if progress:
                progress(done, len(requests))
    return [g for g in out if g is not None]


def _prepare(session: Any, request: Request, gen: Any, settings: Settings):
    budget = prompt_token_budget(session.context_length, gen.max_new_tokens)
    if request.raw:
        return prepare_raw_prompt(session.tokenizer, request.raw, max_prompt_tokens=budget,
                                  max_chars=settings.max_prompt_chars, context=request.context or None)
    return prepare_chat_prompt(session.tokenizer, request.message_dicts(), max_prompt_tokens=budget,
                               max_chars=settings.max_prompt_chars, context=request.context or None)


def _generate_batch(session: Any, requests: list[Request], prompts: list, names: dict, gen: Any) -> list[Generated]:
    columns = [Column(f"row{i}", names[r.adapter]) for i, r in enumerate(requests)]
    seed = gen.seed if gen.seed is not None else 0
    stream = SideBySideStream(session, columns, list(prompts), [""] * len(requests), gen, seed,
                              threading.Event(), "batched", [])
    texts = [""] * len(requests)
    for texts in stream:
        pass
    stats = stream.stats
    if stats.stopped:
        raise JobError("Generation was stopped; the answers so far are cached, rerun to continue.")
    share = round(stats.elapsed_s / len(requests), 3)
    return [Generated(texts[i], stats.new_tokens[i], False, share, list(prompts[i].notes))
            for i in range(len(requests))]
