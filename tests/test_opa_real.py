"""The real OPA engine (opa-golib-python-bindings) on IaC-Eval policies, scored by the official leaf rule."""
from __future__ import annotations

import pytest

from iacdemo.evaluation.opa_real import OPA, REGORUS, evaluate_real, evaluate_with_opa, opa_installed, policy_engine
from iacdemo.terraform.plan import plan_for_code
from iacdemo.evaluation.rego import evaluate_policy, uses_rego_v1

pytestmark = pytest.mark.skipif(not opa_installed(), reason="opa-golib-python-bindings is not installed")

V1 = """package demo
import rego.v1

buckets := [r.address | some r in input.resource_changes; r.type == "aws_s3_bucket"]
has_bucket if count(buckets) > 0
versioned := count([r | some r in input.resource_changes; r.type == "aws_s3_bucket_versioning"]) > 0
"""
V0 = """package demo

has_bucket {
    some i
    input.resource_changes[i].type == "aws_s3_bucket"
}
"""


def test_opa_cannot_read_v0_as_written_so_it_gets_it_in_v1_syntax_and_regorus_what_opa_cannot_compile():
    from opa_bindings import OpaEngine, OpaError

    with pytest.raises(OpaError, match="`if` keyword is required"):
        OpaEngine().add_policy("p.rego", V0)
    assert policy_engine(V0) == OPA and policy_engine(V1) == OPA
    broken = "package p\nimport rego.v1\nok if scalar(input.x)\n"  # an undefined function
    assert policy_engine(broken) == REGORUS


def test_opa_scores_with_the_official_leaf_rule_and_agrees_with_regorus(schema):
    bucket = 'resource "aws_s3_bucket" "b" {\n  bucket = "b"\n}\n'
    plan = plan_for_code(bucket, schema)
    outcome = evaluate_with_opa(V1, plan)
    assert not outcome.passed and outcome.failed_rules == ["versioned"]  # a false leaf fails the sample
    assert outcome.value["has_bucket"] is True
    assert evaluate_policy(V1, plan).passed == outcome.passed
    both = bucket + 'resource "aws_s3_bucket_versioning" "v" {\n  bucket = aws_s3_bucket.b.id\n' \
                    '  versioning_configuration {\n    status = "Enabled"\n  }\n}\n'
    plan = plan_for_code(both, schema)
    assert evaluate_real(V1, plan) == (evaluate_with_opa(V1, plan), OPA) and evaluate_with_opa(V1, plan).passed
    assert evaluate_real(V0, plan)[1] == OPA and evaluate_real(V0, plan)[0].passed


def test_opa_and_regorus_agree_on_the_dev_v1_policies_for_their_references(tasks, schema):
    v1 = [t for t in tasks if uses_rego_v1(t.policy)]
    assert v1, "the dev split has v1 policies"
    for task in v1:
        plan = plan_for_code(task.reference, schema)
        assert evaluate_with_opa(task.policy, plan).passed == evaluate_policy(task.policy, plan).passed, task.id


def test_a_policy_that_does_not_compile_is_a_failed_outcome_not_a_crash():
    outcome = evaluate_with_opa("package broken\nimport rego.v1\nx if {\n", {"resource_changes": []})
    assert not outcome.passed and outcome.error and outcome.error.startswith("OPA:")


def test_v0_policies_rewritten_to_v1_run_in_opa_with_regorus_verdicts(tasks, schema):
    from iacdemo.evaluation.opa_real import v0_to_v1

    assert v0_to_v1(V0).splitlines()[1:3] == ["import rego.v1", ""]
    assert "has_bucket if {" in v0_to_v1(V0)
    assert "deny contains msg if {" in v0_to_v1("package p\ndeny[msg] {\n    msg := \"x\"\n}\n")
    v0 = [t for t in tasks if not uses_rego_v1(t.policy)][::10]
    for task in v0:
        plan = plan_for_code(task.reference, schema)
        by_opa = evaluate_with_opa(v0_to_v1(task.policy), plan)
        assert by_opa.error is None, (task.id, by_opa.error)
        assert by_opa.passed == evaluate_policy(task.policy, plan).passed, task.id

