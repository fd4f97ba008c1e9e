"""BM25 retrieval over the docs segments: the retrieval-augmented ("RAG") mode of Compare and Evaluate.

Chunks are the corpus builder's cleaned segments, cut by *words* (not by a model's tokenizer, so one
index serves every model) and smaller than training segments, so a few of them fit in a prompt.

Plain BM25 misses what matters most for writing Terraform: the resource page whose type the question
names. Two things fix that:

* Identifiers are indexed whole *and* split: `aws_dynamodb_contributor_insights` yields that token
  plus `dynamodb`, `contributor`, `insights`; each chunk is also indexed with its page's type name and
  service, so the Argument Reference chunk of a page (which may not repeat the type) is found too.
* Re-ranking: a chunk from an `r/` page whose type-name words all occur in the query gets a large
  boost (smaller for `d/` pages), and chunks holding Example Usage or Argument Reference a small one.
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from iacdemo.corpus.build import segment_docs, select_docs
from iacdemo.corpus.segment import word_offsets
from iacdemo.errors import DataError
from iacdemo.file_lock import exclusive
from iacdemo.settings import SYSTEM_PROMPT, Settings, get_settings

INDEX_VERSION = 1
CHUNK_WORDS = 200  # about 300-400 model tokens: four chunks fit beside a question in a 2k context
CANDIDATES = 50  # BM25 hits re-ranked per query
TYPE_MATCH_BOOST = {"r": 1.0, "d": 0.5}  # added to the score factor when the page's type is named
SECTION_BOOST = 0.15  # per valued section (Example Usage, Argument Reference) in a chunk
MAX_PER_PAGE = 2  # more chunks of one page crowd out the other resources a question needs
_PAGE_KIND = re.compile(r"(?:^|/)(r|d)/([a-z0-9_]+?)(?:\.html)?\.(?:markdown|md|mdx)$")
_IDENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")
_VALUED_SECTION = re.compile(r"^#+ (?:Example Usage|Argument Reference)", re.M)
STOPWORDS = frozenset("""a an and are as at be by can do does for from has have how i in is it its me my of
on or should that the this to use using was we what when which will with you your want need create make
please write terraform code configuration resource resources aws""".split())
# "terraform", "aws", "resource" are in nearly every AWS page and every question: as query words they
# only add noise. They still count inside identifiers (`aws_s3_bucket` stays one token).


@dataclass(frozen=True)
class Hit:
    text: str
    path: str
    score: float
    source: str = ""
    subcategory: str = ""

    @property
    def title(self) -> str:
        """`aws_dynamodb_table (resource)` for provider pages, else the path."""
        kind = page_type(self.path)
        if kind:
            return f"{kind[1]} ({'resource' if kind[0] == 'r' else 'data source'})"
        return self.path


def page_type(path: str) -> tuple[str, str] | None:
    """('r' | 'd', 'aws_<type>') for AWS provider resource/data-source pages, else None."""
    match = _PAGE_KIND.search(path)
    if not match or "website/docs" not in path or "/cdktf/" in path:
        return None
    return match.group(1), "aws_" + match.group(2)


def _stem(word: str) -> str:
    """Crude plural folding, enough for docs English ("tables" → "table", "policies" → "policy")."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def analyze(text: str, drop_stopwords: bool = True) -> list[str]:
    """Lowercased terms: whole identifiers (`aws_s3_bucket`, `ignore_changes`) plus their parts."""
    terms: list[str] = []
    for raw in _IDENT.findall(text.lower()):
        ident = raw.strip("._-")
        parts = [p for p in re.split(r"[_.\-]+", ident) if p]
        if len(parts) > 1:
            terms.append(ident)
        for part in parts:
            if len(part) > 1 and not (drop_stopwords and part in STOPWORDS):
                terms.append(_stem(part))
    return terms


def _chunk_terms(row: dict) -> list[str]:
    """A chunk's indexed terms: its text plus its page's type name and service."""
    extra = []
    kind = page_type(row["path"])
    if kind:
        extra.append(kind[1])
    if row.get("subcategory"):
        extra.append(row["subcategory"])
    return analyze(" ".join(extra) + "\n" + row["text"])


class DocsIndex:
    """BM25 over docs chunks, with the type-name re-ranking described in the module docstring."""

    def __init__(self, retriever, chunks: list[dict]):
        self._retriever = retriever
        self.chunks = chunks
        self._types = [page_type(c["path"]) for c in chunks]
        self._type_words = [{_stem(p) for p in t[1].removeprefix("aws_").split("_") if len(p) > 1} if t else set()
                            for t in self._types]
        self._valued = np.array([len(_VALUED_SECTION.findall(c["text"])) for c in chunks], dtype=np.float32)

    def __len__(self) -> int:
        return len(self.chunks)

    @classmethod
    def build(cls, segments: Sequence[dict]) -> "DocsIndex":
        """Index segments (dicts with text, source, path, subcategory); DataError when there are none."""
        import bm25s  # with scipy: loaded on the first retrieval, not at app start

        chunks = [{"text": s["text"], "source": s.get("source", ""), "path": s.get("path", ""),
                   "subcategory": s.get("subcategory", "") or ""} for s in segments if (s.get("text") or "").strip()]
        if not chunks:
            raise DataError("Nothing to index: no docs segments with text.")
        retriever = bm25s.BM25()
        retriever.index([_chunk_terms(c) for c in chunks], show_progress=False)
        return cls(retriever, chunks)

    def save(self, directory: str | Path) -> Path:
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        self._retriever.save(str(path / "bm25"), show_progress=False)
        with open(path / "chunks.jsonl", "w", encoding="utf-8") as fh:
            for chunk in self.chunks:
                fh.write(json.dumps(chunk, ensure_ascii=False) + "\n")
        (path / "index.json").write_text(json.dumps({"version": INDEX_VERSION, "chunks": len(self.chunks)}))
        return path

    @classmethod
    def load(cls, directory: str | Path) -> "DocsIndex":
        import bm25s  # with scipy: loaded on the first retrieval, not at app start

        path = Path(directory)
        try:
            meta = json.loads((path / "index.json").read_text())
            if meta.get("version") != INDEX_VERSION:
                raise DataError(f"The retrieval index at {path} is from another version; rebuild it.")
            with open(path / "chunks.jsonl", encoding="utf-8") as fh:
                chunks = [json.loads(line) for line in fh if line.strip()]
            retriever = bm25s.BM25.load(str(path / "bm25"), show_progress=False)
        except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
            raise DataError(f"No usable retrieval index at {path}: {exc}") from exc
        if len(chunks) != meta.get("chunks"):
            raise DataError(f"The retrieval index at {path} is incomplete; rebuild it.")
        return cls(retriever, chunks)

    def search(self, query: str, k: int = 4) -> list[Hit]:
        """The `k` best chunks for `query`, at most MAX_PER_PAGE per page (fewer when few chunks match)."""
        terms = analyze(query or "")
        if not terms or k <= 0:
            return []
        vocab = self._retriever.vocab_dict
        known = [t for t in terms if t in vocab]
        if not known:
            return []
        n = min(len(self.chunks), max(CANDIDATES, k))
        ids, scores = self._retriever.retrieve([known], k=n, show_progress=False, n_threads=1)
        query_words = set(analyze(query, drop_stopwords=False))
        ranked = []
        for idx, score in zip(ids[0].tolist(), scores[0].tolist()):
            if score <= 0:
                continue
            factor = 1.0 + SECTION_BOOST * min(2.0, float(self._valued[idx]))
            kind, words = self._types[idx], self._type_words[idx]
            if kind and words and words <= query_words:
                # longer names are more specific: "dynamodb contributor insights" beats "dynamodb table"
                factor += TYPE_MATCH_BOOST[kind[0]] * (1 + 0.25 * (len(words) - 1))
            ranked.append((score * factor, idx))
        ranked.sort(key=lambda pair: -pair[0])
        picked, per_page = [], {}
        for score, idx in ranked:
            path = self.chunks[idx]["path"]
            if per_page.get(path, 0) < MAX_PER_PAGE:
                per_page[path] = per_page.get(path, 0) + 1
                picked.append((score, idx))
            if len(picked) == k:
                break
        return [Hit(text=self.chunks[i]["text"], path=self.chunks[i]["path"], score=round(s, 4),
                    source=self.chunks[i].get("source", ""), subcategory=self.chunks[i].get("subcategory", ""))
                for s, i in picked]


def format_context(hits: Sequence[Hit], max_chars: int | None = None) -> str:
    """Numbered excerpts, each headed by its page, best first (what goes in front of the question)."""
    parts = []
    for n, hit in enumerate(hits, 1):
        parts.append(f"[{n}] {hit.title} ({hit.path})\n{hit.text.strip()}")
    text = "\n\n".join(parts)
    if max_chars is not None and len(text) > max_chars:
        text = text[:max_chars].rsplit("\n", 1)[0]
    return text


def build_rag_messages(question: str, hits: Sequence[Hit], system_prompt: str | None = SYSTEM_PROMPT) -> list[dict]:
    """Chat messages: system prompt, then one user turn with the excerpts before the question."""
    user = question.strip()
    if hits:
        user = ("Use these excerpts from the Terraform documentation if they are relevant:\n\n"
                f"{format_context(hits)}\n\n{user}")
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return messages + [{"role": "user", "content": user}]


# ---- the default index over the data dir's docs -------------------------------------------------------------
_DEFAULT_LOCK = threading.Lock()
_DEFAULT: dict[str, DocsIndex] = {}


def _corpus_key(settings: Settings) -> str:
    """Changes when a docs file of the corpus dir changes (name, size, modification time)."""
    files = sorted(settings.corpus_dir.glob("*.jsonl.gz")) + sorted(settings.corpus_dir.glob("*.jsonl"))
    if not files:
        raise DataError(f"No packed docs (*.jsonl.gz) in {settings.corpus_dir}: fetch them with "
                        "`python -m train.fetch_docs` or set IACDEMO_DATA_DIR.")
    stamp = [(f.name, f.stat().st_size, int(f.stat().st_mtime)) for f in files]
    digest = hashlib.sha1(json.dumps([INDEX_VERSION, CHUNK_WORDS, stamp]).encode()).hexdigest()[:12]
    return digest


def build_docs_index(sources: Sequence[str | Path], chunk_words: int = CHUNK_WORDS,
                     include_cdktf: bool = False) -> DocsIndex:
    """Index docs from packed files or markdown folders, chunked by words (no model needed)."""
    docs = select_docs(sources, include_cdktf=include_cdktf)
    rows, _, _ = segment_docs(docs, chunk_words, word_offsets)
    return DocsIndex.build(rows)


def get_default_index(settings: Settings | None = None) -> DocsIndex:
    """The index over the settings' corpus dir: built once (about 10 s), then loaded from the cache."""
    settings = settings or get_settings()
    key = _corpus_key(settings)
    directory = settings.cache_dir / "rag" / key
    with _DEFAULT_LOCK:
        if str(directory) in _DEFAULT:
            return _DEFAULT[str(directory)]
        try:
            index = DocsIndex.load(directory)
        except DataError:
            # Another process (a second app, a training job's evaluation) may be building it right now.
            with exclusive(directory):
                try:
                    index = DocsIndex.load(directory)  # it finished while we waited
                except DataError:
                    index = build_docs_index([settings.corpus_dir])
                    tmp = directory.with_name(directory.name + ".tmp")
                    shutil.rmtree(tmp, ignore_errors=True)
                    index.save(tmp)
                    shutil.rmtree(directory, ignore_errors=True)
                    tmp.rename(directory)
        _DEFAULT[str(directory)] = index
        return index


__all__ = ["DocsIndex", "Hit", "analyze", "build_docs_index", "build_rag_messages", "format_context",
           "get_default_index", "page_type"]
