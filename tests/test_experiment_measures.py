"""The experiment's scoring on real docs pages and hand-written answers: drift, learned, kept, repair,
the better-data instruction pairs and the TensorBoard writer. Fast: no model runs here."""
from __future__ import annotations

import pytest

from iacdemo.experiment import measures as M
from iacdemo.experiment.repair import NO_CODE_MESSAGE, check_messages, combine, repair, repair_request, static_diagnostics
from iacdemo.hcl.check import check_hcl

CI = "aws_dynamodb_contributor_insights"


@pytest.fixture(scope="module")
def dynamodb_pages(settings):
    from iacdemo.corpus.sources import iter_docs

    packed = settings.corpus_dir / "terraform-provider-aws-docs.jsonl.gz"
    return {d.path: d for d in iter_docs([packed]) if d.subcategory == "DynamoDB"}


def page(pages, name):
    return pages[f"website/docs/r/{name}.html.markdown"]


def test_drift_finds_docs_artefacts_in_a_real_page_not_in_chat(dynamodb_pages):
    item_page = page(dynamodb_pages, "dynamodb_table_item").body
    found = M.docs_artefacts(item_page)
    assert {"note_callout", "warning_arrow", "argument_reference"} <= set(found)
    chat = "Here is a DynamoDB table:\n\n```hcl\nresource \"aws_dynamodb_table\" \"t\" {\n  name = \"t\"\n}\n```"
    assert M.docs_artefacts(chat) == []
    assert M.docs_artefacts("The following arguments are supported:\n* `name`") == ["arguments_supported"]
    report = M.drift([item_page, chat, chat, chat])
    assert report["artefact_rate"] == 0.25 and report["answers"] == 4 and report["note_callout"] == 0.25


def test_type_score_right_type_known_arguments_required(schema):
    good = f'resource "{CI}" "t" {{\n  table_name = "ExampleTableName"\n}}\n'
    score = M.score_type_answer(good, CI, schema)
    assert score.right_type and score.known_share == 1.0 and score.required_present
    invented = f'resource "{CI}" "t" {{\n  table_name = "x"\n  insights_level = "high"\n}}\n'
    assert M.score_type_answer(invented, CI, schema).known_share == 0.5  # the tuned model's invented argument
    missing = f'resource "{CI}" "t" {{\n  index_name = "i"\n}}\n'
    score = M.score_type_answer(missing, CI, schema)
    assert score.right_type and score.known_share == 1.0 and score.required_present is False
    other = 'resource "aws_dynamodb_contributor" "t" {\n  table_name = "x"\n}\n'
    assert not M.score_type_answer(other, CI, schema).right_type
    assert not M.score_type_answer("resource {", CI, schema).right_type  # does not parse
    rates = M.type_rates([M.score_type_answer(c, CI, schema) for c in (good, invented, missing, other)])
    assert rates == {"probes": 4, "right_type_rate": 0.75, "known_argument_share": 0.8333,
                     "required_present_rate": 0.6667}


def test_probe_code_closes_the_fence_the_prompt_opened():
    assert M.probe_code("```terraform\n", 'resource "a_b" "c" {}\n```\n\n## Argument') == 'resource "a_b" "c" {}'
    assert M.probe_code("```terraform\n", 'resource "a_b" "c" {') == 'resource "a_b" "c" {'


def test_kept_code_rates_and_prose(schema):
    plannable = 'Sure:\n```hcl\nresource "aws_sqs_queue" "q" {\n  name = "q"\n}\n```'
    broken = "```hcl\nresource \"aws_sqs_queue\" \"q\" {\n```"
    prose = "Paris is the capital of France."
    rates = M.code_rates([plannable, broken, prose, plannable], schema)
    assert rates == {"answers": 4, "code_block_rate": 0.75, "parse_rate": 0.5, "plannable_rate": 0.5}
    assert M.is_prose(prose)
    assert not M.is_prose(plannable) and not M.is_prose("resource \"aws_s3_bucket\" \"b\" {\n}")
    assert not M.is_prose("-> **Note:** Paris is the capital of France.") and not M.is_prose("Paris.")
    assert M.prose_rate([prose, plannable]) == 0.5
    assert M.rate([]) is None and M.geometric_mean([2.0, 8.0]) == 4.0


def test_repair_messages_from_real_checks(schema):
    code = ('resource "aws_dynamodb_contributor" "a" {\n  table_name = "x"\n}\n'
            f'resource "{CI}" "b" {{\n  insights_level = "high"\n}}\n'
            'resource "aws_sqs_queue" "q" {\n  policy = aws_iam_policy.p.json\n}\n')
    messages = check_messages(check_hcl(code, schema))
    text = "\n".join(messages)
    assert "`aws_dynamodb_contributor`" in text and "not a resource type" in text
    assert "`insights_level`" in text and "required argument `table_name`" in text
    assert "aws_iam_policy.p" in text
    assert check_messages(check_hcl("", schema)) == [NO_CODE_MESSAGE]
    assert "does not parse" in check_messages(check_hcl("resource {", schema))[0]
    assert check_messages(check_hcl(f'resource "{CI}" "b" {{\n  table_name = "t"\n}}\n', schema)) == []
    request = repair_request([f"problem {i}" for i in range(12)])
    assert "- problem 7" in request and "problem 8" not in request and "and 4 more" in request


def test_repair_loop_stops_when_clean_and_batches_what_is_left(schema):
    fixed = f'```hcl\nresource "{CI}" "b" {{\n  table_name = "t"\n}}\n```'
    broken = f'```hcl\nresource "{CI}" "b" {{\n  index_name = "i"\n}}\n```'
    calls = []

    def generate(histories):
        calls.append([h[-1]["content"] for h in histories])
        # The first conversation's model fixes its code when told; the second one never does.
        return [fixed if "first" in h[0]["content"] else broken for h in histories]

    conversations = [[{"role": "user", "content": "first"}], [{"role": "user", "content": "second"}],
                     [{"role": "user", "content": "third"}]]
    out = repair(conversations, [broken, broken, fixed], generate=generate, diagnose=static_diagnostics(schema),
                 rounds=2)
    assert [len(r) for r in out] == [2, 3, 1]
    assert out[0][-1].answer == fixed and out[0][-1].diagnostics == [] and out[2][0].diagnostics == []
    assert len(calls) == 2 and len(calls[0]) == 2 and len(calls[1]) == 1  # one batch per round
    assert "required argument `table_name`" in calls[0][0]
    first = lambda code: ["a"] if "x" in code else []  # noqa: E731
    assert combine(first, lambda code: ["b"])("x") == ["a"] and combine(first, lambda code: ["b"])("y") == ["b"]


def test_instruction_pairs_from_a_real_page(dynamodb_pages):
    from iacdemo.training.chat_mix import chat_pairs, instruction_pairs, page_arguments

    ci = page(dynamodb_pages, "dynamodb_contributor_insights")
    assert page_arguments(ci) == (["table_name"], ["index_name"])
    item = page(dynamodb_pages, "dynamodb_table_item")
    assert page_arguments(item) == (["hash_key", "item", "table_name"], ["range_key"])
    pairs = instruction_pairs(ci)
    assert [p.user for p in pairs] == [
        f"Write Terraform HCL for an `{CI}` resource: Provides a DynamoDB contributor insights resource",
        f"Which arguments does the `{CI}` resource take? Show an example."]
    assert "Required arguments: `table_name`." in pairs[1].assistant and "`index_name`" in pairs[1].assistant
    assert all(p.assistant.rstrip().endswith("```") and f'resource "{CI}"' in p.assistant for p in pairs)
    data_source = next(d for p, d in dynamodb_pages.items() if "/d/" in p and "/cdktf/" not in p)
    assert instruction_pairs(data_source) == []  # no resource to write
    docs = [d for p, d in dynamodb_pages.items() if "/cdktf/" not in p]
    assert len(chat_pairs(docs, instructions=True)) > 2 * len(chat_pairs(docs)) - 2


def test_tensorboard_writer_round_trips_a_metrics_row(tmp_path):
    from iacdemo.training.tensorboard_log import TB_DIR, close_all, log_metrics_row, read_scalars

    log_metrics_row(tmp_path, {"step": 1, "loss": 2.5, "lr": 1e-4, "grad_norm": 0.5, "epoch": 0.1})
    log_metrics_row(tmp_path, {"step": 2, "loss": 2.0, "eval_loss": 2.2, "note": "text", "flag": True})
    close_all()
    assert any((tmp_path / TB_DIR).iterdir())
    scalars = read_scalars(tmp_path)
    assert scalars["train/loss"] == [(1, 2.5), (2, 2.0)]
    assert [s for s, _ in scalars["eval/loss"]] == [2] and abs(scalars["eval/loss"][0][1] - 2.2) < 1e-6
    assert set(scalars) == {"train/loss", "train/lr", "train/grad_norm", "train/epoch", "eval/loss"}
