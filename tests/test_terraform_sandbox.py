"""Real mode's parsed sandbox check, the mirror discovery and the version stand-in: no Terraform needed."""
from __future__ import annotations

from pathlib import Path

import pytest

from iacdemo.settings import Settings
from iacdemo.terraform import mirror
from iacdemo.terraform.real import RealModeUnavailable, as_official_terraform, availability, resolve_mode
from iacdemo.terraform.sandbox import check_program

AWS = 'provider "aws" {\n  region = "us-east-1"\n}\n'

REFUSED = {
    "data external": 'data "external" "x" {\n  program = ["sh", "-c", "id"]\n}\n',
    "external under another local name": ('terraform {\n  required_providers {\n    aws = { source = "hashicorp/aws" }\n'
                                          '    shell = { source = "hashicorp/external" }\n  }\n}\n'
                                          'data "shell" "x" {\n  program = ["id"]\n}\n'),
    "aws name pointed at external": ('terraform {\n  required_providers {\n    aws = { source = "hashicorp/external" }\n'
                                     '  }\n}\ndata "aws" "x" {\n  program = ["id"]\n}\n'),
    "provider meta-argument": ('data "aws_caller_identity" "x" {\n  provider = external.run\n}\n'),
    "scoped data source in a check block": 'check "c" {\n  data "external" "x" {\n    program = ["id"]\n  }\n}\n',
    "local-exec provisioner": ('resource "aws_s3_bucket" "b" {\n  bucket = "b"\n  provisioner "local-exec" {\n'
                               '    command = "cat /etc/passwd"\n  }\n}\n'),
    "remote-exec with connection": ('resource "aws_instance" "i" {\n  ami = "ami-1"\n  instance_type = "t2.micro"\n'
                                    '  connection {\n    host = "10.0.0.1"\n  }\n'
                                    '  provisioner "remote-exec" {\n    inline = ["id"]\n  }\n}\n'),
    "provisioner on terraform_data": 'resource "terraform_data" "x" {\n  provisioner "local-exec" {\n    command = "id"\n  }\n}\n',
    "provisioner in a removed block": ('removed {\n  from = aws_s3_bucket.b\n  provisioner "local-exec" {\n'
                                       '    when = destroy\n    command = "id"\n  }\n}\n'),
    "local module": 'module "m" {\n  source = "./modules/m"\n}\n',
    "remote module": 'module "vpc" {\n  source = "terraform-aws-modules/vpc/aws"\n}\n',
    "backend": 'terraform {\n  backend "s3" {\n    bucket = "state"\n  }\n}\n',
    "remote state": 'data "terraform_remote_state" "s" {\n  backend = "local"\n  config = { path = "/etc/passwd" }\n}\n',
    "random when not mirrored": 'resource "random_id" "r" {\n  byte_length = 4\n}\n',
    "http provider": 'data "http" "x" {\n  url = "http://169.254.169.254/"\n}\n',
    "credentials file": 'provider "aws" {\n  shared_credentials_files = ["/root/.aws/credentials"]\n}\n',
    "endpoint elsewhere": 'provider "aws" {\n  endpoints {\n    s3 = "http://10.0.0.1"\n  }\n}\n',
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_everything_that_runs_or_reads_is_refused(name):
    refusals = check_program(AWS + REFUSED[name], ["hashicorp/aws"])
    assert refusals, f"{name} was not refused"


def test_plain_aws_programs_are_allowed_and_the_check_is_parsed_not_grepped():
    code = AWS + ('# data "external" "x" { program = ["id"] }\n'
                  'resource "aws_s3_bucket" "b" {\n  bucket = "provisioner \\"local-exec\\" module"\n}\n'
                  'resource "terraform_data" "marker" {\n  input = "data \\"external\\""\n}\n'
                  'data "aws_caller_identity" "me" {}\n')
    assert check_program(code, ["hashicorp/aws"]) == []


def test_mirrored_helpers_are_allowed_only_when_mirrored():
    code = AWS + 'resource "random_id" "r" {\n  byte_length = 4\n}\n'
    assert check_program(code, ["hashicorp/aws", "hashicorp/random"]) == []
    assert check_program(code, ["hashicorp/aws"])


def test_unparsable_code_is_refused_with_the_parser_message():
    refusals = check_program('resource "aws_s3_bucket" "b" {\n  bucket = \n', ["hashicorp/aws"])
    assert refusals and "does not parse" in str(refusals[0])


def _fake_mirror(root: Path, source: str, version: str) -> Path:
    namespace, name = source.split("/")
    folder = root / "registry.terraform.io" / namespace / name / version / mirror.os_arch()
    folder.mkdir(parents=True)
    binary = folder / f"terraform-provider-{name}_v{version}_x5"
    binary.write_bytes(b"\x7fELF")
    return binary


def test_mirror_discovery_takes_allowed_providers_newest_first(tmp_path):
    _fake_mirror(tmp_path, "hashicorp/aws", "5.9.0")
    newest = _fake_mirror(tmp_path, "hashicorp/aws", "5.100.0")
    _fake_mirror(tmp_path, "hashicorp/external", "2.3.0")
    found = mirror.providers_in(tmp_path)
    assert set(found) == {"hashicorp/aws"}
    assert found["hashicorp/aws"].version == "5.100.0" and found["hashicorp/aws"].binary == newest
    assert mirror.find_mirror(Settings(tf_mirror=tmp_path)) == tmp_path
    config = mirror.cli_config(tmp_path, tmp_path / "cache", found)
    assert "filesystem_mirror" in config and "direct" not in config
    assert '"registry.terraform.io/hashicorp/aws"' in config and "external" not in config


def test_mirror_setting_without_aws_means_no_real_mode(tmp_path):
    settings = Settings(tf_mirror=tmp_path / "empty")
    assert mirror.find_mirror(settings) is None
    ok, why = availability(settings)
    assert not ok and ("mirror" in why or "terraform" in why)
    with pytest.raises(RealModeUnavailable, match="not available"):
        resolve_mode("real", settings)
    assert resolve_mode("auto", settings) == "static"
    assert resolve_mode("static", settings) == "static"
    with pytest.raises(RealModeUnavailable, match="Unknown mode"):
        resolve_mode("fast", settings)


def test_required_version_is_read_as_the_official_terraform_would():
    code = 'terraform {\n  required_version = "~> 1.9.8"\n}\nterraform {\n  required_version = ">= 1.12"\n}\n'
    rewritten = as_official_terraform(code)
    assert rewritten.count("\n") == code.count("\n")  # line numbers of diagnostics stay right
    assert '# required_version = "~> 1.9.8"' in rewritten
    assert '  required_version = ">= 1.12"' in rewritten


def test_evaluate_badges_carry_terraforms_own_diagnostics():
    from iacdemo.ui.evaluate_views import _sample_html

    sample = {"passed": False, "cause": "not plannable", "has_code": True, "check": {"parses": True},
              "terraform": ["terraform plan: Unsupported argument `enable_logging`, line 2"], "code": "x = 1"}
    page = _sample_html(sample, "base", 0, 1)
    assert "terraform plan: Unsupported argument `enable_logging`, line 2" in page


def test_without_real_mode_the_ui_offers_static_only_and_shows_no_terraform_lines(tmp_path):
    from iacdemo.terraform.real import mode_choices, terraform_lines

    settings = Settings(tf_mirror=tmp_path / "none")
    assert [mode for _, mode in mode_choices(settings)] == ["static"]
    assert terraform_lines('resource "aws_s3_bucket" "b" {\n  enable_logging = true\n}\n', settings) == []


def test_terraform_diagnostics_read_as_one_line_with_the_name_and_line():
    from iacdemo.terraform.real import diagnostics_from

    entry = {"severity": "error", "summary": "Unsupported argument",
             "detail": 'An argument named "enable_logging" is not expected here.',
             "range": {"filename": "main.tf", "start": {"line": 2, "column": 3}},
             "snippet": {"code": "  enable_logging = true", "highlight_start_offset": 2, "highlight_end_offset": 16}}
    block = {"severity": "error", "summary": "Your query returned no results.", "range": {"start": {"line": 46}},
             "snippet": {"code": 'data "aws_ami" "x" {', "highlight_start_offset": 19, "highlight_end_offset": 20}}
    first, second = diagnostics_from([entry, block], "terraform validate")
    assert first.format() == "terraform validate: Unsupported argument `enable_logging`, line 2"
    assert second.format() == "terraform validate: Your query returned no results., line 46"


def test_real_mode_settings_come_from_the_environment_and_typos_are_named():
    from iacdemo.errors import ConfigError
    from iacdemo.settings import settings_from_env

    settings = settings_from_env({"IACDEMO_TF_MIRROR": "/srv/mirror", "IACDEMO_TF_PLAN_TIMEOUT": "30",
                                  "IACDEMO_TF_WORKERS": "3"})
    assert (settings.tf_mirror, settings.tf_plan_timeout_s, settings.tf_workers) == (Path("/srv/mirror"), 30.0, 3)
    defaults = settings_from_env({})
    assert (defaults.tf_mirror, defaults.tf_plan_timeout_s, defaults.tf_workers) == (None, 100.0, 2)
    for name, value in (("IACDEMO_TF_WORKERS", "many"), ("IACDEMO_TF_WORKERS", "0"), ("IACDEMO_TF_PLAN_TIMEOUT", "inf"),
                        ("IACDEMO_TF_PLAN_TIMEOUT", "nan")):
        with pytest.raises(ConfigError, match=name):
            settings_from_env({name: value})
