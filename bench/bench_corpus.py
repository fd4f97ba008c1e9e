"""Time the corpus builder on the full docs (cdktf excluded) and on the DynamoDB slice.

    python -m bench.bench_corpus [--repeat 3] [--seq-len 512] [--model ID] [--rag]

Target (issue 2): the full corpus builds in under 10 s on 2 CPU cores. Prints one line per measurement
and, last, one JSON object. The tokenizer is loaded once, outside the timed builds (the UI and the
CLI load it once too); its load time is reported separately.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_corpus", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed full builds; the best is reported")
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--model", default=None, help="tokenizer's model id (default: the settings' default)")
    parser.add_argument("--rag", action="store_true", help="also time building the BM25 retrieval index")
    args = parser.parse_args(argv)

    import datasets

    from iacdemo.corpus.build import build_corpus
    from iacdemo.models import load_tokenizer
    from iacdemo.settings import get_settings

    datasets.disable_progress_bars()
    settings = get_settings()
    started = time.perf_counter()
    tokenizer = load_tokenizer(args.model, settings)
    result = {"tokenizer_load_s": round(time.perf_counter() - started, 2), "seq_len": args.seq_len}
    print(f"tokenizer loaded in {result['tokenizer_load_s']} s", file=sys.stderr)

    times, cpu_times = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(max(1, args.repeat)):
            started, cpu_started = time.perf_counter(), time.process_time()
            full = build_corpus(None, out_dir=Path(tmp) / "full", seq_len=args.seq_len, settings=settings,
                                tokenizer=tokenizer)
            times.append(time.perf_counter() - started)
            cpu_times.append(time.process_time() - cpu_started)
            print(f"full build {k + 1}: {times[-1]:.2f} s wall, {cpu_times[-1]:.2f} s CPU (all threads)",
                  file=sys.stderr)
        started = time.perf_counter()
        slice_ = build_corpus(None, out_dir=Path(tmp) / "dynamodb", seq_len=args.seq_len, services=["DynamoDB"],
                              settings=settings, tokenizer=tokenizer)
        slice_s = time.perf_counter() - started
    stats = full.stats
    result.update({
        "full_build_s_best": round(min(times), 2), "full_build_s_all": [round(t, 2) for t in times],
        "full_build_cpu_s_best": round(min(cpu_times), 2),  # all threads; wall time on an idle machine is lower
        "load_average_1m": round(os.getloadavg()[0], 2),  # the machine is shared: high load inflates wall time
        "docs": stats["docs"], "rows": stats["rows"], "tokens": stats["tokens"],
        "pad_fraction": stats["pad_fraction"], "mean_tokens": stats["mean_tokens"],
        "duplicates_exact": stats["duplicates_exact"], "duplicates_near": stats["duplicates_near"],
        "per_source": {name: {"rows": s["rows"], "tokens": s["tokens"]} for name, s in stats["sources"].items()},
        "dynamodb": {"docs": slice_.stats["docs_kept"], "rows": slice_.stats["rows"],
                     "tokens": slice_.stats["tokens"], "build_s": round(slice_s, 2)},
    })
    if args.rag:
        from iacdemo.retrieval.bm25_index import build_docs_index

        started = time.perf_counter()
        index = build_docs_index([settings.corpus_dir])
        result["rag_index"] = {"chunks": len(index), "build_s": round(time.perf_counter() - started, 2)}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
