"""Scoring one answer to one IaC-Eval task, the way the official harness does, offline.

Official pipeline: first fenced code block -> `terraform init` + `terraform plan` (plannable = exit 0)
-> `terraform show -json` -> OPA on the plan -> pass when plannable and no leaf of the result is false.
Static mode replaces Terraform by the docs-grounded check (`iacdemo.hcl.check.check_hcl(...).plannable`)
and the emulated plan (`plan.py`), the policy running in regorus; real mode runs Terraform itself,
jailed, and OPA (`iacdemo/terraform/real.py`, `opa_real.py`).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable

from iacdemo.evaluation import causes
from iacdemo.evaluation.opa_real import evaluate_real
from iacdemo.evaluation.rego import evaluate_policy
from iacdemo.evaluation.report import build_report
from iacdemo.evaluation.tasks import Task
from iacdemo.hcl.check import CheckResult, check_hcl, check_tree
from iacdemo.hcl.extract import first_code_block
from iacdemo.hcl.parse import HCLParseError, parse_hcl
from iacdemo.terraform.modes import REAL, STATIC
from iacdemo.terraform.plan import build_plan
from iacdemo.terraform.real import get_runner
from iacdemo.terraform.schema import load_schema
from iacdemo.terraform.values import BudgetExceeded, scoring_budget


@dataclass
class TaskResult:
    task_id: int
    difficulty: int
    passed: bool
    plannable: bool
    has_code: bool
    parses: bool
    failed_rules: list[str] = field(default_factory=list)
    check: dict = field(default_factory=dict)  # CheckResult.to_dict() without the code
    error: str | None = None  # engine or plan error, if any
    cause: str | None = None  # why it failed (see causes.py); None when it passed
    mode: str = STATIC
    terraform: list[str] = field(default_factory=list)  # real mode: Terraform's own diagnostics
    policy_engine: str = ""  # real mode: "opa" or "regorus" (see opa_real.py)
    code: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def score_answer(task: Task, answer_text: str | None, schema, *, mode: str | None = None,
                 reference: bool = False) -> TaskResult:
    """Score a model's raw answer: the code is its first fenced block, exactly as officially extracted."""
    code = first_code_block(answer_text)
    return score_code(task, code, schema, mode=mode, reference=reference)


def score_reference(task: Task, schema, *, mode: str | None = None) -> TaskResult:
    """Score the task's own reference program (the harness's fidelity check)."""
    return score_code(task, task.reference, schema, mode=mode, reference=True)


def score_code(task: Task, code: str | None, schema, *, mode: str | None = None,
               reference: bool = False) -> TaskResult:
    started = time.perf_counter()
    mode = mode or STATIC
    result = TaskResult(task_id=task.id, difficulty=task.difficulty, passed=False, plannable=False,
                        has_code=bool(code and code.strip()), parses=False, mode=mode, code=code or "")
    try:
        with scoring_budget():  # one time and work budget per answer, shared by both emulated plans
            _score_into(result, task, code or "", schema, mode, reference)
    except BudgetExceeded as exc:  # the answer scores as an error with the reason; the run goes on
        result.passed, result.cause, result.error = False, causes.ENGINE_ERROR, str(exc)
    finally:
        result.seconds = round(time.perf_counter() - started, 4)
    return result


def _score_into(result: TaskResult, task: Task, code: str, schema, mode: str, reference: bool) -> None:
    if not result.has_code:
        result.cause = causes.NO_CODE
        return
    check, config = _check_once(code, schema)
    result.check = {k: v for k, v in check.to_dict().items() if k != "code"}
    result.parses = check.parses
    if not check.parses or config is None:
        result.cause, result.error = causes.NO_PARSE, check.parse_error
        return
    if mode == REAL:
        tf = get_runner().plan(code)
        result.plannable, plan = tf.plannable, tf.plan
        result.terraform = [d.format() for d in tf.diagnostics if d.severity == "error"]
        if not tf.plannable or plan is None:
            result.cause, result.error = causes.NOT_PLANNABLE, tf.error
            return
        outcome, result.policy_engine = evaluate_real(task.policy, plan)
    else:
        result.plannable = check.plannable
        plan = build_plan(config, schema)
        outcome = evaluate_policy(task.policy, plan)
        if outcome.error and _NULL_ARGUMENT in outcome.error:
            outcome = evaluate_policy(task.policy, without_nulls(plan))
    result.failed_rules = outcome.failed_rules
    result.error = outcome.error
    if not result.plannable:  # officially no policy runs; the rules are kept to show what else fails
        result.cause = causes.NOT_PLANNABLE
        return
    result.passed = outcome.passed
    if not result.passed:
        result.cause = _failure_cause(task, config, schema, outcome, reference, plan)


# regorus raises where a builtin gets null (`count(null)`); OPA, in its default non-strict mode, makes that
# expression undefined instead. A plan whose null values are left out gives regorus the same undefined
# expressions (a missing key is undefined too), so a policy that trips on a null is evaluated on that.
_NULL_ARGUMENT = "Got `null`"


def without_nulls(value: Any) -> Any:
    """The plan with every null object member removed (list elements kept: their positions matter)."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


def _check_once(code: str, schema) -> tuple[CheckResult, dict | None]:
    """`check_hcl(code)` plus the parsed tree, parsing only once (parsing is most of the time spent)."""
    try:
        tree = parse_hcl(code, explicit_blocks=True)
    except HCLParseError:
        return check_hcl(code, schema), None
    return check_tree(tree, code, schema), tree


def _failure_cause(task: Task, config: dict, schema, outcome, reference: bool, plan: dict) -> str:
    if outcome.error:
        return causes.ENGINE_ERROR
    not_declared = causes.missing_types(task.policy, config, schema)
    if not_declared and causes.uses_modules(config):
        return causes.MODULE
    symbolic = evaluate_policy(task.policy, build_plan(config, schema, symbolic=True))
    if symbolic.passed or causes.reads_unknown_values(task.policy, plan):
        return causes.UNKNOWN_UNTIL_APPLY
    if not not_declared and causes.unset_provider_attributes(task.policy, config, schema):
        return causes.PROVIDER_DEFAULT
    return causes.REFERENCE_DISAGREEMENT if reference else causes.INTENT_NOT_MET


def score_many(tasks: Iterable[Task], answers: Iterable[str | None], schema, *, mode: str | None = None,
               progress: Callable[[int, int], Any] | None = None) -> list[TaskResult]:
    """Score answers (one per task, in order); `progress(done, total)` is called after each."""
    tasks, answers = list(tasks), list(answers)
    if mode == REAL:  # plan them all at once on every provider slot first
        get_runner().prefetch(first_code_block(a) or "" for a in answers)
    results = []
    for i, (task, answer) in enumerate(zip(tasks, answers)):
        results.append(score_answer(task, answer, schema, mode=mode))
        if progress:
            progress(i + 1, len(tasks))
    return results


def run_reference(tasks: Iterable[Task], schema=None, *, mode: str | None = None,
                  progress: Callable[[int, int], Any] | None = None) -> dict:
    """Score every task's reference program and aggregate: the harness's fidelity report."""
    schema = schema if schema is not None else load_schema()
    mode = mode or STATIC
    tasks = list(tasks)
    started = time.perf_counter()
    if mode == REAL:
        get_runner().prefetch(t.reference for t in tasks)
    results = []
    for i, task in enumerate(tasks):
        results.append(score_reference(task, schema, mode=mode))
        if progress:
            progress(i + 1, len(tasks))
    report = build_report(tasks, results, mode=mode, answers="reference")
    report["seconds"] = round(time.perf_counter() - started, 2)
    return report


__all__ = ["TaskResult", "score_answer", "score_reference", "score_code", "score_many", "run_reference"]
