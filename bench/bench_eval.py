"""Time the static IaC-Eval harness on every dev reference, and its broken variants.

    python -m bench.bench_eval [--repeat 3] [--variants]

Target (issue 5): all 344 references scored in under 20 s on 2 CPU cores, >= 76% passing, >= 95% of
broken variants failing. The schema is loaded (and the grammar built) once, outside the timed runs, as
the app and the CLI do; those one-off costs are reported separately. Prints one line per run and, last,
one JSON object.
"""
from __future__ import annotations

import argparse
import json
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_eval", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed runs over all references; the best is kept")
    parser.add_argument("--variants", action="store_true", help="also score the broken variants")
    args = parser.parse_args(argv)

    from iacdemo.evaluation.broken_variants import run_broken_variants
    from iacdemo.evaluation.harness import run_reference
    from iacdemo.evaluation.tasks import load_tasks
    from iacdemo.hcl.parse import warm_up
    from iacdemo.terraform.schema import load_schema

    started = time.perf_counter()
    schema = load_schema()
    warm_up()
    tasks = load_tasks()
    result: dict = {"setup_s": round(time.perf_counter() - started, 2), "tasks": len(tasks)}
    times, report = [], {}
    for i in range(max(1, args.repeat)):
        report = run_reference(tasks, schema, mode="static")
        times.append(report["seconds"])
        print(f"run {i + 1}: {report['seconds']:.2f} s, pass@1 {report['pass_at_1']:.4f}", file=sys.stderr)
    result.update(best_s=min(times), runs_s=times, pass_at_1=report["pass_at_1"], passed=report["passed"],
                  failure_causes=report["failure_causes"])
    if args.variants:
        failed = {f["task_id"] for f in report["failures"]}
        started = time.perf_counter()
        variants = run_broken_variants([t for t in tasks if t.id not in failed], schema)
        result.update(variants=variants["variants"], variants_failed=variants["failed"],
                      variant_failure_rate=variants["failure_rate"],
                      variants_s=round(time.perf_counter() - started, 2))
        print(f"broken variants: {variants['failed']}/{variants['variants']} fail", file=sys.stderr)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
