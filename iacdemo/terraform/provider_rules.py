"""Plan-time rules the AWS provider enforces across arguments, which no schema carries.

The provider rejects some configurations while planning (its `CustomizeDiff` functions), after the
schema has accepted them. Each rule here is one such check of the provider (v5), applied only to literal
values, as the provider applies it only to values known at plan time. Each returns Terraform's own
error summaries.
"""
from __future__ import annotations

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


RULES: dict[str, Callable[[dict], list[str]]] = {
    "aws_dynamodb_table": dynamodb_table,
    "aws_nat_gateway": nat_gateway,
}


def provider_rule_errors(resource_type: str, body: dict) -> list[str]:
    """Terraform's error summaries for a resource body that the provider would reject while planning."""
    rule = RULES.get(resource_type)
    return rule(body) if rule is not None else []
