"""The AWS provider's value validation (its Go `ValidateFunc`s), which `terraform validate` runs on literal
values and the provider's schema dump does not carry.

The rules come from the provider itself: `scripts/probe_provider_validation.py` sets every settable
string argument of every resource type to a probe value, runs real `terraform validate`, and keeps the
rules the provider states exactly in its diagnostics — one-of lists (with their case sensitivity, tested
by a second probe), "takes an ARN", "takes a region name", "takes an account ID", and regular
expressions — and its cross-argument rules (`ConflictsWith`, "one of `a,b` must be specified") at every
block depth. The table for a provider version sits beside this module as
`provider_values/aws-<version>.json.gz`. Rules the provider
states only in prose ("must contain at least one uppercase letter") are not in it, and arguments with
several alternative rules (`validation.Any`) are left out, so a value is only ever rejected for a reason
the provider itself gave.

Only values known before planning are checked (a literal, or an expression of literals), as `terraform
validate` does, and inside a nested block only when the whole block is known (the SDK skips validating a
block that holds any unknown value); an empty string is never flagged (most validators let it through).
"""
from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import re2

from iacdemo.errors import DataError

TABLE_DIR = Path(__file__).resolve().parent / "provider_values"
PROVIDER_VALIDATES = "The provider rejects this value (terraform validate)."  # the detail of every diagnostic

# The provider's verify.ValidRegionName and verify.ValidARN (partition, region and account parts).
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
_PARTITION = re.compile(r"^aws(-[a-z]+)*$")
_ACCOUNT = re.compile(r"^(aws|aws-managed|third-party|aws-marketplace|\d{12}|cw.{10})$")
_ACCOUNT_ID = re.compile(r"^\d{12}$")  # verify.ValidAccountID
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.max_mem = 8 << 20


@dataclass(frozen=True)
class ValueRule:
    one_of: tuple[str, ...] = ()
    ignore_case: bool = False
    arn: bool = False
    arn_parse_only: bool = False  # the plugin framework's check: only that the value parses as an ARN
    region: bool = False
    account_id: bool = False
    pattern: str = ""
    element: bool = False  # the rule applies to each element of a list or set of strings

    def problem(self, value: str) -> str | None:
        """Why the provider rejects `value` (Terraform's own wording), or None."""
        if value == "":
            return None
        if self.one_of:
            if self.ignore_case:
                ok = value.lower() in {v.lower() for v in self.one_of}
            else:
                ok = value in self.one_of
            if not ok:
                listed = " ".join(json.dumps(v) for v in self.one_of)
                return f"to be one of [{listed}], got {value}"
        if self.arn:
            reason = arn_problem(value)
            if reason and (not self.arn_parse_only or reason.startswith("arn:")):
                return f"({value}) is an invalid ARN: {reason}"
        if self.account_id and not _ACCOUNT_ID.match(value):
            return f'doesn\'t look like AWS Account ID (exactly 12 digits): "{value}"'
        if self.region and not _REGION.match(value):
            return f'doesn\'t look like AWS Region: "{value}"'
        if self.pattern:
            compiled = _compiled(self.pattern)
            if compiled is not None and not compiled.search(value):
                return f'does not match pattern ("{self.pattern}"): "{value}"'
        return None


def arn_problem(value: str) -> str | None:
    """What the provider's ARN check finds wrong with `value` (None when it parses)."""
    if not value.startswith("arn:"):
        return "arn: invalid prefix"
    sections = value.split(":", 5)
    if len(sections) < 6:
        return "arn: not enough sections"
    _, partition, _service, region, account, _resource = sections
    if not _PARTITION.match(partition):
        return "invalid partition value"
    if region and not _REGION.match(region):
        return "invalid region value"
    if account and not _ACCOUNT.match(account):
        return "invalid account ID value"
    return None


@lru_cache(maxsize=512)
def _compiled(pattern: str):
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error:
        return None


def message(path: tuple[str, ...], rule: ValueRule, problem: str) -> str:
    """Terraform's summary for the rule at `path` (nested blocks as `block.0.argument`, like the provider)."""
    dotted = ".0.".join(path)
    if rule.arn_parse_only and "invalid ARN" in problem:
        return "Invalid ARN Value"  # the plugin framework's summary
    if rule.one_of and problem.startswith("to be one of"):
        return f"expected {dotted} {problem}"
    return f'"{dotted}" {problem}'


@dataclass
class CrossRules:
    """The provider's `ConflictsWith`, `AtLeastOneOf` / `ExactlyOneOf` ("none set" half) and
    `ExactlyOneOf` ("more than one set" half) of one type, each within one block (paths from the top)."""

    conflicts: dict[tuple[str, ...], set[tuple[str, ...]]] = field(default_factory=dict)
    at_least_one: list[tuple[tuple[str, ...], ...]] = field(default_factory=list)
    at_most_one: list[tuple[tuple[str, ...], ...]] = field(default_factory=list)

    def problems(self, block_path: tuple[str, ...], present: set[str],
                 settled: set[str] | None = None) -> list[tuple[str, str]]:
        """(summary, detail) for the arguments and blocks `present` in one block at `block_path`; conflicts
        only between `settled` ones (known values: the provider checks a conflict once the value is known)."""
        settled = present if settled is None else settled
        found: list[tuple[str, str]] = []
        reported: set[frozenset[str]] = set()
        for name in sorted(settled):
            for other in sorted(self.conflicts.get(block_path + (name,), ())):
                pair = frozenset((name, other[-1]))
                if other[:-1] == block_path and other[-1] in settled and pair not in reported:
                    reported.add(pair)
                    found.append(("Conflicting configuration arguments",
                                  f'"{_dotted(block_path + (name,))}": conflicts with {_dotted(other)}'))
        for groups, needs_one in ((self.at_least_one, True), (self.at_most_one, False)):
            for group in groups:
                if group[0][:-1] != block_path:
                    continue
                written = [g for g in group if g[-1] in present]
                names = ",".join(_dotted(g) for g in group)
                if needs_one and not written:
                    found.append(("Invalid combination of arguments",
                                  f'"{_dotted(group[0])}": one of `{names}` must be specified'))
                elif not needs_one and len(written) > 1:
                    found.append(("Invalid combination of arguments",
                                  f'"{_dotted(written[0])}": only one of `{names}` can be specified'))
        return found


def _dotted(path: tuple[str, ...]) -> str:
    return ".0.".join(path)


@lru_cache(maxsize=4)
def _load(version: str, directory: Path = TABLE_DIR) -> dict:
    """The table of a provider version: none probed is no rules; a damaged one is an error, not a quiet
    loss of every value check."""
    path = directory / f"aws-{version}.json.gz"
    if not path.is_file():
        return {}
    try:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            data = json.load(handle)
        if not isinstance(data, dict) or not isinstance(data.get("resources"), dict):
            raise ValueError("no `resources` table")
        return data
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"{path} is not a provider value table (regenerate it with "
                        f"scripts/probe_provider_validation.py): {exc}") from None


def load_table(version: str, directory: Path = TABLE_DIR) -> dict[str, dict[tuple[str, ...], ValueRule]]:
    """{resource type: {argument path: rule}} for a provider version; empty when none was probed."""
    table: dict[str, dict[tuple[str, ...], ValueRule]] = {}
    for type_name, rules in (_load(version, directory).get("resources") or {}).items():
        table[type_name] = {tuple(p.split(".")): _rule(r) for p, r in rules.items()}
    return table


def load_cross(version: str, directory: Path = TABLE_DIR) -> dict[str, CrossRules]:
    """{resource type: its cross-argument rules} for a provider version; empty when none was probed."""
    table: dict[str, CrossRules] = {}
    for type_name, data in (_load(version, directory).get("cross") or {}).items():
        rules = CrossRules()
        for name, others in (data.get("conflicts") or {}).items():
            for other in others:
                a, b = tuple(name.split(".")), tuple(other.split("."))
                rules.conflicts.setdefault(a, set()).add(b)
                rules.conflicts.setdefault(b, set()).add(a)  # either way round, both set is the error
        rules.at_least_one = [tuple(tuple(n.split(".")) for n in g) for g in data.get("at_least_one") or ()]
        rules.at_most_one = [tuple(tuple(n.split(".")) for n in g) for g in data.get("at_most_one") or ()]
        table[type_name] = rules
    return table


def _rule(data: dict) -> ValueRule:
    return ValueRule(one_of=tuple(data.get("one_of") or ()), ignore_case=bool(data.get("ignore_case")),
                     arn=bool(data.get("arn")), arn_parse_only=data.get("arn") == "parse",
                     region=bool(data.get("region")), account_id=bool(data.get("account_id")),
                     pattern=data.get("pattern") or "", element=bool(data.get("element")))


def value_problems(rules: dict[tuple[str, ...], ValueRule], path: tuple[str, ...], value: Any) -> list[str]:
    """Terraform's summaries for a known value at `path` that the provider rejects."""
    rule = rules.get(path)
    if rule is None:
        return []
    values = value if rule.element and isinstance(value, list) else [value] if not rule.element else []
    found = []
    for item in values:
        text = _as_string(item)
        if text is None:
            continue
        problem = rule.problem(text)
        if problem:
            found.append(message(path, rule, problem))
    return found


def _as_string(value: Any) -> str | None:
    """A known value as the string the provider sees (HCL converts `true` and `30` to "true" and "30")."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value
    return None
