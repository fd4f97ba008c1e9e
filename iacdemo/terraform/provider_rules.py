"""Rules the AWS provider enforces that neither its schema dump nor the probed value table carries.

The provider rejects some configurations while planning (its `CustomizeDiff` functions), after the
schema has accepted them, and some values in `terraform validate` with a rule it states only in prose
(which `provider_values.py`'s probe cannot read). Each rule here is one such check of the provider (v5),
checked against real Terraform (tests/test_hcl_terraform_errors.py, tests/test_provider_values.py) or
against the plan errors in the published real verdicts, applied only to literal values, as the provider
applies it only to known values. Each returns Terraform's own error summaries.
"""
from __future__ import annotations

import re
from typing import Any, Callable

from iacdemo.terraform.expressions import constant_value

BLOCK_MARKER = "__is_block__"
PROVIDER_REJECTS = "The provider rejects this while planning."  # the detail of every diagnostic from here


def _literal(body: dict, name: str) -> tuple[bool, Any]:
    if name not in body:
        return True, None
    return constant_value(body[name])


def _blocks(body: dict, name: str) -> list[dict]:
    value = body.get(name)
    items = value if isinstance(value, list) else [value] if isinstance(value, dict) else []
    return [item for item in items if isinstance(item, dict)]


def dynamodb_table(body: dict) -> list[str]:
    """`aws_dynamodb_table`: every attribute is a key of the table or of an index and every key a defined
    attribute (validateTableAttributes); capacities only with, and then required by, PROVISIONED billing."""
    problems: list[str] = []
    if "dynamic" in body:
        return problems
    defined: set[str] = set()
    for attribute in _blocks(body, "attribute"):
        ok, name = _literal(attribute, "name")
        if not ok or not isinstance(name, str):
            return problems
        defined.add(name)
    indexed: set[str] = set()
    keys = [(body, "hash_key"), (body, "range_key")]
    keys += [(index, "range_key") for index in _blocks(body, "local_secondary_index")]
    keys += [(index, key) for index in _blocks(body, "global_secondary_index") for key in ("hash_key", "range_key")]
    for holder, key in keys:
        ok, name = _literal(holder, key)
        if not ok:
            return problems
        if isinstance(name, str):
            indexed.add(name)
    unmatched, unused = sorted(indexed - defined), sorted(defined - indexed)
    if defined or indexed:
        if unmatched:
            problems.append("all indexes must match a defined attribute. Unmatched indexes: "
                            f"[{' '.join(chr(34) + n + chr(34) for n in unmatched)}]")
        if unused:
            problems.append("all attributes must be indexed. Unused attributes: "
                            f"[{' '.join(chr(34) + n + chr(34) for n in unused)}]")
    ok, mode = _literal(body, "billing_mode")
    if not ok:
        return problems
    mode = mode if isinstance(mode, str) else "PROVISIONED"
    for field in ("read_capacity", "write_capacity"):
        known, value = _literal(body, field)
        if not known:
            continue
        number = _number(value)
        if mode == "PAY_PER_REQUEST" and number:
            problems.append(f'{field} can not be set when billing_mode is "PAY_PER_REQUEST"')
        elif mode == "PROVISIONED" and (number is None or number < 1):
            problems.append(f'{field} must be at least 1 when billing_mode is "PROVISIONED"')
    return problems


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def nat_gateway(body: dict) -> list[str]:
    """`aws_nat_gateway`: a private NAT gateway takes no Elastic IP (the provider's CustomizeDiff)."""
    ok, mode = _literal(body, "connectivity_type")
    if ok and mode == "private" and body.get("allocation_id") is not None:
        return ['allocation_id is not supported with connectivity_type = "private"']
    return []


def kinesis_stream(body: dict) -> list[str]:
    """`aws_kinesis_stream`: shards are counted only for PROVISIONED streams, and then at least one
    (the provider's CustomizeDiff; PROVISIONED when `stream_mode_details` is absent)."""
    details = _blocks(body, "stream_mode_details")
    if "dynamic" in body or len(details) > 1:
        return []
    mode: Any = "PROVISIONED"
    if details:
        ok, mode = _literal(details[0], "stream_mode")
        if not ok:
            return []
        mode = mode or "PROVISIONED"
    known, shards = _literal(body, "shard_count")
    if not known:
        return []
    number = _number(shards)
    if mode == "ON_DEMAND" and number:
        return ["shard_count must not be set when stream_mode is ON_DEMAND"]
    if mode == "PROVISIONED" and not number:
        return ["shard_count must be at least 1 when stream_mode is PROVISIONED"]
    return []


# Value checks the provider's ValidateFunc states only in prose, so the probe of
# scripts/probe_provider_validation.py cannot read them; checked one by one against real `terraform validate`.
_SUBNET_GROUP_NAME = re.compile(r"^[ 0-9a-z_.-]+$")
_REDSHIFT_SUBNET_GROUP_NAME = re.compile(r"^[0-9a-z-]+$")


def subnet_group_name(body: dict) -> list[str]:
    """`aws_db_subnet_group`, `aws_docdb_subnet_group`, `aws_neptune_subnet_group`: the RDS name rule."""
    ok, name = _literal(body, "name")
    if not ok or not isinstance(name, str) or not name:
        return []
    problems = []
    if not _SUBNET_GROUP_NAME.match(name):
        problems.append('only lowercase alphanumeric characters, hyphens, underscores, periods, and spaces allowed in "name"')
    if len(name) > 255:
        problems.append('"name" cannot be longer than 255 characters')
    if name.lower() == "default":
        problems.append('"Default" is not allowed as "name"')
    return problems


def redshift_subnet_group(body: dict) -> list[str]:
    ok, name = _literal(body, "name")
    if not ok or not isinstance(name, str) or not name:
        return []
    if name == "default":
        return ["expected name to not be any of [default], got default"]
    if not _REDSHIFT_SUBNET_GROUP_NAME.match(name):
        return ["invalid value for name (must contain only lowercase alphanumeric characters and hyphens)"]
    return []


def redshift_cluster(body: dict) -> list[str]:
    """`aws_redshift_cluster.master_password`: 8-64 characters with an upper- and a lowercase letter and a
    digit, none of / @ " ' or space (the provider reports every rule broken)."""
    ok, password = _literal(body, "master_password")
    if not ok or not isinstance(password, str) or not password:
        return []
    problems = []
    if not 8 <= len(password) <= 64:
        problems.append(f"expected length of master_password to be in the range (8 - 64), got {password}")
    for pattern, reason in ((r"[A-Z]", "must contain at least one uppercase letter"),
                            (r"[a-z]", "must contain at least one lowercase letter"),
                            (r"[0-9]", "must contain at least one number")):
        if not re.search(pattern, password):
            problems.append(f"invalid value for master_password ({reason})")
    if re.search(r"[/@\"' ]", password):
        problems.append("invalid value for master_password (cannot contain [/@\"' ])")
    return problems


RULES: dict[str, Callable[[dict], list[str]]] = {
    "aws_dynamodb_table": dynamodb_table,
    "aws_nat_gateway": nat_gateway,
    "aws_kinesis_stream": kinesis_stream,
    "aws_db_subnet_group": subnet_group_name,
    "aws_docdb_subnet_group": subnet_group_name,
    "aws_neptune_subnet_group": subnet_group_name,
    "aws_redshift_subnet_group": redshift_subnet_group,
    "aws_redshift_cluster": redshift_cluster,
}


def provider_rule_errors(resource_type: str, body: dict) -> list[str]:
    """Terraform's error summaries for a resource body that the provider would reject while planning."""
    rule = RULES.get(resource_type)
    return rule(body) if rule is not None else []
