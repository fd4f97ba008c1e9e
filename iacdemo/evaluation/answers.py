"""Models' answers to IaC-Eval tasks: generated in batches on the one shared model, cached on disk.

Evaluating means generating hundreds of answers at 10-20 tokens/s on a CPU, so two things matter:

* Batching. The systems compared (base, tuned adapter, either with retrieved docs) and the samples
  for pass@k are rows of the same batched `generate` (peft's mixed-adapter batches give each row
  exactly its adapter's output), and rows of neighbouring tasks fill the batch up as well: on a
  memory-bound CPU a batch of four costs far less than four generations.
* Caching. Every answer is stored as one JSON file keyed by everything that determines it: the
  model id, the adapter (folder and its weights' size and mtime, so a retrained adapter is not served
  stale), the exact chat messages (task prompt, system prompt, retrieved context), the decoding
  settings and the sample index. Re-running an evaluation, or a larger one that includes it, only
  generates what is missing; an interrupted run continues where it stopped.

Prompts are IaC-Eval's own (`prompts.task_messages`: the official system prompt, and the official RAG
template around the retrieved docs), so pass rates compare with the paper's. Greedy decoding by
default; with several samples per task (pass@k) answers are sampled, with a seed per batch.
"""
from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from iacdemo import atomic_write
from iacdemo.errors import ConfigError, JobError, ModelError
from iacdemo.evaluation.eta import SPEEDS, Forecast, RunClock, Speed, forecast
from iacdemo.evaluation.prompts import task_messages
from iacdemo.evaluation.tasks import Task
from iacdemo.generation.gen_settings import EVALUATION
from iacdemo.generation.prompts import prepare_chat_prompt, prompt_token_budget
from iacdemo.generation.side_by_side import Column, GenSettings, SideBySideStream
from iacdemo.retrieval.bm25_index import format_context, get_default_index
from iacdemo.settings import Settings, get_settings

CACHE_VERSION = 1
DEFAULT_MAX_NEW_TOKENS = EVALUATION.max_new_tokens  # the evaluation preset, declared next to GenSettings
SAMPLING_TEMPERATURE = 0.7  # used when several samples per task are asked for (greedy would repeat itself)
RETRIEVAL_K = 4
BATCH_ROWS = 4
PROGRESS_EVERY_S = 0.5

CALIBRATION_TOKENS = 8  # new tokens of the calibration batch: enough to time decode steps, a few seconds

Progress = Callable[[float, str], Any]
SessionProvider = Callable[[], Any]  # returns the shared iacdemo.generation.ModelSession
OnAnswer = Callable[[int, str, "Answer"], Any]  # (task index, system label, answer), as each is ready


@dataclass(frozen=True)
class System:
    """One thing being evaluated: the base model or a LoRA adapter on it, with or without retrieved docs."""

    label: str
    adapter: str | None = None  # adapter folder; None = the base model
    rag: bool = False

    @classmethod
    def make(cls, adapter: str | Path | None = None, rag: bool = False, label: str | None = None) -> "System":
        adapter_text = str(adapter) if adapter else None
        return cls(label or system_label(adapter_text, rag), adapter_text, bool(rag))

    def to_dict(self) -> dict:
        return asdict(self)


def system_label(adapter: str | None, rag: bool) -> str:
    """`base`, `tuned:<run>`, each with ` + RAG` when grounded by retrieved docs."""
    if adapter:
        path = Path(adapter)
        name = path.parent.name if path.name == "adapter" else path.name
        label = f"tuned:{name}"
    else:
        label = "base"
    return label + (" + RAG" if rag else "")


@dataclass
class Answer:
    text: str
    sample: int
    cached: bool = False
    seconds: float = 0.0  # this answer's share of its batch's generation time
    new_tokens: int = 0
    prompt_tokens: int = 0  # what the model read: system prompt, retrieved docs, task prompt
    finished: bool = False  # ended with an end-of-sequence token (else cut at max_new_tokens)
    sources: list[str] = field(default_factory=list)  # retrieved pages in the prompt (RAG systems)
    notes: list[str] = field(default_factory=list)  # prompt truncation notes

    def to_dict(self) -> dict:
        return asdict(self)


def eval_gen_settings(samples: int = 1, max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
                      temperature: float | None = None, seed: int = 42, settings: Settings | None = None):
    """Decoding settings for an evaluation: greedy for one sample, sampling for pass@k.

    Uses the Compare tab's `GenSettings` (and its repetition penalty, which keeps small models out of
    loops), so an answer seen in Compare and one scored here come from the same decoding.
    """
    if samples < 1:
        raise ConfigError(f"Samples per task must be at least 1, got {samples}.")
    if temperature is None:
        temperature = 0.0 if samples == 1 else SAMPLING_TEMPERATURE
    if samples > 1 and temperature <= 0:
        raise ConfigError("Several samples per task need sampling: greedy decoding gives the same answer "
                          "every time. Use a temperature above 0.")
    return GenSettings(temperature=float(temperature), max_new_tokens=int(max_new_tokens),
                       seed=int(seed)).validated(settings)


def _gen_key(gen) -> dict:
    if gen.greedy:  # the seed and top-p play no part in greedy decoding
        return {"greedy": True, "max_new_tokens": gen.max_new_tokens, "repetition_penalty": gen.repetition_penalty}
    return {"temperature": gen.temperature, "top_p": gen.top_p, "seed": gen.seed,
            "max_new_tokens": gen.max_new_tokens, "repetition_penalty": gen.repetition_penalty}


def adapter_fingerprint(adapter_dir: str | Path | None) -> str | None:
    """Folder plus the weights' size and mtime: a retrained adapter gets new cache entries."""
    if not adapter_dir:
        return None
    path = Path(adapter_dir).expanduser().resolve()
    weights = next((path / name for name in ("adapter_model.safetensors", "adapter_model.bin")
                    if (path / name).is_file()), None)
    if weights is None:
        raise ModelError(f"{path} has no adapter weights (adapter_model.safetensors or adapter_model.bin).")
    stat = weights.stat()
    return f"{path}|{stat.st_size}|{stat.st_mtime_ns}"


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def answer_key(model_id: str, adapter_fp: str | None, task_id: int, messages: list[dict], gen,
               sample: int) -> str:
    """The cache key of one answer: everything that determines it, hashed."""
    return _digest({"v": CACHE_VERSION, "model": model_id, "adapter": adapter_fp, "task": task_id,
                    "messages": messages, "gen": _gen_key(gen), "sample": sample})


class AnswerCache:
    """One JSON file per answer under `eval_dir/answers/`, written atomically (several runs may share it)."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)

    @classmethod
    def for_settings(cls, settings: Settings | None = None) -> "AnswerCache":
        return cls((settings or get_settings()).eval_dir / "answers")

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict | None:
        try:
            record = json.loads(self._path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None  # missing or damaged: generate again
        return record if isinstance(record, dict) and isinstance(record.get("text"), str) else None

    def put(self, key: str, record: dict) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write.write_json(path, record, ensure_ascii=False)
        except OSError:
            pass  # a read-only cache costs a regeneration next time, nothing more


# ---- prompts ----------------------------------------------------------------------------------------------
@dataclass
class _Row:
    """One answer to produce: a (task, system, sample) with its messages and cache key."""

    task_index: int
    task: Task
    system: System
    sample: int
    messages: list[dict]
    sources: list[str]
    key: str
    answer: Answer | None = None
    prompt: Any = None  # PreparedPrompt, once the model's tokenizer has read the messages


def rag_messages(task: Task, index: Any, k: int = RETRIEVAL_K) -> tuple[list[dict], list[str]]:
    """IaC-Eval's RAG prompt for a task: the top-k docs chunks for its prompt, and their pages."""
    hits = index.search(task.prompt, k) if index is not None else []
    if not hits:
        return task_messages(task.prompt), []
    return task_messages(task.prompt, format_context(hits)), [h.path for h in hits]


def _plan_rows(tasks: Sequence[Task], systems: Sequence[System], model_id: str, gen, samples: int,
               retrieval_k: int, settings: Settings) -> list[_Row]:
    index = None
    if any(s.rag for s in systems):
        index = get_default_index(settings)
    fingerprints = {s.adapter: adapter_fingerprint(s.adapter) for s in systems}
    rows = []
    for t_index, task in enumerate(tasks):
        plain = task_messages(task.prompt)
        grounded = rag_messages(task, index, retrieval_k) if index is not None else None
        for system in systems:
            messages, sources = grounded if system.rag else (plain, [])
            for sample in range(samples):
                key = answer_key(model_id, fingerprints[system.adapter], task.id, messages, gen, sample)
                rows.append(_Row(t_index, task, system, sample, messages, sources, key))
    return rows


# ---- generation ---------------------------------------------------------------------------------------------
class _Reporter:
    """Throttled progress callbacks from a RunClock: per generated token, at most every PROGRESS_EVERY_S."""

    def __init__(self, callback: Progress | None, clock: RunClock, n_tasks: int, cached: int, total: int):
        self.callback, self.clock, self.n_tasks = callback, clock, n_tasks
        self.cached, self.total = cached, total
        self.tasks: tuple[int, int] | None = None  # task numbers of the running batch
        self._last = 0.0

    def update(self, force: bool = False) -> None:
        if self.callback is None:
            return
        now = time.perf_counter()
        if not force and now - self._last < PROGRESS_EVERY_S:
            return
        self._last = now
        to_generate = self.total - self.cached
        fraction = (self.cached + self.clock.fraction() * to_generate) / self.total if self.total else 1.0
        self.callback(min(fraction, 1.0), self.clock.message(self.tasks, self.n_tasks))


def _batches(rows: list[_Row], batch_rows: int) -> list[list[_Row]]:
    return [rows[i:i + batch_rows] for i in range(0, len(rows), batch_rows)]


def _batch_seed(gen, rows: list[_Row]) -> int:
    """Sampling seed of one batch: fixed by the run's seed and the batch's answers, so reruns repeat."""
    return int(_digest([gen.seed, [r.key for r in rows]])[:8], 16) % (2**31)


def _prepare_prompts(session: Any, rows: Sequence[_Row], gen, settings: Settings) -> None:
    """Chat-template every row's messages with the model's tokenizer (their lengths drive the forecast)."""
    budget = prompt_token_budget(session.context_length, gen.max_new_tokens)
    for row in rows:
        if row.prompt is None:
            row.prompt = prepare_chat_prompt(session.tokenizer, row.messages, max_prompt_tokens=budget,
                                             max_chars=settings.max_prompt_chars)


def _generate_batch(session: Any, rows: list[_Row], adapter_names: dict[str | None, str | None], gen,
                    stop_event: threading.Event, on_tick: Callable[[int, int], None],
                    seed: int | None = None) -> list[Answer] | None:
    """One batched generate over the rows (their prompts left-padded); None when stopped part-way.

    `on_tick(steps, tokens)`: decode steps done and new tokens over all rows, once per generated token.
    """
    prompts = [row.prompt for row in rows]
    columns = [Column(row.system.label, adapter_names[row.system.adapter], row.system.rag) for row in rows]
    stream = SideBySideStream(session, columns, prompts, [""] * len(rows), gen,
                              _batch_seed(gen, rows) if seed is None else seed, stop_event, "batched", [])
    texts = [""] * len(rows)
    for texts in stream:
        on_tick(max(stream.stats.new_tokens), sum(stream.stats.new_tokens))
    stats = stream.stats
    complete = all(stats.finished[i] or stats.new_tokens[i] >= gen.max_new_tokens for i in range(len(rows)))
    if not complete:  # stopped part-way: a cut answer must not be scored or cached as the model's answer
        return None
    share = stream.stats.elapsed_s / len(rows)
    return [Answer(text=texts[i], sample=row.sample, seconds=round(share, 3),
                   new_tokens=stream.stats.new_tokens[i], prompt_tokens=len(prompts[i].input_ids),
                   finished=stream.stats.finished[i],
                   sources=list(row.sources), notes=list(prompts[i].notes))
            for i, row in enumerate(rows)]


def _cache_record(row: _Row, answer: Answer, model_id: str) -> dict:
    """What is stored: the answer and its stats, plus what it answers (for people reading the cache)."""
    return {"text": answer.text, "seconds": answer.seconds, "new_tokens": answer.new_tokens,
            "prompt_tokens": answer.prompt_tokens, "finished": answer.finished, "notes": answer.notes,
            "model": model_id, "adapter": row.system.adapter, "rag": row.system.rag, "task_id": row.task.id,
            "sample": row.sample, "created": time.time()}


def _cached_answer(row: _Row, record: dict) -> Answer:
    return Answer(text=record["text"], sample=row.sample, cached=True, seconds=float(record.get("seconds") or 0.0),
                  new_tokens=int(record.get("new_tokens") or 0), prompt_tokens=int(record.get("prompt_tokens") or 0),
                  finished=bool(record.get("finished")), sources=list(row.sources),
                  notes=list(record.get("notes") or []))


def _validated(tasks: Sequence[Task], systems: Sequence[System], samples: int, gen: Any, batch_rows: int,
               settings: Settings):
    if not tasks:
        raise ConfigError("No tasks to evaluate: widen the difficulty or count selection.")
    if not systems:
        raise ConfigError("Pick at least one system to evaluate (base, a tuned adapter, with or without RAG).")
    labels = [s.label for s in systems]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"Two systems have the same label: {', '.join(labels)}.")
    if batch_rows < 1:
        raise ConfigError(f"Batch size must be at least 1, got {batch_rows}.")
    gen = gen or eval_gen_settings(samples, settings=settings)
    if samples > 1 and gen.greedy:
        raise ConfigError("Several samples per task need sampling (temperature above 0).")
    return gen


def _missing_rows(tasks, systems, model_id, gen, samples, retrieval_k, settings, cache,
                  on_answer: OnAnswer | None = None) -> tuple[list[_Row], list[_Row]]:
    """All rows, and those not in the cache, in generation order (cached answers are handed out now)."""
    rows = _plan_rows(tasks, systems, model_id, gen, samples, retrieval_k, settings)
    for row in rows:
        record = cache.get(row.key)
        if record is not None:
            row.answer = _cached_answer(row, record)
            if on_answer:
                on_answer(row.task_index, row.system.label, row.answer)
    # Plain and retrieval-grounded prompts differ ~10x in length (about 200 vs 1,700 tokens): batching
    # them apart keeps short prompts from being left-padded to the long ones.
    missing = sorted((r for r in rows if r.answer is None), key=lambda r: (r.system.rag, r.task_index))
    return rows, missing


def _session_for(session_provider: SessionProvider, model_id: str) -> Any:
    session = session_provider()
    if getattr(session, "model_id", model_id) != model_id:
        raise ModelError(f"The loaded model is '{session.model_id}', not '{model_id}'; load it first.")
    return session


def _adapter_names(session: Any, systems: Sequence[System]) -> dict[str | None, str | None]:
    names: dict[str | None, str | None] = {None: None}
    for system in systems:
        if system.adapter and system.adapter not in names:
            names[system.adapter] = session.attach_adapter(system.adapter)
    return names


def calibrate(session: Any, rows: Sequence[_Row], gen, model_id: str,
              stop_event: threading.Event | None = None) -> Speed | None:
    """Time one short batch of real prompts (CALIBRATION_TOKENS new tokens): this machine's speeds."""
    from dataclasses import replace

    if not rows:
        return SPEEDS.get(model_id)
    short = replace(gen, max_new_tokens=CALIBRATION_TOKENS)
    clock = RunClock([[len(r.prompt.input_ids) for r in rows]], CALIBRATION_TOKENS)
    clock.start_batch(0)
    done = _generate_batch(session, list(rows), _adapter_names(session, [r.system for r in rows]), short,
                           stop_event or threading.Event(), clock.tick, seed=0)
    if done is not None:
        SPEEDS.record(model_id, *clock.end_batch(max(a.new_tokens for a in done), sum(a.new_tokens for a in done)))
    return SPEEDS.get(model_id)


def estimate_generation(tasks: Sequence[Task], systems: Sequence[System], *, model_id: str,
                        session_provider: SessionProvider, samples: int = 1, gen: Any = None,
                        retrieval_k: int = RETRIEVAL_K, batch_rows: int = BATCH_ROWS,
                        settings: Settings | None = None, cache: AnswerCache | None = None,
                        measure: bool = True) -> Forecast:
    """How long `generate_answers` with these arguments will take here, before starting it.

    Prompts are tokenized with the loaded model to count them; the speeds are the ones measured in this
    process, or (`measure=True`) a short calibration batch when there are none yet.
    """
    settings = settings or get_settings()
    gen = _validated(tasks, systems, samples, gen, batch_rows, settings)
    cache = cache or AnswerCache.for_settings(settings)
    rows, missing = _missing_rows(tasks, systems, model_id, gen, samples, retrieval_k, settings, cache)
    speed = SPEEDS.get(model_id)
    if missing:
        session = _session_for(session_provider, model_id)
        _prepare_prompts(session, missing, gen, settings)
        if speed is None and measure:
            speed = calibrate(session, _batches(missing, batch_rows)[0], gen, model_id)
    batches = [[len(r.prompt.input_ids) for r in batch] for batch in _batches(missing, batch_rows)]
    return forecast(batches, gen.max_new_tokens, speed, cached=len(rows) - len(missing))


def generate_answers(tasks: Sequence[Task], systems: Sequence[System], *, model_id: str,
                     session_provider: SessionProvider, samples: int = 1, gen: Any = None,
                     retrieval_k: int = RETRIEVAL_K, batch_rows: int = BATCH_ROWS,
                     settings: Settings | None = None, progress: Progress | None = None,
                     stop_event: threading.Event | None = None,
                     cache: AnswerCache | None = None,
                     on_answer: OnAnswer | None = None) -> dict[str, list[list[Answer]]]:
    """Every system's answers to every task: {system label: [[sample 0, sample 1, ...] per task]}.

    `session_provider()` is only called when something is not cached (a fully cached rerun loads no
    model); it must return the `ModelSession` of `model_id`. Setting `stop_event` stops after the
    running batch's current token, keeps what was generated before it (cached) and raises JobError.
    `progress` is called per generated token (throttled) with an ETA from the speed measured so far;
    `on_answer` as each answer is ready (cached ones first), so callers can score and show them early.
    """
    settings = settings or get_settings()
    gen = _validated(tasks, systems, samples, gen, batch_rows, settings)
    cache = cache or AnswerCache.for_settings(settings)
    stop_event = stop_event or threading.Event()

    rows, missing = _missing_rows(tasks, systems, model_id, gen, samples, retrieval_k, settings, cache, on_answer)
    if missing:
        if progress:
            progress((len(rows) - len(missing)) / len(rows), "Preparing prompts (loading the model if needed)…")
        session = _session_for(session_provider, model_id)
        adapter_names = _adapter_names(session, systems)
        _prepare_prompts(session, missing, gen, settings)
        batches = _batches(missing, batch_rows)
        clock = RunClock([[len(r.prompt.input_ids) for r in batch] for batch in batches], gen.max_new_tokens,
                         cached=len(rows) - len(missing), prior=SPEEDS.get(model_id))
        reporter = _Reporter(progress, clock, len(tasks), len(rows) - len(missing), len(rows))
        for index, batch in enumerate(batches):
            if stop_event.is_set():
                break
            clock.start_batch(index)
            reporter.tasks = (batch[0].task_index + 1, batch[-1].task_index + 1)
            reporter.update(force=True)

            def on_tick(steps: int, tokens: int) -> None:
                clock.tick(steps, tokens)
                reporter.update()

            answers = _generate_batch(session, batch, adapter_names, gen, stop_event, on_tick)
            if answers is None:
                break
            SPEEDS.record(model_id, *clock.end_batch(max(a.new_tokens for a in answers),
                                                     sum(a.new_tokens for a in answers)))
            for row, answer in zip(batch, answers):
                row.answer = answer
                cache.put(row.key, _cache_record(row, answer, model_id))
                if on_answer:
                    on_answer(row.task_index, row.system.label, answer)
            reporter.update(force=True)
        done = sum(r.answer is not None for r in rows)
        if done < len(rows):
            raise JobError(f"Evaluation stopped: {done} of {len(rows)} answers are ready and cached, so "
                           "running it again continues from there.")
    elif progress:
        progress(1.0, f"All {len(rows)} answers cached")

    out: dict[str, list[list[Answer]]] = {s.label: [[] for _ in tasks] for s in systems}
    for row in rows:
        out[row.system.label][row.task_index].append(row.answer)
    return out


__all__ = ["Answer", "AnswerCache", "System", "adapter_fingerprint", "answer_key", "calibrate", "eval_gen_settings",
           "estimate_generation", "generate_answers", "rag_messages", "system_label", "DEFAULT_MAX_NEW_TOKENS", "SAMPLING_TEMPERATURE"]
