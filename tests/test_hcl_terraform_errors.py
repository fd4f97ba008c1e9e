"""Each class of error real Terraform stops on, caught statically from the provider's own schema, and the
same programs run through real `terraform validate` where Terraform and the AWS provider mirror exist."""
from __future__ import annotations

import pytest

from iacdemo.hcl.check import check_hcl
from iacdemo.hcl.parse import HCLParseError, parse_hcl

QUEUE_OK = 'resource "aws_sqs_queue" "q" {\n  name = "jobs"\n}\n'

# name -> (program, Terraform's summary, where in CheckResult the static check reports it)
CASES: dict[str, tuple[str, str, str]] = {
    "unsupported argument": (
        'resource "aws_sqs_queue" "q" {\n  name = "jobs"\n  enable_logging = true\n}\n',
        "Unsupported argument", "unknown_arguments"),
    "unsupported block type": (
        'resource "aws_sqs_queue" "q" {\n  name = "jobs"\n  redrive {\n    x = 1\n  }\n}\n',
        "Unsupported block type", "unknown_arguments"),
    "argument in the wrong block": (  # valid at the top level of the type, not inside this block
        'resource "aws_lb_listener" "l" {\n  load_balancer_arn = "arn:aws:elasticloadbalancing:us-east-1:'
        '123456789012:loadbalancer/app/x/1"\n  default_action {\n    type = "forward"\n    port = 80\n  }\n}\n',
        "Unsupported argument", "unknown_arguments"),
    "missing required argument": (
        'resource "aws_lb_target_group_attachment" "a" {\n  target_id = "i-123"\n}\n',
        "Missing required argument", "missing_required"),
    "missing required nested argument": (
        'resource "aws_lb_listener" "l" {\n  load_balancer_arn = "arn:aws:elasticloadbalancing:us-east-1:'
        '123456789012:loadbalancer/app/x/1"\n  default_action {\n    target_group_arn = "x"\n  }\n}\n',
        "Missing required argument", "missing_required"),
    "insufficient blocks": (
        'resource "aws_lb_listener" "l" {\n  load_balancer_arn = "arn:aws:elasticloadbalancing:us-east-1:'
        '123456789012:loadbalancer/app/x/1"\n}\n',
        "Insufficient default_action blocks", "diagnostics"),
    "too many blocks": (
        'resource "aws_s3_bucket_versioning" "v" {\n  bucket = "b"\n  versioning_configuration {\n'
        '    status = "Enabled"\n  }\n  versioning_configuration {\n    status = "Suspended"\n  }\n}\n',
        "Too many versioning_configuration blocks", "diagnostics"),
    "incorrect attribute value type": (
        'resource "aws_sqs_queue" "q" {\n  name = "jobs"\n  delay_seconds = "soon"\n}\n',
        "Incorrect attribute value type", "diagnostics"),
    "unconfigurable attribute": (
        'resource "aws_sqs_queue" "q" {\n  name = "jobs"\n  arn = "arn:aws:sqs:us-east-1:123456789012:jobs"\n}\n',
        "Value for unconfigurable attribute", "diagnostics"),
    "unsupported attribute": (
        QUEUE_OK + 'output "o" {\n  value = aws_sqs_queue.q.queue_size\n}\n',
        "Unsupported attribute", "diagnostics"),
    "attribute of a list of blocks": (
        'resource "aws_eks_cluster" "c" {\n  name = "c"\n  role_arn = "arn:aws:iam::123456789012:role/r"\n'
        '  vpc_config {\n    subnet_ids = ["subnet-1", "subnet-2"]\n  }\n}\n'
        'output "ca" {\n  value = aws_eks_cluster.c.certificate_authority.data\n}\n',
        "Unsupported attribute", "diagnostics"),
    "conflicting arguments": (
        'resource "aws_s3_bucket" "b" {\n  bucket = "b"\n  bucket_prefix = "b-"\n}\n',
        "Conflicting configuration arguments", "diagnostics"),
    "variables not allowed": (
        'variable "name" {\n  default = "jobs-${aws_sqs_queue.q.id}"\n}\n' + QUEUE_OK,
        "Variables not allowed", "diagnostics"),
    "destroy provisioner reference": (
        'variable "who" {\n  default = "me"\n}\nresource "aws_sqs_queue" "q" {\n  name = "jobs"\n'
        '  provisioner "local-exec" {\n    when = destroy\n    command = "echo ${var.who}"\n  }\n}\n',
        "Invalid reference from destroy provisioner", "diagnostics"),
    "file that is not in the work dir": (
        'resource "aws_iam_policy" "p" {\n  name = "p"\n  policy = file("policy.json")\n}\n',
        "Invalid function argument", "diagnostics"),
}
# Errors Terraform raises only while planning (no plan runs in these tests), checked statically only.
PLAN_TIME = {
    "self-referential block": (
        'resource "aws_sqs_queue" "q" {\n  name = "jobs"\n  tags = {\n    Arn = aws_sqs_queue.q.arn\n  }\n}\n',
        "Self-referential block"),
    "required variable": ('variable "name" {\n  type = string\n}\n' + QUEUE_OK, "No value for required variable"),
    "dynamodb unused attribute": (
        'resource "aws_dynamodb_table" "t" {\n  name = "t"\n  hash_key = "id"\n  billing_mode = "PAY_PER_REQUEST"\n'
        '  attribute {\n    name = "id"\n    type = "S"\n  }\n  attribute {\n    name = "ts"\n    type = "N"\n  }\n}\n',
        'all attributes must be indexed. Unused attributes: ["ts"]'),
    "dynamodb capacity on demand": (
        'resource "aws_dynamodb_table" "t" {\n  name = "t"\n  hash_key = "id"\n  billing_mode = "PAY_PER_REQUEST"\n'
        '  read_capacity = 5\n  attribute {\n    name = "id"\n    type = "S"\n  }\n}\n',
        'read_capacity can not be set when billing_mode is "PAY_PER_REQUEST"'),
    "private nat gateway with an eip": (
        'resource "aws_nat_gateway" "n" {\n  connectivity_type = "private"\n  subnet_id = "subnet-1"\n'
        '  allocation_id = "eipalloc-1"\n}\n',
        'allocation_id is not supported with connectivity_type = "private"'),
    "archive of a missing file": (
        'data "archive_file" "z" {\n  type = "zip"\n  source_file = "app.py"\n  output_path = "app.zip"\n}\n',
        "Archive creation error"),
}


def _summaries(result) -> list[str]:
    return [d["summary"] for d in result.diagnostics]


@pytest.mark.parametrize("name", sorted(CASES))
def test_static_check_catches(schema, name):
    code, summary, field = CASES[name]
    assert schema.exact, "these checks need the provider's own schema (../shared/data/provider-schema)"
    result = check_hcl(code, schema)
    assert result.parses and not result.plannable
    found = getattr(result, field)
    assert found, (name, result.to_dict())
    if field == "diagnostics":
        assert summary in _summaries(result)


@pytest.mark.parametrize("name", sorted(PLAN_TIME))
def test_plan_time_errors(schema, name):
    code, summary = PLAN_TIME[name]
    result = check_hcl(code, schema)
    assert not result.plannable and summary in _summaries(result)


def test_the_fixed_programs_pass(schema):
    """The counterparts without the mistake are plannable: the rules do not fire on valid code."""
    fixed = [
        QUEUE_OK + 'output "o" {\n  value = aws_sqs_queue.q.arn\n}\n',
        'resource "aws_eks_cluster" "c" {\n  name = "c"\n  role_arn = "arn:aws:iam::123456789012:role/r"\n  vpc_config {\n'
        '    subnet_ids = ["s1"]\n  }\n}\noutput "ca" {\n  value = aws_eks_cluster.c.certificate_authority[0].data\n}\n',
        'variable "name" {\n  default = "jobs"\n}\n' + QUEUE_OK,
        'resource "aws_dynamodb_table" "t" {\n  name = "t"\n  hash_key = "id"\n  billing_mode = "PAY_PER_REQUEST"\n'
        '  attribute {\n    name = "id"\n    type = "S"\n  }\n}\n',
        'resource "aws_sqs_queue" "q" {\n  name = "jobs"\n  delay_seconds = "5"\n}\n',  # "5" converts to a number
        'resource "aws_security_group" "s" {\n  ingress {\n    from_port = 80\n    to_port = 80\n'
        '    protocol = "tcp"\n    cidr_blocks = ["0.0.0.0/0"]\n  }\n}\n',  # an attribute written as blocks
    ]
    for code in fixed:
        result = check_hcl(code, schema)
        assert result.plannable, result.to_dict()


def test_duplicated_attribute_is_a_parse_error_with_a_line(schema):
    code = 'resource "aws_sqs_queue" "q" {\n  name = "a"\n  name = "b"\n}\n'
    with pytest.raises(HCLParseError) as caught:
        parse_hcl(code, explicit_blocks=True)
    assert caught.value.line == 3 and "redefined" in str(caught.value)
    # hcl2 raised a bare RuntimeError ("Attribute ... is already defined") for an argument and a block of
    # one name; it must be a parse error too, never a crash.
    clash = ('resource "aws_msk_cluster" "c" {\n  open_monitoring = true\n  broker_node_group_info {\n'
             '    instance_type = "t3.small"\n  }\n  open_monitoring {\n    prometheus {}\n  }\n}\n')
    result = check_hcl(clash, schema)
    assert not result.parses and result.parse_error_line == 6


# --- the same programs in real Terraform --------------------------------------------------------------

# Terraform rejects these while loading the configuration, before a provider starts, and a load error stops
# the validation of every other module: each of them is validated alone (a fraction of a second).
LOAD_TIME = frozenset({"variables not allowed", "destroy provisioner reference"})


def test_real_terraform_agrees(terraform_cli, schema):
    """Every validate-time case: real `terraform validate` rejects it with the same summary, and accepts the
    fixed queue; the static check says the same."""
    cases = sorted(CASES.items()) + [("valid", (QUEUE_OK, "", ""))]
    errors = terraform_cli.validate_each({name: code for name, (code, _, _) in cases}, alone=LOAD_TIME)
    real = {name: [d["summary"] for d in found] for name, found in errors.items()}
    disagreements = []
    for name, (code, summary, _) in cases:
        static = check_hcl(code, schema).plannable
        if summary and (summary not in real[name] or static):
            disagreements.append((name, real[name], static))
        if not summary and (real[name] or not static):
            disagreements.append((name, real[name], static))
    assert not disagreements
