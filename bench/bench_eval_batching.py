"""Evaluation throughput: IaC-Eval answers generated in batches across tasks vs one by one.

    python -m bench.bench_eval_batching [--tasks 8] [--max-new-tokens 32] [--batch-rows 4] [--repeat 1]

The same tasks, system (the base model), greedy decoding and the same `generate_answers` code path; only
`batch_rows` differs (1 = one task at a time). Every run gets an empty answer cache, so everything is
generated. Runs are interleaved (one-by-one, batched, one-by-one, ...) so a change in the load of a
shared machine hits both alike. Target (issue 11): batched >= 1.5x the tokens/s of one-by-one. Prints
one line per run and, last, one JSON object with the medians and their ratio.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_eval_batching", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="model id (default: the embedded SmolLM2-135M-Instruct)")
    parser.add_argument("--tasks", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--batch-rows", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=1, help="pairs of runs (medians are reported)")
    parser.add_argument("--cpu-threads", type=int, default=1)
    args = parser.parse_args(argv)

    import torch

    from iacdemo.evaluation.answers import AnswerCache, System, eval_gen_settings, generate_answers
    from iacdemo.evaluation.tasks import load_tasks
    from iacdemo.generation.session import ModelSession
    from iacdemo.settings import get_settings

    if args.cpu_threads:
        torch.set_num_threads(args.cpu_threads)
    settings = get_settings()
    model_id = args.model or settings.default_model
    session = ModelSession.load(model_id, settings=settings)
    tasks = load_tasks(settings=settings)[:args.tasks]
    gen = eval_gen_settings(1, args.max_new_tokens, settings=settings)
    system = System.make(None, False, "base")

    def run(batch_rows: int) -> tuple[float, int, list[str]]:
        with tempfile.TemporaryDirectory() as cache_dir:
            started = time.perf_counter()
            answers = generate_answers(tasks, [system], model_id=model_id, session_provider=lambda: session,
                                       gen=gen, settings=settings, batch_rows=batch_rows, cache=AnswerCache(cache_dir))
            seconds = time.perf_counter() - started
        flat = [a[0] for a in answers["base"]]
        return seconds, sum(a.new_tokens for a in flat), [a.text for a in flat]

    run(args.batch_rows)  # warm-up: first-call costs (kernels, chat template) out of the timed runs
    rates: dict[int, list[float]] = {1: [], args.batch_rows: []}
    texts: dict[int, list[str]] = {}
    for i in range(max(1, args.repeat)):
        for rows in (1, args.batch_rows):
            seconds, tokens, texts[rows] = run(rows)
            rates[rows].append(tokens / seconds)
            print(f"repeat {i + 1}, batch_rows {rows}: {tokens} tokens in {seconds:.1f} s = {tokens / seconds:.1f} tok/s",
                  file=sys.stderr, flush=True)
    one, batched = statistics.median(rates[1]), statistics.median(rates[args.batch_rows])
    same = sum(a == b for a, b in zip(texts[1], texts[args.batch_rows]))
    print(json.dumps({"model": model_id, "tasks": len(tasks), "max_new_tokens": args.max_new_tokens,
                      "batch_rows": args.batch_rows, "one_by_one_tok_s": round(one, 1),
                      "batched_tok_s": round(batched, 1), "speedup": round(batched / one, 2),
                      "target": 1.5, "identical_answers": f"{same}/{len(tasks)}",
                      "torch_threads": torch.get_num_threads()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
