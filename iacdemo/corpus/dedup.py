"""Duplicate removal: boilerplate paragraphs, exact duplicate segments and near-duplicate segments.

Duplicates make a small model memorise instead of generalise, and the docs have plenty: alias pages
(`aws_alb` is `aws_lb`), data-source pages that repeat their resource page, and a banner pasted on every
Terraform core page. Near duplicates are found with MinHash over word 5-shingles and LSH banding, all in
numpy over the whole corpus at once (well under a second for the full docs); hashes are stable across
runs (no Python `hash()`), so a rebuild keeps the same rows.
"""
from __future__ import annotations

import re
from collections import Counter, defaultdict
from itertools import chain
from typing import Sequence

import numpy as np

from iacdemo.corpus.clean import TEXT, Block

_WORD = re.compile(r"\w+")
_PRIME = np.uint64(4_294_967_291)  # largest prime below 2**32: a*x + b stays inside uint64
SHINGLE = 5
NUM_PERM = 32
BANDS = 8  # 8 bands x 4 rows: pairs with Jaccard >= ~0.6 become candidates
NEAR_THRESHOLD = 0.85


def drop_boilerplate(docs_blocks: Sequence[tuple[str, list[Block]]], min_chars: int = 200,
                     min_docs: int = 20, min_share: float = 0.25) -> list[list[Block]]:
    """Remove long prose paragraphs repeated on a large share of one source's pages (site banners).

    Short repeated lines ("This resource supports the following arguments:") are real page structure
    and stay; only long paragraphs pasted on at least a quarter of a source's pages go.
    """
    pages = Counter(source for source, _ in docs_blocks)
    seen: Counter = Counter()
    for source, blocks in docs_blocks:
        for text in {b.text for b in blocks if b.kind == TEXT and len(b.text) >= min_chars}:
            seen[(source, text)] += 1
    banned = {key for key, n in seen.items() if n >= min_docs and n >= min_share * pages[key[0]]}
    if not banned:
        return [blocks for _, blocks in docs_blocks]
    return [[b for b in blocks if b.kind != TEXT or (source, b.text) not in banned]
            for source, blocks in docs_blocks]


def duplicate_mask(texts: Sequence[str], near_threshold: float = NEAR_THRESHOLD) -> tuple[np.ndarray, int, int]:
    """Boolean keep-mask over `texts` (first occurrence wins), plus (#exact, #near) duplicates dropped."""
    keep = np.ones(len(texts), dtype=bool)
    words = [_WORD.findall(t.lower()) for t in texts]
    first: dict[str, int] = {}
    for i, norm in enumerate(" ".join(w) for w in words):
        if norm in first:
            keep[i] = False
        else:
            first[norm] = i
    exact = int((~keep).sum())
    candidates = [i for i in range(len(texts)) if keep[i]]
    near = _near_duplicates([words[i] for i in candidates], near_threshold)
    for j in near:
        keep[candidates[j]] = False
    return keep, exact, len(near)


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads the rolling hashes of small word ids over all 64 bits."""
    h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


def _shingle_hashes(words_per_text: Sequence[list[str]]) -> tuple[np.ndarray, np.ndarray]:
    """All shingle hashes of all texts in one array (grouped by text), with each text's start index.

    Vectorised over the whole corpus: words get ids in order of first appearance (the same input always
    hashes the same), every window of SHINGLE consecutive ids is hashed at once, and windows that
    cross a text boundary are dropped. A text shorter than SHINGLE words gets one hash of all its words.
    """
    lengths = np.array([len(w) for w in words_per_text], dtype=np.int64)
    all_words = list(chain.from_iterable(words_per_text))
    vocab = {w: i + 1 for i, w in enumerate(dict.fromkeys(all_words))}
    ids = np.fromiter(map(vocab.__getitem__, all_words), dtype=np.uint64, count=len(all_words))
    ends = np.cumsum(lengths)
    n_windows = max(0, len(ids) - SHINGLE + 1)
    h = np.zeros(n_windows, dtype=np.uint64)
    for k in range(SHINGLE):  # polynomial rolling combination of the words' ids
        h = h * np.uint64(1_000_003) + ids[k:k + n_windows]
    text_of = np.repeat(np.arange(len(lengths)), lengths)[:n_windows]
    valid = np.arange(n_windows) + SHINGLE <= ends[text_of]
    hashes, owners = h[valid], text_of[valid]
    short = np.flatnonzero(lengths < SHINGLE)
    if len(short):  # one hash per short text, from the sum of its word ids
        sums = np.add.reduceat(np.append(ids, np.uint64(0)), np.minimum(ends[short] - lengths[short], len(ids)))
        sums = np.where(lengths[short] > 0, sums, np.uint64(0)) + np.uint64(0x9E3779B97F4A7C15)
        order = np.argsort(np.concatenate([owners, short]), kind="stable")
        hashes, owners = np.concatenate([hashes, sums])[order], np.concatenate([owners, short])[order]
    offsets = np.searchsorted(owners, np.arange(len(lengths)), side="left")
    return _mix(hashes), offsets


def minhash_signatures(words_per_text: Sequence[list[str]], num_perm: int = NUM_PERM) -> np.ndarray:
    """(len(texts), num_perm) MinHash signatures of the texts' word lists; deterministic seeds."""
    if not words_per_text:
        return np.zeros((0, num_perm), dtype=np.uint64)
    hashes, offsets = _shingle_hashes(words_per_text)
    # Universal hashing (a*x + b) mod p needs `a` spread over [1, p); with p < 2**32 and x < p the
    # product fits in uint64, so numpy computes it exactly without big-integer arithmetic.
    x = hashes % _PRIME
    rng = np.random.default_rng(20240417)
    a = rng.integers(1, int(_PRIME), size=num_perm, dtype=np.uint64)
    b = rng.integers(0, int(_PRIME), size=num_perm, dtype=np.uint64)
    sig = np.empty((len(words_per_text), num_perm), dtype=np.uint64)
    for p in range(num_perm):
        permuted = (a[p] * x + b[p]) % _PRIME
        sig[:, p] = np.minimum.reduceat(permuted, offsets)
    return sig


def _near_duplicates(words_per_text: Sequence[list[str]], threshold: float) -> list[int]:
    """Indices (into `words_per_text`) of texts that nearly duplicate an earlier one."""
    sig = minhash_signatures(words_per_text)
    rows = NUM_PERM // BANDS
    buckets: dict[tuple[int, bytes], list[int]] = defaultdict(list)
    for band in range(BANDS):
        chunk = np.ascontiguousarray(sig[:, band * rows:(band + 1) * rows])
        for i in range(len(words_per_text)):
            buckets[(band, chunk[i].tobytes())].append(i)
    dropped: set[int] = set()
    for members in buckets.values():
        if len(members) < 2:
            continue
        for pos, j in enumerate(members[1:], 1):
            if j in dropped:
                continue
            for i in members[:pos]:
                if i not in dropped and float((sig[i] == sig[j]).mean()) >= threshold:
                    dropped.add(j)
                    break
    return sorted(dropped)
