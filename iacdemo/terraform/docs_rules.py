"""Cross-argument rules the provider docs state and its schema dump lacks: "Conflicts with `x`",
"Exactly one of `a` or `b` must be specified".

The provider enforces these (`ConflictsWith`, `ExactlyOneOf`) in `terraform validate`, but
`terraform providers schema -json` does not export them, so the docs are the only offline source. Only
top-level arguments are read (a nested block's rules sit under headings whose nesting the docs state
loosely), and a rule is kept only when every name it mentions is a top-level argument of the type in
the provider's schema, so a sentence read wrongly cannot invent an error about a name that does not exist.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from iacdemo.corpus.sources import provider_pages

_BULLET = re.compile(r"^[*-]\s+`([a-z0-9_]+)`\s*-\s*(.*)$")
_CONFLICTS = re.compile(r"(?:conflicts with|cannot be (?:used|specified|set) (?:together )?(?:with|alongside))"
                        r"((?:\s*(?:,|and|or)?\s*(?:the\s+)?`[a-z0-9_]+`)+)", re.I)
_EXACTLY_ONE = re.compile(r"exactly one of((?:\s*(?:,|and|or)?\s*(?:the\s+)?`[a-z0-9_]+`)+)\s*(?:arguments?\s+)?"
                          r"(?:must|is required|should|has to|are required)", re.I)
_NAMES = re.compile(r"`([a-z0-9_]+)`")


@dataclass
class TypeRules:
    conflicts: dict[str, set[str]] = field(default_factory=dict)  # argument -> arguments it excludes
    exactly_one: list[tuple[str, ...]] = field(default_factory=list)


def read_rules(paths: Iterable[Path]) -> dict[str, TypeRules]:
    """{resource type: its documented top-level conflicts and exactly-one-of groups}."""
    found: dict[str, TypeRules] = {}
    for type_name, doc in provider_pages(list(paths), kind="r"):
        rules = page_rules(doc.body)
        if rules.conflicts or rules.exactly_one:
            found[type_name] = rules
    return found


def page_rules(body: str) -> TypeRules:
    rules = TypeRules()
    in_arguments, top_level = False, False
    for line in body.splitlines():
        if line.startswith("## "):
            in_arguments = "argument" in line.lower()
            top_level = in_arguments
            continue
        if line.startswith("###"):
            top_level = bool(re.search(r"\b(required|optional|top[- ]level)\b", line, re.I)) and "`" not in line
            continue
        if not (in_arguments and top_level):
            continue
        bullet = _BULLET.match(line)
        if bullet:
            name, text = bullet.group(1), bullet.group(2)
            for match in _CONFLICTS.finditer(text):
                others = set(_NAMES.findall(match.group(1))) - {name}
                if others:
                    rules.conflicts.setdefault(name, set()).update(others)
        elif line.startswith((" ", "\t")):
            continue  # a continuation or a nested bullet: not top-level
        for match in _EXACTLY_ONE.finditer(line):
            names = tuple(dict.fromkeys(_NAMES.findall(match.group(1))))
            if len(names) >= 2 and names not in rules.exactly_one:
                rules.exactly_one.append(names)
    return rules
