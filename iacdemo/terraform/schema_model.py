"""A provider's schema as every check and the plan read it: types, their blocks and arguments.

Two readers build it (the docs reader in `schema.py`, the provider's own dump in `provider_schema.py`)
and `schema.load_schema` picks between them; the classes live here so that each reader can import them
without importing the other.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Iterable


RESOURCE = "resource"
DATA = "data"

# Terraform's own arguments, valid in every resource / data block whatever the provider docs say.
RESOURCE_META_ARGUMENTS = frozenset(
    {"count", "for_each", "depends_on", "provider", "lifecycle", "provisioner", "connection", "timeouts"})
DATA_META_ARGUMENTS = frozenset({"count", "for_each", "depends_on", "provider", "lifecycle"})
META_BLOCKS_NOT_CHECKED = frozenset({"lifecycle", "provisioner", "connection", "timeouts"})


@dataclass
class ArgumentSpec:
    required: bool = False
    default: Any = None
    has_default: bool = False
    type: Any = None  # the provider schema's cty type (JSON form); None when read from the docs
    computed: bool = False  # optional and computed: unset, the provider decides it (unknown in a plan)


@dataclass
class BlockSpec:
    """Arguments and nested blocks of a resource/data type or of one of its nested blocks."""

    arguments: dict[str, ArgumentSpec] = field(default_factory=dict)
    blocks: dict[str, "BlockSpec"] = field(default_factory=dict)
    # From the provider's own schema only (`exact`): the names are then complete, so anything else is
    # an "Unsupported argument"; attributes only the provider sets; how the block nests and how often.
    exact: bool = False
    computed_only: dict[str, Any] = field(default_factory=dict)  # name -> cty type
    nesting: str = "list"
    min_items: int = 0
    max_items: int = 0

    def required(self) -> list[str]:
        return sorted(n for n, a in self.arguments.items() if a.required)

    def defaults(self) -> dict[str, Any]:
        return {n: a.default for n, a in self.arguments.items() if a.has_default}

    def to_json(self) -> dict:
        out: dict[str, Any] = {}
        if self.arguments:
            out["a"] = {n: ([int(a.required), a.default] if a.has_default else [int(a.required)])
                        for n, a in sorted(self.arguments.items())}
        if self.blocks:
            out["b"] = {n: b.to_json() for n, b in sorted(self.blocks.items())}
        return out

    @classmethod
    def from_json(cls, data: dict) -> "BlockSpec":
        args = {n: ArgumentSpec(required=bool(v[0]), default=v[1] if len(v) > 1 else None, has_default=len(v) > 1)
                for n, v in data.get("a", {}).items()}
        return cls(arguments=args, blocks={n: cls.from_json(b) for n, b in data.get("b", {}).items()})


@dataclass
class TypeSchema(BlockSpec):
    name: str = ""
    kind: str = RESOURCE
    doc_path: str = ""
    known_names: frozenset[str] = frozenset()  # every argument/block name listed in the argument sections
    attributes: frozenset[str] = frozenset()  # names listed under "Attribute Reference"
    version: int = 0  # the provider's state schema version (a real plan's `schema_version`)
    # Documented cross-argument rules (docs_rules.py), top level only: name -> names it conflicts with,
    # and groups of which exactly one must be set.
    conflicts: dict[str, frozenset[str]] = field(default_factory=dict)
    exactly_one: tuple[tuple[str, ...], ...] = ()
    # The provider's value validation (provider_values.py), from the provider schema's version only:
    # argument path from the top -> rule.
    values: dict = field(default_factory=dict)
    cross: Any = None  # provider_values.CrossRules: conflicts and one-of groups at every depth

    def find_block(self, path: Iterable[str]) -> BlockSpec | None:
        """The nested block at `path` (block names from the top), else any block of that name on the page."""
        path = list(path)
        node: BlockSpec | None = self
        for name in path:
            node = node.blocks.get(name) if node else None
        if node is not None or not path or self.exact:
            return node
        return _find_anywhere(self, path[-1])

    def is_known(self, argument: str) -> bool:
        meta = RESOURCE_META_ARGUMENTS if self.kind == RESOURCE else DATA_META_ARGUMENTS
        return argument in self.known_names or argument in meta

    def to_json(self) -> dict:
        out = super().to_json()
        out.update(path=self.doc_path, names=sorted(self.known_names), attrs=sorted(self.attributes))
        return out

    @classmethod
    def from_type_json(cls, name: str, kind: str, data: dict) -> "TypeSchema":
        block = BlockSpec.from_json(data)
        return cls(arguments=block.arguments, blocks=block.blocks, name=name, kind=kind,
                   doc_path=data.get("path", ""), known_names=frozenset(data.get("names", ())),
                   attributes=frozenset(data.get("attrs", ())))


def _find_anywhere(root: BlockSpec, name: str, _depth: int = 0) -> BlockSpec | None:
    if name in root.blocks:
        return root.blocks[name]
    if _depth > 8:
        return None
    for child in root.blocks.values():
        found = _find_anywhere(child, name, _depth + 1)
        if found is not None:
            return found
    return None


@dataclass
class ProviderSchema:
    resources: dict[str, TypeSchema]
    data_sources: dict[str, TypeSchema]
    fingerprint: str = ""
    provider: BlockSpec | None = None  # the `provider "aws"` block's own schema (provider schema only)

    @property
    def exact(self) -> bool:
        """Whether this is the provider's own schema (complete names, types, nesting) or the docs' reading."""
        return self.provider is not None

    def get(self, type_name: str, kind: str = RESOURCE) -> TypeSchema | None:
        return (self.resources if kind == RESOURCE else self.data_sources).get(type_name)

    def suggest(self, type_name: str, kind: str = RESOURCE) -> str | None:
        """"Did you mean": the closest known type of the same kind, if any is close enough."""
        pool = self.resources if kind == RESOURCE else self.data_sources
        matches = difflib.get_close_matches(type_name, pool.keys(), n=1, cutoff=0.8)
        return matches[0] if matches else None

    def to_json(self) -> dict:
        return {"fingerprint": self.fingerprint,
                "resources": {n: t.to_json() for n, t in sorted(self.resources.items())},
                "data_sources": {n: t.to_json() for n, t in sorted(self.data_sources.items())}}

    @classmethod
    def from_json(cls, data: dict) -> "ProviderSchema":
        return cls(resources={n: TypeSchema.from_type_json(n, RESOURCE, t) for n, t in data["resources"].items()},
                   data_sources={n: TypeSchema.from_type_json(n, DATA, t) for n, t in data["data_sources"].items()},
                   fingerprint=data.get("fingerprint", ""))
