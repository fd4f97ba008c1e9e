"""Real mode measured: the 344 dev references, and agreement with IaC-Eval's published real verdicts.

    nice -n 10 python -m bench.bench_real_mode [--references] [--agreement N] [--seed S] [--workers K]

`--references` plans and scores every dev reference in real mode (terraform + moto + OPA/regorus) and
prints the time, how many plan and how many pass, next to static mode's figures from the same run.
`--agreement N` scores a seeded sample of N of the 8,256 real-verdict answers
(../shared/data/iac-eval/real-verdicts-dev.jsonl.gz) in real mode and compares with their real verdicts:
plan agreement (our `terraform plan` exit 0 vs theirs) and pass agreement (our pass vs their OPA
"Success"). Answers whose published verdict is an environment failure of their machine (a provider
missing from their mirror, no or refused AWS credentials (HTTP 401), an OPA exception) are left out, as
SOURCE.md says.
Also prints how often OPA (v0 policies rewritten to v1) and regorus agree on the same real plans.
Skips with a message where real mode is unavailable.
"""
from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
import time
from collections import Counter

from iacdemo.settings import get_settings

ENVIRONMENT_FAILURES = ("Failed to query available provider packages", "STS Caller Identity", "StatusCode: 401",
                        "No valid credential sources", "OPA exception occurred")


def _bar(total: int, what: str):
    from tqdm import tqdm

    bar = tqdm(total=total, desc=what, file=sys.stderr, unit="prog")
    return lambda done, _total: bar.update(done - bar.n)


def bench_references(runner, tasks, schema) -> dict:
    from iacdemo.evaluation.harness import score_reference
    from iacdemo.evaluation.opa_real import evaluate_with_opa, v0_to_v1
    from iacdemo.evaluation.rego import evaluate_policy, uses_rego_v1

    started = time.perf_counter()
    runner.prefetch([t.reference for t in tasks], progress=_bar(len(tasks), "plan 344 references"))
    planned_s = time.perf_counter() - started
    real = [score_reference(t, schema, mode="real") for t in tasks]
    total_s = time.perf_counter() - started
    t0 = time.perf_counter()
    static = [score_reference(t, schema, mode="static") for t in tasks]
    static_s = time.perf_counter() - t0
    engines = Counter(r.policy_engine for r in real if r.plannable)
    opa_vs_regorus = [0, 0, 0]  # agree, compared, OPA could not compile (converted v0 policies included)
    for task, result in zip(tasks, real):
        plan = runner.plan(task.reference).plan if result.plannable else None
        if plan is None:
            continue
        policy = task.policy if uses_rego_v1(task.policy) else v0_to_v1(task.policy)
        by_opa = evaluate_with_opa(policy, plan)
        if by_opa.error:
            opa_vs_regorus[2] += 1
            continue
        opa_vs_regorus[0] += by_opa.passed == evaluate_policy(task.policy, plan).passed
        opa_vs_regorus[1] += 1
    errors = Counter((r.error or "").split(":")[0][:60] for r in real if not r.plannable)
    return {
        "references": len(tasks), "workers": runner.workers,
        "real_plannable": sum(r.plannable for r in real), "real_passed": sum(r.passed for r in real),
        "real_seconds": round(total_s, 1), "plan_seconds": round(planned_s, 1),
        "static_plannable": sum(r.plannable for r in static), "static_passed": sum(r.passed for r in static),
        "static_seconds": round(static_s, 1),
        "both_pass": sum(a.passed and b.passed for a, b in zip(real, static)),
        "static_only_pass": sum(b.passed and not a.passed for a, b in zip(real, static)),
        "real_only_pass": sum(a.passed and not b.passed for a, b in zip(real, static)),
        "policy_engines": dict(engines), "opa_regorus_agree": f"{opa_vs_regorus[0]}/{opa_vs_regorus[1]}",
        "opa_compile_failures": opa_vs_regorus[2],
        "not_plannable_first_errors": dict(errors.most_common(8)),
        "timed_out": sum("timed out" in (r.error or "") for r in real),
        "not_plannable": [{"task": t.id, "error": (r.error or "")[:200]} for t, r in zip(tasks, real)
                          if not r.plannable],
        "static_pass_real_fail": [{"task": t.id, "plannable": a.plannable, "error": (a.error or "")[:200],
                                   "failed_rules": a.failed_rules} for t, a, b in zip(tasks, real, static)
                                  if b.passed and not a.passed],
    }


def bench_agreement(runner, tasks, schema, n: int, seed: int) -> dict:
    from iacdemo.evaluation.harness import score_answer
    from iacdemo.hcl.extract import first_code_block

    path = get_settings().data_dir / "iac-eval" / "real-verdicts-dev.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    usable = [r for r in rows if not any(marker in f"{r.get('validate_error')} {r.get('plan_error')} {r.get('opa')} "
                                         f"{r.get('opa_error')}" for marker in ENVIRONMENT_FAILURES)]
    sample = random.Random(seed).sample(usable, min(n, len(usable)))
    started = time.perf_counter()
    runner.prefetch([first_code_block(r["answer"]) or "" for r in sample], progress=_bar(len(sample), "plan answers"))
    plan_agree = pass_agree = ours_pass = theirs_pass = ours_plan = theirs_plan = 0
    disagreements = []
    for row in sample:
        result = score_answer(tasks[row["dev_row"]], row["answer"], schema, mode="real")
        their_pass = row["opa"] == "Success"
        plan_agree += result.plannable == bool(row["plan_ok"])
        pass_agree += result.passed == their_pass
        ours_pass += result.passed
        theirs_pass += their_pass
        ours_plan += result.plannable
        theirs_plan += bool(row["plan_ok"])
        if result.plannable != bool(row["plan_ok"]) or result.passed != their_pass:
            disagreements.append({"dev_row": row["dev_row"], "ours": [result.plannable, result.passed],
                                  "theirs": [bool(row["plan_ok"]), their_pass], "our_error": (result.error or "")[:160],
                                  "their_error": (row.get("plan_error") or "")[:160]})
    return {"published": len(rows), "usable": len(usable), "sample": len(sample), "seed": seed,
            "seconds": round(time.perf_counter() - started, 1),
            "plan_agreement": round(plan_agree / len(sample), 4), "pass_agreement": round(pass_agree / len(sample), 4),
            "our_plannable": ours_plan, "their_plannable": theirs_plan, "our_passes": ours_pass,
            "their_passes": theirs_pass, "disagreements": disagreements}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--references", action="store_true")
    parser.add_argument("--agreement", type=int, default=0, metavar="N")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--limit", type=int, default=None, help="only the first N references (a smoke run)")
    parser.add_argument("--out", default=None, help="write the full figures as JSON here")
    args = parser.parse_args(argv)
    from iacdemo.evaluation.tasks import load_tasks
    from iacdemo.terraform.schema import load_schema
    from iacdemo.terraform.real import RealTerraform, availability, set_runner

    ok, why = availability()
    if not ok:
        print(f"skipped: real mode is not available here ({why})")
        return 0
    print(f"real mode: {why}", file=sys.stderr)
    tasks, schema = load_tasks(), load_schema()
    figures: dict = {}
    with RealTerraform(workers=args.workers) as runner:
        set_runner(runner)  # the harness's real-mode scoring uses this one
        if args.references or not args.agreement:
            figures["references"] = bench_references(runner, tasks[:args.limit], schema)
            print(json.dumps({k: v for k, v in figures["references"].items()
                              if k not in ("not_plannable", "static_pass_real_fail")}), flush=True)
        if args.agreement:
            figures["agreement"] = bench_agreement(runner, tasks, schema, args.agreement, args.seed)
            print(json.dumps({k: v for k, v in figures["agreement"].items() if k != "disagreements"}), flush=True)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            json.dump(figures, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
