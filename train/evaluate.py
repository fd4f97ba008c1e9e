"""Evaluate on IaC-Eval, offline: the official scoring with a static plan (or Terraform, when installed).

    python -m train.evaluate --tasks ../shared/data/iac-eval/iac-eval-dev.csv --answers reference --out ref.json
    python -m train.evaluate --tasks CSV --answers generate --model smollm2-135m-instruct [--adapter DIR] [--rag]
                             [--limit N] [--difficulty 1,2] --out FILE

    python -m train.evaluate --answers FILE.jsonl [--mode static|real|auto] --out FILE

`--answers reference` scores the tasks' own reference programs: the harness's fidelity check.
`--answers FILE.jsonl` scores answers made elsewhere (GPT-x, a teammate's model): one
`{"task": ROW, "answer": TEXT}` per line, ROW being a row number of the task CSV or the CSV row itself
(its columns, `Rego intent` and `Reference output` included). `--mode` picks the scorer: `static` (the
offline stand-in, the default), `real` (Terraform + moto + OPA, see iacdemo/terraform/real.py; an error
where this machine cannot run it) or `auto` (real where available); every report says which made it.

`--answers generate` scores a model's answers to IaC-Eval's prompts (greedy; `--samples N` samples N
answers per task for pass@k). Answers are cached under the cache's `eval/answers/`, so a rerun only
generates what is missing; the evaluation is also saved under `eval/results/`, where the app's Evaluate
tab lists it. Progress goes to stderr; FILE gets the full report with per-task details; the last line on
stdout is one JSON object (mode, tasks, pass_at_1, plannable_rate, by_difficulty, code_block_rate,
parse_rate, hallucinated_type_rate, unknown_argument_rate, ...). User errors print one message on stderr
and exit with code 2.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import torch

from iacdemo.errors import ConfigError, DataError, IacdemoError
from iacdemo.evaluation.answers import System, eval_gen_settings
from iacdemo.evaluation.comparison import evaluate_systems, save_comparison
from iacdemo.evaluation.harness import score_answer, score_reference
from iacdemo.evaluation.report import build_report
from iacdemo.evaluation.tasks import COLUMNS, Task, load_tasks, select_tasks
from iacdemo.experiment.repair_eval import repair_tasks
from iacdemo.generation.gen_settings import EVALUATION, GenSettings, add_cli_flags, values_from_cli
from iacdemo.generation.session import ModelSession
from iacdemo.hcl.extract import first_code_block
from iacdemo.settings import get_settings
from iacdemo.terraform.real import get_runner, resolve_mode
from iacdemo.terraform.schema import load_schema


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
    parser.add_argument("--answers", required=True, metavar="reference|generate|FILE.jsonl",
                        help="'reference': score the reference programs; 'generate': a model's answers; "
                             "a .jsonl file: answers made elsewhere, one {\"task\": ROW, \"answer\": TEXT} a line.")
    parser.add_argument("--mode", default="static", choices=("static", "real", "auto"),
                        help="static: the offline stand-in; real: Terraform + moto + OPA (where available); "
                             "auto: real where available, else static")
    parser.add_argument("--model", default=None, metavar="ID", help="model id for --answers generate")
    parser.add_argument("--adapter", default=None, metavar="DIR", help="LoRA adapter folder for the model")
    parser.add_argument("--rag", action="store_true", help="retrieval-augmented prompts (generate mode)")
    parser.add_argument("--samples", type=int, default=1, metavar="N",
                        help="answers per task: 1 = greedy; more are sampled and give pass@N")
    add_cli_flags(parser, EVALUATION, notes={"temperature": "default: greedy for 1 sample, 0.7 for more",
                                              "seed": "default 42; blank: the default"})
    parser.add_argument("--cpu-threads", type=int, default=0, metavar="N",
                        help="CPU threads for torch in generate mode (0 = torch's default; on a busy shared "
                             "CPU, 1 can be several times faster)")
    parser.add_argument("--repair", type=int, default=0, metavar="N",
                        help="generate mode: feed each answer's diagnostics (static checks; Terraform's errors in "
                             "real mode) back to the model for up to N more turns and score every round")
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="score only the first N tasks")
    parser.add_argument("--difficulty", default=None, metavar="LEVELS", help="e.g. 1,2: only these levels")
    parser.add_argument("--out", required=True, metavar="FILE", help="where to write the JSON report")
    return parser.parse_args(argv)


def _session_loader(model_id: str, settings):
    """Load the model only when an answer is not cached yet (a fully cached rerun loads nothing)."""
    loaded = []

    def provider():
        if not loaded:
            print(f"Loading {model_id} ...", file=sys.stderr, flush=True)
            loaded.append(ModelSession.load(model_id, settings=settings,
                                            progress=lambda fraction, message: None))
        return loaded[0]

    return provider


def _print_progress(fraction: float, message: str) -> None:
    print(f"[{100 * fraction:5.1f}%] {message}", file=sys.stderr, flush=True)


def _progress_bar(total: int, what: str):
    """A tqdm bar on stderr (plain lines without tqdm); call it with (done, total)."""
    try:
        from tqdm import tqdm
    except ImportError:
        started = time.perf_counter()
        return lambda done, total: _progress(done, total, started)
    bar = tqdm(total=total, desc=what, file=sys.stderr, unit="prog", dynamic_ncols=True)

    def update(done: int, _total: int) -> None:
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return update


def _prefetch_real(codes: list[str], mode: str) -> None:
    """Real mode: plan every program on all provider slots at once, with a progress bar."""
    if mode != "real":
        return

    codes = [c for c in codes if c and c.strip()]
    get_runner().prefetch(codes, progress=_progress_bar(len(set(codes)), "terraform plan"))


def _progress(done: int, total: int, started: float) -> None:
    if done == total or done % 25 == 0:
        elapsed = time.perf_counter() - started
        eta = elapsed / done * (total - done) if done else 0.0
        print(f"[{done}/{total}] {elapsed:.1f} s elapsed, ETA {eta:.1f} s", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> dict:
    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"--limit must be at least 1, got {args.limit}.")
    if args.samples < 1:
        raise ConfigError(f"--samples must be at least 1, got {args.samples}.")
    if args.repair < 0:
        raise ConfigError(f"--repair must be 0 (off) or more rounds, got {args.repair}.")
    if args.answers not in ("reference", "generate"):
        return run_answers_file(args, load_tasks(args.tasks), resolve_mode(args.mode))
    tasks = select_tasks(load_tasks(args.tasks), parse_difficulties(args.difficulty), args.limit)
    if not tasks:
        raise ConfigError("No task matches --difficulty/--limit.")
    mode = resolve_mode(args.mode)
    schema = load_schema()
    if args.answers == "generate":
        return run_generate(args, tasks, schema, mode)
    started = time.perf_counter()
    _prefetch_real([t.reference for t in tasks], mode)
    results = []
    for i, task in enumerate(tasks):
        results.append(score_reference(task, schema, mode=mode))
        _progress(i + 1, len(tasks), started)
    report = build_report(tasks, results, mode=mode, answers=args.answers, ks=(1, args.samples))
    report["seconds"] = round(time.perf_counter() - started, 2)
    report["settings"] = {"tasks_file": str(args.tasks or ""), "model": args.model, "adapter": args.adapter,
                          "rag": args.rag, "limit": args.limit, "difficulty": args.difficulty,
                          "samples": args.samples}
    report["results"] = [r.to_dict() for r in results]
    return report


def generation_settings(args: argparse.Namespace, settings) -> GenSettings:
    """The evaluation preset with the generation flags given; the temperature's default follows --samples."""
    given = values_from_cli(args)
    flags = GenSettings.from_values(given, EVALUATION, settings)  # every flag checked, named in the message
    return dataclasses.replace(
        eval_gen_settings(args.samples, flags.max_new_tokens, flags.temperature if "temperature" in given else None,
                          EVALUATION.seed if flags.seed is None else flags.seed, settings=settings),
        top_p=flags.top_p, repetition_penalty=flags.repetition_penalty)


def read_answers_file(path: str | Path, tasks) -> list[tuple]:
    """(Task, answer text) per line of a JSONL answers file; a DataError names the line that is wrong."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"Answers file not found: {path} (give reference, generate or a .jsonl file).")
    pairs = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text: {exc}") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}, line {number}: not JSON ({exc.msg}).") from None
        if not isinstance(record, dict) or "task" not in record or not isinstance(record.get("answer"), (str, type(None))):
            raise DataError(f"{path}, line {number}: expected {{\"task\": ROW, \"answer\": TEXT}}.")
        row = record["task"]
        if isinstance(row, int) and not isinstance(row, bool):
            if not 0 <= row < len(tasks):
                raise DataError(f"{path}, line {number}: task {row} is not a row of the task file "
                                f"(0-{len(tasks) - 1}).")
            task = tasks[row]
        elif isinstance(row, dict):
            get = lambda key: row.get(COLUMNS[key], row.get(key))  # noqa: E731 - CSV or Task field names
            policy = get("policy")
            if not isinstance(policy, str) or not policy.strip():
                raise DataError(f"{path}, line {number}: the task has no 'Rego intent' policy.")
            try:
                difficulty = int(float(get("difficulty") or 0))
            except (TypeError, ValueError):
                raise DataError(f"{path}, line {number}: Difficulty {get('difficulty')!r} is not a number.") from None
            task = Task(id=int(row.get("id", number - 1)) if str(row.get("id", "")).isdigit() else number - 1,
                        resource=str(get("resource") or ""), prompt=str(get("prompt") or ""), policy=policy,
                        difficulty=difficulty, reference=str(get("reference") or ""), intent=str(get("intent") or ""))
        else:
            raise DataError(f"{path}, line {number}: task must be a row number or a task row (object).")
        pairs.append((task, record.get("answer")))
    if not pairs:
        raise DataError(f"{path} holds no answers.")
    return pairs


def run_answers_file(args: argparse.Namespace, tasks, mode: str) -> dict:
    """Score answers made elsewhere, in the chosen mode; the report lists every answer's verdict."""
    pairs = read_answers_file(args.answers, tasks)
    schema = load_schema()
    started = time.perf_counter()
    _prefetch_real([first_code_block(answer) or "" for _, answer in pairs], mode)
    results = []
    for i, (task, answer) in enumerate(pairs):
        results.append(score_answer(task, answer, schema, mode=mode))
        _progress(i + 1, len(pairs), started)
    scored_tasks = list({task.id: task for task, _ in pairs}.values())
    report = build_report(scored_tasks, results, mode=mode, answers=str(args.answers))
    report["seconds"] = round(time.perf_counter() - started, 2)
    report["settings"] = {"tasks_file": str(args.tasks or ""), "answers_file": str(args.answers), "mode": mode}
    report["results"] = [r.to_dict() for r in results]
    return report


def run_generate(args: argparse.Namespace, tasks, schema, mode: str) -> dict:
    """Generate (or reuse cached) answers, score them, save the evaluation for the app; the report."""
    if args.cpu_threads < 0:
        raise ConfigError(f"--cpu-threads must be 0 (torch's default) or more, got {args.cpu_threads}.")
    if args.cpu_threads:
        torch.set_num_threads(args.cpu_threads)
    settings = get_settings()
    model_id = args.model or settings.default_model
    system = System.make(args.adapter, args.rag)
    gen = generation_settings(args, settings)
    selection = {"tasks_file": str(args.tasks or settings.iac_eval_csv), "limit": args.limit,
                 "difficulty": args.difficulty}
    provider = _session_loader(model_id, settings)  # one model for the answers and their repair
    comparison = evaluate_systems(tasks, [system], model_id=model_id,
                                  session_provider=provider, samples=args.samples,
                                  gen=gen, settings=settings, progress=_print_progress, schema=schema, mode=mode,
                                  selection=selection)
    saved = save_comparison(comparison, settings)
    report = dict(comparison.reports[system.label])
    report.update(seconds=comparison.seconds, answers_generated=comparison.generated, evaluation_id=comparison.id,
                  saved=str(saved), model=model_id)
    report["settings"] = {**comparison.settings, "model": model_id, "adapter": args.adapter, "rag": args.rag}
    report["results"] = [{"task_id": task["id"], **sample} for task in comparison.tasks
                         for sample in task["answers"][system.label]]
    if args.repair:
        report["repair"] = _repair(args, tasks, comparison, system, model_id, provider, gen, schema, mode, settings)
        report["repair_answers"] = report["repair"].pop("answers")
    return report


def _repair(args, tasks, comparison, system, model_id, provider, gen, schema, mode, settings) -> dict:
    """`--repair N`: the first sample's answer of each task, repaired round by round and rescored."""
    first = [task["answers"][system.label][0].get("answer", "") for task in comparison.tasks]
    return repair_tasks(tasks, first, model_id=model_id, adapter=args.adapter,
                        session_provider=provider, gen=gen, rounds=args.repair,
                        schema=schema, mode=mode, settings=settings,
                        progress=lambda done, total: _print_progress(done / max(total, 1), f"repair {done}/{total}"))


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
    summary = {k: v for k, v in report.items() if k not in ("failures", "results", "repair_answers")}
    summary["out"] = str(args.out)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
