"""Data tab handlers on the real docs: choices, validation, a DynamoDB build and its views."""
from __future__ import annotations

import pytest

from iacdemo.errors import ConfigError, DataError
from iacdemo.ui.state import AppContext
from iacdemo.ui.tabs import data_tab
from tests.ui_support import isolated_settings

ALL_FILES = ["opa-docs.jsonl.gz", "terraform-docs.jsonl.gz", "terraform-provider-aws-docs.jsonl.gz"]


@pytest.fixture(scope="module")
def ctx(settings, tmp_path_factory) -> AppContext:
    return AppContext(isolated_settings(settings, tmp_path_factory.mktemp("ui-data")))


@pytest.fixture(scope="module")
def dynamodb(ctx):
    return data_tab.run_build(ctx, ALL_FILES, "", ["DynamoDB"], "", "256", False, "dynamodb-256")


def test_source_choices_are_the_packed_files(ctx):
    values = [v for _, v in data_tab.source_file_choices(ctx.settings)]
    assert values == ALL_FILES  # SOURCE.md describes the data; it is not a source
    labels = dict((v, l) for l, v in data_tab.source_file_choices(ctx.settings))
    assert "terraform-provider-aws" in labels["terraform-provider-aws-docs.jsonl.gz"]


def test_service_choices_come_from_the_docs(ctx):
    choices = dict((v, l) for l, v in data_tab.service_choices(ALL_FILES, "", False, ctx.settings))
    assert "DynamoDB" in choices and "docs)" in choices["DynamoDB"]
    assert "(none)" not in choices
    # OPA docs have no AWS services
    assert not data_tab.service_choices(["opa-docs.jsonl.gz"], "", False, ctx.settings)


@pytest.mark.parametrize("name", ["../evil", "a/b", "..", "", "  ", "-x", "x" * 200])
def test_bad_dataset_names_are_refused(ctx, name):
    with pytest.raises(ConfigError):
        data_tab.dataset_dir(name, ctx.settings)


def test_good_dataset_name_lands_in_datasets_dir(ctx):
    assert data_tab.dataset_dir(" dynamo_db-1.0 ", ctx.settings) == ctx.settings.datasets_dir / "dynamo_db-1.0"


@pytest.mark.parametrize("value", ["abc", None, "12.5"])
def test_bad_seq_len_is_refused(value):
    with pytest.raises(ConfigError):
        data_tab.parse_seq_len(value)


def test_sources_must_exist_and_stay_inside(ctx, tmp_path):
    with pytest.raises(DataError, match="at least one"):
        data_tab.resolve_sources([], "", ctx.settings)
    with pytest.raises(DataError, match="Unknown source"):
        data_tab.resolve_sources(["nope.jsonl.gz"], "", ctx.settings)
    with pytest.raises(DataError, match="outside"):
        data_tab.resolve_sources([], "../../../etc", ctx.settings)
    with pytest.raises(DataError, match="outside"):
        data_tab.resolve_sources([], str(tmp_path), ctx.settings)
    inside = data_tab.resolve_sources([], "corpus/opa-docs.jsonl.gz", ctx.settings)
    assert inside == [(ctx.settings.data_dir / "corpus" / "opa-docs.jsonl.gz").resolve()]


def test_filter_matching_nothing_is_a_clear_error(ctx):
    with pytest.raises(DataError, match="pattern"):
        data_tab.run_build(ctx, ALL_FILES, "", ["DynamoDB"], "no/such/*", 256, False, "nothing")
    assert not (ctx.settings.datasets_dir / "nothing").exists()


def test_dynamodb_build_and_views(ctx, dynamodb):
    stats = dynamodb.stats
    assert dynamodb.out_dir == ctx.settings.datasets_dir / "dynamodb-256"
    assert set(stats["services"]) == {"DynamoDB"}
    assert stats["rows"] == len(dynamodb.dataset) > 10
    assert max(dynamodb.dataset["n_tokens"]) <= 256

    summary = data_tab.summary_md(stats, dynamodb.out_dir)
    assert f"{stats['rows']:,} rows" in summary and "DynamoDB" in summary and "dynamodb-256" in summary
    per_source = data_tab.per_source_frame(stats)
    assert list(per_source["source"]) == ["terraform-provider-aws"]
    assert per_source["tokens"].sum() == stats["tokens"]
    assert list(data_tab.per_service_frame(stats)["service"]) == ["DynamoDB"]
    hist = data_tab.histogram_frame(stats)
    assert hist["segments"].sum() == stats["rows"] and hist["tokens"].iloc[-1] == "225-256"
    assert list(hist["tokens"]) == sorted(hist["tokens"])  # the plot sorts labels alphabetically

    samples = data_tab.sample_frame(dynamodb.dataset)
    assert len(samples) == min(data_tab.SAMPLE_ROWS, stats["rows"])
    assert samples["text"].str.len().max() <= data_tab.SAMPLE_CHARS + 2
    assert (samples["subcategory"] == "DynamoDB").all()
    assert len(data_tab.result_views(dynamodb)) == 5


def test_built_corpus_is_listed_and_reopens(ctx, dynamodb):
    names = [v for _, v in data_tab.corpus_choices(ctx.settings)]
    assert "dynamodb-256" in names
    reopened = data_tab.open_corpus("dynamodb-256", ctx.settings)
    assert reopened.stats["rows"] == dynamodb.stats["rows"] == len(reopened.dataset)
    with pytest.raises(ConfigError):
        data_tab.open_corpus("../dynamodb-256", ctx.settings)
