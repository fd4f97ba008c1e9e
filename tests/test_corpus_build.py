"""The corpus builder on real docs with the real tokenizer: content, limits, filters, dedup, errors."""
from __future__ import annotations

import json
import shutil

import pytest

from iacdemo.corpus.build import COLUMNS, build_corpus, load_corpus, service_matches
from iacdemo.corpus.sources import iter_docs
from iacdemo.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def tokenizer(settings):
    from iacdemo.models import load_tokenizer

    return load_tokenizer(settings=settings)


@pytest.fixture(scope="module")
def dynamodb(settings, tokenizer, tmp_path_factory):
    """The quick-demo slice, built once and saved; progress calls recorded."""
    calls = []
    out = tmp_path_factory.mktemp("corpus") / "dynamodb"
    result = build_corpus([settings.corpus_dir], out_dir=out, services=["DynamoDB"], settings=settings,
                          tokenizer=tokenizer, progress=lambda f, m: calls.append((f, m)))
    return result, calls


def test_dynamodb_slice_size_and_columns(dynamodb):
    result, _ = dynamodb
    stats = result.stats
    assert result.dataset.column_names == list(COLUMNS)
    assert set(result.dataset["subcategory"]) == {"DynamoDB"}
    paths = set(result.dataset["path"])
    assert len(paths) == stats["docs_kept"] == 11
    assert sum(p.startswith("website/docs/r/") for p in paths) == 9
    assert 8_000 < stats["tokens"] < 14_000  # about 12k raw tokens, less once markup is gone
    assert stats["tokens"] == sum(result.dataset["n_tokens"])
    assert stats["rows"] == len(result.dataset) and stats["max_tokens"] <= 512
    assert stats["services"]["DynamoDB"]["docs"] == 11
    assert sum(b["count"] for b in stats["length_histogram"]) == stats["rows"]
    assert 0 < stats["pad_fraction"] < 1


def test_content_keeps_code_and_callouts_drops_markup(dynamodb, tokenizer):
    result, _ = dynamodb
    text = "\n".join(result.dataset["text"])
    assert 'resource "aws_dynamodb_table" "basic-dynamodb-table" {' in text
    assert "  billing_mode   = \"PROVISIONED\"" in text  # HCL indentation intact
    assert "~> Note: We recommend using lifecycle ignore_changes" in text
    assert "# Resource: aws_dynamodb_contributor_insights" in text
    for gone in ("subcategory:", "page_title:", "```", "](", "https://docs.aws.amazon.com", "**"):
        assert gone not in text
    for row in result.dataset:
        assert row["n_tokens"] == len(tokenizer(row["text"], add_special_tokens=False)["input_ids"]) <= 512


def test_saved_dataset_and_stats(dynamodb):
    result, calls = dynamodb
    loaded = load_corpus(result.out_dir)
    assert loaded.dataset["text"] == result.dataset["text"]
    on_disk = json.loads((result.out_dir / "stats.json").read_text())
    assert on_disk["rows"] == result.stats["rows"] and on_disk["seconds"] > 0
    assert on_disk["filters"]["services"] == ["DynamoDB"]
    fractions = [f for f, _ in calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(calls) >= 5


def test_rebuild_replaces_an_earlier_corpus(dynamodb, settings, tokenizer):
    result, _ = dynamodb
    again = build_corpus([settings.corpus_dir], out_dir=result.out_dir, seq_len=128,
                         path_pattern="*/r/dynamodb_tag.*", settings=settings, tokenizer=tokenizer)
    assert set(load_corpus(again.out_dir).dataset["path"]) == {"website/docs/r/dynamodb_tag.html.markdown"}
    assert max(load_corpus(again.out_dir).dataset["n_tokens"]) <= 128


def test_filters_by_source_path_and_service(settings, tokenizer):
    opa = build_corpus([settings.corpus_dir], sources_filter=["opa"], path_pattern="docs/docs/policy-*",
                       settings=settings, tokenizer=tokenizer)
    assert set(opa.dataset["source"]) == {"opa"}
    assert all(p.startswith("docs/docs/policy-") for p in opa.dataset["path"])
    assert opa.out_dir is None  # no out_dir: built in memory only
    assert service_matches("S3 (Simple Storage)", ["s3"]) and not service_matches("S3 Control", ["S3"])
    s3 = build_corpus([settings.corpus_dir], services=["S3"], path_pattern="*/r/s3_bucket_versioning.*",
                      settings=settings, tokenizer=tokenizer)
    assert set(s3.dataset["subcategory"]) == {"S3 (Simple Storage)"}


def test_cdktf_only_on_request(settings, tokenizer):
    pattern = "website/docs/*dynamodb_tag.html.markdown"
    plain = build_corpus([settings.corpus_dir], path_pattern=pattern, settings=settings, tokenizer=tokenizer)
    assert set(plain.dataset["path"]) == {"website/docs/r/dynamodb_tag.html.markdown"}
    withcdk = build_corpus([settings.corpus_dir], path_pattern=pattern, include_cdktf=True,
                           settings=settings, tokenizer=tokenizer)
    assert {p.split("/")[2] for p in withcdk.dataset["path"]} == {"r", "cdktf"}


def test_duplicated_doc_is_removed(settings, tokenizer, tmp_path):
    doc = next(d for d in iter_docs([settings.corpus_dir]) if d.path.endswith("r/dynamodb_table.html.markdown"))
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "dynamodb_table.md").write_text(doc.text)
    (tmp_path / "docs" / "copy_of_table.md").write_text(doc.text)  # an alias page
    (tmp_path / "docs" / "edited_table.md").write_text(doc.text.replace("GameScores", "Scores", 1))
    result = build_corpus([tmp_path / "docs"], settings=settings, tokenizer=tokenizer)
    assert set(result.dataset["path"]) == {"copy_of_table.md"}  # sorted first, the others repeat it
    assert result.stats["duplicates_exact"] + result.stats["duplicates_near"] == 2 * result.stats["rows"]


def test_bad_inputs_raise_clear_errors(settings, tokenizer, tmp_path):
    with pytest.raises(DataError, match="not found"):
        build_corpus([tmp_path / "missing"], settings=settings, tokenizer=tokenizer)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="No documentation files"):
        build_corpus([tmp_path / "empty"], settings=settings, tokenizer=tokenizer)
    with pytest.raises(DataError, match="service"):
        build_corpus([settings.corpus_dir], services=["NoSuchService"], settings=settings, tokenizer=tokenizer)
    with pytest.raises(DataError, match="pattern"):
        build_corpus([settings.corpus_dir], path_pattern="*/nothing-*", settings=settings, tokenizer=tokenizer)
    with pytest.raises(DataError, match="source"):
        build_corpus([settings.corpus_dir], sources_filter=["nope"], settings=settings, tokenizer=tokenizer)
    with pytest.raises(ConfigError, match="seq_len"):
        build_corpus([settings.corpus_dir], seq_len=4, settings=settings, tokenizer=tokenizer)
    (tmp_path / "markup").mkdir()
    (tmp_path / "markup" / "only.mdx").write_text("---\ntitle: x\n---\n\n<Tabs>\n</Tabs>\n")
    with pytest.raises(DataError, match="no text"):
        build_corpus([tmp_path / "markup"], settings=settings, tokenizer=tokenizer)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "precious.txt").write_text("keep me")
    with pytest.raises(DataError, match="not empty"):
        build_corpus([settings.corpus_dir], out_dir=busy, services=["DynamoDB"], settings=settings,
                     tokenizer=tokenizer)
    assert (busy / "precious.txt").read_text() == "keep me"
    with pytest.raises(DataError, match="No corpus"):
        load_corpus(busy)
    shutil.rmtree(busy)
