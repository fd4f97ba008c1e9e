"""Base vs fine-tuned (vs base + retrieved docs) answers, streamed side by side from one generation.

All columns run in ONE batched `generate` on the shared model: peft's mixed-adapter batches
(`adapter_names=["__base__", "iac", ...]`, eval mode) give each row exactly the output its adapter alone
would give, and a batch of N costs far less than N generations on a memory-bound CPU. Prompts of
different lengths (a retrieval column's prompt is longer) are left-padded. `stream_sequential` runs
the same columns one after another; the benchmark compares the two.
"""
from __future__ import annotations

import random
import threading
import time
from concurrent.futures import wait as wait_for
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import torch
from transformers.generation.stopping_criteria import StoppingCriteriaList

from iacdemo.errors import ConfigError, IacdemoError, ModelError
from iacdemo.generation.gen_settings import GenSettings
from iacdemo.generation.prompts import PreparedPrompt, prepare_chat_prompt, prepare_raw_prompt, prompt_token_budget
from iacdemo.generation.session import BASE, ModelSession
from iacdemo.generation.streamer import BatchTextStreamer, StopOnEvent
from iacdemo.retrieval.bm25_index import format_context, get_default_index
from iacdemo.settings import Settings, get_settings

WAITING_TEXT = "⏳ Waiting for another generation on this model to finish…"


@dataclass(frozen=True)
class Column:
    """One answer pane: which adapter (None = base model) and whether to ground it with retrieved docs."""

    label: str
    adapter: str | None = None
    rag: bool = False


def default_columns(adapter: str | None, rag: bool = False) -> list[Column]:
    """The Compare tab's panes: base, the tuned adapter (if any), and optionally base + retrieved docs."""
    columns = [Column("Base model", None)]
    if adapter:
        columns.append(Column(f"Fine-tuned ({adapter})", adapter))
    if rag:
        columns.append(Column("Base + retrieved docs", None, rag=True))
    return columns


# -- the stream ---------------------------------------------------------------------------------------

@dataclass
class StreamStats:
    mode: str  # "batched" or "sequential"
    new_tokens: list[int] = field(default_factory=list)  # per column, EOS not counted
    finished: list[bool] = field(default_factory=list)  # per column: ended on its own (EOS)
    elapsed_s: float = 0.0  # model time, lock waits excluded
    stopped: bool = False  # the stop event ended it early

    @property
    def tokens_per_s(self) -> float:
        return sum(self.new_tokens) / self.elapsed_s if self.elapsed_s > 0 else 0.0


class SideBySideStream:
    """Iterate to get every column's text so far, once per generated token (UI-friendly ticks).

    Prompts are prepared when the stream is created, so bad input raises ConfigError before anything
    streams. `notes` (truncations, retrieval problems), `seed`, `prompts` and, after the last tick,
    `stats` are there for the UI. `stop()` (or setting the event passed in) ends generation early.
    """

    def __init__(self, session: ModelSession, columns: Sequence[Column], prompts: list[PreparedPrompt | None],
                 texts: list[str], gen: GenSettings, seed: int, stop_event: threading.Event, mode: str,
                 notes: list[str]):
        self.session, self.columns, self.prompts, self.gen = session, list(columns), prompts, gen
        self.texts, self.seed, self.stop_event, self.mode = texts, seed, stop_event, mode
        self.notes = notes
        self.stats = StreamStats(mode=mode, new_tokens=[0] * len(columns), finished=[False] * len(columns))
        self._started = False

    @property
    def labels(self) -> list[str]:
        return [c.label for c in self.columns]

    def stop(self) -> None:
        self.stop_event.set()

    def __iter__(self) -> Iterator[list[str]]:
        if self._started:
            raise RuntimeError("A SideBySideStream can be iterated only once; start a new one.")
        self._started = True
        yield list(self.texts)
        active = [i for i, p in enumerate(self.prompts) if p is not None]
        if not active:
            return
        if not self.session.lock.acquire(blocking=False):
            yield [WAITING_TEXT if i in active else t for i, t in enumerate(self.texts)]
            while not self.session.lock.acquire(timeout=0.2):
                if self.stop_event.is_set():
                    self.stats.stopped = True
                    return
            yield list(self.texts)
        try:
            torch.manual_seed(self.seed)
            if self.mode == "batched":
                yield from self._run(active)
            else:
                for i in active:
                    if self.stop_event.is_set():
                        break
                    yield from self._run([i])
        finally:
            self.session.lock.release()
        self.stats.stopped = self.stop_event.is_set() and not all(self.stats.finished[i] for i in active)

    def _run(self, rows: list[int]) -> Iterator[list[str]]:
        """One `generate` over the given columns in a worker thread; yields all texts per step."""
        session = self.session
        ids = [self.prompts[i].input_ids for i in rows]
        width = max(len(r) for r in ids)
        pad = session.tokenizer.pad_token_id
        streamer = BatchTextStreamer(session.tokenizer, len(rows), session.stop_token_ids())
        adapters = [self.columns[i].adapter for i in rows]
        generation_config = self.gen.generation_config(session)

        def work() -> None:
            try:
                kwargs = dict(
                    input_ids=torch.tensor([[pad] * (width - len(r)) + r for r in ids], device=session.device),
                    attention_mask=torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in ids],
                                                device=session.device),
                    streamer=streamer, generation_config=generation_config,
                    stopping_criteria=StoppingCriteriaList([StopOnEvent(self.stop_event)]))
                if len(set(adapters)) == 1:  # one adapter for all rows: peft's plain (faster) path
                    with session.use_adapter(adapters[0]) as model:
                        model.generate(**kwargs)
                else:
                    session.model.eval()  # mixed batches raise in training mode
                    session.model.generate(**kwargs, adapter_names=[a or BASE for a in adapters])
            except IacdemoError as exc:  # handed to the consumer thread, which re-raises it
                streamer.fail(exc)
            except Exception as exc:
                error = ModelError(f"Generation failed: {type(exc).__name__}: {str(exc)[:300]}")
                error.__cause__ = exc
                streamer.fail(error)

        started = time.perf_counter()
        worker = session.submit(work)  # the session's model thread; `work` hands errors to the streamer
        completed = False
        try:
            for row_texts in streamer:
                self._update(rows, streamer, row_texts)
                yield list(self.texts)
            completed = True
        finally:
            if not completed:  # the consumer went away (UI closed, Stop) or failed: end the worker promptly
                self.stop_event.set()
            wait_for([worker])
            self.stats.elapsed_s += time.perf_counter() - started
        self._update(rows, streamer, streamer.final_texts())
        yield list(self.texts)

    def _update(self, rows: list[int], streamer: BatchTextStreamer, row_texts: list[str]) -> None:
        for row, column in enumerate(rows):
            self.texts[column] = row_texts[row]
            self.stats.new_tokens[column] = len(streamer.token_ids[row])
            self.stats.finished[column] = streamer.finished[row]


def _retrieve(query: str, settings: Settings, k: int) -> tuple[list[Any], Any, str]:
    """(hits, format_context, message) for a "+ retrieved docs" column; no hits and why if unavailable."""
    try:
        hits = get_default_index(settings).search(query, k)
    except IacdemoError as exc:
        return [], None, f"Retrieval failed ({exc}); the retrieved-docs column was skipped."
    if not hits:
        return [], None, "Retrieval found no documentation for this prompt; the retrieved-docs column was skipped."
    return list(hits), format_context, "Retrieved docs: " + ", ".join(str(getattr(h, "path", "?")) for h in hits)


def _prepare(session: ModelSession, columns: Sequence[Column], prompt: str | Sequence[Any], gen: GenSettings,
             raw: bool, system_prompt: str | None, settings: Settings, retrieval_k: int,
             stop_event: threading.Event | None, mode: str,
             histories: Sequence[Sequence[Any]] | None) -> SideBySideStream:
    if not columns:
        raise ConfigError("Pick at least one column to generate.")
    gen = gen.validated(settings)
    for column in columns:
        session.require_adapter(column.adapter)
    budget = prompt_token_budget(session.context_length, gen.max_new_tokens)
    if raw and (not isinstance(prompt, str) or histories is not None):
        raise ConfigError("Doc completion takes plain text, not a conversation.")
    if histories is not None:
        if len(histories) != len(columns):
            raise ConfigError(f"Got {len(histories)} chat histories for {len(columns)} columns.")
        if isinstance(prompt, (list, tuple)) and any(isinstance(m, dict) and "role" in m for m in prompt):
            raise ConfigError("With per-column histories, the prompt is the new user message only.")
        conversations = [list(h or []) + [{"role": "user", "content": prompt}] for h in histories]
        if all(c == conversations[0] for c in conversations):  # a first turn: one prompt, notes for all panes
            conversations, histories = [conversations[0]] * len(columns), None
    elif not raw:
        shared = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
        conversations = [shared] * len(columns)
    else:
        conversations = [prompt] * len(columns)

    cache: dict[tuple[int, str | None], PreparedPrompt] = {}

    def build(i: int, context: str | None) -> PreparedPrompt:
        key = (id(conversations[i]), context)
        if key not in cache:
            if raw:
                cache[key] = prepare_raw_prompt(session.tokenizer, prompt, max_prompt_tokens=budget,
                                                max_chars=settings.max_prompt_chars, context=context)
            else:
                cache[key] = prepare_chat_prompt(session.tokenizer, conversations[i], max_prompt_tokens=budget,
                                                 max_chars=settings.max_prompt_chars,
                                                 system_prompt=system_prompt, context=context)
        return cache[key]

    plain = [build(i, None) for i in range(len(columns))]  # ConfigError on an empty prompt, before retrieval
    per_column = histories is not None
    notes: list[str] = []

    def note(label: str, text: str) -> None:
        line = f"{label}: {text}" if per_column else text
        if line not in notes:
            notes.append(line)

    for i, column in enumerate(columns):
        for text in plain[i].notes:
            note(column.label, text)
    prompts: list[PreparedPrompt | None] = []
    texts = [""] * len(columns)
    retrieved: tuple[list[Any], Any, str] | None = None
    for i, column in enumerate(columns):
        if not column.rag:
            prompts.append(plain[i])
            continue
        retrieved = retrieved or _retrieve(plain[i].query, settings, retrieval_k)
        hits, format_context, message = retrieved
        notes.append(f"{column.label}: {message}")
        if not hits:
            prompts.append(None)
            texts[i] = f"({message})"
            continue
        # Hits come best first: drop the weakest ones until the prompt fits, rather than letting the
        # left-truncation eat the best excerpt.
        for n in range(len(hits), 0, -1):
            grounded = build(i, format_context(hits[:n]))
            extra = [text for text in grounded.notes if text not in plain[i].notes]
            if not extra:
                break
        if n < len(hits):
            notes.append(f"{column.label}: kept the best {n} of {len(hits)} excerpts to fit the context.")
        notes.extend(f"{column.label}: {text}" for text in extra)
        prompts.append(grounded)
    seed = gen.seed if gen.seed is not None else random.randrange(2**31)
    return SideBySideStream(session, columns, prompts, texts, gen, seed, stop_event or threading.Event(),
                            mode, notes)


def stream_side_by_side(session: ModelSession, columns: Sequence[Column], prompt: str | Sequence[Any],
                        gen: GenSettings | None = None, *, raw: bool = False, system_prompt: str | None = None,
                        histories: Sequence[Sequence[Any]] | None = None,
                        stop_event: threading.Event | None = None, settings: Settings | None = None,
                        retrieval_k: int = 4) -> SideBySideStream:
    """Every column's answer from one batched generation; iterate for list[str] ticks.

    `prompt` is a conversation shared by all columns (Gradio messages; the last one is the user's
    request), a single request string, or with `raw=True` a text to continue without a chat template.
    For multi-turn chat where each pane keeps its own earlier answers, pass `histories` (one message
    list per column, e.g. each Chatbot's value before this turn) and the new user message as `prompt`.
    """
    return _prepare(session, columns, prompt, gen or GenSettings(), raw, system_prompt,
                    settings or get_settings(), retrieval_k, stop_event, "batched", histories)


def stream_sequential(session: ModelSession, columns: Sequence[Column], prompt: str | Sequence[Any],
                      gen: GenSettings | None = None, *, raw: bool = False, system_prompt: str | None = None,
                      histories: Sequence[Sequence[Any]] | None = None,
                      stop_event: threading.Event | None = None, settings: Settings | None = None,
                      retrieval_k: int = 4) -> SideBySideStream:
    """The same columns one after another (batch size 1 each): the baseline the batched path beats."""
    return _prepare(session, columns, prompt, gen or GenSettings(), raw, system_prompt,
                    settings or get_settings(), retrieval_k, stop_event, "sequential", histories)


def generate_side_by_side(session: ModelSession, columns: Sequence[Column], prompt: str | Sequence[Any],
                          gen: GenSettings | None = None, **kwargs: Any) -> list[str]:
    """Final answers without streaming (scripts, evaluation)."""
    texts: list[str] = []
    for texts in stream_side_by_side(session, columns, prompt, gen, **kwargs):
        pass
    return texts
