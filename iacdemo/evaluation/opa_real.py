"""The real OPA engine for real mode, with regorus only where OPA cannot compile a policy.

IaC-Eval runs `opa eval -i plan.json -d policy.rego data` and scores every leaf of the result (see
rego.py). `opa-golib-python-bindings` embeds OPA 1.20.2 itself: query `data`, the official leaf rule.
The binding has no v0 mode: OPA 1.x rejects v0 syntax (`deny[msg] { ... }`: "`if` keyword is required
before rule body"), while the official harness's OPA read it (v1 syntax only for policies importing
`rego.v1`). So a v0 policy is rewritten line for line into v1 syntax (`v0_to_v1`: the rule heads
IaC-Eval's policies use, plus `import rego.v1`) and run in OPA; measured on the 344 dev policies, 321 of
the 322 v0 ones compile and all give regorus's verdict on the reference plans. Where OPA cannot compile
a policy (one dev policy calls an undefined function) or the binding is missing, regorus scores it in
its v0 mode. Both OPA 1.20 and regorus stop at a type error in a built-in (`count(null)`); the older OPA
of the published verdicts let one such policy pass (bench/RESULTS.md). The binding needs Python 3.14 by its metadata but works on 3.11 (ctypes only).
"""
from __future__ import annotations

import importlib.util
import json
import re
import threading
from functools import lru_cache
from typing import Any

from iacdemo.evaluation.rego import PolicyOutcome, evaluate_policy, iter_leaves, uses_rego_v1

OPA = "opa"
REGORUS = "regorus"
_LOCK = threading.Lock()


def opa_installed() -> bool:
    try:  # found, not imported: cheap at start
        return importlib.util.find_spec("opa_bindings") is not None
    except (ImportError, ValueError):  # a missing parent package
        return False


def policy_engine(policy: str) -> str:
    """Which engine scores this policy in real mode (OPA unless it cannot compile the policy)."""
    if not opa_installed():
        return REGORUS
    return OPA if _opa_compiles(_as_v1(policy)) else REGORUS


def _as_v1(policy: str) -> str:
    return policy if uses_rego_v1(policy) else v0_to_v1(policy)


_COMPILE_ERRORS = ("parse_error", "compile_error", "prepare_error", "rego_parse_error", "rego_type_error",
                   "rego_compile_error", "rego_unsafe_var_error", "rego_recursion_error")


@lru_cache(maxsize=512)
def _opa_compiles(policy: str) -> bool:
    outcome = evaluate_with_opa(policy, {})
    return not (outcome.error and any(marker in outcome.error for marker in _COMPILE_ERRORS))


@lru_cache(maxsize=512)
def _opa_engine(policy: str):
    from opa_bindings import OpaEngine

    engine = OpaEngine()
    engine.add_policy("policy.rego", policy)
    return engine


def _package(policy: str) -> str:
    for line in policy.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "package":
            return "data." + words[1]
    return "data"


def evaluate_with_opa(policy: str, plan: dict | str) -> PolicyOutcome:
    """OPA's `data` for this policy and plan, scored by the official leaf rule."""
    from opa_bindings import OpaError

    plan_obj = json.loads(plan) if isinstance(plan, str) else plan
    try:
        with _LOCK:
            engine = _opa_engine(policy)
            rows = engine.eval_query("iacdemo_result = data", plan_obj)
    except OpaError as exc:
        return PolicyOutcome(passed=False, package=_package(policy), error=f"OPA: {_first_line(exc)}")
    value: Any = rows[0].get("iacdemo_result", {}) if rows else {}
    package_value = value
    for part in _package(policy).split(".")[1:]:
        package_value = package_value.get(part, {}) if isinstance(package_value, dict) else {}
    false_paths = [path for path, leaf in iter_leaves(value) if _is_false(leaf)]
    failed = sorted({path.split(".")[0].split("[")[0] for path, leaf in iter_leaves(package_value)
                     if _is_false(leaf)})
    return PolicyOutcome(passed=not false_paths, package=_package(policy), value=package_value, failed_rules=failed)


_V0_HEAD = re.compile(r"^(?P<name>[A-Za-z_]\w*)(?P<args>\[[^\]]*\]|\([^)]*\))?\s*\{(?P<rest>\s*(?:#.*)?)$")


def v0_to_v1(policy: str) -> str:
    """The v0 rule heads IaC-Eval's policies use, in v1 syntax (line for line): `deny[msg] {` ->
    `deny contains msg if {`, `allow {` / `f(x) {` -> `allow if {` / `f(x) if {`, plus `import rego.v1`.
    `package` stays; `import future.keywords...` lines become comments (v1 has those keywords)."""
    out = []
    for line in policy.splitlines():
        stripped = line.strip()
        match = _V0_HEAD.match(line)
        if stripped.startswith("import future.keywords"):
            out.append(f"# {stripped}")
        elif stripped.startswith("package ") and not line[0].isspace():
            out.append(line)
            out.append("import rego.v1")
        elif match and match.group("name") not in ("package", "import", "default", "else"):
            args = match.group("args") or ""
            if args.startswith("["):
                out.append(f"{match.group('name')} contains {args[1:-1].strip()} if {{{match.group('rest')}")
            else:
                out.append(f"{match.group('name')}{args} if {{{match.group('rest')}")
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def evaluate_real(policy: str, plan: dict | str) -> tuple[PolicyOutcome, str]:
    """(outcome, engine): OPA (v0 policies rewritten to v1), regorus where OPA cannot compile it."""
    if policy_engine(policy) == OPA:
        return evaluate_with_opa(_as_v1(policy), plan), OPA
    return evaluate_policy(policy, plan), REGORUS


def _is_false(leaf: Any) -> bool:
    return not isinstance(leaf, str) and leaf is not None and leaf == False  # noqa: E712


def _first_line(exc: Exception) -> str:
    return " ".join(str(exc).split())[:300]
