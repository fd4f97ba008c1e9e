"""The provider's own value validation and cross-argument rules (read out of the provider by
scripts/probe_provider_validation.py), checked statically AND in real `terraform validate` where Terraform
and the AWS provider mirror exist (the real cross-check skips, saying why, elsewhere)."""
from __future__ import annotations

import gzip
import importlib.util
import json
import os
import subprocess
from pathlib import Path

import pytest

from iacdemo.errors import DataError
from iacdemo.hcl.check import check_hcl
from iacdemo.settings import get_settings
from iacdemo.terraform.provider_values import TABLE_DIR, arn_problem, load_cross, load_table

LB = "arn:aws:elasticloadbalancing:us-east-1:123456789012"
# name -> (program, a fragment of Terraform's error summary or detail; "" = Terraform accepts it)
CASES: dict[str, tuple[str, str]] = {
    "one-of value, written as a bool": (
        'resource "aws_s3_bucket_object_lock_configuration" "l" {\n  bucket = "b"\n  object_lock_enabled = true\n}\n',
        'expected object_lock_enabled to be one of ["Enabled"], got true'),
    "one-of value, wrong case": (
        'resource "aws_efs_file_system" "f" {\n  throughput_mode = "Bursting"\n}\n',
        "expected throughput_mode to be one of"),
    "one-of value in a nested block": (
        'resource "aws_efs_file_system" "f" {\n  lifecycle_policy {\n    transition_to_archive = "AFTER_1_YEAR"\n'
        '  }\n}\n',
        "transition_to_archive to be one of"),
    "one-of element of a list": (
        'resource "aws_cognito_user_pool" "p" {\n  name = "p"\n  auto_verified_attributes = ["email", "sms"]\n}\n',
        "to be one of"),
    "an alias where an ARN is needed": (
        'resource "aws_efs_file_system" "f" {\n  encrypted = true\n  kms_key_id = "alias/aws/efs"\n}\n',
        '"kms_key_id" (alias/aws/efs) is an invalid ARN'),
    "an account id that is not twelve digits": (
        'resource "aws_lambda_permission" "p" {\n  action = "lambda:InvokeFunction"\n  function_name = "f"\n'
        '  principal = "s3.amazonaws.com"\n  source_account = "self"\n}\n',
        "doesn't look like AWS Account ID (exactly 12 digits)"),
    "a name where an ARN is needed (plugin framework)": (
        'resource "aws_bedrockagent_agent" "a" {\n  agent_name = "a"\n  agent_resource_role_arn = "my-role"\n'
        '  foundation_model = "anthropic.claude-v2"\n}\n',
        "Invalid ARN Value"),
    "an availability zone where a region is needed": (
        'resource "aws_lightsail_distribution" "d" {\n  name = "dist"\n  bundle_id = "small_1_0"\n'
        '  default_cache_behavior {\n    behavior = "cache"\n  }\n  origin {\n    name = "origin"\n'
        '    region_name = "us-west-2a"\n  }\n}\n',
        "doesn't look like AWS Region"),
    "conflicting arguments the docs do not list": (
        'resource "aws_redshift_cluster" "c" {\n  cluster_identifier = "c"\n  node_type = "dc2.large"\n'
        '  master_username = "admin"\n  master_password = "Passw0rd1"\n  manage_master_password = true\n}\n',
        "Conflicting configuration arguments"),
    "one of a nested group must be set": (
        'resource "aws_s3_bucket_metric" "m" {\n  bucket = "b"\n  name = "m"\n  filter {}\n}\n',
        "must be specified"),
    "one of a top-level group must be set": (
        'resource "aws_lambda_function" "f" {\n  function_name = "f"\n  role = "arn:aws:iam::123456789012:role/r"\n'
        '  handler = "index.handler"\n  runtime = "python3.12"\n}\n',
        "must be specified"),
    # Rules the provider states only in prose (provider_rules.py), one by one.
    "redshift password without an uppercase letter": (
        'resource "aws_redshift_cluster" "c" {\n  cluster_identifier = "c"\n  node_type = "dc2.large"\n'
        '  master_username = "admin"\n  master_password = "password123"\n}\n',
        "invalid value for master_password (must contain at least one uppercase letter)"),
    "redshift password with an @": (
        'resource "aws_redshift_cluster" "c" {\n  cluster_identifier = "c"\n  node_type = "dc2.large"\n'
        '  master_username = "admin"\n  master_password = "SecureP@ssw0rd!"\n}\n',
        "invalid value for master_password (cannot contain [/@\"' ])"),
    "db subnet group named default": (
        'resource "aws_db_subnet_group" "g" {\n  name = "default"\n  subnet_ids = ["subnet-1"]\n}\n',
        '"Default" is not allowed as "name"'),
    "docdb subnet group name with capitals": (
        'resource "aws_docdb_subnet_group" "g" {\n  name = "MyGroup"\n  subnet_ids = ["subnet-1"]\n}\n',
        "only lowercase alphanumeric characters, hyphens, underscores, periods, and spaces allowed"),
    "redshift subnet group name with an underscore": (
        'resource "aws_redshift_subnet_group" "g" {\n  name = "my_group"\n  subnet_ids = ["subnet-1"]\n}\n',
        "must contain only lowercase alphanumeric characters and hyphens"),
    "prose rules, valid values": (
        'resource "aws_redshift_cluster" "c" {\n  cluster_identifier = "c"\n  node_type = "dc2.large"\n'
        '  master_username = "admin"\n  master_password = "Passw0rd1!#"\n}\n'
        'resource "aws_db_subnet_group" "g" {\n  name = "my group_1.x"\n  subnet_ids = ["subnet-1"]\n}\n'
        'resource "aws_redshift_subnet_group" "g" {\n  name = "my-group-1"\n  subnet_ids = ["subnet-1"]\n}\n', ""),
    # Accepted by the provider: the rules must not fire.
    "one-of value the provider compares without case": (
        f'resource "aws_lb_listener" "l" {{\n  load_balancer_arn = "{LB}:loadbalancer/app/x/1"\n  port = 80\n'
        f'  protocol = "http"\n  default_action {{\n    type = "forward"\n'
        f'    target_group_arn = "{LB}:targetgroup/t/1"\n  }}\n}}\n', ""),
    "a bad value in a block that also holds a reference": (  # the provider skips such a block
        'resource "aws_sns_topic" "t" {\n  name = "t"\n}\nresource "aws_glacier_vault" "v" {\n  name = "v"\n'
        '  notification {\n    events = ["ObjectRestoreCompleted"]\n    sns_topic = aws_sns_topic.t.arn\n  }\n}\n', ""),
    "the valid counterparts": (
        'resource "aws_efs_file_system" "f" {\n  throughput_mode = "bursting"\n  encrypted = true\n'
        '  kms_key_id = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"\n'
        '  lifecycle_policy {\n    transition_to_archive = "AFTER_90_DAYS"\n  }\n}\n'
        'resource "aws_s3_bucket_object_lock_configuration" "l" {\n  bucket = "b"\n  object_lock_enabled = "Enabled"\n}\n'
        'resource "aws_s3_bucket_metric" "m" {\n  bucket = "b"\n  name = "m"\n  filter {\n    prefix = "logs/"\n  }\n}\n'
        'resource "aws_lightsail_distribution" "d" {\n  name = "dist"\n  bundle_id = "small_1_0"\n'
        '  default_cache_behavior {\n    behavior = "cache"\n  }\n  origin {\n    name = "origin"\n'
        '    region_name = "us-west-2"\n  }\n}\n', ""),
    "an unknown value is never judged": (
        'variable "mode" {\n  default = "Bursting"\n}\nresource "aws_efs_file_system" "f" {\n'
        '  throughput_mode = var.mode\n}\n', ""),
}


def _diagnostic_text(result) -> str:
    return "\n".join(f"{d['summary']} {d['detail']}" for d in result.diagnostics)


@pytest.mark.parametrize("name", sorted(CASES))
def test_static_check(schema, name):
    code, fragment = CASES[name]
    assert schema.exact, "these rules need the provider's own schema (../shared/data/provider-schema)"
    result = check_hcl(code, schema)
    assert result.parses
    if fragment:
        assert not result.plannable and fragment in _diagnostic_text(result), result.to_dict()
    else:
        assert result.plannable, result.to_dict()


KINESIS = 'resource "aws_kinesis_stream" "k" {\n  name = "k"\n'


@pytest.mark.parametrize("body, summary", [
    ('  shard_count = 1\n  stream_mode_details {\n    stream_mode = "ON_DEMAND"\n  }\n',
     "shard_count must not be set when stream_mode is ON_DEMAND"),
    ("", "shard_count must be at least 1 when stream_mode is PROVISIONED"),
    ('  stream_mode_details {\n    stream_mode = "ON_DEMAND"\n  }\n', None),
    ("  shard_count = 2\n", None),
])
def test_kinesis_shards_follow_the_stream_mode(schema, body, summary):
    """A plan-time rule (the provider's CustomizeDiff; both messages are in the published real plan errors),
    so no `terraform validate` can show it here: static only."""
    result = check_hcl(KINESIS + body + "}\n", schema)
    if summary:
        assert not result.plannable and summary in _diagnostic_text(result)
    else:
        assert result.plannable, result.to_dict()


def test_the_table_is_the_provider_versions_own():
    """The table for the schema dump's version is present and substantial; another version gets none
    (rules of one provider version are never applied to another)."""
    assert (TABLE_DIR / "aws-5.100.0.json.gz").is_file()
    values, cross = load_table("5.100.0"), load_cross("5.100.0")
    assert sum(map(len, values.values())) > 2000 and len(cross) > 100
    assert values["aws_efs_file_system"][("lifecycle_policy", "transition_to_archive")].one_of
    assert load_table("0.0.1") == {} and load_cross("0.0.1") == {}


def test_a_damaged_table_is_a_clear_error(tmp_path):
    (tmp_path / "aws-9.9.9.json.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match="not a provider value table"):
        load_table("9.9.9", tmp_path)
    with gzip.open(tmp_path / "aws-9.9.8.json.gz", "wt") as handle:
        handle.write("[1, 2]")
    with pytest.raises(DataError, match="regenerate it"):
        load_cross("9.9.8", tmp_path)
    assert load_table("9.9.7", tmp_path) == {}  # none probed for that version: no rules, no error


def test_arn_check_mirrors_the_providers():
    assert arn_problem("arn:aws:iam::123456789012:role/r") is None
    assert arn_problem("arn:aws:s3:::bucket") is None
    assert arn_problem("arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/k") is None
    assert arn_problem("alias/aws/rds") == "arn: invalid prefix"
    assert arn_problem("arn:aws:iam::role") == "arn: not enough sections"
    assert arn_problem("arn:aws:sns:us-east-1a:123456789012:t") == "invalid region value"
    assert arn_problem("arn:aws:sns:us-east-1:1234:t") == "invalid account ID value"


def test_real_terraform_agrees(terraform_cli, schema):
    """Every case: real `terraform validate` rejects it with the same words, or accepts it, as the static
    check does."""
    errors = terraform_cli.validate_each({name: code for name, (code, _) in CASES.items()})
    disagreements = []
    for name, (code, fragment) in sorted(CASES.items()):
        real = " ".join(" ".join(f"{d['summary']} {d.get('detail', '')}" for d in errors[name]).split())
        if fragment and fragment not in real:
            disagreements.append((name, real))
        if not fragment and errors[name]:
            disagreements.append((name, real))
    assert not disagreements


def test_real_terraform_agrees_on_arns(terraform_cli):
    """The ARN check against the provider's own, on an argument that takes an ARN."""
    values = ["arn:aws:iam::123456789012:role/r", "arn:aws:s3:::bucket", "alias/aws/rds", "arn:aws:iam::role",
              "arn:aws:sns:us-east-1a:123456789012:t", "arn:aws:sns:us-east-1:1234:t", "arn:aws:kms:us-east-1:aws:key/k"]
    programs = {value: f'resource "aws_redshift_cluster" "c" {{\n  cluster_identifier = "c"\n'
                       f'  node_type = "dc2.large"\n  kms_key_id = "{value}"\n}}\n' for value in values}
    errors = terraform_cli.validate_each(programs)
    for value in values:
        rejected = any("invalid ARN" in d["summary"] for d in errors[value])
        assert rejected == (arn_problem(value) is not None), value


# --- the probe that reads the rules out of the provider ------------------------------------------------

def _probe_module():
    path = Path(__file__).resolve().parents[1] / "scripts" / "probe_provider_validation.py"
    spec = importlib.util.spec_from_file_location("probe_provider_validation", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_probe_keeps_only_rules_stated_exactly():
    probe = _probe_module()
    lines = {12: ("aws_x", ("block", "mode"), False), 13: ("aws_x", ("names",), True)}

    def diagnostic(summary, line, detail=""):
        return {"severity": "error", "summary": summary, "detail": detail, "address": "aws_x.p",
                "range": {"start": {"line": line}}}

    assert probe.parse(diagnostic('expected block.0.mode to be one of ["A" "B"], got zzqprobe', 12), lines) == \
        ("aws_x", ("block", "mode"), {"one_of": ["A", "B"], "element": False})
    assert probe.parse(diagnostic('"names.0" (zzqprobe) is an invalid ARN: arn: invalid prefix', 13), lines)[2] == \
        {"arn": True, "element": True}
    # prose, or a diagnostic on no argument's line: no rule
    assert probe.parse(diagnostic("invalid value for mode (must be nice)", 12), lines) is None
    assert probe.parse(diagnostic('expected mode to be one of ["A"], got zzqprobe', 9), lines) is None
    cross = {"severity": "error", "summary": "Conflicting configuration arguments", "address": "aws_x.p",
             "detail": '"block.0.a": conflicts with block.0.b'}
    assert probe.parse_cross(cross) == ("aws_x", "conflicts", ("block.a", "block.b"))
    group = {"severity": "error", "summary": "Missing required argument", "address": "aws_x.p",
             "detail": '"f.0.a": one of `f.0.a,f.0.b` must be\nspecified'}
    assert probe.parse_cross(group) == ("aws_x", "at_least_one", ("f.a", "f.b"))


def test_probe_reproduces_the_table(terraform_cli, tmp_path):
    """Re-probing a few types with the real provider gives exactly the rules the table holds for them."""
    probe = _probe_module()
    env = terraform_cli.env
    dump = get_settings().data_dir / "provider-schema" / "aws-5.100.0.json.gz"
    if not dump.is_file():
        pytest.skip(f"no provider schema dump at {dump}")
    with gzip.open(dump, "rt", encoding="utf-8") as handle:
        resources = json.load(handle)["provider_schemas"]["registry.terraform.io/hashicorp/aws"]["resource_schemas"]
    names = ["aws_efs_file_system", "aws_lb_listener", "aws_s3_bucket_metric"]
    old = os.environ.get("TF_CLI_CONFIG_FILE")
    os.environ["TF_CLI_CONFIG_FILE"] = env["TF_CLI_CONFIG_FILE"]
    try:
        (tmp_path / "main.tf").write_text(probe.HEADER)
        subprocess.run(["terraform", "init", "-input=false", "-no-color"], cwd=tmp_path, check=True, capture_output=True)
        values, _ = probe.probe_values(tmp_path, resources, names)
        cross = probe.probe_cross(tmp_path, resources, names)
    finally:
        if old is None:
            os.environ.pop("TF_CLI_CONFIG_FILE", None)
        else:
            os.environ["TF_CLI_CONFIG_FILE"] = old
    with gzip.open(TABLE_DIR / "aws-5.100.0.json.gz", "rt", encoding="utf-8") as handle:
        table = json.load(handle)
    for name in names:
        assert values.get(name, {}) == table["resources"].get(name, {}), name
        assert cross.get(name, {}) == table["cross"].get(name, {}), name
