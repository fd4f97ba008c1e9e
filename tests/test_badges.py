"""Check badges say one consistent thing, in every tab, with human parse errors (issue 14, bug 6)."""
from __future__ import annotations

import re

import pytest

from iacdemo.evaluation.harness import score_answer
from iacdemo.hcl.check import check_answer, check_hcl
from iacdemo.hcl.highlight import highlight_hcl
from iacdemo.ui import compare_views
from iacdemo.ui import evaluate_views

GOOD = 'resource "aws_s3_bucket" "b" {\n  bucket = "my-bucket"\n}\n'
ONE_LABEL = 'resource "aws_s3_bucket" {\n  bucket = "x"\n}\n'
PROSE_IN_A_FENCE = ("Here is how:\n```\nTo create a bucket, use the aws_s3_bucket resource, for each region, "
                    "else the data is lost.\n```\n")
LARK_TERMINALS = re.compile(r"\b(DBLQUOTE|ELSE|ENDFOR|RBRACE|LSQB|RSQB|NAME|\$END)\b|expected one of")

ANSWERS = {
    "good": f"```hcl\n{GOOD}```",
    "one label": f"```hcl\n{ONE_LABEL}```",
    "prose in a fence": PROSE_IN_A_FENCE,
    "extra brace": f"```hcl\n{GOOD}}}\n```",
    "cut off": '```hcl\nresource "aws_s3_bucket" "b" {\n  bucket = "x"\n',
    "no code": "S3 buckets store objects. Enable versioning in the console.",
    "only a provider": '```hcl\nprovider "aws" {\n  region = "us-east-1"\n}\n```',
}


def _contradictions(labels: list[str]) -> list[str]:
    problems = [label for label in labels if re.match(r"^0 ", label)]  # "0 blocks" beside a block
    stages = {"no code", "not HCL", "parses"} | {label for label in labels if label.startswith("does not parse")}
    if len(stages & set(labels)) > 1:
        problems.append(f"two verdicts: {sorted(stages & set(labels))}")
    if ("plannable" in labels) and any(label.startswith("does not parse") for label in labels):
        problems.append("plannable and unparsable")
    return problems


@pytest.mark.parametrize("name", sorted(ANSWERS))
def test_badges_never_contradict_each_other(schema, name):
    for official in (True, False):
        labels = [label for label, _ in check_answer(ANSWERS[name], schema, official=official).badges()]
        assert labels and _contradictions(labels) == [], labels


def test_a_block_with_one_label_is_counted_as_malformed_not_as_zero_blocks(schema):
    labels = [label for label, _ in check_hcl(ONE_LABEL, schema).badges()]
    assert labels == ["parses", "1 malformed block", "not plannable"]
    assert [label for label, _ in check_hcl(GOOD, schema).badges()] == ["parses", "1 resource", "plannable"]


def test_prose_in_a_fence_is_not_hcl_and_gets_no_token_list(schema):
    result = check_answer(PROSE_IN_A_FENCE, schema, official=True)
    assert result.has_code and result.not_hcl and not result.parses
    assert result.badges() == [("not HCL", "error")]
    assert "not HCL" in result.parse_error and not LARK_TERMINALS.search(result.parse_error)
    assert result.parse_error_line is None


@pytest.mark.parametrize("code, message", [
    (GOOD + "}\n", "line 4: unexpected '}' after the end of the last block"),
    ('resource "aws_s3_bucket" "b" {\n  bucket = "x"', "line 2: the code ends too early (missing '}')"),
    ('resource "aws_s3_bucket" "b" {\n  tags = ["a", "b"\n}\n', "line 3: unexpected '}'"),
    ('resource "aws_s3_bucket" "b" {\n  bucket = `x`\n}\n', "line 2: unexpected '`x`'"),
    ('resource "aws_s3_bucket" "b" {\n  bucket = "x" ¿\n}\n', "line 2: unexpected '¿'"),
])
def test_parse_errors_read_like_a_person_wrote_them(schema, code, message):
    result = check_hcl(code, schema)
    assert not result.parses and result.parse_error == message
    assert not LARK_TERMINALS.search(result.parse_error)


def test_evaluate_and_compare_show_the_same_badges(schema, tasks):
    """The Evaluate tab rebuilds badges from a saved sample; they must be the Compare tab's, for every answer."""
    for name, answer in ANSWERS.items():
        sample = score_answer(tasks[0], answer, schema).to_dict()
        in_evaluate = evaluate_views.check_badges(sample)
        in_compare = check_answer(answer, schema, official=True).badges()
        assert in_evaluate == in_compare, name
        shown = compare_views.badges_html(check_answer(answer, schema, official=True))
        for label, _ in in_compare:
            assert label in shown
    prose = score_answer(tasks[0], PROSE_IN_A_FENCE, schema)
    assert prose.has_code and not prose.parses and not LARK_TERMINALS.search(prose.error or "")
    detail = evaluate_views._sample_html({**prose.to_dict(), "answer": PROSE_IN_A_FENCE}, "base", 0, 1)
    assert "not HCL" in detail and not LARK_TERMINALS.search(detail)


def test_unparsable_code_is_highlighted_without_error_boxes():
    """Pygments marks every character its lexer cannot place as an error token, boxed in red."""
    for code in ['resource "a" "b" {\n  x = `oops` ¿ §\n}\n', PROSE_IN_A_FENCE]:
        for inline in (True, False):
            shown = highlight_hcl(code, inline=inline)
            assert 'class="err"' not in shown and "border:" not in shown.replace("border: none", "")
            assert "oops" in shown or "bucket" in shown
