"""The AWS provider's own schema (`terraform providers schema -json`), as the checker and plan read it.

The docs-scraped schema (`schema.py`) has to guess which names belong to which block and cannot know
types, nesting limits or which attributes only the provider sets; the provider's machine-readable
schema states all of that exactly, so wherever a dump is present it is the ground truth. The docs stay
the source of what the schema lacks: documented defaults (the plan shows them) and descriptions.

A dump is found under `Settings.provider_schema_dirs` as `aws-<version>.json` or `.json.gz`; the
highest version wins. Building the in-memory tree from the 13.6 MB dump takes about two seconds, so it
is done once per process.
"""
from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

from iacdemo.errors import DataError
from iacdemo.terraform.docs_rules import read_rules
from iacdemo.terraform.provider_values import load_cross, load_table
from iacdemo.terraform.schema_model import DATA, RESOURCE, ArgumentSpec, BlockSpec, ProviderSchema, TypeSchema

AWS_SOURCE = "registry.terraform.io/hashicorp/aws"
_DUMP_NAME = re.compile(r"^aws-(\d+(?:\.\d+)*)\.json(?:\.gz)?$")


def find_dump(directories: list[Path]) -> Path | None:
    """The newest `aws-<version>.json[.gz]` in the first directory that has one."""
    for directory in directories:
        if not directory.is_dir():
            continue
        found = [(tuple(int(p) for p in m.group(1).split(".")), path) for path in directory.iterdir()
                 if (m := _DUMP_NAME.match(path.name)) and path.is_file()]
        if found:
            return max(found)[1]
    return None


def read_dump(path: Path) -> ProviderSchema:
    """Build the schema tree from a `terraform providers schema -json` file."""
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as handle:
            data = json.load(handle)
        provider = data["provider_schemas"][AWS_SOURCE]
    except (OSError, ValueError, KeyError, TypeError, EOFError) as exc:
        raise DataError(f"{path} is not a `terraform providers schema -json` dump of the AWS provider: {exc}") from None
    schema = ProviderSchema(
        resources={n: _type(n, RESOURCE, t) for n, t in provider.get("resource_schemas", {}).items()},
        data_sources={n: _type(n, DATA, t) for n, t in provider.get("data_source_schemas", {}).items()},
        fingerprint=f"provider-schema:{path.name}:{path.stat().st_size}")
    schema.provider = _block(provider.get("provider", {}).get("block", {}))
    name = _DUMP_NAME.match(path.name)
    if name:  # the provider's value rules, probed from the same provider version
        for type_name, rules in load_table(name.group(1)).items():
            if type_name in schema.resources:
                schema.resources[type_name].values = rules
        for type_name, cross in load_cross(name.group(1)).items():
            if type_name in schema.resources:
                schema.resources[type_name].cross = cross
    return schema


def _type(name: str, kind: str, data: dict) -> TypeSchema:
    block = _block(data.get("block", {}))
    names: set[str] = set()
    _collect_names(block, names)
    return TypeSchema(arguments=block.arguments, blocks=block.blocks, exact=True, computed_only=block.computed_only,
                      name=name, kind=kind, known_names=frozenset(names),
                      attributes=frozenset(block.arguments) | frozenset(block.computed_only) | frozenset(block.blocks),
                      version=int(data.get("version") or 0))


def _block(data: dict, nesting: str = "single", min_items: int = 0, max_items: int = 0) -> BlockSpec:
    arguments: dict[str, ArgumentSpec] = {}
    computed_only: dict[str, Any] = {}
    for name, attr in (data.get("attributes") or {}).items():
        kind = attr.get("type")
        if kind is None and "nested_type" in attr:  # plugin-framework nested attributes
            kind = _nested_type(attr["nested_type"])
        if attr.get("required") or attr.get("optional"):
            arguments[name] = ArgumentSpec(required=bool(attr.get("required")), type=kind,
                                           computed=bool(attr.get("computed")))
        else:
            computed_only[name] = kind
    blocks = {name: _block(b.get("block", {}), b.get("nesting_mode", "list"), int(b.get("min_items") or 0),
                           int(b.get("max_items") or 0))
              for name, b in (data.get("block_types") or {}).items()}
    return BlockSpec(arguments=arguments, blocks=blocks, exact=True, computed_only=computed_only,
                     nesting=nesting, min_items=min_items, max_items=max_items)


def _nested_type(nested: dict) -> Any:
    fields = {}
    for name, attr in (nested.get("attributes") or {}).items():
        fields[name] = attr.get("type") if "type" in attr else _nested_type(attr.get("nested_type", {}))
    obj = ["object", fields]
    mode = nested.get("nesting_mode", "single")
    return obj if mode == "single" else [mode, obj]


def _collect_names(block: BlockSpec, names: set[str]) -> None:
    names.update(block.arguments)
    for name, child in block.blocks.items():
        names.add(name)
        _collect_names(child, names)


def merge_docs(schema: ProviderSchema, docs: ProviderSchema | None) -> ProviderSchema:
    """Carry what only the docs say (documented defaults) onto the provider schema's arguments."""
    if docs is None:
        return schema
    for table, docs_table in ((schema.resources, docs.resources), (schema.data_sources, docs.data_sources)):
        for name, type_schema in table.items():
            documented = docs_table.get(name)
            if documented is None:
                continue
            type_schema.doc_path = documented.doc_path
            _merge_defaults(type_schema, documented, documented)
    return schema


def _merge_defaults(exact: BlockSpec, documented: BlockSpec | None, page: TypeSchema, depth: int = 0) -> None:
    if documented is not None:
        for name, spec in exact.arguments.items():
            doc = documented.arguments.get(name)
            if doc is not None and doc.has_default and _default_fits(doc.default, spec.type):
                spec.default, spec.has_default = doc.default, True
    if depth > 8:
        return
    for name, child in exact.blocks.items():
        doc_child = documented.blocks.get(name) if documented is not None else None
        if doc_child is None:
            doc_child = page.find_block([name])
        _merge_defaults(child, doc_child, page, depth + 1)


def _default_fits(value: Any, kind: Any) -> bool:
    """A documented default is only used where it has the argument's type (the docs are sometimes loose)."""
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    return False


def merge_rules(schema: ProviderSchema, docs_paths: list[Path]) -> None:
    """Attach the docs' "Conflicts with" / "Exactly one of" rules, where every name is a top-level argument."""
    for type_name, rules in read_rules(docs_paths).items():
        type_schema = schema.resources.get(type_name)
        if type_schema is None:
            continue
        names = set(type_schema.arguments) | set(type_schema.blocks)
        conflicts: dict[str, set[str]] = {}
        for name, others in rules.conflicts.items():
            others = {o for o in others if o in names}
            if name in names and others:
                for other in others:  # a conflict goes both ways
                    conflicts.setdefault(name, set()).add(other)
                    conflicts.setdefault(other, set()).add(name)
        type_schema.conflicts = {n: frozenset(o) for n, o in conflicts.items()}
        type_schema.exactly_one = tuple(g for g in rules.exactly_one if all(n in names for n in g)
                                        and not any(type_schema.arguments.get(n) is not None
                                                    and type_schema.arguments[n].required for n in g))
