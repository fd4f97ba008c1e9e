"""Real mode against real Terraform, the mirrored AWS provider, moto and OPA (skipped, saying why, where absent).

One runner (one jailed provider, one moto server) serves the whole module, so each test costs a plan
or two, not a provider start.
"""
from __future__ import annotations

import json

import pytest

from iacdemo.terraform.real import RealTerraform, availability, real_diagnostics, set_runner

OK, WHY = availability()
pytestmark = [pytest.mark.skipif(not OK, reason=f"real Terraform mode unavailable here: {WHY}"), pytest.mark.slow]

AWS = 'provider "aws" {\n  region = "us-east-1"\n}\n'


@pytest.fixture(scope="module")
def runner():
    with RealTerraform(workers=1) as live:
        set_runner(live)
        yield live
        set_runner(None)


def test_validate_gives_terraforms_own_diagnostic_with_its_line(runner):
    code = AWS + 'resource "aws_s3_bucket" "logs" {\n  bucket = "logs"\n  enable_logging = true\n}\n'
    diagnostics = runner.validate(code)
    assert [d.format() for d in diagnostics] == ["terraform validate: Unsupported argument `enable_logging`, line 6"]
    assert real_diagnostics(code)[0].summary == "Unsupported argument"  # the UI's entry point, same runner


def test_plan_reads_from_moto_with_the_admin_profile(runner):
    code = ('provider "aws" {\n  region = "us-west-2"\n  profile = "admin-1"\n}\n'
            'data "aws_caller_identity" "me" {}\ndata "aws_availability_zones" "az" {}\n'
            'resource "aws_s3_bucket" "b" {\n  bucket = "b-${data.aws_caller_identity.me.account_id}"\n}\n'
            'output "zones" {\n  value = data.aws_availability_zones.az.names\n}\n')
    plan = runner.plan(code)
    assert plan.plannable, plan.error
    after = plan.plan["resource_changes"][0]["change"]["after"]
    assert after["bucket"] == "b-123456789012"  # moto's account
    assert plan.plan["planned_values"]["outputs"]["zones"]["value"][0].startswith("us-west-2")


def test_a_reference_is_scored_in_real_mode_with_opa_or_regorus(runner, tasks, schema):
    from iacdemo.evaluation.harness import score_reference

    result = score_reference(tasks[0], schema, mode="real")
    assert result.mode == "real" and result.plannable and result.passed, result.error
    assert result.policy_engine in ("opa", "regorus")


def test_file_outside_the_work_dir_fails_as_in_an_empty_folder_and_leaks_nothing(runner, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-7f3a91", encoding="utf-8")
    for path in (str(secret), "/etc/hostname", "../../etc/passwd", "~/.ssh/id_rsa.pub"):
        code = AWS + f'resource "aws_key_pair" "k" {{\n  key_name = "k"\n  public_key = file("{path}")\n}}\n'
        plan = runner.plan(code)
        assert not plan.plannable
        assert "no file exists" in plan.error, plan.error
        dumped = json.dumps({"error": plan.error, "diagnostics": [d.to_dict() for d in plan.diagnostics]})
        assert "TOP-SECRET" not in dumped and "root:x:0" not in dumped


def test_the_work_dir_holds_only_main_tf_and_the_host_is_not_visible(runner):
    code = AWS + ('output "here" {\n  value = fileset(path.module, "**")\n}\n'
                  'output "etc" {\n  value = fileset("/etc", "*")\n}\n'
                  'output "self" {\n  value = length(file("main.tf")) > 0\n}\n')
    plan = runner.plan(code)
    assert plan.plannable, plan.error
    outputs = plan.plan["planned_values"]["outputs"]
    assert outputs["here"]["value"] == ["main.tf"]
    assert "passwd" not in outputs["etc"]["value"] and "hostname" not in outputs["etc"]["value"]
    assert outputs["self"]["value"] is True


def test_refused_programs_never_reach_terraform(runner):
    plan = runner.plan(AWS + 'data "external" "x" {\n  program = ["sh", "-c", "touch /tmp/pwned"]\n}\n')
    assert not plan.plannable and plan.refused and plan.error.startswith("refused by the sandbox")
    assert plan.seconds < 5


def test_without_the_parsed_check_terraform_still_cannot_install_another_provider(runner, monkeypatch):
    import iacdemo.terraform.real as real

    monkeypatch.setattr(real, "inspect_program", lambda code, providers: ([], None))
    plan = runner.plan(AWS + 'data "external" "x" {\n  program = ["id"]\n}\n# second layer\n')
    assert not plan.plannable and not plan.refused
    assert "external" in plan.error  # Terraform's own complaint: that provider is not available


def test_every_plan_has_a_time_limit_and_the_runner_survives_it(runner):
    code = AWS + 'resource "aws_s3_bucket" "slow" {\n  bucket = "slow-one"\n}\n'
    timed = runner.plan(code, timeout_s=0.2)
    assert timed.timed_out and not timed.plannable and "timed out after" in timed.error
    again = runner.plan(code + "# after the timeout\n")
    assert again.plannable, again.error


def test_evaluate_cli_scores_an_answers_file_in_real_mode(runner, tasks, tmp_path, settings):
    from train.evaluate import main

    answers = tmp_path / "answers.jsonl"
    with answers.open("w", encoding="utf-8") as handle:
        handle.write(json.dumps({"task": 0, "answer": f"```hcl\n{tasks[0].reference}\n```"}) + "\n")
        handle.write(json.dumps({"task": 0, "answer": "```hcl\nresource \"aws_s3_bucket\" \"b\" {\n"
                                                      "  enable_logging = true\n}\n```"}) + "\n")
    out = tmp_path / "report.json"
    assert main(["--tasks", str(settings.iac_eval_csv), "--answers", str(answers), "--mode", "real",
                 "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["mode"] == "real" and report["samples"] == 2 and report["passed"] == 1
    bad = report["results"][1]
    assert not bad["plannable"] and any("Unsupported argument" in d for d in bad["terraform"])


def test_compare_badges_show_terraforms_diagnostic_next_to_the_static_checks(runner, schema):
    from iacdemo.hcl.check import check_hcl
    from iacdemo.terraform.real import mode_choices, terraform_lines
    from iacdemo.ui.compare_views import check_html

    code = AWS + 'resource "aws_s3_bucket" "logs" {\n  enable_logging = true\n}\n'
    lines = terraform_lines(code)
    assert lines == ["terraform validate: Unsupported argument `enable_logging`, line 5"]
    page = check_html(check_hcl(code, schema), terraform=lines)
    assert 'data-testid="check-badges"' in page and 'data-testid="terraform-badges"' in page
    assert "Unsupported argument `enable_logging`, line 5" in page
    assert ("real (terraform plan + OPA, minutes)", "real") in mode_choices()


def test_trimming_the_schema_to_the_programs_types_changes_no_plan(runner):
    from iacdemo.terraform.schema_prune import prune_schema, type_names

    code = ('provider "aws" {\n  region = "eu-west-1"\n}\ndata "aws_region" "here" {}\n'
            'resource "aws_sqs_queue" "q" {\n  name = "q-${data.aws_region.here.name}"\n'
            '  visibility_timeout_seconds = 45\n}\n')
    trimmed = runner.plan(code)
    runner.trim_schema = False
    try:
        full = runner.plan(code + "# the whole schema\n")
    finally:
        runner.trim_schema = True
    assert trimmed.plannable and full.plannable, (trimmed.error, full.error)
    assert trimmed.plan["resource_changes"] == full.plan["resource_changes"]
    assert trimmed.plan["planned_values"] == full.plan["planned_values"]
    response = next(iter(runner._schema_cache["hashicorp/aws"].values()))
    assert len(type_names(response)) > 1500  # 1,526 resource + 608 data-source types, names shared
    small = prune_schema(response, {"aws_sqs_queue", "aws_region"})
    assert type_names(small) == {"aws_sqs_queue", "aws_region"} and len(small) < len(response) / 50


def test_ubuntu_images_are_found_by_name_in_every_region(runner):
    lookup = ('data "aws_ami" "{name}" {{\n  provider = {provider}\n  most_recent = true\n  owners = ["{owner}"]\n'
              '  filter {{\n    name = "name"\n    values = ["*ubuntu-noble-24.04-amd64-server-*"]\n  }}\n}}\n')
    code = ('provider "aws" {\n  region = "us-east-1"\n}\nprovider "aws" {\n  alias = "west"\n  region = "us-west-2"\n}\n'
            + lookup.format(name="east", provider="aws", owner="amazon")
            + lookup.format(name="west", provider="aws.west", owner="099720109477")
            + 'output "amis" {\n  value = [data.aws_ami.east.id, data.aws_ami.west.id]\n}\n')
    plan = runner.plan(code)
    assert plan.plannable, plan.error
    assert all(ami.startswith("ami-") for ami in plan.plan["planned_values"]["outputs"]["amis"]["value"])


def test_the_evaluate_tabs_reference_scoring_runs_in_real_mode_and_says_so(runner, tasks, settings):
    from iacdemo.evaluation.comparison import evaluate_reference
    from iacdemo.ui.evaluate_views import summary_md, task_detail_html

    comparison = evaluate_reference(tasks[:3], settings=settings, mode="real")
    assert comparison.mode == "real" and comparison.reports["reference"]["mode"] == "real"
    samples = [t["answers"]["reference"][0] for t in comparison.tasks]
    assert all(s["mode"] == "real" for s in samples)
    assert all(s["policy_engine"] in ("opa", "regorus") for s in samples if s["plannable"])
    assert "**Mode: real**" in summary_md(comparison)
    assert task_detail_html(comparison, comparison.tasks[0]["id"])
