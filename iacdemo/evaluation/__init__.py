"""Offline IaC-Eval: tasks, the static plan emulation, Rego scoring, pass@k and reports."""
from iacdemo.evaluation.harness import TaskResult, run_reference, score_answer, score_code, score_reference
from iacdemo.evaluation.passk import mean_pass_at_k, pass_at_k
from iacdemo.terraform.plan import build_plan, plan_for_code
from iacdemo.evaluation.rego import PolicyError, PolicyOutcome, evaluate_policy
from iacdemo.evaluation.report import build_report
from iacdemo.evaluation.tasks import Task, load_tasks, select_tasks

__all__ = [
    "Task", "load_tasks", "select_tasks",
    "build_plan", "plan_for_code",
    "PolicyError", "PolicyOutcome", "evaluate_policy",
    "TaskResult", "score_answer", "score_code", "score_reference", "run_reference",
    "pass_at_k", "mean_pass_at_k", "build_report",
]
