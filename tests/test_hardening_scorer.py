"""The Terraform emulator never hangs: RE2 regexes, bounded values, and a time/work budget per scoring.

Each case below ran for hours (or grew memory without end) with Python's `re` and unbounded arithmetic;
pytest-timeout's thread method turns such a hang into a failure instead of a stuck suite.
"""
from __future__ import annotations

import time

import pytest

from iacdemo.evaluation.harness import score_answer
from iacdemo.terraform.plan import plan_for_code
from iacdemo.terraform.values import BudgetExceeded, scoring_budget

EVIL = "a" * 5000 + "!"
NESTED_FOR = 'output "x" { value = [for a in range(1024): [for b in range(1024): [for c in range(1024): c]]] }'


def _output(code: str):
    return plan_for_code(code)["planned_values"].get("outputs", {}).get("x", {}).get("value")


@pytest.mark.timeout(30, method="thread")
def test_catastrophic_regex_runs_in_linear_time():
    started = time.perf_counter()
    assert _output(f'output "x" {{ value = regex("(a+)+$", "{EVIL}") }}') is None  # no match: an error
    assert _output(f'output "x" {{ value = can(regex("(a+)+$", "{EVIL}")) }}') is False
    assert _output(f'output "x" {{ value = replace("{EVIL}", "/(a+)+$/", "b") }}') == EVIL
    assert time.perf_counter() - started < 10


def test_regex_functions_keep_terraform_semantics():
    assert _output('output "x" { value = regex("(\\\\d+)-(\\\\d+)", "ab 12-34") }') == ["12", "34"]
    assert _output('output "x" { value = regex("(?P<k>[a-z]+)=(?P<v>\\\\d+)", "x=1") }') == {"k": "x", "v": "1"}
    assert _output('output "x" { value = replace("a-b-c", "/-(\\\\w)/", "+$1") }') == "a+b+c"
    assert _output('output "x" { value = replace("a-b", "/(?P<l>\\\\w)-/", "$${l}_") }') == "a_b"
    # backreferences are not RE2: Terraform rejects the pattern, and so do we (an error, not a hang)
    assert _output('output "x" { value = can(regex("(a)\\\\1", "aa")) }') is False


@pytest.mark.timeout(30, method="thread")
@pytest.mark.parametrize("expression", ["pow(9, pow(9, 9))", "pow(10, 400)", "indent(99999999999, \"a\\nb\")",
                                        "pow(2, 2000) * pow(2, 2000)"])
def test_huge_numbers_are_errors_not_hangs(expression):
    assert _output(f'output "x" {{ value = try({expression}, "refused") }}') == "refused"


@pytest.mark.timeout(60, method="thread")
def test_nested_loops_stop_at_the_budget():
    started = time.perf_counter()
    with pytest.raises(BudgetExceeded, match="scoring stopped"):
        plan_for_code(NESTED_FOR)
    assert time.perf_counter() - started < 30


@pytest.mark.timeout(30, method="thread")
def test_the_time_budget_stops_work_that_stays_under_the_step_limit():
    started = time.perf_counter()
    with pytest.raises(BudgetExceeded, match="longer than 0.5 s"):
        with scoring_budget(seconds=0.5, steps=10**12):
            plan_for_code(NESTED_FOR)
    assert time.perf_counter() - started < 5


@pytest.mark.timeout(30, method="thread")
def test_doubling_strings_and_shared_lists_are_bounded():
    doubling = "\n".join(['locals {', '  s0 = "aaaaaaaaaaaaaaaa"'] +
                         [f'  s{i} = "${{local.s{i - 1}}}${{local.s{i - 1}}}"' for i in range(1, 40)] +
                         ['}', 'output "x" { value = length(local.s39) }'])
    assert _output(doubling) is None  # too long: an error, so unknown
    shared = ('locals {\n big = range(1024)\n wide = [for i in range(1024): local.big]\n'
              ' deep = [for i in range(1024): local.wide]\n}\n'
              'output "x" { value = try(length(jsonencode(local.deep)), "refused") }')
    try:
        outcome = _output(shared)
    except BudgetExceeded:  # walking a billion shared elements runs out of steps: also bounded
        outcome = "stopped"
    assert outcome in ("refused", "stopped")


@pytest.mark.timeout(60, method="thread")
def test_in_app_scoring_of_a_hostile_answer_ends_as_an_error(tasks, schema):
    answer = f"```hcl\n{NESTED_FOR}\n```"
    started = time.perf_counter()
    result = score_answer(tasks[0], answer, schema)
    assert not result.passed and result.cause == "engine error"
    assert "scoring stopped" in result.error
    assert time.perf_counter() - started < 30
    ok = score_answer(tasks[0], f"```hcl\n{tasks[0].reference}\n```", schema)  # the next answer is fine
    assert ok.error is None or "scoring stopped" not in ok.error


@pytest.mark.timeout(60, method="thread")
def test_a_heredoc_of_200k_spaces_splits_in_linear_time():
    """Found by fuzzing: the heredoc regex backtracked quadratically (minutes for this answer)."""
    started = time.perf_counter()
    code = 'output "x" { value = <<EOT\n' + " " * 200_000 + "\nEOT\n }"
    assert _output(code) == " " * 200_000 + "\n"
    assert time.perf_counter() - started < 10
