"""The emulated `terraform show -json` plan, on real reference programs and on the constructs answers use."""
from __future__ import annotations

import json


from iacdemo.terraform.plan import plan_for_code, planned_value
from iacdemo.terraform.provider_facts import attributes_as_blocks


def _config(plan, address):
    return next(r for r in plan["configuration"]["root_module"]["resources"] if r["address"] == address)


def _planned(plan, address):
    return next(r for r in plan["planned_values"]["root_module"]["resources"] if r["address"] == address)


def _change(plan, address):
    return next(r for r in plan["resource_changes"] if r["address"] == address)


def test_reference_configuration_part(tasks, schema):
    plan = plan_for_code(tasks[0].reference, schema)  # Route 53 zone with a nested vpc block
    zone = _config(plan, "aws_route53_zone.example")
    assert zone["mode"] == "managed" and zone["provider_config_key"] == "aws"
    assert zone["expressions"]["name"] == {"constant_value": "example.com"}
    assert zone["expressions"]["vpc"] == [{"vpc_id": {"references": ["aws_vpc.example.id", "aws_vpc.example"]}}]
    association = _config(plan, "aws_route53_zone_association.example")
    assert association["expressions"]["vpc_id"]["references"][0] == \
        "aws_route53_vpc_association_authorization.example.vpc_id"
    assert plan["configuration"]["provider_config"]["aws"]["expressions"]["region"] == {"constant_value": "us-east-1"}
    addresses = [r["address"] for r in plan["configuration"]["root_module"]["resources"]]
    assert addresses == sorted(addresses)


def test_reference_planned_values(tasks, schema):
    plan = plan_for_code(tasks[0].reference, schema)
    vpc = _planned(plan, "aws_vpc.alternate")["values"]
    assert vpc["cidr_block"] == "10.7.0.0/16" and vpc["enable_dns_support"] is True
    assert "id" not in vpc and "arn" not in vpc  # known only after apply
    change = _change(plan, "aws_route53_zone_association.example")["change"]
    assert change["actions"] == ["create"] and change["before"] is None
    assert "vpc_id" not in change["after"] and change["after_unknown"]["vpc_id"] is True


def test_jsonencode_and_heredoc_policies_are_rendered(tasks, schema):
    with_json = next(t for t in tasks if "jsonencode" in t.reference and "aws_iam_role" in t.reference)
    plan = plan_for_code(with_json.reference, schema)
    role = next(r for r in plan["resource_changes"] if r["type"] == "aws_iam_role")
    document = json.loads(role["change"]["after"]["assume_role_policy"])
    assert document["Statement"][0]["Action"] == "sts:AssumeRole"
    assert list(json.loads(role["change"]["after"]["assume_role_policy"])) == ["Statement", "Version"]  # sorted keys
    heredoc_plan = plan_for_code(tasks[77].reference, schema)
    heredoc_role = _planned(heredoc_plan, "aws_iam_role.example1")["values"]
    assert json.loads(heredoc_role["assume_role_policy"])["Statement"][0]["Principal"]["Service"] == "eks.amazonaws.com"


def test_policy_document_data_source_is_rendered(tasks, schema):
    plan = plan_for_code(tasks[77].reference, schema)
    role = _planned(plan, "aws_iam_role.example")["values"]
    document = json.loads(role["assume_role_policy"])
    statement = document["Statement"][0]
    assert statement["Effect"] == "Allow" and statement["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert sorted(statement["Action"]) == ["sts:AssumeRole", "sts:TagSession"]
    data = _config(plan, "data.aws_iam_policy_document.assume_role")
    assert data["mode"] == "data" and data["expressions"]["statement"][0]["effect"] == {"constant_value": "Allow"}
    assert any(r["address"] == "data.aws_iam_policy_document.assume_role"
               for r in plan["prior_state"]["values"]["root_module"]["resources"])


def test_provider_defaults_fill_planned_values(schema):
    plan = plan_for_code('resource "aws_iam_role" "r" {\n  name = "r"\n  assume_role_policy = "{}"\n}\n', schema)
    values = _planned(plan, "aws_iam_role.r")["values"]
    assert values["force_detach_policies"] is False  # "Defaults to `false`" in the provider docs
    assert "force_detach_policies" not in _config(plan, "aws_iam_role.r")["expressions"]


def test_attribute_as_blocks_arguments(tasks, schema):
    assert {"ingress", "egress"} <= attributes_as_blocks()["aws_security_group"]
    plan = plan_for_code(tasks[330].reference, schema)
    group = _config(plan, "aws_security_group.allow-db-access")
    ingress = group["expressions"]["ingress"]["constant_value"]
    assert [rule["from_port"] for rule in ingress] == [3306, 5432]  # planned as numbers, as the provider types them
    route = _config(plan, "aws_route_table.public")["expressions"]["route"]
    assert route["references"][:2] == ["aws_internet_gateway.gateway.id", "aws_internet_gateway.gateway"]


COUNTED = '''
variable "names" {
  default = ["alpha", "beta"]
}
locals {
  prefix = "demo"
  ports  = { http = 80, https = 443 }
}
provider "aws" {
  region = "eu-west-1"
}
data "aws_availability_zones" "azs" {}
resource "aws_s3_bucket" "b" {
  count  = length(var.names)
  bucket = "${local.prefix}-${var.names[count.index]}"
}
resource "aws_security_group" "sg" {
  name = "sg"
  dynamic "ingress" {
    for_each = local.ports
    content {
      from_port   = ingress.value
      to_port     = ingress.value
      protocol    = "tcp"
      description = ingress.key
    }
  }
}
resource "aws_sqs_queue" "q" {
  for_each = toset(["one", "two"])
  name     = "queue-${each.key}"
}
resource "aws_subnet" "s" {
  vpc_id            = "vpc-123"
  cidr_block        = cidrsubnet("10.0.0.0/16", 8, 3)
  availability_zone = data.aws_availability_zones.azs.names[1]
  tags = {
    Bucket = aws_s3_bucket.b[1].bucket
  }
}
output "first" {
  value = aws_s3_bucket.b[0].bucket
}
'''


def test_count_for_each_dynamic_locals_and_variables(schema):
    plan = plan_for_code(COUNTED, schema)
    buckets = [r for r in plan["planned_values"]["root_module"]["resources"] if r["type"] == "aws_s3_bucket"]
    assert [(r["address"], r["index"], r["values"]["bucket"]) for r in buckets] == [
        ("aws_s3_bucket.b[0]", 0, "demo-alpha"), ("aws_s3_bucket.b[1]", 1, "demo-beta")]
    assert _config(plan, "aws_s3_bucket.b")["count_expression"] == {"references": ["var.names"]}
    queues = [r["address"] for r in plan["resource_changes"] if r["type"] == "aws_sqs_queue"]
    assert queues == ['aws_sqs_queue.q["one"]', 'aws_sqs_queue.q["two"]']
    assert _planned(plan, 'aws_sqs_queue.q["two"]')["values"]["name"] == "queue-two"
    ingress = _planned(plan, "aws_security_group.sg")["values"]["ingress"]
    assert sorted((r["description"], r["from_port"]) for r in ingress) == [("http", 80), ("https", 443)]
    assert "ingress" not in _config(plan, "aws_security_group.sg")["expressions"]  # dynamic: not in config JSON
    subnet = _planned(plan, "aws_subnet.s")["values"]
    assert subnet["cidr_block"] == "10.0.3.0/24" and subnet["availability_zone"] == "eu-west-1b"
    assert subnet["tags"] == {"Bucket": "demo-beta"}
    assert plan["planned_values"]["outputs"]["first"]["value"] == "demo-alpha"
    assert plan["configuration"]["root_module"]["variables"]["names"]["default"] == ["alpha", "beta"]


def test_symbolic_plan_gives_unknowns_placeholders(tasks, schema):
    plan = plan_for_code(tasks[0].reference, schema, symbolic=True)
    after = _change(plan, "aws_route53_zone_association.example")["change"]["after"]
    # the association copies the authorization's vpc_id, which is the alternate VPC's id
    assert after["vpc_id"] == "(known after apply: aws_vpc.alternate.id)"
    assert after["zone_id"] == "(known after apply: aws_route53_zone.example.id)"


TAGGED = '''
provider "aws" {
  region = "us-east-1"
  default_tags {
    tags = { Team = "platform" }
  }
}
provider "aws" {
  alias  = "plain"
  region = "eu-west-1"
}
resource "aws_vpc" "v" {
  cidr_block = "10.0.0.0/16"
  tags       = { Name = "main" }
}
resource "aws_subnet" "s" {
  provider                = aws.plain
  vpc_id                  = aws_vpc.v.id
  cidr_block              = "10.0.1.0/24"
  map_public_ip_on_launch = "true"
}
resource "aws_sqs_queue" "q" {
  name          = "q"
  delay_seconds = "5"
}
'''


def test_schema_versions_tags_all_and_computed_attributes(schema):
    plan = plan_for_code(TAGGED, schema)
    # aws_vpc and aws_subnet are at state schema version 1 in the provider, aws_sqs_queue at 0: a real plan
    # says so in the configuration and the planned values (and a 0 is a false leaf to the official check)
    assert _config(plan, "aws_vpc.v")["schema_version"] == 1 and _planned(plan, "aws_subnet.s")["schema_version"] == 1
    assert _config(plan, "aws_sqs_queue.q")["schema_version"] == 0
    assert all("schema_version" not in change for change in plan["resource_changes"])
    # tags_all = the provider's default_tags overlaid with the resource's tags; unknown when neither is set
    assert _planned(plan, "aws_vpc.v")["values"]["tags_all"] == {"Team": "platform", "Name": "main"}
    subnet = _change(plan, "aws_subnet.s")["change"]
    assert "tags_all" not in subnet["after"] and subnet["after_unknown"]["tags_all"] is True
    # attributes the provider exports are unknown until apply, as a real plan lists them
    assert subnet["after_unknown"]["arn"] is True and subnet["after_unknown"]["id"] is True
    assert "cidr_block" not in subnet["after_unknown"]
    # values converted to the argument's type (read from its documented default)
    assert subnet["after"]["map_public_ip_on_launch"] is True
    assert _planned(plan, "aws_sqs_queue.q")["values"]["delay_seconds"] == 5
    assert _config(plan, "aws_sqs_queue.q")["expressions"]["delay_seconds"] == {"constant_value": "5"}


def test_planned_value_conversions():
    assert planned_value("enabled", "false", True) is False
    assert planned_value("anything", "12", 0) == 12 and planned_value("anything", "1.5", 0) == 1.5
    assert planned_value("description", 1, "Managed by Terraform") == "1"
    assert planned_value("description", True, "Managed by Terraform") == "true"
    assert planned_value("engine_version", 5.7, "8.0") == 5.7  # a numeric-looking default says nothing
    assert planned_value("port", "80") == 80 and planned_value("name", "80") == "80"  # by name, no default


FILES = '''
data "archive_file" "zip" {
  type        = "zip"
  source_file = "lambda.py"
  output_path = "lambda.zip"
}
resource "aws_lambda_function" "f" {
  function_name    = "f"
  role             = "arn:aws:iam::123456789012:role/r"
  filename         = data.archive_file.zip.output_path
  source_code_hash = data.archive_file.zip.output_base64sha256
  handler          = "lambda.handler"
  runtime          = "python3.12"
}
resource "aws_lightsail_key_pair" "k" {
  name       = "k"
  public_key = file("~/.ssh/id_rsa.pub")
}
'''


def test_files_read_while_planning_are_known(schema):
    # Terraform reads files (file(), archive_file) during plan: a successful plan knows the results
    plan = plan_for_code(FILES, schema)
    archive = next(r for r in plan["prior_state"]["values"]["root_module"]["resources"]
                   if r["address"] == "data.archive_file.zip")
    assert archive["provider_name"] == "registry.terraform.io/hashicorp/archive"
    assert len(archive["values"]["output_base64sha256"]) == 44 and len(archive["values"]["output_md5"]) == 32
    function = _planned(plan, "aws_lambda_function.f")["values"]
    assert function["source_code_hash"] == archive["values"]["output_base64sha256"]
    assert function["filename"] == "lambda.zip"
    key = _change(plan, "aws_lightsail_key_pair.k")["change"]
    assert isinstance(key["after"]["public_key"], str) and "public_key" not in key["after_unknown"]
    # documented list "defaults" are computed by AWS (the SDK allows no collection defaults): unknown
    assert "architectures" not in function
