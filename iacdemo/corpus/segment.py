"""Cutting cleaned documents into training segments of at most `seq_len` tokens.

Each document is tokenized once (as a whole, in one batch call for the corpus) and the segmenter works
on the tokens' character offsets: the token count of any character range is two binary searches. That
keeps the full corpus at one tokenizer pass (about 3 s) instead of tokenizing blocks, then lines, then
the final segments again. Counts in context equal the counts of the segment on its own except, rarely,
at a cut before deep indentation; `settle_counts` re-tokenizes just those segments, so every stored
`n_tokens` is exact and never above the limit.

Cut preference, best first: between sections (a heading and what follows it), between blocks
(paragraphs, code blocks), between lines of one oversize block (a long code block or argument list), and
only for a single line longer than the limit, between tokens.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from iacdemo.corpus.clean import HEADING, Block
from iacdemo.errors import ModelError

BLOCK_SEPARATOR = "\n\n"
_WORD = re.compile(r"\S+")
OffsetsFn = Callable[[list[str]], list[np.ndarray]]


@dataclass(frozen=True)
class Segment:
    start: int  # character offsets into the document text
    end: int
    n_tokens: int


def layout_blocks(blocks: Sequence[Block]) -> tuple[str, list[tuple[int, int, str]]]:
    """Join blocks into one document text; return it with each block's (start, end, kind)."""
    spans, pos = [], 0
    for block in blocks:
        spans.append((pos, pos + len(block.text), block.kind))
        pos += len(block.text) + len(BLOCK_SEPARATOR)
    return BLOCK_SEPARATOR.join(b.text for b in blocks), spans


def token_offsets(tokenizer, texts: list[str]) -> list[np.ndarray]:
    """(n_tokens, 2) start/end character offsets of each text's tokens, from one batch call."""
    backend = getattr(tokenizer, "backend_tokenizer", None) or getattr(tokenizer, "_tokenizer", None)
    if backend is None or not hasattr(backend, "encode_batch"):
        raise ModelError("The corpus builder needs a fast (Rust) tokenizer with offsets; "
                         f"{type(tokenizer).__name__} has none.")
    encodings = backend.encode_batch(texts, add_special_tokens=False)
    return [np.array(enc.offsets, dtype=np.int64).reshape(-1, 2) for enc in encodings]


def word_offsets(texts: list[str]) -> list[np.ndarray]:
    """Whitespace-separated words as "tokens": model-independent lengths, for the retrieval index."""
    return [np.array([m.span() for m in _WORD.finditer(t)], dtype=np.int64).reshape(-1, 2) for t in texts]


class _Counter:
    """Token count of any character range of one document, from its token offsets.

    A range starts with the first token that *ends* inside it and stops before the first token that
    *starts* at or after its end. Counting by start alone would miss a leading newline+indent token
    (`"\\n    "` is one token in context, and the indent alone is one token when the segment is
    tokenized on its own), so segments cut before an indented code line would count one short.
    """

    def __init__(self, offsets: np.ndarray):
        self.starts = np.ascontiguousarray(offsets[:, 0])
        self.ends = np.ascontiguousarray(offsets[:, 1])

    def index(self, pos: int) -> int:
        return int(np.searchsorted(self.starts, pos, side="left"))

    def count(self, start: int, end: int) -> int:
        return max(0, self.index(end) - int(np.searchsorted(self.ends, start, side="right")))


def segment_document(text: str, spans: Sequence[tuple[int, int, str]], offsets: np.ndarray,
                     seq_len: int) -> list[Segment]:
    """Greedy packing of sections, then blocks, then lines, then tokens, never above `seq_len`."""
    if seq_len < 8:
        raise ValueError("seq_len must be at least 8 tokens")
    counter = _Counter(offsets)
    segments: list[Segment] = []
    current: tuple[int, int] | None = None  # (start, end) of the segment being filled

    def flush() -> None:
        nonlocal current
        if current is not None:
            segments.append(Segment(current[0], current[1], counter.count(*current)))
            current = None

    def add(start: int, end: int) -> None:
        """Append a piece that fits on its own; start a new segment when it does not fit the current."""
        nonlocal current
        if current is not None and counter.count(current[0], end) <= seq_len:
            current = (current[0], end)
            return
        flush()
        current = (start, end)

    for section in _sections(spans):
        s_start, s_end = section[0][0], section[-1][1]
        if counter.count(s_start, s_end) <= seq_len:
            add(s_start, s_end)
            continue
        for b_start, b_end, _ in section:
            if counter.count(b_start, b_end) <= seq_len:
                add(b_start, b_end)
                continue
            for l_start, l_end in _line_pieces(text, b_start, b_end, counter, seq_len):
                add(l_start, l_end)
    flush()
    return segments


def _sections(spans: Sequence[tuple[int, int, str]]) -> list[list[tuple[int, int, str]]]:
    sections: list[list[tuple[int, int, str]]] = []
    for span in spans:
        if span[2] == HEADING or not sections:
            sections.append([span])
        else:
            sections[-1].append(span)
    return sections


def _line_pieces(text: str, start: int, end: int, counter: _Counter, seq_len: int) -> list[tuple[int, int]]:
    """An oversize block as line ranges, each within the limit (a line beyond it is cut between tokens)."""
    pieces: list[tuple[int, int]] = []
    pos = start
    while pos < end:
        nl = text.find("\n", pos, end)
        line_end = end if nl < 0 else nl
        if line_end > pos and text[pos:line_end].strip():
            if counter.count(pos, line_end) <= seq_len:
                pieces.append((pos, line_end))
            else:
                pieces.extend(_token_pieces(text, pos, line_end, counter, seq_len))
        pos = line_end + 1
    return pieces


def _token_pieces(text: str, start: int, end: int, counter: _Counter, seq_len: int) -> list[tuple[int, int]]:
    first = int(np.searchsorted(counter.ends, start, side="right"))
    last = counter.index(end)
    cuts = [max(start, int(counter.starts[i])) for i in range(first + seq_len, last, seq_len)]
    bounds = [start, *cuts, end]
    return [(a, b) for a, b in zip(bounds, bounds[1:]) if text[a:b].strip()]


def settle_counts(texts: list[str], counts: list[int], offsets_fn: OffsetsFn,
                  seq_len: int) -> list[list[tuple[str, int]]]:
    """Exact token counts for segments tokenized out of context; re-cut any that ends up over the limit.

    Only a segment that starts with whitespace (a cut before an indented line) can tokenize differently
    on its own than inside its document (a long indent merges with the newline before it), so only those
    are tokenized again: a few hundred strings, not the corpus. Returns, per input, its (text, n_tokens)
    pieces: one, or several when the exact count is over `seq_len`.
    """
    redo = [i for i, t in enumerate(texts) if t[:1].isspace()]
    exact = dict(zip(redo, (len(o) for o in offsets_fn([texts[i] for i in redo])))) if redo else {}
    settled: list[list[tuple[str, int]]] = []
    for i, text in enumerate(texts):
        n = exact.get(i, counts[i])
        if n <= seq_len:
            settled.append([(text, n)])
            continue
        offsets = offsets_fn([text])[0]
        settled.append([(text[seg.start:seg.end], seg.n_tokens)
                        for seg in segment_document(text, [(0, len(text), "code")], offsets, seq_len)])
    return settled
