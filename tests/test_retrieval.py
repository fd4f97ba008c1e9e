"""BM25 retrieval over the real docs: the right resource page comes first, and the index round-trips."""
from __future__ import annotations

import pytest

from iacdemo.errors import DataError
from iacdemo.retrieval.bm25_index import (DocsIndex, analyze, build_docs_index, build_rag_messages, format_context,
                                          get_default_index, page_type)


@pytest.fixture(scope="module")
def rag_settings(settings, tmp_path_factory):
    return settings.with_overrides(cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def index(rag_settings):
    return get_default_index(rag_settings)


def test_named_resource_page_comes_first(index):
    hits = index.search("DynamoDB contributor insights for a table", k=4)
    assert len(hits) == 4
    assert hits[0].path == "website/docs/r/dynamodb_contributor_insights.html.markdown"
    assert hits[0].score >= hits[-1].score
    assert sum(h.path == hits[0].path for h in hits) <= 2  # other pages get room too
    versioning = index.search("Create an S3 bucket with versioning enabled", k=3)
    assert "website/docs/r/s3_bucket_versioning.html.markdown" in [h.path for h in versioning[:2]]
    by_type = index.search("aws_sqs_queue with a dead letter queue", k=3)
    assert by_type[0].path.endswith("r/sqs_queue.html.markdown")
    rego = index.search("Rego rule bodies and virtual documents", k=3)
    assert any(h.source == "opa" for h in rego)


def test_default_index_is_cached_and_round_trips(index, rag_settings):
    assert get_default_index(rag_settings) is index
    saved = [p for p in (rag_settings.cache_dir / "rag").iterdir() if p.is_dir()]
    assert len(saved) == 1
    loaded = DocsIndex.load(saved[0])
    assert len(loaded) == len(index) > 5_000
    query = "lambda function triggered by an SQS queue"
    assert [(h.path, h.score) for h in loaded.search(query)] == [(h.path, h.score) for h in index.search(query)]


def test_prompt_context(index):
    hits = index.search("DynamoDB contributor insights", k=2)
    context = format_context(hits)
    assert context.startswith("[1] aws_dynamodb_contributor_insights (resource) (website/docs/r/")
    assert 'resource "aws_dynamodb_contributor_insights"' in context and "[2] " in context
    messages = build_rag_messages("Enable contributor insights on my table", hits)
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[1]["content"].endswith("Enable contributor insights on my table")
    assert context in messages[1]["content"]
    assert build_rag_messages("q", [], system_prompt=None) == [{"role": "user", "content": "q"}]


def test_small_index_and_edge_cases(settings, tmp_path):
    small = build_docs_index([settings.corpus_dir / "opa-docs.jsonl.gz"])
    assert all(h.source == "opa" for h in small.search("partial evaluation", k=3))
    assert small.search("", k=3) == [] and small.search("zzzqqqxxx", k=3) == []
    assert analyze("aws_dynamodb_table tables Policies") == ["aws_dynamodb_table", "dynamodb", "table", "table",
                                                             "policy"]
    assert page_type("website/docs/r/s3_bucket.html.markdown") == ("r", "aws_s3_bucket")
    assert page_type("website/docs/cdktf/python/r/s3_bucket.html.markdown") is None
    with pytest.raises(DataError):
        DocsIndex.build([{"text": "  ", "path": "x"}])
    with pytest.raises(DataError):
        DocsIndex.load(tmp_path / "nothing-here")
    with pytest.raises(DataError, match="fetch_docs"):
        get_default_index(settings.with_overrides(data_dir=tmp_path, cache_dir=tmp_path / "cache"))
