"""From a corpus dataset folder to training and eval blocks, and the batch order of every rank.

Everything here is deterministic given the config (seed included), so each DDP rank builds the same
blocks on its own and just takes its own shard of each batch, and a resumed run finds its place in
the data from the step number alone.
"""
from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from iacdemo.corpus.build import build_corpus, load_corpus, service_matches
from iacdemo.corpus.catalog import list_corpora
from iacdemo.corpus.sources import iter_docs
from iacdemo.errors import DataError
from iacdemo.settings import Settings, get_settings
from iacdemo.training.chat_mix import chat_pairs, mix_in_chat, render_chat_example
from iacdemo.training.config import TrainConfig, quick_demo_dataset_dir
from iacdemo.training.packing import Example, collate, pack_examples, pad_examples, pad_fraction

def ensure_quick_demo_dataset(settings: Settings | None = None, progress=None) -> Path:
    """Build the DynamoDB corpus (11 pages, ~12k tokens) once; later calls return the folder at once."""
    out = quick_demo_dataset_dir(settings)
    if not (out / "state.json").is_file():
        build_corpus(None, out_dir=out, seq_len=512, services=["DynamoDB"], settings=settings, progress=progress)
    return out


def available_datasets(settings: Settings | None = None) -> list[Path]:
    """Corpus folders under the datasets dir, newest first (the Train tab's dataset choices)."""
    return [c.path for c in list_corpora((settings or get_settings()).datasets_dir)]


# --- rows ------------------------------------------------------------------------------------------------
def load_rows(dataset_dir: str | Path, subcategory: str = "") -> tuple[list[dict[str, Any]], dict]:
    """The dataset's rows (optionally one subcategory) and its stats.json; DataError when unusable."""
    path = Path(dataset_dir).expanduser()
    if not path.is_dir():
        raise DataError(f"Dataset folder not found: {path}")
    try:
        corpus = load_corpus(path)
    except DataError:
        raise
    except Exception as exc:  # a corrupt arrow file and the like
        raise DataError(f"Cannot read the dataset at {path}: {type(exc).__name__}: {exc}") from exc
    rows = corpus.dataset.to_list()
    if subcategory:
        rows = [r for r in rows if service_matches(r.get("subcategory") or "", [subcategory])]
        if not rows:
            raise DataError(f"No rows of subcategory {subcategory!r} in {path}.")
    rows = [r for r in rows if (r.get("text") or "").strip()]
    if not rows:
        raise DataError(f"The dataset at {path} has no text rows.")
    return rows, corpus.stats


def split_by_page(rows: list[dict[str, Any]], eval_fraction: float) -> tuple[list[dict], list[dict]]:
    """Hold out whole pages (all segments of a path) so eval text never leaks into training.

    A page goes to eval when a hash of its path falls under `eval_fraction`: stable across runs, seeds
    and ranks, and a growing corpus keeps old pages on the same side. At least one page is held out
    when the fraction is > 0 and there are two pages or more.
    """
    if eval_fraction <= 0:
        return rows, []
    paths = sorted({r["path"] for r in rows})
    if len(paths) < 2:
        return rows, []
    score = {p: int(hashlib.sha1(p.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF for p in paths}
    held = {p for p in paths if score[p] < eval_fraction}
    if not held:
        held = {min(paths, key=score.get)}
    if len(held) == len(paths):
        held.discard(max(paths, key=score.get))
    return [r for r in rows if r["path"] not in held], [r for r in rows if r["path"] in held]


# --- blocks ---------------------------------------------------------------------------------------------
@dataclass
class TrainData:
    train_blocks: list[Example]
    eval_blocks: list[Example]
    stats: dict[str, Any] = field(default_factory=dict)
    train_pages: list[str] = field(default_factory=list)  # doc paths: what `page_split` records
    eval_pages: list[str] = field(default_factory=list)


def _raw_pages(paths: set[str], stats: dict, settings: Settings) -> list:
    """The raw markdown of these pages (the dataset rows lost their code fences in cleaning)."""
    inputs = [Path(p) for p in stats.get("inputs") or []] or [settings.corpus_dir]
    inputs = [p for p in inputs if p.exists()] or [settings.corpus_dir]
    try:
        return [d for d in iter_docs(inputs) if d.path in paths]
    except DataError:
        return []


def build_training_data(config: TrainConfig, tokenizer, settings: Settings | None = None,
                        log: Callable[[str], None] = lambda message: None) -> TrainData:
    """Load, split, tokenize, mix in chat examples and cut into blocks (packed or padded)."""
    settings = settings or get_settings()
    rows, stats = load_rows(config.dataset, config.subcategory)
    train_rows, eval_rows = split_by_page(rows, config.eval_fraction)
    rng = random.Random(config.seed)
    rng.shuffle(train_rows)

    def tokenize(texts: list[str]) -> list[list[int]]:
        return tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []

    train_examples = [Example.plain(ids) for ids in tokenize([r["text"] for r in train_rows])]
    eval_examples = [Example.plain(ids) for ids in tokenize([r["text"] for r in eval_rows])]
    doc_tokens = sum(len(e) for e in train_examples)

    chat: list[Example] = []
    if config.chat_mix_ratio > 0:
        pages = _raw_pages({r["path"] for r in train_rows}, stats, settings)
        pairs = chat_pairs(pages, instructions=config.instruction_pairs)
        rendered = [e for e in (render_chat_example(p, tokenizer) for p in pairs) if e is not None]
        fitting = [e for e in rendered if len(e) < config.seq_len]
        chat = mix_in_chat(doc_tokens, fitting, config.chat_mix_ratio, config.seed)
        if not chat:
            why = ("no resource page with an Example Usage block in the training rows" if not pairs else
                   "the tokenizer has no chat template" if not rendered else
                   f"none of the {len(rendered)} chat examples fits in seq_len {config.seq_len}")
            log(f"Chat mix: no chat examples ({why}); training on docs only.")
        examples = train_examples + chat
        rng.shuffle(examples)  # interleave chat turns with the docs
    else:
        examples = train_examples
    chat_tokens = sum(len(e) for e in chat)

    eos = tokenizer.eos_token_id
    if config.packing:
        train_blocks = pack_examples(examples, config.seq_len, eos)
        eval_blocks = pack_examples(eval_examples, config.seq_len, eos)
    else:
        train_blocks = pad_examples(examples, config.seq_len, eos)
        eval_blocks = pad_examples(eval_examples, config.seq_len, eos)
    if not train_blocks:
        raise DataError("No training blocks: the training split is empty.")
    summary = {
        "rows": len(rows), "train_rows": len(train_rows), "eval_rows": len(eval_rows),
        "eval_pages": len({r["path"] for r in eval_rows}), "doc_tokens": doc_tokens,
        "chat_examples": len(chat), "chat_tokens": chat_tokens,
        "chat_share": round(chat_tokens / max(1, doc_tokens + chat_tokens), 4),
        "train_blocks": len(train_blocks), "eval_blocks": len(eval_blocks),
        "pad_fraction": round(pad_fraction(train_blocks, config.seq_len), 4),
    }
    return TrainData(train_blocks, eval_blocks, summary, train_pages=sorted({r["path"] for r in train_rows}),
                     eval_pages=sorted({r["path"] for r in eval_rows}))


# --- batch order ------------------------------------------------------------------------------------------
class BatchOrder:
    """Which blocks each rank trains on at each micro-step.

    Every epoch is a seeded permutation of the blocks, wrapped around (like DistributedSampler) so it
    divides into whole global batches of `batch_size * world_size`; rank r takes the r-th slice of each.
    The order is a pure function of (seed, micro-step), so resuming only needs the step number.
    """

    def __init__(self, n_blocks: int, batch_size: int, world_size: int, rank: int, seed: int):
        self.n_blocks, self.batch_size, self.world_size, self.rank, self.seed = \
            n_blocks, batch_size, world_size, rank, seed
        self.global_batch = batch_size * world_size
        self.micro_steps_per_epoch = max(1, math.ceil(n_blocks / self.global_batch))
        self._epoch, self._perm = -1, []

    def _permutation(self, epoch: int) -> list[int]:
        if epoch != self._epoch:
            perm = list(range(self.n_blocks))
            random.Random(self.seed * 1_000_003 + epoch).shuffle(perm)
            need = self.micro_steps_per_epoch * self.global_batch
            self._perm = (perm * math.ceil(need / self.n_blocks))[:need]
            self._epoch = epoch
        return self._perm

    def indices(self, micro_step: int) -> list[int]:
        epoch, i = divmod(micro_step, self.micro_steps_per_epoch)
        perm = self._permutation(epoch)
        start = i * self.global_batch + self.rank * self.batch_size
        return perm[start:start + self.batch_size]

    def epoch_at(self, micro_step: int) -> float:
        return micro_step / self.micro_steps_per_epoch


def batch_at(blocks: list[Example], order: BatchOrder, micro_step: int, seq_len: int, pad_id: int):
    return collate([blocks[i] for i in order.indices(micro_step)], seq_len, pad_id)


def total_steps(config: TrainConfig, order: BatchOrder) -> int:
    if config.max_steps > 0:
        return config.max_steps
    return max(1, math.ceil(config.epochs * order.micro_steps_per_epoch / config.grad_accum))
