"""Grounded checks on answers: the original experiment's mistakes, broken input, and the IaC-Eval references."""
from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys

import pytest

from iacdemo.hcl.check import CheckResult, check_answer, check_hcl, check_tree
from iacdemo.hcl.highlight import highlight_css, highlight_hcl
from iacdemo.hcl.parse import parse_hcl
from iacdemo.terraform.provider_rules import PROVIDER_REJECTS
from iacdemo.terraform.schema import load_schema
from iacdemo.settings import REPO_ROOT, get_settings

# What the models of the original experiment answered to "Create a DynamoDB Contributor Insights resource
# for a specific table with custom settings": a type that does not exist, and invented arguments.
BASE_ANSWER = """Here is a Terraform configuration:

```hcl
resource "aws_dynamodb_contributor_insight" "example" {
  table_name = "my-table"
}
```
"""
TUNED_ANSWER = """resource "aws_dynamodb_contributor_insights" "example" {
  enable_logging = true
  region         = "us-east-1"
}
"""
CORRECT = """
resource "aws_dynamodb_table" "t" {
  name         = "orders"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "id"
  attribute {
    name = "id"
    type = "S"
  }
}

resource "aws_dynamodb_contributor_insights" "t" {
  table_name = aws_dynamodb_table.t.name
}
"""


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    """A fresh cache for this module: `schema` builds into it, so the CLI runs start from a warm cache."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def schema(cache_dir):
    return load_schema(get_settings().with_overrides(cache_dir=cache_dir))


@pytest.fixture(scope="module")
def reference_programs() -> list[str]:
    with open(get_settings().iac_eval_csv, newline="", encoding="utf-8") as fh:
        return [row["Reference output"] for row in csv.DictReader(fh)]


@pytest.fixture(scope="module")
def reference_results(schema, reference_programs) -> list[CheckResult]:
    return [check_hcl(code, schema) for code in reference_programs]


# --- the original experiment -----------------------------------------------------------------------

def test_hallucinated_type_with_suggestion(schema):
    result = check_answer(BASE_ANSWER, schema)
    assert result.parses and not result.plannable
    assert result.unknown_resource_types == [{
        "type": "aws_dynamodb_contributor_insight", "kind": "resource",
        "address": "aws_dynamodb_contributor_insight.example", "suggestion": "aws_dynamodb_contributor_insights"}]
    assert ("1 unknown type", "error") in result.badges()


def test_invented_arguments_and_missing_required(schema):
    result = check_answer(TUNED_ANSWER, schema)  # unfenced, as the tuned model wrote it
    assert result.has_code and result.parses and not result.unknown_resource_types
    assert {u["argument"] for u in result.unknown_arguments} == {"enable_logging", "region"}
    assert all(u["address"] == "aws_dynamodb_contributor_insights.example" for u in result.unknown_arguments)
    assert result.missing_required == [
        {"address": "aws_dynamodb_contributor_insights.example", "argument": "table_name", "block_path": ""}]
    labels = dict(result.badges())
    assert labels["2 unknown arguments"] == "error" and labels["1 missing required argument"] == "error"
    assert not result.plannable


def test_correct_answer_is_plannable(schema):
    result = check_answer(f"```terraform\n{CORRECT}\n```", schema)
    assert result.plannable, result.to_dict()
    assert result.resources == ["aws_dynamodb_table.t", "aws_dynamodb_contributor_insights.t"]
    assert ("plannable", "ok") in result.badges()


def test_check_tree_is_check_hcl_on_a_parsed_tree(schema):
    for code in (CORRECT, TUNED_ANSWER):
        tree = parse_hcl(code, explicit_blocks=True)
        assert check_tree(tree, code, schema).to_dict() == check_hcl(code, schema).to_dict()
    assert not check_tree(parse_hcl(TUNED_ANSWER, explicit_blocks=True), TUNED_ANSWER, schema).plannable


def test_index_name_is_accepted(schema):
    code = CORRECT.replace("table_name = aws_dynamodb_table.t.name",
                           'table_name = aws_dynamodb_table.t.name\n  index_name = "by-customer"')
    assert check_hcl(code, schema).plannable


# --- no code, broken code --------------------------------------------------------------------------

@pytest.mark.parametrize("answer", ["", "   \n", None,
                                    "Contributor Insights shows the most accessed keys of a table. "
                                    "Enable it in the console under the table's Monitoring tab."])
def test_no_code(schema, answer):
    result = check_answer(answer, schema)
    assert not result.has_code and not result.parses and not result.plannable
    assert result.badges() == [("no code", "error")]
    assert json.loads(json.dumps(result.to_dict()))["plannable"] is False


def test_broken_hcl(schema):
    result = check_hcl('resource "aws_s3_bucket" "b" {\n  bucket = \n}\n', schema)
    assert result.has_code and not result.parses and not result.plannable
    assert result.parse_error_line == 2 and "line 2" in result.parse_error
    assert result.badges() == [("does not parse (line 2)", "error")]


def test_empty_fence_answer_is_recovered(schema):
    answer = "```hcl\n```\n" + CORRECT
    assert check_answer(answer, schema).plannable
    # the official harness would have run the text "hcl" and failed
    official = check_answer(answer, schema, official=True)
    assert official.code == "hcl" and not official.parses


def test_malformed_blocks(schema):
    result = check_hcl('resource "aws_s3_bucket" {\n  bucket = "x"\n}\n', schema)
    assert result.parses and result.malformed_blocks and not result.plannable
    twice = check_hcl('resource "aws_s3_bucket" "b" {}\nresource "aws_s3_bucket" "b" {}\n', schema)
    assert twice.malformed_blocks == ["duplicate aws_s3_bucket.b"]


# --- arguments in nested and dynamic blocks, meta-arguments ----------------------------------------

SECURITY_GROUP = """
variable "ports" {
  default = [80, 443]
}

resource "aws_security_group" "web" {
  name   = "web"
  count  = 1
  dynamic "ingress" {
    for_each = var.ports
    iterator = port_rule
    content {
      from_port   = port_rule.value
      to_port     = port_rule.value
      protocol    = "tcp"
      cidr_blocks = ["0.0.0.0/0"]
    }
  }
  lifecycle {
    create_before_destroy = true
  }
  timeouts {
    create = "5m"
  }
}
"""


def test_dynamic_blocks_and_meta_arguments(schema):
    result = check_hcl(SECURITY_GROUP, schema)
    assert result.plannable, result.to_dict()
    bogus = check_hcl(SECURITY_GROUP.replace('dynamic "ingress"', 'dynamic "ingres_rules"')
                      .replace("protocol", "protocl"), schema)
    flagged = {(u["argument"], u["block_path"]) for u in bogus.unknown_arguments}
    assert ("ingres_rules", "") in flagged
    nested = check_hcl(SECURITY_GROUP.replace("protocol", "protocl"), schema)
    assert [(u["argument"], u["block_path"], u["suggestion"]) for u in nested.unknown_arguments] == [
        ("protocl", "ingress", "protocol")]


def test_attribute_values_are_not_blocks(schema):
    code = 'resource "aws_s3_bucket" "b" {\n  tags = {\n    made_up_key = "fine"\n  }\n}\n'
    assert check_hcl(code, schema).plannable


# --- references ------------------------------------------------------------------------------------

def test_broken_references(schema):
    code = """
locals {
  names = [for sub_net in aws_subnet.main : sub_net.id]
}
resource "aws_vpc" "main" {
  cidr_block = var.cidr
  tags = {
    Name = "${local.prefix}-vpc"
    Note = "aws_fake.thing is only text"
  }
}
resource "aws_subnet" "main" {
  vpc_id     = aws_vpc.main.id
  cidr_block = cidrsubnet(aws_vpc.main.cidr_block, 8, 1)
  availability_zone = data.aws_availability_zones.az.names[0]
}
output "bucket" {
  value = aws_s3_bucket.logs.arn
}
output "mod" {
  value = module.network.id
}
"""
    result = check_hcl(code, schema)
    assert {r["reference"] for r in result.broken_references} == {
        "var.cidr", "local.prefix", "data.aws_availability_zones.az", "aws_s3_bucket.logs", "module.network"}
    assert not result.plannable
    assert next(r for r in result.broken_references if r["reference"] == "aws_s3_bucket.logs")["used_in"] == \
        "output.bucket"


def test_other_providers_are_listed_not_flagged(schema):
    code = """
resource "random_string" "suffix" {
  length  = 6
  special = false
}
data "archive_file" "zip" {
  type                    = "zip"
  source_content          = "print(1)"
  source_content_filename = "main.py"
  output_path             = "main.zip"
}
resource "aws_s3_bucket" "b" {
  bucket = "logs-${random_string.suffix.result}"
}
"""
    result = check_hcl(code, schema)
    assert result.plannable and result.other_provider_types == ["archive_file", "random_string"]
    assert check_hcl(code.replace("random_string.suffix.result", "random_string.other.result"),
                     schema).broken_references[0]["reference"] == "random_string.other"


# --- the IaC-Eval reference programs: false alarms --------------------------------------------------

def test_reference_programs_rarely_flagged(reference_results):
    checked = sum(r.arguments_checked for r in reference_results)
    unknown = sum(len(r.unknown_arguments) for r in reference_results)
    missing = sum(len(r.missing_required) for r in reference_results)
    plannable = sum(r.plannable for r in reference_results)
    print(f"\nreferences: {len(reference_results)} programs, {checked} arguments checked, {unknown} flagged unknown "
          f"({unknown / checked:.2%}), {missing} missing-required flags, {plannable} statically plannable")
    assert all(r.parses for r in reference_results)
    assert checked > 5000
    assert unknown / checked < 0.02
    assert missing <= 0.02 * len(reference_results)
    assert sum(len(r.unknown_resource_types) for r in reference_results) <= 2
    # Real Terraform plans about 317 of the 344: the rest read files IaC-Eval never writes (`file()`,
    # `archive_file`), or break a rule the provider checks while planning (DynamoDB keys and capacities,
    # an Elastic IP on a private NAT gateway).
    assert plannable >= 0.92 * len(reference_results)
    allowed = {"Archive creation error", "Invalid function argument"}
    for result in reference_results:
        for diagnostic in result.diagnostics:
            assert diagnostic["summary"] in allowed or diagnostic["detail"] == PROVIDER_REJECTS, diagnostic


def test_injected_hallucinations_are_caught(schema, reference_programs):
    """The other side of leniency: an invented argument in a real program must still be flagged."""
    caught = total = 0
    for code in reference_programs[::4]:
        for match in list(re.finditer(r'^resource "(aws_[a-z0-9_]+)" "[^"]+" \{\n', code, re.M))[:2]:
            if schema.get(match.group(1)) is None:
                continue
            mutated = code[:match.end()] + "  enable_custom_settings = true\n" + code[match.end():]
            total += 1
            caught += any(u["argument"] == "enable_custom_settings" for u in check_hcl(mutated, schema).unknown_arguments)
    assert total > 50 and caught == total


def test_removed_required_argument_is_caught(schema, reference_programs):
    code = next(c for c in reference_programs if 'resource "aws_lambda_function"' in c and "function_name" in c)
    mutated = re.sub(r"^\s*function_name\s*=.*$", "", code, count=1, flags=re.M)
    assert {"argument": "function_name"}.items() <= next(
        m for m in check_hcl(mutated, schema).missing_required if m["argument"] == "function_name").items()


# --- rendering and CLI -----------------------------------------------------------------------------

def test_highlight():
    html = highlight_hcl(CORRECT)
    assert 'class="iac-hl"' in html and "aws_dynamodb_contributor_insights" in html and "<span" in html
    assert "hll" in highlight_hcl("a = \n", error_line=1)
    assert "style=" in highlight_hcl(CORRECT, inline=True)
    css = highlight_css()
    assert css and all(line.startswith(".iac-hl") for line in css.splitlines())


def _cli(*args: str, stdin: str | None = None, cache_dir) -> subprocess.CompletedProcess:
    """`python -m iacdemo.check` in its own process: the entry point as a user runs it."""
    env = {**os.environ, "IACDEMO_CACHE_DIR": str(cache_dir), "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run([sys.executable, "-m", "iacdemo.check", *args], input=stdin, env=env,
                          capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)


def _main(*args: str, stdin: str = "", monkeypatch, capsys) -> subprocess.CompletedProcess:
    """The same command through `main()` in this process: each process start re-imports the checker and
    loads the provider schema, so the cases beyond the entry point itself run here, on the loaded one."""
    from iacdemo.check import main

    capsys.readouterr()
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(list(args))
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(["iacdemo.check", *args], code, out, err)


def test_cli_file_and_stdin(schema, cache_dir, tmp_path, monkeypatch, capsys):
    tf = tmp_path / "main.tf"
    tf.write_text(TUNED_ANSWER)
    done = _cli(str(tf), cache_dir=cache_dir)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["parses"] is True and isinstance(out["unknown_resource_types"], list)
    assert {u["argument"] for u in out["unknown_arguments"]} == {"enable_logging", "region"}
    assert [m["argument"] for m in out["missing_required"]] == ["table_name"]
    assert out["plannable"] is False
    piped = _cli("-", "--strict", "--no-code", stdin=CORRECT, cache_dir=cache_dir)  # stdin of a real process
    assert piped.returncode == 0 and json.loads(piped.stdout)["plannable"] is True
    assert "code" not in json.loads(piped.stdout)
    strict = _main("-", "--strict", stdin=TUNED_ANSWER, monkeypatch=monkeypatch, capsys=capsys)
    assert strict.returncode == 1 and json.loads(strict.stdout)["plannable"] is False
    answer = _main("-", "--answer", stdin=BASE_ANSWER, monkeypatch=monkeypatch, capsys=capsys)
    assert answer.returncode == 0
    assert json.loads(answer.stdout)["unknown_resource_types"][0]["suggestion"] == "aws_dynamodb_contributor_insights"


def test_cli_jsonl_one_report_per_line(schema, tmp_path, monkeypatch, capsys):
    lines = [json.dumps({"id": "base", "answer": BASE_ANSWER}), "not json", "",
             json.dumps({"id": 7, "code": CORRECT}), json.dumps(TUNED_ANSWER), json.dumps([1])]
    source = tmp_path / "answers.jsonl"
    source.write_text("\n".join(lines) + "\n")
    done = _main("--jsonl", str(source), "--no-code", "--official", monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 0, done.stderr
    reports = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["line"] for r in reports] == [1, 2, 4, 5, 6]  # the blank line has no report
    base, broken, correct, tuned, wrong = reports
    assert base["id"] == "base" and base["unknown_resource_types"][0]["type"] == "aws_dynamodb_contributor_insight"
    assert "error" in broken and broken["plannable"] is False
    assert correct["id"] == 7 and correct["plannable"] is True and "code" not in correct
    assert tuned["plannable"] is False and not tuned["has_code"]  # --official: no fence, no code
    assert "error" in wrong
    strict = _main("--jsonl", str(source), "--strict", monkeypatch=monkeypatch, capsys=capsys)
    assert strict.returncode == 1


def test_cli_missing_file(tmp_path, monkeypatch, capsys):
    done = _main(str(tmp_path / "nope.tf"), monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 2 and "No such file" in done.stderr and done.stdout == ""


# --- parsing ---------------------------------------------------------------------------------------

def test_parse_hcl_shapes():
    from iacdemo.hcl.parse import parse_hcl

    code = ('# comment\nresource "aws_s3_bucket" "b" {\n  # inside\n  bucket = "x-${var.env}"\n'
            '  policy = <<-EOT\n    {"a": 1}\n    EOT\n  versioning {\n    enabled = true\n  }\n}\n')
    tree = parse_hcl(code)
    body = tree["resource"][0]["aws_s3_bucket"]["b"]
    assert body == {"bucket": "x-${var.env}", "policy": '<<-EOT\n    {"a": 1}\n    EOT',
                    "versioning": [{"enabled": True}]}
    assert "__comments__" not in json.dumps(tree)
    assert parse_hcl(code, preserve_heredocs=False)["resource"][0]["aws_s3_bucket"]["b"]["policy"] == '{"a": 1}\n'
    assert parse_hcl(code, explicit_blocks=True)["resource"][0]["aws_s3_bucket"]["b"]["versioning"][0][
        "__is_block__"] is True


def test_invented_type_without_a_provider_is_unknown_not_another_provider():
    from iacdemo.hcl.check import check_hcl
    from iacdemo.terraform.schema import load_schema

    code = '''
resource "dynamodb_contributor" "x" { table_name = "t" }
resource "random_string" "r" { length = 4 }
resource "google_storage_bucket" "g" { name = "x" }
terraform {
  required_providers {
    google = { source = "hashicorp/google" }
  }
}
'''
    result = check_hcl(code, load_schema())
    assert [u["type"] for u in result.unknown_resource_types] == ["dynamodb_contributor"]
    assert result.unknown_resource_types[0]["suggestion"] == "aws_dynamodb_contributor_insights"
    assert result.other_provider_types == ["google_storage_bucket", "random_string"]
    assert not result.plannable
