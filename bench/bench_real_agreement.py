"""How often the static mode agrees with real Terraform, on 8,256 real LLM answers to the dev tasks.

    nice -n 10 python -m bench.bench_real_agreement [--workers 2] [--limit N] [--dump FILE.jsonl]

The answers and their real `terraform validate` / `plan` / `opa eval` verdicts are published
(`../shared/data/iac-eval/real-verdicts-dev.jsonl.gz`). Each answer is scored statically, exactly as
`train.evaluate` would (first fenced block, static check, emulated plan, the task's policy), and set
against the real verdict. Environment failures are left out, as the data's SOURCE.md says: plans that
failed because the provider mirror lacked a provider ("Failed to query available provider packages")
and plans that failed on a plan-time AWS read for want of credentials or an endpoint (STS identity,
AMIs, availability zones): those say nothing about the code.

Targets (issue 10): plan agreement >= 0.95, pass agreement >= 0.985, static passes within 5 % of real
passes, checker recall >= 0.98 on answers Terraform rejected with "Unsupported argument" / "Unsupported
block type" / "Invalid resource type" / "Invalid data source", <= 1 % false alarms (an unknown type or
argument flagged on an answer Terraform validated), zero crashes. Prints progress to stderr and one
JSON object last.
"""
from __future__ import annotations

import argparse
import collections
import gzip
import json
import multiprocessing
import re
import sys
import time
import traceback
from pathlib import Path

ENVIRONMENT_PATTERNS = (
    "Failed to query available provider packages",
    "reading STS Caller Identity", "retrieving caller identity", "DescribeImages", "DescribeAvailabilityZones",
    "fetching Availability Zones", "no valid credential sources", "failed to refresh cached credentials",
    "validating provider credentials", "get identity: get credentials", "UnrecognizedClientException",
    "InvalidClientTokenId", "security token included in the request is invalid",
)
INVALID_NAME_ERRORS = ("Unsupported argument", "Unsupported block type", "Invalid resource type",
                       "Invalid data source")
_ERROR = re.compile(r"Error: ([^\n│]+)")

_schema = None
_tasks = None


def first_error(record: dict) -> str | None:
    """Terraform's first own diagnostic summary (init's wrapper message skipped)."""
    for text in (record.get("validate_error"), record.get("plan_error")):
        for match in _ERROR.finditer(text or ""):
            summary = match.group(1).strip()
            if summary.startswith("Terraform encountered problems during initialisation"):
                continue
            return summary
    return None


def is_environment_failure(record: dict) -> bool:
    if _truth(record.get("plan_ok")):
        return False
    text = (record.get("plan_error") or "") + (record.get("validate_error") or "")
    return any(p in text for p in ENVIRONMENT_PATTERNS)


def _truth(value) -> bool:
    return value is True or str(value).strip().lower() == "true"


def _init() -> None:
    global _schema, _tasks
    from iacdemo.evaluation.tasks import load_tasks
    from iacdemo.hcl.parse import warm_up
    from iacdemo.terraform.schema import load_schema

    _schema = load_schema()
    _tasks = {t.id: t for t in load_tasks()}
    warm_up()


def score_record(item: tuple[int, dict]) -> dict:
    index, record = item
    from iacdemo.evaluation.harness import score_answer

    out = {"i": index, "dev_row": int(record["dev_row"]), "crash": None}
    try:
        result = score_answer(_tasks[int(record["dev_row"])], record.get("answer") or "", _schema, mode="static")
        check = result.check or {}
        out.update(plannable=result.plannable, passed=result.passed, parses=result.parses,
                   has_code=result.has_code, cause=result.cause,
                   flagged_names=bool(check.get("unknown_arguments") or check.get("unknown_resource_types")),
                   findings=_findings(check))
    except Exception as exc:  # a crash is a finding of this bench, not its end
        out.update(crash=f"{type(exc).__name__}: {exc}", trace=traceback.format_exc()[-1500:])
    return out


def _findings(check: dict) -> list[str]:
    keys = ("unknown_resource_types", "unknown_arguments", "missing_required", "broken_references",
            "malformed_blocks", "block_count_errors", "type_errors", "value_errors", "conflicts",
            "unsupported_attributes", "file_errors", "unconfigurable")
    found = [k for k in keys if check.get(k)]
    if check.get("parse_error"):
        found.insert(0, "parse_error")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_real_agreement", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="processes (at most 2 on the shared machine)")
    parser.add_argument("--limit", type=int, default=None, help="score only the first N answers")
    parser.add_argument("--dump", type=Path, default=None, help="write one line per answer (for analysis)")
    parser.add_argument("--verdicts", type=Path, default=None, help="the verdicts file (default: from settings)")
    args = parser.parse_args(argv)

    from iacdemo.settings import get_settings

    path = args.verdicts or get_settings().data_dir / "iac-eval" / "real-verdicts-dev.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle if line.strip()]
    if args.limit is not None:
        records = records[:args.limit]
    started = time.perf_counter()
    _init()
    setup_s = time.perf_counter() - started
    started = time.perf_counter()
    workers = max(1, min(2, args.workers))
    items = list(enumerate(records))
    scored: list[dict] = []
    if workers == 1:
        for n, item in enumerate(items, 1):
            scored.append(score_record(item))
            _progress(n, len(items), started)
    else:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            for n, res in enumerate(pool.imap_unordered(score_record, items, chunksize=32), 1):
                scored.append(res)
                _progress(n, len(items), started)
    score_s = time.perf_counter() - started
    scored.sort(key=lambda r: r["i"])
    print(file=sys.stderr)
    summary = summarize(records, scored)
    summary.update(answers=len(records), setup_s=round(setup_s, 1), score_s=round(score_s, 1), workers=workers)
    if args.dump:
        with args.dump.open("w", encoding="utf-8") as fh:
            for record, res in zip(records, scored):
                fh.write(json.dumps({**res, "model": record.get("model"), "mode": record.get("mode"),
                                     "real_plan": _truth(record.get("plan_ok")),
                                     "real_validate": _truth(record.get("validate_ok")),
                                     "real_pass": record.get("opa") == "Success",
                                     "env": is_environment_failure(record), "first_error": first_error(record)})
                         + "\n")
    print(json.dumps(summary))
    return 0


def _progress(done: int, total: int, started: float) -> None:
    if done % 200 == 0 or done == total:
        rate = done / max(time.perf_counter() - started, 1e-9)
        print(f"\r{done}/{total} answers, {rate:.1f}/s", end="", file=sys.stderr, flush=True)


def summarize(records: list[dict], scored: list[dict]) -> dict:
    crashes = [(r["i"], r["crash"]) for r in scored if r.get("crash")]
    kept = [(rec, res) for rec, res in zip(records, scored)
            if not res.get("crash") and not is_environment_failure(rec)]
    n = len(kept)
    plan_agree = sum(_truth(rec["plan_ok"]) == res["plannable"] for rec, res in kept)
    pass_agree = sum((rec["opa"] == "Success") == res["passed"] for rec, res in kept)
    real_passes = sum(rec["opa"] == "Success" for rec, _ in kept)
    static_passes = sum(res["passed"] for _, res in kept)
    false_pass = [(rec, res) for rec, res in kept if res["passed"] and rec["opa"] != "Success"]
    false_fail = [(rec, res) for rec, res in kept if not res["passed"] and rec["opa"] == "Success"]
    false_plan = [(rec, res) for rec, res in kept if res["plannable"] and not _truth(rec["plan_ok"])]
    false_unplan = [(rec, res) for rec, res in kept if not res["plannable"] and _truth(rec["plan_ok"])]
    invalid_name = [(rec, res) for rec, res in kept if first_error(rec) in INVALID_NAME_ERRORS]
    validated = [(rec, res) for rec, res in kept if _truth(rec["validate_ok"])]
    recall_hits = sum(res["flagged_names"] for _, res in invalid_name)
    false_alarms = sum(res["flagged_names"] for _, res in validated)
    return {
        "environment_failures_left_out": sum(is_environment_failure(r) for r in records),
        "scored": n,
        "crashes": len(crashes), "crash_examples": crashes[:5],
        "plan_agreement": round(plan_agree / n, 4) if n else None,
        "pass_agreement": round(pass_agree / n, 4) if n else None,
        "real_passes": real_passes, "static_passes": static_passes,
        "static_over_real_passes": round(static_passes / real_passes, 4) if real_passes else None,
        "false_passes": len(false_pass), "false_fails": len(false_fail),
        "statically_plannable_but_real_plan_failed": len(false_plan),
        "statically_unplannable_but_real_plan_ok": len(false_unplan),
        "checker_recall_invalid_names": round(recall_hits / len(invalid_name), 4) if invalid_name else None,
        "checker_recall_cases": len(invalid_name),
        "checker_false_alarm_rate": round(false_alarms / len(validated), 4) if validated else None,
        "checker_false_alarms": false_alarms, "validated_answers": len(validated),
        "false_plannable_by_real_error": _top(first_error(rec) for rec, _ in false_plan),
        "false_unplannable_by_static_finding": _top(",".join(res["findings"]) or res.get("cause") or "?"
                                                    for _, res in false_unplan),
        "false_passes_by_real_error": _top(first_error(rec) or "plan ok, policy failed" for rec, _ in false_pass),
        "false_fails_by_static_cause": _top(res.get("cause") or "?" for _, res in false_fail),
    }


def _top(values, n: int = 15) -> list[tuple[str, int]]:
    return collections.Counter(v if v is not None else "?" for v in values).most_common(n)


if __name__ == "__main__":
    sys.exit(main())
