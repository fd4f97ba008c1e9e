"""Why a sample failed, in words a reader of the evaluation report can act on.

The causes, tested in this order:

* `no code`, `does not parse`, `not plannable`: the static check stopped it before any policy ran.
* `engine error`: the Rego engine could not compile or evaluate the policy.
* `module`: the code calls registry modules, whose resources cannot be expanded offline, and the
  policy looks for a resource type the code does not declare itself (one the module may create; a real
  plan lists it under the module, not under `root_module`, so such a policy fails there too).
* `unknown until apply`: the policy passes once every value known only after apply is given a
  placeholder (ids, ARNs), or it compares a planned value that is unknown in the plan (an AMI id only a
  live lookup returns): it fails because of values no plan can know offline.
* `provider default`: the policy reads a planned value the code never sets, which only the provider
  would fill in (an undocumented default or a computed attribute), and every resource type the policy
  looks for is declared.
* `intent not met`: none of the above (a resource type the policy wants is missing, names, values,
  missing attributes); for a reference program this is a disagreement between the policy and its own
  reference.
"""
from __future__ import annotations

import re

NO_CODE = "no code"
NO_PARSE = "does not parse"
NOT_PLANNABLE = "not plannable"
ENGINE_ERROR = "engine error"
MODULE = "module"
UNKNOWN_UNTIL_APPLY = "unknown until apply"
PROVIDER_DEFAULT = "provider default"
INTENT_NOT_MET = "intent not met"
REFERENCE_DISAGREEMENT = "policy/reference disagreement"

CAUSES = (NO_CODE, NO_PARSE, NOT_PLANNABLE, ENGINE_ERROR, MODULE, UNKNOWN_UNTIL_APPLY, PROVIDER_DEFAULT,
          INTENT_NOT_MET, REFERENCE_DISAGREEMENT)

_PLANNED_ATTRIBUTE = re.compile(r"\.(?:values|after)\.([a-z_][a-z0-9_]*)")
_TYPE_LITERAL = re.compile(r'"([a-z][a-z0-9]*_[a-z0-9_]+)"')


def uses_modules(config: dict) -> bool:
    return bool(config.get("module"))


def declared_types(config: dict) -> set[str]:
    """Resource and data-source types the configuration declares in its root module."""
    types: set[str] = set()
    for key in ("resource", "data"):
        for entry in config.get(key) or []:
            if isinstance(entry, dict):
                types.update(k for k in entry if not k.startswith("__"))
    return types


def missing_types(policy: str, config: dict, schema) -> set[str]:
    """Resource/data-source types the policy names (as string literals) that the code never declares.

    Only names the docs schema knows count, so reference strings (`"aws_vpc.main.id"`) and other
    literals are not mistaken for types.
    """
    if schema is None:
        return set()
    named = {t for t in _TYPE_LITERAL.findall(_without_comments(policy))
             if schema.get(t, "resource") is not None or schema.get(t, "data") is not None}
    return named - declared_types(config)


def _without_comments(policy: str) -> str:
    return "\n".join(line.split("#", 1)[0] for line in policy.splitlines())


def planned_attributes_read(policy: str) -> set[str]:
    """Attribute names a policy reads from `planned_values` or `change.after` (comments ignored)."""
    return set(_PLANNED_ATTRIBUTE.findall(_without_comments(policy)))


def reads_unknown_values(policy: str, plan: dict) -> bool:
    """Whether the policy reads a planned attribute that the plan leaves unknown for some resource."""
    wanted = planned_attributes_read(policy)
    for change in plan.get("resource_changes") or []:
        unknown = (change.get("change") or {}).get("after_unknown") or {}
        if any(unknown.get(name) is True for name in wanted):
            return True
    return False


def attributes_set(config: dict) -> set[str]:
    """Every argument or block name written anywhere in the configuration's resources and data sources."""
    names: set[str] = set()

    def walk(value) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                names.add(key)
                walk(sub)
        elif isinstance(value, list):
            for sub in value:
                walk(sub)

    for key in ("resource", "data"):
        walk(config.get(key) or [])
    return names


def unset_provider_attributes(policy: str, config: dict, schema) -> set[str]:
    """Planned attributes the policy reads that the code leaves to the provider (documented, not set)."""
    wanted = planned_attributes_read(policy) - attributes_set(config)
    if not wanted or schema is None:
        return set()
    documented: set[str] = set()
    for entry in config.get("resource") or []:
        for rtype in entry if isinstance(entry, dict) else {}:
            type_schema = schema.get(rtype)
            if type_schema is not None:
                documented |= set(type_schema.known_names)
    return wanted & documented
