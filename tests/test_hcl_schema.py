"""The provider schema read from the real AWS provider docs, and its cache."""
from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from iacdemo.errors import DataError
from iacdemo.terraform.schema import (CACHES_KEPT, NO_DEFAULT, ProviderSchema, _literal, _read_pickle, _write_cache,
                                      build_schema, docs_fingerprint, documented_default, forget_loaded_schemas,
                                      load_docs_schema, load_schema, provider_docs_paths)
from iacdemo.settings import REPO_ROOT, get_settings


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("iacdemo-cache")


@pytest.fixture(scope="module")
def schema(cache_dir) -> ProviderSchema:
    forget_loaded_schemas()  # tests run earlier in the session may have loaded it: build and cache it here
    started = time.perf_counter()
    loaded = load_docs_schema(get_settings().with_overrides(cache_dir=cache_dir))
    print(f"\nschema ready in {time.perf_counter() - started:.2f} s "
          f"({len(loaded.resources)} resource types, {len(loaded.data_sources)} data-source types)")
    return loaded


def test_type_counts(schema):
    assert len(schema.resources) > 1300
    assert len(schema.data_sources) > 540
    assert "aws_s3_bucket" in schema.resources and "aws_ami" in schema.data_sources


def test_contributor_insights_arguments(schema):
    insights = schema.get("aws_dynamodb_contributor_insights")
    assert set(insights.arguments) == {"table_name", "index_name"}
    assert insights.required() == ["table_name"]
    assert insights.is_known("table_name") and insights.is_known("count") and insights.is_known("depends_on")
    assert not insights.is_known("enable_logging") and not insights.is_known("region")


def test_nested_blocks_and_defaults(schema):
    listener = schema.get("aws_lb_listener")
    assert set(listener.required()) == {"default_action", "load_balancer_arn"}
    action = listener.find_block(["default_action"])
    assert action.required() == ["type"]
    assert listener.find_block(["default_action", "redirect"]).arguments["status_code"].required is False
    assert listener.find_block(["default_action", "forward", "stickiness"]).defaults() == {"enabled": False}
    # a block looked up by a path the page does not spell out is still found by its name
    assert listener.find_block(["whatever", "authenticate_oidc"]) is not None
    assert schema.get("aws_s3_bucket").defaults()["force_destroy"] is False
    assert schema.get("aws_sqs_queue").defaults()["delay_seconds"] == 0


def test_data_sources_and_attributes(schema):
    ami = schema.get("aws_ami", "data")
    assert {"most_recent", "owners", "filter", "name_regex"} <= ami.known_names
    assert "image_id" in ami.attributes and "image_id" not in ami.known_names
    assert schema.get("aws_ami", "resource") is not schema.get("aws_ami", "data")


def test_aliases_and_misheaded_pages(schema):
    assert schema.get("aws_alb_listener").required() == schema.get("aws_lb_listener").required()
    # d/msk_kafka_version.html.markdown is headed "aws_msk_cluster"; the file name is the real type
    assert schema.get("aws_msk_kafka_version", "data") is not None


def test_suggest(schema):
    assert schema.suggest("aws_dynamodb_contributor_insight") == "aws_dynamodb_contributor_insights"
    assert schema.suggest("aws_s3_buckets") == "aws_s3_bucket"
    assert schema.suggest("aws_amis", "data") == "aws_ami"
    assert schema.suggest("completely_unrelated_thing") is None


def test_literal_defaults():
    assert _literal("true") is True and _literal("False") is False
    assert _literal("1") == 1 and _literal("-5") == -5
    assert _literal('"x"') == "x" and _literal("1.0") == "1.0" and _literal("PROVISIONED") == "PROVISIONED"


@pytest.mark.parametrize("text, value", [
    ("(Optional) A boolean flag. Defaults false.", False),
    ("The number of compute nodes in the cluster. Default is 1.", 1),
    ("The default for this attribute is 0, meaning that the call will return immediately.", 0),
    ("The default value is -1, which sets the maximum number of retries to infinite.", -1),
    ("(Optional, Default: `AES256`) Server-side encryption.", "AES256"),
    ("Default value is `LATEST`.", "LATEST"),
    ('The description of the group. Defaults to "Managed by Terraform".', "Managed by Terraform"),
    ("Valid values are `standard` (the default), `io1` or `gp2`.", "standard"),
    ("Defaults to `2` if not set.", 2),
])
def test_documented_default_phrasings(text, value):
    assert documented_default(text) == value and type(documented_default(text)) is type(value)


@pytest.mark.parametrize("text", [
    "Valid values are `default`, `dedicated`, and `host`.",  # "default" is a value here, not the word
    "If configured with a provider [`default_tags` configuration block] present, tags overwrite.",
    "Amazon DocumentDB uses your default KMS key.",
    "Defaults to `null`.",
    "For `ActiveMQ`, the AWS-default is `efs`.",  # decided by AWS: computed, not planned
    "A version such as 8.0. Default values are 31 days for `AUTO`",
])
def test_no_documented_default(text):
    assert documented_default(text) is NO_DEFAULT


def test_defaults_read_from_wrapped_bullets_and_not_from_values(schema):
    # "Default is `false`." sits on the bullet's third, indented line in r/subnet
    assert schema.get("aws_subnet").defaults()["map_public_ip_on_launch"] is False
    assert schema.get("aws_redshift_cluster").defaults()["number_of_nodes"] == 1  # "Default is 1."
    # "Valid values are `default`, `dedicated`" used to give the garbage default ","
    assert "tenancy" not in schema.get("aws_instance").defaults()
    # conditional defaults in sub-bullets under an argument are not its default
    assert "matcher" not in schema.get("aws_lb_target_group").find_block(["health_check"]).defaults()


def test_cache_written_and_loaded_fast_by_a_second_process(schema, cache_dir):
    files = list((cache_dir / "schema").glob("*.json"))
    assert len(files) == 1 and json.loads(files[0].read_text())["fingerprint"] == schema.fingerprint
    written = files[0].stat().st_mtime_ns
    script = textwrap.dedent("""
        import json, time
        started = time.perf_counter()
        from iacdemo.terraform.schema import load_docs_schema
        schema = load_docs_schema()
        print(json.dumps({"seconds": time.perf_counter() - started, "resources": len(schema.resources),
                          "data": len(schema.data_sources)}))
    """)
    env = {**os.environ, "IACDEMO_CACHE_DIR": str(cache_dir), "PYTHONPATH": str(REPO_ROOT)}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60,
                         check=True)
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"\ncached schema load in a fresh process: {loaded['seconds']:.3f} s")
    # read from the cache, not rebuilt from the docs (how fast it is, is bench/RESULTS.md's business)
    assert files[0].stat().st_mtime_ns == written and list((cache_dir / "schema").glob("*.json")) == files
    assert (loaded["resources"], loaded["data"]) == (len(schema.resources), len(schema.data_sources))


def _page(name: str, args: str) -> str:
    return f"---\nsubcategory: \"T\"\n---\n\n# Resource: {name}\n\n## Argument Reference\n\n{args}\n"


def test_markdown_checkout_and_fingerprint(tmp_path):
    """Users who are online point at a git checkout of the provider: markdown files, not JSONL."""
    pages = tmp_path / "website" / "docs" / "r"
    pages.mkdir(parents=True)
    page = pages / "thing.html.markdown"
    page.write_text(_page("aws_thing", "* `size` - (Required) Size. Defaults to `3`.\n"
                                       "* `rule` - (Optional) Rules.\n\n"
                                       "### rule\n\n* `action` - (Required) What to do.\n"))
    schema = build_schema([tmp_path])
    thing = schema.get("aws_thing")
    assert thing.required() == ["size"] and thing.defaults() == {"size": 3}
    assert thing.find_block(["rule"]).required() == ["action"]
    before = docs_fingerprint([tmp_path])
    page.write_text(page.read_text() + "* `extra` - (Optional) More.\n")
    os.utime(page, ns=(time.time_ns(), time.time_ns() + 5_000_000_000))
    assert docs_fingerprint([tmp_path]) != before


def test_missing_docs_is_a_data_error(tmp_path):
    settings = get_settings().with_overrides(data_dir=tmp_path / "nowhere", cache_dir=tmp_path / "cache")
    with pytest.raises(DataError):
        load_schema(settings)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="No AWS provider resource pages"):
        build_schema([empty])


def test_provider_docs_paths_prefers_the_provider_file():
    paths = provider_docs_paths()
    assert len(paths) == 1 and paths[0].name == "terraform-provider-aws-docs.jsonl.gz"


@pytest.mark.parametrize("text", [
    'For HTTP APIs, the route key can be either "$default", or a combination of an HTTP method and path.',
    "Valid values are: `\"\"`, `aurora-iopt1`. Default: `\"\"` (Aurora DB Clusters).",
    'The instruction set architecture. Defaults to `["x86_64"]`.',  # computed by AWS: no SDK default
    "Requires `policy_type = \"StepScaling\"` (default).",
    "Maximum size of a file. Default is `32,768 KB`.",
])
def test_prose_and_collections_are_no_default(text):
    assert documented_default(text) is NO_DEFAULT


def test_dollar_values_are_not_the_word_default():
    # "`$Default`" is a value; the default is what the sentence after it states
    text = "Can be version number, `$Latest`, or `$Default`. The default value is `$Default`."
    assert documented_default(text) == "$Default"


def test_provider_schema_dump_is_the_ground_truth():
    """With the `terraform providers schema -json` dump present, `load_schema` is exact: every type of the
    provider, types and nesting limits, the docs' defaults and documented conflicts carried over."""
    schema = load_schema()
    assert schema.exact and (len(schema.resources), len(schema.data_sources)) == (1526, 608)
    listener = schema.get("aws_lb_listener")
    assert listener.required() == ["load_balancer_arn"] and listener.blocks["default_action"].min_items == 1
    assert listener.blocks["default_action"].required() == ["type"]
    queue = schema.get("aws_sqs_queue")
    assert queue.arguments["delay_seconds"].type == "number" and "arn" in queue.computed_only
    assert queue.defaults()["visibility_timeout_seconds"] == 30  # from the docs
    assert schema.get("aws_db_instance").version == 2
    assert schema.get("aws_s3_bucket").conflicts["bucket"] == {"bucket_prefix"}


def test_provider_schema_dump_found_by_version(tmp_path):
    from iacdemo.terraform.provider_schema import find_dump

    (tmp_path / "aws-5.9.0.json").write_text("{}")
    (tmp_path / "aws-5.100.0.json.gz").write_bytes(b"")
    (tmp_path / "notes.json").write_text("{}")
    assert find_dump([tmp_path / "missing", tmp_path]).name == "aws-5.100.0.json.gz"
    with pytest.raises(DataError, match="not a `terraform providers schema -json` dump"):
        from iacdemo.terraform.provider_schema import read_dump
        read_dump(tmp_path / "aws-5.9.0.json")


def test_merged_schema_is_cached_whole_for_the_next_process(schema, cache_dir):
    """Merging the dump with the docs costs seconds in every process (each CLI run, each training job), so
    the result is cached: read back, it equals the built one down to value rules and conflicts; a fresh
    process reads it instead of rebuilding; a damaged cache file is rebuilt, not trusted."""
    settings = get_settings().with_overrides(cache_dir=cache_dir)
    forget_loaded_schemas()
    built = load_schema(settings)
    [cached] = (cache_dir / "schema").glob("aws-provider-merged-*.pickle")
    written = cached.stat().st_mtime_ns
    forget_loaded_schemas()
    again = load_schema(settings)
    assert again is not built and again == built and again.exact
    assert again.get("aws_db_instance").values[("network_type",)].one_of == ("DUAL", "IPV4")
    assert again.get("aws_s3_bucket").conflicts["bucket"] == {"bucket_prefix"}

    script = textwrap.dedent("""
        from iacdemo.terraform.schema import load_schema
        s = load_schema()
        print(len(s.resources), s.get("aws_sqs_queue").defaults()["visibility_timeout_seconds"])
    """)
    env = {**os.environ, "IACDEMO_CACHE_DIR": str(cache_dir), "PYTHONPATH": str(REPO_ROOT)}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120,
                         check=True)
    assert out.stdout.split() == ["1526", "30"]
    assert cached.stat().st_mtime_ns == written  # read, not rewritten

    forget_loaded_schemas()
    for damaged in (b"\x80\x05not a pickle", b"", pickle.dumps({"not": "a schema"})):
        cached.write_bytes(damaged)
        assert _read_pickle(cached) is None  # so load_schema rebuilds, as it did above on a miss
    marker = cache_dir / "ran"  # a planted file that names a callable: refused, nothing runs
    cached.write_bytes(pickle.dumps(_Planted(marker)))
    assert _read_pickle(cached) is None and not marker.exists()
    pickle.loads(pickle.dumps(_Planted(marker)))
    assert marker.exists()  # what a plain pickle.load would have done


class _Planted:
    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def test_a_long_lived_process_keeps_the_schema_out_of_the_gcs_way():
    """The app keeps the schema for its lifetime: frozen, full collections no longer walk its objects."""
    import gc

    from iacdemo.terraform.schema import keep_schema_resident

    schema = keep_schema_resident()
    assert schema is load_schema()
    assert gc.get_freeze_count() > 250_000  # the schema's objects among them


def test_each_new_schema_cache_file_drops_all_but_the_newest_few(tmp_path):
    """Every docs or code change writes a new multi-MB cache file under a new name; without pruning a
    long-lived install collects them forever. The newest CACHES_KEPT of a kind stay, other kinds are kept."""
    folder = tmp_path / "schema"
    folder.mkdir()
    for n in range(6):
        old = folder / f"aws-provider-merged-{n:020x}.pickle"
        old.write_bytes(b"old")
        os.utime(old, (1_000_000 + n, 1_000_000 + n))
    other_kind = folder / "aws-provider-0123456789abcdef0123.json"
    other_kind.write_text("{}")
    os.utime(other_kind, (1, 1))
    new = folder / "aws-provider-merged-ffffffffffffffffffff.pickle"
    _write_cache(new, lambda fh: fh.write(b"new"), binary=True, siblings="aws-provider-merged-*.pickle")
    kept = sorted(p.name for p in folder.glob("aws-provider-merged-*.pickle"))
    assert kept == [f"aws-provider-merged-{n:020x}.pickle" for n in range(6 - (CACHES_KEPT - 1), 6)] + [new.name]
    assert new.read_bytes() == b"new" and other_kind.exists()
