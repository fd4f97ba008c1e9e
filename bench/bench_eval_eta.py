"""How good is the Evaluate tab's "about N min on this machine"? Forecast vs the real run, in one process.

    python -m bench.bench_eval_eta [--tasks 8] [--max-new-tokens 64] [--rag] [--model ID]

What the tab does, in order: the estimate before starting (prompts tokenized with the loaded model,
speeds from a short calibration batch, since nothing was measured yet in this process), then the run
itself (answers into a temporary cache, so nothing is served from an earlier run). Prints the forecast
(typical and upper bound), the real generation time, their ratios, and the ETA the live progress showed
after the first batch against the time that was really left. Last line: one JSON object.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_eval_eta", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=8, help="the first N dev tasks (8 = two batches)")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--rag", action="store_true", help="also evaluate base + RAG (~1,700-token prompts)")
    parser.add_argument("--model", default=None, help="model id (default: the settings' default model)")
    args = parser.parse_args(argv)

    from iacdemo.evaluation.answers import AnswerCache, System, estimate_generation, eval_gen_settings
    from iacdemo.evaluation.answers import generate_answers
    from iacdemo.evaluation.tasks import load_tasks
    from iacdemo.generation.session import ModelSession
    from iacdemo.settings import get_settings

    settings = get_settings()
    model_id = args.model or settings.default_model
    started = time.perf_counter()
    session = ModelSession.load(model_id, settings=settings)
    print(f"model {model_id} loaded in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    tasks = load_tasks(settings=settings)[: args.tasks]
    systems = [System.make()] + ([System.make(rag=True)] if args.rag else [])
    gen = eval_gen_settings(1, args.max_new_tokens, settings=settings)
    with tempfile.TemporaryDirectory() as tmp:
        common = dict(model_id=model_id, session_provider=lambda: session, gen=gen, settings=settings,
                      cache=AnswerCache(tmp))
        started = time.perf_counter()
        plan = estimate_generation(tasks, systems, **common)
        estimate_s = time.perf_counter() - started
        print(plan.text(), file=sys.stderr)
        seen: list[tuple[float, str]] = []
        started = time.perf_counter()
        generate_answers(tasks, systems, progress=lambda f, m: seen.append((time.perf_counter(), m)), **common)
        ended = time.perf_counter()
    actual_s = ended - started
    after_first = next(((at, m) for at, m in seen if "Answers 5" in m or "Answer 5" in m), None)
    eta_check = None
    if after_first is not None and "ETA about" in after_first[1]:
        shown = after_first[1].split("ETA about ")[1]
        eta_check = {"message": after_first[1], "really_left_s": round(ended - after_first[0], 1), "shown": shown}
    result = {"model": model_id, "tasks": len(tasks), "systems": [s.label for s in systems],
              "max_new_tokens": args.max_new_tokens, "answers": plan.answers, "prompt_tokens": plan.prompt_tokens,
              "estimate_took_s": round(estimate_s, 1), "forecast_typical_s": round(plan.typical_s, 1),
              "forecast_upper_s": round(plan.upper_s, 1), "actual_s": round(actual_s, 1),
              "actual_over_typical": round(actual_s / plan.typical_s, 2) if plan.typical_s else None,
              "actual_over_upper": round(actual_s / plan.upper_s, 2) if plan.upper_s else None,
              "eta_after_first_batch": eta_check}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
