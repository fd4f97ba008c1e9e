"""Code extraction: the official IaC-Eval rule (quirks included) and the demo's lenient HCL finder."""
from __future__ import annotations

import csv

import pytest

from iacdemo.hcl.extract import CodeBlock, extract_code_blocks, extract_hcl, find_unfenced_hcl, first_code_block
from iacdemo.hcl.parse import HCLParseError, parse_hcl
from iacdemo.settings import get_settings

BUCKET = 'resource "aws_s3_bucket" "logs" {\n  bucket = "my-logs"\n}'


@pytest.fixture(scope="module")
def reference_programs() -> list[str]:
    with open(get_settings().iac_eval_csv, newline="", encoding="utf-8") as fh:
        return [row["Reference output"] for row in csv.DictReader(fh)]


# --- official harness rule -------------------------------------------------------------------------

def test_official_prefers_hcl_fence_over_earlier_fences():
    answer = f"Run this first:\n```bash\nterraform init\n```\nThen:\n```hcl\n{BUCKET}\n```\nDone."
    assert first_code_block(answer) == BUCKET


def test_official_terraform_fence():
    assert first_code_block(f"```terraform\n{BUCKET}\n```") == BUCKET


def test_official_plain_fence_keeps_its_info_string():
    # "```tf" is not one of the harness' delimiters, so the catch-all ``` keeps "tf" as the first line.
    assert first_code_block(f"```tf\n{BUCKET}\n```") == f"tf\n{BUCKET}"
    assert first_code_block(f"```\n{BUCKET}\n```") == BUCKET


def test_official_json_fence_beats_plain_fence():
    answer = '```\nresource "a" "b" {}\n```\n```json\n{"x": 1}\n```'
    assert first_code_block(answer) == '{"x": 1}'


def test_official_empty_hcl_fence_falls_through_to_catch_all():
    answer = f"```hcl\n```\n{BUCKET}\n"
    assert first_code_block(answer) == "hcl"


def test_official_no_code():
    assert first_code_block("") is None
    assert first_code_block(None) is None
    assert first_code_block("I cannot help with Terraform, but here is some advice.") is None


def test_official_matches_reference_programs_exactly(reference_programs):
    for ref in reference_programs:
        assert first_code_block(f"Here you go:\n```hcl\n{ref}\n```\nLet me know.") == ref.strip()


# --- fenced blocks ---------------------------------------------------------------------------------

def test_extract_code_blocks_in_order_with_languages():
    answer = f"A\n```bash\nterraform plan\n```\nB\n```HCL\n{BUCKET}\n```\n~~~\nx = 1\n~~~\n"
    assert extract_code_blocks(answer) == [
        CodeBlock("bash", "terraform plan", True),
        CodeBlock("hcl", BUCKET, True),
        CodeBlock("", "x = 1", True),
    ]


def test_unclosed_fence_runs_to_end():
    blocks = extract_code_blocks(f"Sure:\n```hcl\n{BUCKET}\n")
    assert blocks == [CodeBlock("hcl", BUCKET, True)]


def test_extract_hcl_joins_hcl_fences_and_skips_other_languages():
    second = 'resource "aws_s3_bucket_versioning" "v" {\n  bucket = aws_s3_bucket.logs.id\n}'
    answer = f"```hcl\n{BUCKET}\n```\nNow run:\n```bash\nterraform apply\n```\n```terraform\n{second}\n```"
    assert extract_hcl(answer) == f"{BUCKET}\n\n{second}"


# --- unfenced HCL ----------------------------------------------------------------------------------

def test_unfenced_hcl_between_prose():
    answer = f"Here is the resource you need:\n\n{BUCKET}\n\nThis creates a bucket {{for logs}}."
    assert extract_hcl(answer) == BUCKET


def test_empty_fence_then_code():
    answer = f"```hcl\n```\n{BUCKET}\nThat is all."
    assert extract_hcl(answer) == BUCKET


def test_unfenced_braces_in_strings_comments_and_heredocs():
    code = ('resource "aws_iam_policy" "p" {\n'
            '  name = "a}b{"  # a } in a comment\n'
            '  policy = <<EOF\n{"Version": "2012-10-17", "Statement": [{"Effect": "Allow"}]}\n}\nEOF\n'
            '  /* } */\n'
            '  description = "x ${var.y} }"\n'
            '}')
    found = find_unfenced_hcl(f"Text before.\n{code}\nText after }}.")
    assert found == [code]


def test_truncated_unfenced_block_runs_to_end_and_fails_to_parse():
    cut = 'resource "aws_s3_bucket" "b" {\n  bucket = "x"\n  tags = {\n'
    code = extract_hcl("Here:\n" + cut)
    assert code == cut.rstrip()
    with pytest.raises(HCLParseError):
        parse_hcl(code)


def test_no_hcl_in_prose():
    assert extract_hcl("") == ""
    assert extract_hcl("   ") == ""
    assert extract_hcl("An S3 bucket is a resource. Use the resource block in Terraform.") == ""
    assert extract_hcl("```bash\nterraform init\n```") == ""


def test_every_top_level_keyword_is_found():
    code = ('terraform {\n  required_version = ">= 1.0"\n}\n'
            'provider "aws" {\n  region = "us-east-1"\n}\n'
            'variable "n" {\n  default = 1\n}\n'
            'locals {\n  x = 2\n}\n'
            'data "aws_caller_identity" "me" {}\n'
            'module "vpc" {\n  source = "terraform-aws-modules/vpc/aws"\n}\n'
            'output "o" {\n  value = local.x\n}')
    blocks = find_unfenced_hcl("Intro.\n" + code + "\nOutro.")
    assert len(blocks) == 7
    assert parse_hcl("\n".join(blocks)).keys() == {"terraform", "provider", "variable", "locals", "data", "module",
                                                  "output"}


def test_unfenced_extraction_recovers_every_reference_program(reference_programs):
    for ref in reference_programs:
        answer = f"Certainly! Below is the configuration.\n\n{ref}\n\nIt sets up {{everything}} you asked for."
        assert parse_hcl(extract_hcl(answer)) == parse_hcl(ref)
