"""Real dev-split policies through regorus (v0 and v1), scored like the official harness."""
from __future__ import annotations

import threading
import time

import pytest

from iacdemo.evaluation import rego
from iacdemo.terraform.plan import plan_for_code
from iacdemo.evaluation.rego import PolicyError, compile_policy, evaluate_policy, hoist_some_declarations, iter_leaves, uses_rego_v1


def test_v0_policy_passes_its_reference_and_names_the_rules_a_wrong_plan_breaks(tasks, schema):
    task = tasks[0]  # Route 53 zone association, old syntax
    assert not uses_rego_v1(task.policy)
    good = evaluate_policy(task.policy, plan_for_code(task.reference, schema))
    assert good.passed and good.error is None and good.package == "data.terraform.validation"
    assert good.value["is_configuration_valid"] is True
    without_zone = task.reference.replace('resource "aws_route53_zone_association"', 'resource "aws_vpc_ipv4_cidr_block_association"')
    bad = evaluate_policy(task.policy, plan_for_code(without_zone, schema))
    assert not bad.passed
    assert "is_valid_zone_association" in bad.failed_rules and "is_configuration_valid" in bad.failed_rules


def test_v1_policy(tasks, schema):
    v1 = [t for t in tasks if uses_rego_v1(t.policy)]
    assert len(v1) >= 20
    task = v1[0]
    outcome = evaluate_policy(task.policy, plan_for_code(task.reference, schema))
    assert outcome.error is None
    empty = evaluate_policy(task.policy, {"configuration": {"root_module": {"resources": []}},
                                          "resource_changes": [], "planned_values": {"root_module": {"resources": []}}})
    assert not empty.passed and empty.failed_rules


def test_all_dev_policies_compile_and_evaluate(tasks):
    empty_plan = {"configuration": {"root_module": {"resources": []}, "provider_config": {}},
                  "resource_changes": [], "planned_values": {"root_module": {"resources": []}}}
    errors = [t.id for t in tasks if evaluate_policy(t.policy, empty_plan).error]
    assert errors == []


def test_engine_bug_workaround_keeps_meaning(tasks, schema):
    task = tasks[9]  # `some a, ..., h` inside an iterated body: regorus rejects it as a re-declaration
    hoisted = hoist_some_declarations(task.policy)
    assert hoisted != task.policy and hoisted.count("some a, b") == task.policy.count("some a, b")
    outcome = evaluate_policy(task.policy, plan_for_code(task.reference, schema))
    assert outcome.error is None and outcome.value  # evaluated, not an engine error


def test_leaves_follow_the_official_walk():
    value = {"allow": True, "deny": [], "checks": {"a": True, "n": 0}, "items": [{"ok": False}, [False]]}
    leaves = dict(iter_leaves(value))
    assert leaves["checks.n"] == 0 and leaves["items[0].ok"] is False
    assert leaves["items[1]"] == [False]  # a list inside a list is a leaf, never walked
    policy = "package t\nimport rego.v1\ncount_zero := 0\nfine := true\n"
    outcome = evaluate_policy(policy, {})
    assert not outcome.passed and outcome.failed_rules == ["count_zero"]  # 0 == False, as in Python


def test_uncompilable_policy_is_an_error_not_a_crash():
    outcome = evaluate_policy("package broken\nallow { input.x = = 1 }", {})
    assert not outcome.passed and "does not compile" in outcome.error
    assert not evaluate_policy("", {}).passed


def _on_another_thread(function, *args):
    """Run `function(*args)` on a fresh thread; its result, or the BaseException it raised."""
    box: dict = {}

    def target():
        try:
            box["value"] = function(*args)
        except BaseException as exc:  # noqa: BLE001 - a pyo3 panic is a BaseException
            box["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive()
    if "error" in box:
        raise AssertionError(f"raised on the second thread: {type(box['error']).__name__}: {box['error']}")
    return box["value"]


def test_a_policy_compiled_on_one_thread_evaluates_on_another(tasks, schema):
    """Gradio runs each click on whichever worker thread is free: the second must not meet the first's engine."""
    task = tasks[0]
    plan = plan_for_code(task.reference, schema)
    here = evaluate_policy(task.policy, plan)
    there = _on_another_thread(evaluate_policy, task.policy, plan)
    assert here.passed and there.passed and there.error is None
    assert _on_another_thread(compile_policy, task.policy) == here.package
    assert evaluate_policy(task.policy, plan).passed  # and back on the first thread


def _nested_array_policy(depth: int) -> str:
    return "package deep\nimport rego.v1\nx := " + "[" * depth + "1" + "]" * depth + "\n"


def test_a_policy_that_compiles_too_slowly_is_stopped_with_a_reason(monkeypatch):
    """Issue 12, item 8: parse time doubles per nesting level; a 24-deep array would take minutes."""
    monkeypatch.setattr(rego, "COMPILE_TIMEOUT_S", 1.0)
    started = time.perf_counter()
    outcome = evaluate_policy(_nested_array_policy(24), {})
    assert time.perf_counter() - started < 15
    assert not outcome.passed and "took longer than 1 s to compile" in outcome.error
    with pytest.raises(PolicyError, match="nesting is too deep"):
        compile_policy(_nested_array_policy(24))
    started = time.perf_counter()
    assert not evaluate_policy(_nested_array_policy(24), {}).passed  # the verdict is kept: no second wait
    assert time.perf_counter() - started < 0.5
    # the stopped compiler is replaced: ordinary and shallow-nested policies still compile
    assert evaluate_policy(_nested_array_policy(3), {}).passed
    assert evaluate_policy("package fine\nimport rego.v1\nok := true\n", {}).passed
