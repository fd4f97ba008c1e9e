"""The few data sources whose result Terraform knows at plan time without asking AWS.

A real plan reads every data source during planning. Offline we can only reproduce the ones that are
pure functions of their arguments or of the provider configuration: `aws_iam_policy_document` (a JSON
rendering), `aws_region` and `aws_partition`, plus the zone names of `aws_availability_zones`, which
follow a fixed naming scheme per region. The `archive` provider's `archive_file` zips local files while
planning, so its checksums are known in a real plan; offline they are computed from a stand-in for the
files' content (as `file()` is, see `functions.py`). Everything else a data source exports (AMI ids,
account ids) stays unknown, exactly like a value known only after apply.
"""
from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from iacdemo.terraform.values import UNKNOWN, contains_unknown

_STATEMENT_LISTS = (
    ("actions", "Action"), ("not_actions", "NotAction"),
    ("resources", "Resource"), ("not_resources", "NotResource"),
)


# The region a configuration without one plans in. The official harness ran with a configured AWS
# profile, so references that declare no region still planned; us-east-1 is the usual default.
DEFAULT_REGION = "us-east-1"


def render_data_source(rtype: str, values: dict, program: Any, provider_key: str = "aws") -> dict:
    """Attributes a real plan would know for this data source, from its evaluated arguments."""
    renderer = _RENDERERS.get(rtype)
    return renderer(values, program, provider_key) if renderer else {}


def _string_or_list(items: list) -> Any:
    """The provider writes one-element lists as a plain string and sorts longer ones in reverse."""
    unique = sorted({str(i) for i in items}, reverse=True)
    return unique[0] if len(unique) == 1 else unique


def _principals(blocks: list) -> Any:
    out: dict[str, list] = {}
    for block in blocks:
        ptype, identifiers = block.get("type"), block.get("identifiers") or []
        if ptype == "*" and identifiers in (["*"], "*"):
            return "*"
        out.setdefault(str(ptype), []).extend(identifiers if isinstance(identifiers, list) else [identifiers])
    return {k: _string_or_list(v) for k, v in out.items()}


def _statement(block: dict) -> dict:
    statement: dict[str, Any] = {}
    if block.get("sid"):
        statement["Sid"] = block["sid"]
    statement["Effect"] = block.get("effect") or "Allow"
    for key, name in _STATEMENT_LISTS:
        items = block.get(key)
        if items:
            statement[name] = _string_or_list(items if isinstance(items, list) else [items])
    if block.get("principals"):
        statement["Principal"] = _principals(block["principals"])
    if block.get("not_principals"):
        statement["NotPrincipal"] = _principals(block["not_principals"])
    conditions: dict[str, dict] = {}
    for cond in block.get("condition") or []:
        values = cond.get("values") or []
        conditions.setdefault(str(cond.get("test")), {})[str(cond.get("variable"))] = _string_or_list(
            values if isinstance(values, list) else [values])
    if conditions:
        statement["Condition"] = conditions
    return statement


def _iam_policy_document(values: dict, program: Any, provider_key: str) -> dict:
    arguments = {k: v for k, v in values.items() if k in ("statement", "version", "policy_id",
                                                          "source_policy_documents",
                                                          "override_policy_documents")}
    if contains_unknown(arguments) or values.get("source_policy_documents") or values.get("override_policy_documents"):
        return {}
    document: dict[str, Any] = {"Version": values.get("version") or "2012-10-17"}
    if values.get("policy_id"):
        document["Id"] = values["policy_id"]
    document["Statement"] = [_statement(block) for block in values.get("statement") or []]
    return {
        "json": json.dumps(document, indent=2),
        "minified_json": json.dumps(document, separators=(",", ":")),
    }


def provider_region(program: Any, provider_key: str = "aws") -> Any:
    """The region of the provider configuration `aws` or `aws.ALIAS` (the default region if unset)."""
    name, _, alias = provider_key.partition(".")
    for declared, body in getattr(program, "providers", []):
        if declared != name or (body.get("alias") or "") != alias:
            continue
        if "region" in body:
            return program.evaluate(body["region"], program.scope)
        break
    return DEFAULT_REGION


def _region(values: dict, program: Any, provider_key: str) -> dict:
    region = values.get("name") or values.get("region") or provider_region(program, provider_key)
    if region is UNKNOWN or not isinstance(region, str):
        return {}
    return {"name": region, "region": region, "id": region}


def _partition(values: dict, program: Any, provider_key: str) -> dict:
    return {"partition": "aws", "dns_suffix": "amazonaws.com", "reverse_dns_prefix": "com.amazonaws",
            "id": "aws"}


# Availability zones a plan lists for a region. A real plan asks AWS; the zone letters an account sees
# differ slightly, but every region has at least three zones lettered from "a", and us-east-1 six.
_ZONE_COUNT = {"us-east-1": 6, "us-west-2": 4, "ap-northeast-2": 4}


def _availability_zones(values: dict, program: Any, provider_key: str) -> dict:
    region = provider_region(program, provider_key)
    if region is UNKNOWN or not isinstance(region, str):
        return {}
    excluded = values.get("exclude_names") if isinstance(values.get("exclude_names"), list) else []
    names = [region + letter for letter in "abcdef"[:_ZONE_COUNT.get(region, 3)]]
    return {"names": [n for n in names if n not in excluded], "id": region, "group_names": [region]}


_ARCHIVE_SOURCES = ("source_file", "source_dir", "source_content", "source")


def _archive_file(values: dict, program: Any, provider_key: str) -> dict:
    """Checksums of the archive `archive_file` writes during planning, over a stand-in content."""
    sources = {k: values[k] for k in _ARCHIVE_SOURCES if values.get(k) is not None}
    output_path = values.get("output_path")
    if not sources or not isinstance(output_path, str) or contains_unknown(sources):
        return {}
    content = ("(archive of " + json.dumps(sources, sort_keys=True, default=str) + ")").encode()

    def digest(name: str) -> bytes:
        return hashlib.new(name, content).digest()

    return {
        "id": digest("sha1").hex(),
        "output_md5": digest("md5").hex(),
        "output_sha": digest("sha1").hex(),
        "output_sha256": digest("sha256").hex(),
        "output_sha512": digest("sha512").hex(),
        "output_base64sha256": base64.b64encode(digest("sha256")).decode(),
        "output_base64sha512": base64.b64encode(digest("sha512")).decode(),
    }


_RENDERERS = {
    "archive_file": _archive_file,
    "aws_availability_zones": _availability_zones,
    "aws_iam_policy_document": _iam_policy_document,
    "aws_region": _region,
    "aws_partition": _partition,
}
