"""HCL expression evaluation and Terraform's reference lists, on python-hcl2's serialised strings."""
from __future__ import annotations

import json

import pytest

from iacdemo.terraform.expressions import (Scope, constant_value, evaluate_template, expression_references,
                                           parse_template, template_references)
from iacdemo.terraform.functions import terraform_json
from iacdemo.terraform.values import UNKNOWN, PartialObject


@pytest.fixture()
def scope() -> Scope:
    return Scope({
        "var": {"region": "us-east-1", "names": ["a", "b"], "subnets": [{"id": "s-1"}, {"id": "s-2"}]},
        "local": {"prefix": "demo"},
        "aws_vpc": {"main": PartialObject(cidr_block="10.0.0.0/16")},
    })


@pytest.mark.parametrize("source, expected", [
    ("aws_vpc.main.id", ("aws_vpc.main.id", "aws_vpc.main")),
    ("aws_subnet.a[0].id", ("aws_subnet.a[0].id", "aws_subnet.a[0]", "aws_subnet.a")),
    ('aws_subnet.a["x"].id', ('aws_subnet.a["x"].id', 'aws_subnet.a["x"]', "aws_subnet.a")),
    ("aws_subnet.a[*].id", ("aws_subnet.a",)),
    ("aws_subnet.a[count.index].id", ("aws_subnet.a", "count.index")),
    ("data.aws_iam_policy_document.p.json", ("data.aws_iam_policy_document.p.json", "data.aws_iam_policy_document.p")),
    ("module.vpc.private_subnets[0]", ("module.vpc.private_subnets[0]", "module.vpc.private_subnets", "module.vpc")),
    ("module.app[0].url", ("module.app[0].url", "module.app[0]")),  # the output's call, key included
    ('module.app["a"]', ('module.app["a"]', "module.app")),
    ("var.region", ("var.region",)),
    ("each.value.name", ("each.value.name", "each.value")),
    ("[for s in aws_subnet.a : s.id]", ("aws_subnet.a",)),
    ('jsonencode({a = aws_s3_bucket.b.arn})', ("aws_s3_bucket.b.arn", "aws_s3_bucket.b")),
    ('"${var.a}-${local.b}"', ("var.a", "local.b")),
])
def test_references_are_listed_like_terraform(source, expected):
    assert expression_references(source) == expected


def test_templates_and_heredocs(scope):
    assert evaluate_template("x-${var.region}-y", scope) == "x-us-east-1-y"
    assert evaluate_template("${var.names}", scope) == ["a", "b"]  # a lone interpolation keeps its type
    assert evaluate_template("$${literal}", scope) == "${literal}"
    heredoc = '<<-EOT\n    {\n      "r": "${var.region}"\n    }\n    EOT'
    assert json.loads(evaluate_template(heredoc, scope)) == {"r": "us-east-1"}
    assert evaluate_template(heredoc, scope).endswith("}\n")
    assert template_references(heredoc) == ["var.region"]


def test_known_and_unknown_values(scope):
    assert evaluate_template("${aws_vpc.main.cidr_block}", scope) == "10.0.0.0/16"
    assert evaluate_template("${aws_vpc.main.id}", scope) is UNKNOWN
    assert evaluate_template("arn-${aws_vpc.main.id}", scope) is UNKNOWN
    assert evaluate_template("${cidrsubnet(aws_vpc.main.cidr_block, 8, 2)}", scope) == "10.0.2.0/24"
    assert evaluate_template("${[for s in var.subnets : s.id]}", scope) == ["s-1", "s-2"]
    assert evaluate_template("${var.subnets[*].id}", scope) == ["s-1", "s-2"]
    assert evaluate_template("${length(var.names) > 1 ? \"many\" : \"one\"}", scope) == "many"
    assert evaluate_template("${{for n in var.names : n => upper(n)}}", scope) == {"a": "A", "b": "B"}
    assert evaluate_template('${try(var.missing, "fallback")}', scope) == "fallback"
    assert evaluate_template('${format("%s-%03d", local.prefix, 7)}', scope) == "demo-007"


def test_jsonencode_matches_terraform_output(scope):
    text = evaluate_template('${jsonencode({Version = "2012-10-17", Statement = [{Effect = "Allow", '
                             'Action = "s3:*", Condition = {"<" = 1}}]})}', scope)
    assert text == ('{"Statement":[{"Action":"s3:*","Condition":{"\\u003c":1},"Effect":"Allow"}],'
                    '"Version":"2012-10-17"}')
    assert terraform_json({"b": 1.0, "a": [True, None]}) == '{"a":[true,null],"b":1}'


def test_constant_value_only_for_literals():
    assert constant_value("plain") == (True, "plain")
    assert constant_value(["a", 1, True]) == (True, ["a", 1, True])
    assert constant_value("${1 + 2}") == (True, 3)
    assert constant_value("${var.x}") == (False, None)
    assert constant_value('${jsonencode({a = 1})}') == (False, None)  # function calls are not constant
    assert constant_value({"k": "${aws_vpc.main.id}"}) == (False, None)


def test_template_splitting_keeps_nested_braces_and_quotes():
    parts = parse_template('a ${jsonencode({"k" = "}"})} b').parts
    assert parts == ("a ", ("expr", 'jsonencode({"k" = "}"})'), " b")


def test_file_functions_are_known_at_plan_time(scope):
    # Terraform reads files while planning: in a plan that succeeds their results are known values
    content = evaluate_template('${file("~/.ssh/id_rsa.pub")}', scope)
    assert isinstance(content, str) and "~/.ssh/id_rsa.pub" in content
    assert evaluate_template('${file("a.txt")}', scope) != evaluate_template('${file("b.txt")}', scope)
    digest = evaluate_template('${filebase64sha256("lambda.zip")}', scope)
    assert isinstance(digest, str) and len(digest) == 44 and digest.endswith("=")
    assert len(evaluate_template('${filemd5("x")}', scope)) == 32
    assert evaluate_template('${templatefile("t.tpl", {name = var.region})}', scope) != UNKNOWN
    # the clock and randomness stay unknown, as they are in a real plan
    assert evaluate_template("${timestamp()}", scope) is UNKNOWN
    assert evaluate_template("${uuid()}", scope) is UNKNOWN
    # pure hash functions are computed
    assert evaluate_template('${base64sha256("hello world")}', scope) == "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek="
    assert evaluate_template('${uuidv5("dns", "www.terraform.io")}', scope) == "a5008fae-b28c-5ba5-96cd-82b4c53552d6"
