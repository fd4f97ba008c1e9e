"""Aggregating scored samples into the numbers an evaluation is read by.

Headline: pass@1 (and pass@k with several samples per task) and the plannable rate, overall and by
difficulty. Beside them, the metrics that tell the story of fine-tuning a small model: does it still
answer with a code block (chat ability kept), does the code parse, does it invent resource types or
arguments. Failures are counted by cause (see `causes.py`), and every failing task is listed with
its cause and the rules it broke.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from typing import Iterable, Sequence

from iacdemo.evaluation.causes import CAUSES
from iacdemo.evaluation.passk import mean_pass_at_k
from iacdemo.evaluation.tasks import Task


def _rate(numerator: int, denominator: int) -> float:
    return round(numerator / denominator, 4) if denominator else 0.0


def build_report(tasks: Sequence[Task], results: Sequence, *, mode: str, answers: str,
                 ks: Iterable[int] = (1,)) -> dict:
    """Aggregate `TaskResult`s (one or more per task) into the evaluation report."""
    by_task: dict[int, list] = defaultdict(list)
    for result in results:
        by_task[result.task_id].append(result)
    difficulty = {t.id: t.difficulty for t in tasks}
    scored = [t for t in tasks if by_task.get(t.id)]
    samples = [r for t in scored for r in by_task[t.id]]
    n_per_task = min((len(by_task[t.id]) for t in scored), default=0)

    def counts(task_ids) -> list[tuple[int, int]]:
        return [(len(by_task[i]), sum(r.passed for r in by_task[i])) for i in task_ids]

    with_code = [r for r in samples if r.has_code]
    parsed = [r for r in samples if r.parses]
    report: dict = {
        "mode": mode,
        "answers": answers,
        "tasks": len(scored),
        "samples": len(samples),
        "samples_per_task": n_per_task,
        "pass_at_1": round(mean_pass_at_k(counts([t.id for t in scored]), 1), 4),
        "passed": sum(r.passed for r in samples),
        "plannable_rate": _rate(sum(r.plannable for r in samples), len(samples)),
        "code_block_rate": _rate(len(with_code), len(samples)),
        "parse_rate": _rate(len(parsed), len(samples)),
        "hallucinated_type_rate": _rate(sum(bool(r.check.get("unknown_resource_types")) for r in parsed),
                                        len(parsed)),
        "unknown_argument_rate": _rate(sum(bool(r.check.get("unknown_arguments")) for r in parsed), len(parsed)),
    }
    for k in sorted(set(ks)):
        if k > 1 and n_per_task >= k:
            report[f"pass_at_{k}"] = round(mean_pass_at_k(counts([t.id for t in scored]), k), 4)
    by_difficulty: dict[str, dict] = {}
    for level in sorted({difficulty[t.id] for t in scored}):
        ids = [t.id for t in scored if t.difficulty == level]
        level_samples = [r for i in ids for r in by_task[i]]
        by_difficulty[str(level)] = {
            "tasks": len(ids),
            "pass_at_1": round(mean_pass_at_k(counts(ids), 1), 4),
            "plannable_rate": _rate(sum(r.plannable for r in level_samples), len(level_samples)),
        }
    report["by_difficulty"] = by_difficulty
    failures = [r for r in samples if not r.passed]
    cause_counts = Counter(r.cause or "unknown" for r in failures)
    report["failure_causes"] = {c: cause_counts[c] for c in (*CAUSES, "unknown") if cause_counts.get(c)}
    report["failures"] = [{"task_id": r.task_id, "difficulty": r.difficulty, "cause": r.cause,
                           "failed_rules": r.failed_rules, "error": r.error} for r in failures]
    return report


def summary_line(report: dict) -> dict:
    """The report without the per-task failure list: the CLI's last output line."""
    return {k: v for k, v in report.items() if k != "failures"}
