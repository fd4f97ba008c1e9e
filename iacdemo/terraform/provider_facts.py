"""Provider facts the plan emulation needs beyond argument names: attributes written as blocks.

Some AWS arguments (`aws_security_group.ingress`, `aws_route_table.route`, ...) look like nested blocks
but are attributes of the provider schema, "processed in attribute-as-blocks mode". Terraform's
plan JSON then shows them as one attribute expression (`constant_value` of a list of objects, or
`references`), not as a list of block expressions, and IaC-Eval policies read them that way
(`expressions.route.references[0]`). The provider docs say which arguments these are, so the list is
read from them rather than written down by hand.
"""
from __future__ import annotations

import re
from functools import lru_cache

from iacdemo.corpus.sources import provider_pages
from iacdemo.settings import Settings, get_settings

PROVIDER_DOCS_FILE = "terraform-provider-aws-docs.jsonl.gz"

_MARKER = re.compile(r"attributes?-as-blocks", re.I)
_BULLET = re.compile(r"^\s*[*-]\s+`([a-z0-9_]+)`")
_HEADING = re.compile(r"^#+\s+(.*)$")
_BACKTICKED = re.compile(r"`([a-z][a-z0-9_]*)`")
_WORD = re.compile(r"\b([a-z][a-z0-9]*(?:_[a-z0-9]+)*)\b")
_HEADING_NOISE = {"and", "argument", "arguments", "reference", "block", "blocks", "configuration", "the"}


def names_in_page(body: str) -> set[str]:
    """Argument names a provider page declares to be processed in attribute-as-blocks mode."""
    names: set[str] = set()
    lines = body.splitlines()
    for i, line in enumerate(lines):
        if not _MARKER.search(line):
            continue
        bullet = _BULLET.match(line)
        if bullet:
            names.add(bullet.group(1))
            continue
        mentioned = [n for n in _BACKTICKED.findall(line) if n not in _HEADING_NOISE]
        if mentioned:
            names.update(mentioned)
            continue
        previous = lines[i - 1] if i else ""
        if line.startswith((" ", "\t")) and _BULLET.match(previous):  # an indented note under a bullet
            names.add(_BULLET.match(previous).group(1))
            continue
        for back in range(i - 1, max(-1, i - 8), -1):  # otherwise: the heading this note sits under
            heading = _HEADING.match(lines[back])
            if heading:
                names.update(w for w in _WORD.findall(heading.group(1).lower()) if w not in _HEADING_NOISE)
                break
    return names


@lru_cache(maxsize=4)
def _attributes_as_blocks(docs_path: str) -> dict[str, frozenset[str]]:
    from pathlib import Path

    path = Path(docs_path)
    if not path.exists():
        return {}
    found: dict[str, frozenset[str]] = {}
    for type_name, doc in provider_pages([path], kind="r"):
        if "as-blocks" not in doc.text:
            continue
        names = names_in_page(doc.body)
        if names:
            found[type_name] = frozenset(names) | found.get(type_name, frozenset())
    return found


def attributes_as_blocks(settings: Settings | None = None) -> dict[str, frozenset[str]]:
    """{resource type: argument names written as blocks but planned as attributes} (empty without docs)."""
    settings = settings or get_settings()
    return _attributes_as_blocks(str(settings.corpus_dir / PROVIDER_DOCS_FILE))


# The provider's state schema version of each resource type, as a real plan reports it in
# `schema_version` (configuration and planned values). It matters for scoring, not just for looks: the
# official harness fails a sample on any leaf equal to `False`, and `0 == False`, so a policy whose rule
# returns whole resource objects fails on a type at version 0 but not on one at version 1. The docs do not
# say it, so these come from the AWS provider's source (v5: `SchemaVersion:` of each resource); every
# type not listed is at version 0, the SDK's default.
SCHEMA_VERSIONS: dict[str, int] = {
    "aws_cloudwatch_metric_alarm": 1,
    "aws_db_instance": 2,
    "aws_default_security_group": 1,
    "aws_default_subnet": 1,
    "aws_default_vpc": 1,
    "aws_dynamodb_table": 1,
    "aws_ecs_task_definition": 1,
    "aws_elastic_beanstalk_environment": 1,
    "aws_elasticache_replication_group": 2,
    "aws_instance": 1,
    "aws_key_pair": 1,
    "aws_route53_record": 2,
    "aws_security_group": 1,
    "aws_security_group_rule": 2,
    "aws_subnet": 1,
    "aws_vpc": 1,
}


def schema_version(resource_type: str, mode: str = "managed") -> int:
    """The `schema_version` a real plan shows for a resource (data sources are always at 0)."""
    return SCHEMA_VERSIONS.get(resource_type, 0) if mode == "managed" else 0
