"""Evaluate on IaC-Eval, offline: the official scoring with a static plan (or Terraform, when installed).

    python -m train.evaluate --tasks ../shared/data/iac-eval/iac-eval-dev.csv --answers reference --out ref.json
    python -m train.evaluate --tasks CSV --answers generate --model smollm2-135m-instruct [--adapter DIR] [--rag]
                             [--limit N] [--difficulty 1,2] --out FILE

`--answers reference` scores the tasks' own reference programs: the harness's fidelity check.
`--answers generate` scores a model's answers (generation is wired in by `generate_answers`).
Progress goes to stderr; FILE gets the full report with per-task details; the last line on stdout is one
JSON object (mode, tasks, pass_at_1, plannable_rate, by_difficulty, ...). User errors print one message
on stderr and exit with code 2.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from iacdemo.errors import ConfigError, IacdemoError


def parse_difficulties(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        levels = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(f"--difficulty takes comma-separated levels 1-6, got {text!r}.") from None
    bad = [level for level in levels if not 1 <= level <= 6]
    if bad or not levels:
        raise ConfigError(f"--difficulty levels must be between 1 and 6, got {text!r}.")
    return levels


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m train.evaluate",
                                     description="Score IaC-Eval tasks offline (plannability + Rego intent).")
    parser.add_argument("--tasks", default=None, metavar="CSV",
                        help="IaC-Eval task file (default: the dev split from the settings).")
    parser.add_argument("--answers", required=True, choices=("reference", "generate"),
                        help="'reference': score the reference programs; 'generate': a model's answers.")
    parser.add_argument("--model", default=None, metavar="ID", help="model id for --answers generate")
    parser.add_argument("--adapter", default=None, metavar="DIR", help="LoRA adapter folder for the model")
    parser.add_argument("--rag", action="store_true", help="retrieval-augmented prompts (generate mode)")
    parser.add_argument("--samples", type=int, default=1, metavar="N", help="answers per task (pass@k)")
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="score only the first N tasks")
    parser.add_argument("--difficulty", default=None, metavar="LEVELS", help="e.g. 1,2: only these levels")
    parser.add_argument("--out", required=True, metavar="FILE", help="where to write the JSON report")
    return parser.parse_args(argv)


def generate_answers(tasks, model_id: str | None, adapter: str | None, rag: bool, *, samples: int = 1,
                     settings=None, progress=None) -> list[list[str]]:
    """One list of `samples` raw answers per task, from the model with IaC-Eval's prompt.

    Wired by the generation side (model loading, prompts, caching); until then it says so.
    """
    raise IacdemoError("generate mode not wired yet")


def _progress(done: int, total: int, started: float) -> None:
    if done == total or done % 25 == 0:
        elapsed = time.perf_counter() - started
        eta = elapsed / done * (total - done) if done else 0.0
        print(f"[{done}/{total}] {elapsed:.1f} s elapsed, ETA {eta:.1f} s", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> dict:
    from iacdemo.evaluation.harness import score_answer, score_reference
    from iacdemo.evaluation.report import build_report
    from iacdemo.evaluation.tasks import load_tasks, select_tasks
    from iacdemo.evaluation.terraform_cli import detect_mode
    from iacdemo.hcl.schema import load_schema

    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"--limit must be at least 1, got {args.limit}.")
    if args.samples < 1:
        raise ConfigError(f"--samples must be at least 1, got {args.samples}.")
    tasks = select_tasks(load_tasks(args.tasks), parse_difficulties(args.difficulty), args.limit)
    if not tasks:
        raise ConfigError("No task matches --difficulty/--limit.")
    mode = detect_mode()
    schema = load_schema()
    started = time.perf_counter()
    results = []
    if args.answers == "reference":
        for i, task in enumerate(tasks):
            results.append(score_reference(task, schema, mode=mode))
            _progress(i + 1, len(tasks), started)
    else:
        answers = generate_answers(tasks, args.model, args.adapter, args.rag, samples=args.samples)
        total = sum(len(a) for a in answers)
        for task, task_answers in zip(tasks, answers):
            for answer in task_answers:
                results.append(score_answer(task, answer, schema, mode=mode))
                _progress(len(results), total, started)
    report = build_report(tasks, results, mode=mode, answers=args.answers, ks=(1, args.samples))
    report["seconds"] = round(time.perf_counter() - started, 2)
    report["settings"] = {"tasks_file": str(args.tasks or ""), "model": args.model, "adapter": args.adapter,
                          "rag": args.rag, "limit": args.limit, "difficulty": args.difficulty,
                          "samples": args.samples}
    report["results"] = [r.to_dict() for r in results]
    return report


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        report = run(args)
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=1), encoding="utf-8")
    except IacdemoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot write {args.out}: {exc}", file=sys.stderr)
        return 2
    summary = {k: v for k, v in report.items() if k not in ("failures", "results")}
    summary["out"] = str(args.out)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
