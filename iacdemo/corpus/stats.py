"""Corpus statistics: what the Data tab shows and `stats.json` records next to a built corpus."""
from __future__ import annotations

from collections import defaultdict
from typing import Sequence


def length_histogram(n_tokens: Sequence[int], seq_len: int, bins: int = 8) -> list[dict]:
    """Counts of segments per token-length bin (`bins` equal bins up to `seq_len`)."""
    width = max(1, -(-seq_len // bins))
    counts = [0] * bins
    for n in n_tokens:
        counts[min(bins - 1, max(0, (n - 1) // width))] += 1
    return [{"from": k * width + 1, "to": min(seq_len, (k + 1) * width), "count": c}
            for k, c in enumerate(counts)]


def corpus_stats(rows: Sequence[dict], seq_len: int, docs: int, **extra) -> dict:
    """Rows, tokens, per-source and per-service breakdowns, length histogram and padding share.

    `pad_fraction` is the share of padding when every row is padded to `seq_len`: the cost of training
    on this corpus without packing, which the training issue needs to size batches.
    """
    tokens = [int(r["n_tokens"]) for r in rows]
    per_source: dict[str, dict] = defaultdict(lambda: {"rows": 0, "tokens": 0, "docs": 0})
    per_service: dict[str, dict] = defaultdict(lambda: {"rows": 0, "tokens": 0, "docs": 0})
    seen_docs = set()
    for row in rows:
        first = (row["source"], row["path"]) not in seen_docs
        seen_docs.add((row["source"], row["path"]))
        for bucket in (per_source[row["source"]], per_service[row.get("subcategory") or "(none)"]):
            bucket["rows"] += 1
            bucket["tokens"] += int(row["n_tokens"])
            bucket["docs"] += int(first)
    total = sum(tokens)
    return {
        "rows": len(rows),
        "tokens": total,
        "docs": docs,
        "docs_kept": len(seen_docs),
        "seq_len": seq_len,
        "mean_tokens": round(total / len(rows), 1) if rows else 0.0,
        "max_tokens": max(tokens, default=0),
        "pad_fraction": round(1 - total / (len(rows) * seq_len), 4) if rows else 0.0,
        "sources": dict(sorted(per_source.items())),
        "services": dict(sorted(per_service.items(), key=lambda kv: (-kv[1]["tokens"], kv[0]))),
        "length_histogram": length_histogram(tokens, seq_len),
        **extra,
    }
