"""Docs → continued-pre-training dataset: filter, clean, segment by tokens, deduplicate, save.

`build_corpus` serves the CLI (`python -m train.build_corpus`) and the Data tab; `segment_docs`, the
same pipeline without a model's tokenizer or saving, also cuts the retrieval index's chunks.
The result is a `datasets.Dataset` with columns `text, source, path, subcategory, n_tokens`, saved with
`save_to_disk` next to a `stats.json`.
"""
from __future__ import annotations

import fnmatch
import json
import shutil
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from iacdemo.corpus.clean import clean_blocks
from iacdemo.corpus.dedup import drop_boilerplate, duplicate_mask
from iacdemo.corpus.segment import OffsetsFn, layout_blocks, segment_document, settle_counts, token_offsets
from iacdemo.corpus.sources import Doc, iter_docs
from iacdemo.corpus.stats import corpus_stats
from iacdemo.errors import ConfigError, DataError
from iacdemo.models import load_tokenizer
from iacdemo.safe_json import read_json_or
from iacdemo.safe_paths import free_name, swap_in, temp_dir_for
from iacdemo.settings import Settings, get_settings

Progress = Callable[[float, str], None]
COLUMNS = ("text", "source", "path", "subcategory", "n_tokens")
STATS_FILE = "stats.json"
MIN_SEGMENT_TOKENS = 8  # shorter leftovers are lone headings or "Basic usage:" lines: noise, not text
_TOKENIZE_CHUNKS = 10  # tokenizer batches, so the progress bar moves during the longest step


@dataclass
class CorpusResult:
    dataset: "datasets.Dataset"  # noqa: F821 - imported lazily, it is slow to import
    stats: dict
    out_dir: Path | None


def _noop(fraction: float, message: str) -> None:
    pass


def service_matches(subcategory: str, wanted: Iterable[str]) -> bool:
    """`DynamoDB` matches "DynamoDB"; `S3` also matches "S3 (Simple Storage)" (case-insensitive)."""
    full = subcategory.strip().lower()
    short = full.split(" (")[0]
    return any(w.strip().lower() in (full, short) for w in wanted)


def select_docs(sources: Sequence[str | Path], sources_filter: Sequence[str] | None = None,
                services: Sequence[str] | None = None, path_pattern: str | None = None,
                include_cdktf: bool = False) -> list[Doc]:
    """Read docs and keep those matching every given filter; a clear DataError when none is left."""
    docs = list(iter_docs(sources, include_cdktf=include_cdktf))
    if not docs:
        raise DataError(f"No documentation files found in {', '.join(map(str, sources))} "
                        "(want *.jsonl.gz files or .md/.markdown/.mdx files).")
    kept = docs
    if sources_filter:
        wanted = {s.strip().lower() for s in sources_filter}
        kept = [d for d in kept if d.source.lower() in wanted]
        if not kept:
            raise DataError(f"No documents from source(s) {', '.join(sources_filter)}; available: "
                            f"{', '.join(sorted({d.source for d in docs}))}.")
    if services:
        pool = kept
        kept = [d for d in pool if service_matches(d.subcategory, services)]
        if not kept:
            known = sorted({d.subcategory for d in pool if d.subcategory})
            raise DataError(f"No documents for service(s) {', '.join(services)}. Services are the pages' "
                            f"`subcategory` field, e.g. {', '.join(known[:8]) or '(none in these sources)'}.")
    if path_pattern:
        kept = [d for d in kept if fnmatch.fnmatchcase(d.path, path_pattern)]
        if not kept:
            raise DataError(f"No document path matches the pattern {path_pattern!r} "
                            "(a glob on paths like website/docs/r/dynamodb_table.html.markdown; "
                            "`*` also crosses `/`).")
    return kept


def segment_docs(docs: Sequence[Doc], seq_len: int, offsets_fn: OffsetsFn,
                 progress: Progress | None = None) -> tuple[list[dict], int, int]:
    """Clean, segment and deduplicate docs: (rows with COLUMNS, #exact, #near duplicates dropped).

    `offsets_fn(texts)` gives each text's token (start, end) offsets: the model's tokenizer for training
    data (`token_offsets`), or plain words for the retrieval index (`word_offsets`), which must not
    depend on whichever model is loaded.
    """
    progress = progress or _noop
    progress(0.05, f"Cleaning {len(docs):,} documents")
    cleaned = drop_boilerplate([(d.source, clean_blocks(d.text)) for d in docs])
    laid_out = [layout_blocks(blocks) for blocks in cleaned]
    texts = [text for text, _ in laid_out]
    offsets: list[np.ndarray] = []
    step = max(1, -(-len(texts) // _TOKENIZE_CHUNKS))
    for k in range(0, len(texts), step):
        progress(0.25 + 0.5 * k / len(texts), f"Tokenizing ({k:,}/{len(texts):,} documents)")
        offsets.extend(offsets_fn(texts[k:k + step]))

    progress(0.75, "Segmenting")
    pieces: list[tuple[Doc, str, int]] = []
    for doc, (text, spans), doc_offsets in zip(docs, laid_out, offsets):
        for seg in segment_document(text, spans, doc_offsets, seq_len):
            pieces.append((doc, text[seg.start:seg.end], seg.n_tokens))
    settled = settle_counts([p[1] for p in pieces], [p[2] for p in pieces], offsets_fn, seq_len)
    rows: list[dict] = []
    for (doc, _, _), parts in zip(pieces, settled):
        rows.extend({"text": text, "source": doc.source, "path": doc.path, "subcategory": doc.subcategory,
                     "n_tokens": n_tokens} for text, n_tokens in parts if n_tokens >= MIN_SEGMENT_TOKENS)
    progress(0.85, f"Removing duplicates among {len(rows):,} segments")
    keep, exact, near = duplicate_mask([r["text"] for r in rows])
    rows = [r for r, k in zip(rows, keep) if k]
    if not rows:
        raise DataError("The selected documents hold no text once cleaned (only markup or empty pages).")
    return rows, exact, near


def build_corpus(sources: Sequence[str | Path] | None, out_dir: str | Path | None = None, seq_len: int = 512,
                 model_id: str | None = None, sources_filter: Sequence[str] | None = None,
                 services: Sequence[str] | None = None, path_pattern: str | None = None,
                 include_cdktf: bool = False, progress: Progress | None = None,
                 settings: Settings | None = None, tokenizer=None, keep_existing: bool = False) -> CorpusResult:
    """Build the segment dataset; save it (and `stats.json`) to `out_dir` when one is given.

    `sources` defaults to the settings' corpus dir. `tokenizer` may be passed to reuse one that is
    already loaded (its name then comes from `model_id` or the tokenizer itself). An earlier corpus in
    `out_dir` is replaced (the CLI's explicit --out), or with `keep_existing` kept, the new one going to
    the first free `out_dir-N` (the app: two visitors typing the same name never overwrite each other).
    """
    started = time.perf_counter()
    settings = settings or get_settings()
    progress = progress or _noop
    if not isinstance(seq_len, int) or isinstance(seq_len, bool) or not 16 <= seq_len <= 32768:
        raise ConfigError(f"seq_len must be an integer between 16 and 32768, got {seq_len!r}.")
    sources = list(sources) if sources else [settings.corpus_dir]
    out_path = _check_out_dir(out_dir, keep_existing) if out_dir is not None else None

    progress(0.0, "Reading documentation")
    docs = select_docs(sources, sources_filter, services, path_pattern, include_cdktf)
    if tokenizer is None:
        progress(0.02, "Loading tokenizer")
        tokenizer = load_tokenizer(model_id, settings)
    rows, exact, near = segment_docs(docs, seq_len, partial(token_offsets, tokenizer), progress)

    import datasets  # pyarrow and all: loaded when a corpus is built or opened, not at app start

    dataset = datasets.Dataset.from_dict({c: [r[c] for r in rows] for c in COLUMNS})
    stats = corpus_stats(rows, seq_len, docs=len(docs), duplicates_exact=exact, duplicates_near=near,
                         model=model_id or getattr(tokenizer, "name_or_path", None) or settings.default_model,
                         filters={"sources": list(sources_filter or []), "services": list(services or []),
                                  "path_pattern": path_pattern, "include_cdktf": include_cdktf},
                         inputs=[str(Path(s).resolve()) for s in sources])
    stats["seconds"] = round(time.perf_counter() - started, 2)
    if out_path is not None:
        progress(0.92, f"Saving to {out_path}")
        _save(dataset, stats, out_path)
        stats["seconds"] = round(time.perf_counter() - started, 2)
    progress(1.0, f"{stats['rows']:,} segments, {stats['tokens']:,} tokens")
    return CorpusResult(dataset=dataset, stats=stats, out_dir=out_path)


def load_corpus(out_dir: str | Path) -> CorpusResult:
    """Open a corpus saved by `build_corpus`, with its stats."""
    import datasets  # pyarrow and all: loaded when a corpus is built or opened, not at app start

    path = Path(out_dir)
    if not (path / "state.json").is_file() and not (path / "dataset_info.json").is_file():
        raise DataError(f"No corpus at {path}: build one with `python -m train.build_corpus`.")
    try:
        dataset = datasets.load_from_disk(str(path))
    except IndexError as exc:  # what `datasets` raises for a folder saved with zero rows (no shards)
        raise DataError(f"The corpus at {path} is empty (0 rows): rebuild it with other sources or filters.") from exc
    except Exception as exc:  # a damaged state.json / dataset_info.json / arrow file: any error of `datasets`
        raise DataError(f"Cannot read the dataset at {path} ({type(exc).__name__}: {str(exc)[:200]}); "
                        "rebuild it.") from exc
    if len(dataset) == 0:
        raise DataError(f"The corpus at {path} is empty (0 rows): rebuild it with other sources or filters.")
    missing = [c for c in COLUMNS if c not in dataset.column_names]
    if missing:
        raise DataError(f"{path} is not a docs corpus: columns {', '.join(missing)} are missing.")
    stats, _ = read_json_or(path / STATS_FILE, {})  # damaged stats only lose the summary, not the corpus
    return CorpusResult(dataset=dataset, stats=stats, out_dir=path)


def _check_out_dir(out_dir: str | Path, keep_existing: bool = False) -> Path:
    """Refuse to overwrite a directory that holds something other than an earlier corpus, or a link."""
    path = Path(out_dir)
    if path.is_symlink():
        raise DataError(f"Output path {path} is a symbolic link; the app only writes real folders. Remove the "
                        "link or pick another name.")
    if path.exists() and not path.is_dir():
        raise DataError(f"Output path {path} exists and is not a directory.")
    earlier = (path / STATS_FILE).is_file() or (path / "state.json").is_file()
    if path.is_dir() and any(path.iterdir()) and not earlier:
        raise DataError(f"Output directory {path} is not empty and holds no earlier corpus; "
                        "pick a new or empty directory.")
    if keep_existing and earlier:
        return free_name(path)
    return path


def _save(dataset, stats: dict, out_path: Path) -> None:
    """Write dataset and stats to a hidden temp dir, then swap it in: never half a corpus on disk."""
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_dir_for(out_path)
    except OSError as exc:
        raise DataError(f"Cannot write the corpus to {out_path}: {exc}") from exc
    try:
        dataset.save_to_disk(str(tmp))
        (tmp / STATS_FILE).write_text(json.dumps(stats, indent=2) + "\n")
        if out_path.is_symlink():  # turned into a link while we built: never write through it
            raise OSError(f"{out_path} is a symbolic link")
        swap_in(tmp, out_path)
    except OSError as exc:
        raise DataError(f"Cannot write the corpus to {out_path}: {exc}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            tmp.parent.rmdir()
        except OSError:
            pass
