"""Deliberately broken variants of reference programs: the harness must fail them.

A harness that passes a reference proves little unless it also fails that reference once it is wrong.
Three breakages, each derived from what the task's policy checks, so the variant is wrong *for this
task* and not merely different:

* `resource removed`: a resource of a type the policy names is deleted;
* `type misspelled`: such a resource's type gets two letters swapped (a hallucinated type);
* `attribute changed`: an argument the policy compares with a literal (`engine == "mysql"`) gets
  another value.

Edits are made on the program text, the way a model's answer would differ.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from iacdemo.evaluation.harness import score_code
from iacdemo.evaluation.tasks import Task
from iacdemo.hcl.extract import matching_brace_end

RESOURCE_REMOVED = "resource removed"
TYPE_MISSPELLED = "type misspelled"
ATTRIBUTE_CHANGED = "attribute changed"
KINDS = (RESOURCE_REMOVED, TYPE_MISSPELLED, ATTRIBUTE_CHANGED)

_RESOURCE_HEAD = re.compile(r'^[ \t]*resource[ \t]+"([\w-]+)"[ \t]+"([\w-]+)"[ \t]*\{', re.M)
_POLICY_TYPE = re.compile(r'"(aws_[a-z0-9_]+)"')
_COMPARED = re.compile(
    r'(?:expressions|values|after)\.([a-z_][a-z0-9_]*)(?:\.constant_value)?\s*==\s*'
    r'("(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?|true|false)')


@dataclass(frozen=True)
class BrokenVariant:
    task_id: int
    kind: str
    description: str
    code: str


def checked_types(policy: str, code: str) -> list[str]:
    """Resource types the policy names that the program declares, in program order."""
    named = set(_POLICY_TYPE.findall(policy))
    seen: list[str] = []
    for match in _RESOURCE_HEAD.finditer(code):
        if match.group(1) in named and match.group(1) not in seen:
            seen.append(match.group(1))
    return seen


def block_end(code: str, open_brace: int) -> int:
    """Index just past the `}` closing the brace at `open_brace` (strings, comments, heredocs skipped)."""
    return matching_brace_end(code, open_brace)


def remove_resource(code: str, rtype: str) -> tuple[str, str] | None:
    for match in _RESOURCE_HEAD.finditer(code):
        if match.group(1) == rtype:
            end = block_end(code, match.end() - 1)
            return code[:match.start()] + code[end:], f"removed {rtype}.{match.group(2)}"
    return None


def misspell(type_name: str) -> str:
    """Swap the last two letters of the type's last word: `aws_s3_bucket` -> `aws_s3_buckte`."""
    head, _, last = type_name.rpartition("_")
    if len(last) < 2 or last[-1] == last[-2]:
        return type_name + "s"
    return f"{head}_{last[:-2]}{last[-1]}{last[-2]}"


def misspell_type(code: str, rtype: str) -> tuple[str, str] | None:
    for match in _RESOURCE_HEAD.finditer(code):
        if match.group(1) == rtype:
            wrong = misspell(rtype)
            start, end = match.span(1)
            return code[:start] + wrong + code[end:], f"{rtype}.{match.group(2)} declared as {wrong}"
    return None


def _other_literal(literal: str) -> str:
    if literal in ("true", "false"):
        return "false" if literal == "true" else "true"
    if literal.startswith('"'):
        inner = literal[1:-1]
        return '"' + (inner + "-changed" if inner else "changed") + '"'
    number = float(literal)
    return str(int(number) + 7) if number.is_integer() else str(number + 7.5)


def change_checked_attribute(code: str, policy: str) -> tuple[str, str] | None:
    """Give the first argument the policy compares with a literal, set to that literal, another value."""
    for name, literal in _COMPARED.findall(policy):
        pattern = re.compile(r"^([ \t]*" + re.escape(name) + r"[ \t]*=[ \t]*)" + re.escape(literal) + r"[ \t]*$",
                             re.M)
        match = pattern.search(code)
        if match:
            replacement = _other_literal(literal)
            changed = code[:match.start()] + match.group(1) + replacement + code[match.end():]
            return changed, f"{name} = {literal} changed to {replacement}"
    return None


def broken_variants(task: Task) -> list[BrokenVariant]:
    """Up to one variant of each kind for the task's reference (fewer when the policy gives no hold)."""
    code, policy = task.reference, task.policy
    variants: list[BrokenVariant] = []
    types = checked_types(policy, code)
    if types:
        removed = remove_resource(code, types[0])
        if removed:
            variants.append(BrokenVariant(task.id, RESOURCE_REMOVED, removed[1], removed[0]))
        misspelled = misspell_type(code, types[-1])
        if misspelled:
            variants.append(BrokenVariant(task.id, TYPE_MISSPELLED, misspelled[1], misspelled[0]))
    changed = change_checked_attribute(code, policy)
    if changed:
        variants.append(BrokenVariant(task.id, ATTRIBUTE_CHANGED, changed[1], changed[0]))
    return variants


def run_broken_variants(tasks: Iterable[Task], schema) -> dict:
    """Score broken variants of the given tasks' references; the harness should fail (almost) all."""
    total, failed = 0, 0
    by_kind: dict[str, dict] = {kind: {"variants": 0, "failed": 0, "causes": {}} for kind in KINDS}
    survivors: list[dict] = []
    for task in tasks:
        for variant in broken_variants(task):
            result = score_code(task, variant.code, schema)
            total += 1
            by_kind[variant.kind]["variants"] += 1
            if not result.passed:
                failed += 1
                by_kind[variant.kind]["failed"] += 1
                kind_causes = by_kind[variant.kind]["causes"]
                kind_causes[result.cause] = kind_causes.get(result.cause, 0) + 1
            else:
                survivors.append({"task_id": variant.task_id, "kind": variant.kind,
                                  "description": variant.description})
    return {"variants": total, "failed": failed, "failure_rate": round(failed / total, 4) if total else 0.0,
            "by_kind": by_kind, "survivors": survivors}
