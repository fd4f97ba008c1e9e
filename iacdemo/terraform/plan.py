"""An emulated `terraform show -json` plan, built from parsed HCL without Terraform or a provider.

IaC-Eval's Rego policies read three parts of the plan, and this module fills each the way Terraform
does for a first apply (everything is created):

* `configuration.root_module.resources[]`: each argument as written, with `constant_value` when it is a
  literal and `references` (full reference first, then shorter prefixes) when it reads other objects;
  nested blocks as lists; `dynamic` blocks left out, as Terraform's own config JSON does.
* `planned_values.root_module.resources[].values` and `resource_changes[].change.after`: what Terraform
  knows at plan time. Literals, variables' defaults, locals and interpolations of known values are
  resolved, `jsonencode` and IAM policy documents rendered, `count`/`for_each` expanded, dynamic blocks
  expanded, and the provider's documented defaults filled in. Values known only after apply (ids,
  ARNs, anything computed from them) are left out, lists keep `null` in their place.
* `configuration.provider_config`, variables, outputs and module calls.

Details a real plan has and policies can trip on: each resource's state `schema_version` (a `0` is a
false leaf to the official check), `tags_all` (the provider's `default_tags` merged with `tags`), the
exported attributes listed as unknown in `after_unknown`, and values converted to their argument's type.

Registry modules cannot be expanded offline: they appear as `module_calls` only.
"""
from __future__ import annotations

import re
from typing import Any, Iterable

from iacdemo.hcl.parse import parse_hcl
from iacdemo.terraform.data_sources import render_data_source
from iacdemo.terraform.expressions import Scope, constant_value, evaluate_value, template_references
from iacdemo.terraform.provider_facts import attributes_as_blocks, schema_version
from iacdemo.terraform.values import (UNKNOWN, EvalError, LazyMapping, PartialObject, check_budget, contains_unknown,
                                      scoring_budget)

BLOCK_MARKER = "__is_block__"
META_ARGUMENTS = frozenset({"count", "for_each", "depends_on", "provider", "lifecycle", "provisioner",
                            "connection"})
DEFAULT_PROVIDER_SOURCE = "registry.terraform.io/hashicorp/{name}"
MAX_INSTANCES = 1000  # a larger `count`/`for_each` is treated as unknown rather than expanded


# The provider converts values to its schema types before planning ("80" -> 80 for a number). The docs
# carry no types, so only the unambiguous case is converted: a numeric string given to an argument
# whose name says it is a number (ports, counts, sizes, durations...).
_NUMERIC_NAME = re.compile(
    r"(?:^|_)(?:port|ttl|days|seconds|minutes|hours|count|size|gb|mb|iops|throughput|priority|weight|"
    r"capacity|period|periods|interval|timeout|threshold|percent|percentage|number|attempts|retries|"
    r"storage|memory|duration|limit)$|^(?:min|max|desired|number_of)_")
_NUMERIC_TEXT = re.compile(r"-?\d+(?:\.\d+)?")


_NO_DEFAULT = object()


def planned_value(name: str, value: Any, default: Any = _NO_DEFAULT) -> Any:
    """A configuration value as the provider would plan it, converted to the argument's type.

    The docs carry no types, so the type is read from the documented default where there is one (a
    `true` default makes a boolean, `1` a number, `"x"` a string), else from a numeric-sounding name.
    Terraform converts "true" to true for a boolean, "80" to 80 for a number and 80 to "80" for a string.
    """
    if default is not _NO_DEFAULT and default is not None:
        if isinstance(default, bool):
            return {"true": True, "false": False}.get(value, value) if isinstance(value, str) else value
        if isinstance(default, (int, float)):
            return _number(value) if isinstance(value, str) and _NUMERIC_TEXT.fullmatch(value) else value
        if isinstance(default, str) and not _NUMERIC_TEXT.fullmatch(default):
            if isinstance(value, bool):
                return "true" if value else "false"
            if isinstance(value, (int, float)):
                return str(_number(str(value)))
            return value
    if isinstance(value, str) and _NUMERIC_TEXT.fullmatch(value) and _NUMERIC_NAME.search(name):
        return _number(value)
    return value


def _number(text: str) -> int | float:
    number = float(text)
    return int(number) if number.is_integer() else number


def _planned_object(item: dict, spec=None) -> dict:
    defaults = spec.defaults() if spec is not None else {}
    return {k: planned_value(k, v, defaults.get(k, _NO_DEFAULT)) for k, v in item.items()}


def is_block_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) and v.get(BLOCK_MARKER) for v in value)


def body_items(body: dict) -> Iterable[tuple[str, Any]]:
    for key, value in body.items():
        if key != BLOCK_MARKER and not key.startswith("__"):
            yield key, value


# --------------------------------------------------------------------------------------------------
# Configuration part: expressions as written


def config_expressions(body: dict, as_attributes: frozenset = frozenset(), spec=None, top: bool = True) -> dict:
    """`expressions` of a block body: attributes as constant/references, nested blocks as lists.

    Blocks named in `as_attributes` (attribute-as-blocks arguments) become one attribute expression
    over the list of their objects, each object completed with the schema's argument names as null.
    """
    out: dict = {}
    for key, value in body_items(body):
        if (top and key in META_ARGUMENTS) or key == "dynamic":  # meta-arguments exist only at the top
            continue
        if is_block_list(value):
            sub_spec = spec.blocks.get(key) if spec is not None else None
            if key in as_attributes:
                names = sorted(sub_spec.arguments) if sub_spec is not None else []
                out[key] = expression_json([_planned_object({**{n: None for n in names}, **_plain(item)}, sub_spec)
                                            for item in value])
            else:
                out[key] = [config_expressions(item, as_attributes, sub_spec, top=False) for item in value]
        else:
            out[key] = expression_json(value)
    return out


def _plain(value: Any) -> Any:
    """A block body as a plain object value (markers dropped, nested blocks as lists of objects)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k != BLOCK_MARKER}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def provisioners_json(body: dict) -> list[dict]:
    out = []
    for entry in body.get("provisioner") or []:
        for ptype, pbody in _labelled(entry):
            item: dict[str, Any] = {"type": ptype}
            expressions = config_expressions({k: v for k, v in body_items(pbody or {})
                                              if k not in ("when", "on_failure")})
            if expressions:
                item["expressions"] = expressions
            out.append(item)
    return out


def expression_json(value: Any) -> dict:
    """`{"constant_value": ...}`, `{"references": [...]}` or `{}` (a function of literals)."""
    is_constant, constant = constant_value(value)
    if is_constant:
        return {"constant_value": _json_value(constant)}
    refs = value_references(value)
    return {"references": refs} if refs else {}


def value_references(value: Any) -> list[str]:
    if isinstance(value, str):
        try:
            return template_references(value)
        except EvalError:
            return []
    if isinstance(value, list):
        return [r for v in value for r in value_references(v)]
    if isinstance(value, dict):
        refs = []
        for key, val in value.items():
            if isinstance(key, str) and "${" in key:
                refs.extend(value_references(key))
            refs.extend(value_references(val))
        return refs
    return []


def _json_value(value: Any) -> Any:
    """Plan JSON for a value: unknown map entries dropped, unknown list elements as null (as Terraform)."""
    check_budget()  # shared sub-values expand here: a few references can stand for millions of elements
    if value is UNKNOWN:
        return None
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items() if v is not UNKNOWN and k != BLOCK_MARKER}
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# --------------------------------------------------------------------------------------------------
# The program: declarations and the evaluation scope


class Program:
    """The declarations of one configuration, and the lazily evaluated values Terraform would know."""

    def __init__(self, config: dict, schema=None, symbolic: bool = False):
        self.config = config
        self.schema = schema
        self.symbolic = symbolic
        self.resources: dict[tuple[str, str, str], dict] = {}  # (mode, type, name) -> body
        self.variables: dict[str, dict] = {}
        self.locals: dict[str, Any] = {}
        self.outputs: dict[str, dict] = {}
        self.modules: dict[str, dict] = {}
        self.providers: list[tuple[str, dict]] = []
        self.required_providers: dict[str, Any] = {}
        self._collect()
        self.scope = self._build_scope()

    def _collect(self) -> None:
        for entry in self.config.get("resource", []) or []:
            for rtype, named in _labelled(entry):
                for name, body in _labelled(named):
                    self.resources[("managed", rtype, name)] = body if isinstance(body, dict) else {}
        for entry in self.config.get("data", []) or []:
            for rtype, named in _labelled(entry):
                for name, body in _labelled(named):
                    self.resources[("data", rtype, name)] = body if isinstance(body, dict) else {}
        for entry in self.config.get("variable", []) or []:
            for name, body in _labelled(entry):
                self.variables[name] = body if isinstance(body, dict) else {}
        for entry in self.config.get("locals", []) or []:
            if isinstance(entry, dict):
                self.locals.update(dict(body_items(entry)))
        for entry in self.config.get("output", []) or []:
            for name, body in _labelled(entry):
                self.outputs[name] = body if isinstance(body, dict) else {}
        for entry in self.config.get("module", []) or []:
            for name, body in _labelled(entry):
                self.modules[name] = body if isinstance(body, dict) else {}
        for entry in self.config.get("provider", []) or []:
            for name, body in _labelled(entry):
                self.providers.append((name, body if isinstance(body, dict) else {}))
        for entry in self.config.get("terraform", []) or []:
            if not isinstance(entry, dict):
                continue
            for req in entry.get("required_providers", []) or []:
                if isinstance(req, dict):
                    self.required_providers.update(dict(body_items(req)))

    # -- scope ------------------------------------------------------------------------------------

    def _build_scope(self) -> Scope:
        var = {name: self._variable_value(body) for name, body in self.variables.items()}
        roots: dict[str, Any] = {
            "var": var,
            "path": {"module": ".", "root": ".", "cwd": "."},
            "terraform": {"workspace": "default"},
            "module": {name: self._module_outputs(name) for name in self.modules},
        }
        self._instances: dict[tuple[str, str, str], Any] = {}
        self._unknown_repetition: set[tuple[str, str, str]] = set()
        managed_types = sorted({t for (mode, t, _) in self.resources if mode == "managed"})
        data_types = sorted({t for (mode, t, _) in self.resources if mode == "data"})
        for rtype in managed_types:
            names = [n for (mode, t, n) in self.resources if mode == "managed" and t == rtype]
            roots[rtype] = LazyMapping(names, lambda n, t=rtype: self.reference_value(("managed", t, n)))
        roots["data"] = LazyMapping(data_types, lambda t: LazyMapping(
            [n for (mode, tt, n) in self.resources if mode == "data" and tt == t],
            lambda n, t=t: self.reference_value(("data", t, n))))
        roots["local"] = LazyMapping(self.locals.keys(), self._local_value)
        scope = Scope(roots)
        self._base_scope = scope
        return scope

    def _module_outputs(self, name: str) -> PartialObject:
        """Registry modules cannot be expanded offline: all their outputs are unknown."""
        outputs = PartialObject()
        if self.symbolic:
            outputs.placeholder = f"module.{name}"
        return outputs

    def _variable_value(self, body: dict) -> Any:
        if "default" not in body:
            return UNKNOWN
        try:  # a default is a literal: it cannot read anything
            return evaluate_value(body["default"], Scope({}))
        except EvalError:
            return UNKNOWN

    def _local_value(self, name: str) -> Any:
        return self.evaluate(self.locals[name], self._base_scope)

    def evaluate(self, value: Any, scope: Scope) -> Any:
        try:
            return evaluate_value(value, scope)
        except EvalError:
            return UNKNOWN
        except (TypeError, ValueError, KeyError, IndexError, AttributeError, ZeroDivisionError,
                OverflowError, RecursionError):
            return UNKNOWN

    # -- resource instances -----------------------------------------------------------------------

    def instances(self, key: tuple[str, str, str]) -> list[tuple[Any, dict]]:
        """[(index or None, values)] for a resource: `count`/`for_each` expanded where known."""
        if key in self._instances:
            return self._instances[key]
        self._instances[key] = []  # a resource reading itself sees nothing
        body = self.resources[key]
        result: list[tuple[Any, dict]] = []
        if "count" in body:
            count = self.evaluate(body["count"], self._base_scope)
            if isinstance(count, (int, float)) and not isinstance(count, bool) and 0 <= count <= MAX_INSTANCES:
                for i in range(int(count)):
                    result.append((i, self._instance_values(key, body, {"count": {"index": i}})))
            else:
                self._unknown_repetition.add(key)
                result.append((0, self._instance_values(key, body, {"count": {"index": UNKNOWN}})))
        elif "for_each" in body:
            each = self.evaluate(body["for_each"], self._base_scope)
            if isinstance(each, dict):
                pairs = list(each.items())
            elif isinstance(each, list) and all(isinstance(v, str) for v in each):
                pairs = [(v, v) for v in each]
            else:
                pairs = None
            if pairs is None or len(pairs) > MAX_INSTANCES:
                self._unknown_repetition.add(key)
                result.append((UNKNOWN, self._instance_values(key, body, {"each": {"key": UNKNOWN, "value": UNKNOWN}})))
            else:
                for k, v in sorted(pairs, key=lambda kv: str(kv[0])):
                    result.append((str(k), self._instance_values(key, body, {"each": {"key": str(k), "value": v}})))
        else:
            result.append((None, self._instance_values(key, body, {})))
        self._instances[key] = result
        return result

    def reference_value(self, key: tuple[str, str, str]) -> Any:
        """What `aws_x.name` reads: an object, a list of them (count) or a map of them (for_each)."""
        body = self.resources[key]
        instances = self.instances(key)
        if key in self._unknown_repetition:
            return UNKNOWN
        if "count" in body:
            return [values for _, values in instances]
        if "for_each" in body:
            return {k: values for k, values in instances}
        return instances[0][1] if instances else UNKNOWN

    def _instance_values(self, key, body: dict, bindings: dict) -> PartialObject:
        mode, rtype, name = key
        scope = self._base_scope.child(bindings) if bindings else self._base_scope
        type_schema = self.schema.get(rtype, "resource" if mode == "managed" else "data") if self.schema else None
        values = PartialObject(self._block_values(body, scope, type_schema, path=()))
        if mode == "managed" and type_schema is not None and "tags" in type_schema.arguments:
            self._plan_tags(values, self.provider_key(body, rtype))
        if mode == "data":
            rendered = render_data_source(rtype, values, self, self.provider_key(body, rtype))
            if rendered:
                values.update(rendered)
        if type_schema is not None and type_schema.exact:
            _fill_unset(values, type_schema, top=True)
        if self.symbolic:
            index = bindings["count"]["index"] if "count" in bindings else bindings.get("each", {}).get("key")
            values.placeholder = _address(mode, rtype, name, index)
            exported = set(getattr(type_schema, "attributes", ()) or ())
            for attribute in exported | {k for k, v in values.items() if v is UNKNOWN}:
                if values.get(attribute, UNKNOWN) is UNKNOWN:
                    values[attribute] = f"(known after apply: {values.placeholder}.{attribute})"
        return values

    def _block_values(self, body: dict, scope: Scope, type_schema, path: tuple) -> dict:
        values: dict = {}
        spec = (type_schema.find_block(path) if path else type_schema) if type_schema is not None else None
        defaults = spec.defaults() if spec is not None else {}
        for key, value in body_items(body):
            if key in META_ARGUMENTS and not path:
                continue
            if key == "dynamic":
                self._expand_dynamic(value, scope, type_schema, path, values)
                continue
            if is_block_list(value):
                values.setdefault(key, [])
                values[key].extend(self._block_values(item, scope, type_schema, path + (key,)) for item in value)
            else:
                values[key] = planned_value(key, self.evaluate(value, scope), defaults.get(key, _NO_DEFAULT))
        if spec is not None:
            for arg, default in defaults.items():
                if arg not in values and arg not in (spec.blocks or {}):
                    values[arg] = default
            if getattr(spec, "exact", False) and path:  # the top level is filled once the plan is complete
                _fill_unset(values, spec, top=False)
        return values

    def _plan_tags(self, values: dict, provider_key: str) -> None:
        """`tags_all` as the provider plans it: the provider's `default_tags` overlaid with the resource's
        `tags`, known when both are, and unknown until apply when neither is set.

        A real plan also shows an unset `tags` as null. It is left out here: regorus raises an error on
        builtins given null (`count(null)`) where OPA's default mode makes the expression undefined, so
        an explicit null would fail policies that a real run passes.
        """
        tags = values.get("tags")
        defaults = self.default_tags(provider_key)
        if tags is UNKNOWN or defaults is UNKNOWN or (tags is not None and not isinstance(tags, dict)):
            values["tags_all"] = UNKNOWN
        elif tags is None and not defaults:
            values["tags_all"] = UNKNOWN
        else:
            merged = {**(defaults or {}), **(tags or {})}
            values["tags_all"] = UNKNOWN if any(v is UNKNOWN for v in merged.values()) else merged

    def default_tags(self, provider_key: str) -> Any:
        """The `default_tags { tags = ... }` of a provider configuration: a dict, UNKNOWN or None."""
        name, _, alias = provider_key.partition(".")
        for declared, body in self.providers:
            if declared != name or (body.get("alias") or "") != alias:
                continue
            blocks = body.get("default_tags") or []
            for block in blocks if isinstance(blocks, list) else [blocks]:
                if isinstance(block, dict) and "tags" in block:
                    tags = self.evaluate(block["tags"], self.scope)
                    return tags if isinstance(tags, dict) or tags is UNKNOWN else UNKNOWN
            return None
        return None

    def _expand_dynamic(self, entries, scope: Scope, type_schema, path: tuple, values: dict) -> None:
        for entry in entries if isinstance(entries, list) else [entries]:
            for label, spec in _labelled(entry):
                if not isinstance(spec, dict):
                    continue
                iterator = spec.get("iterator")
                if isinstance(iterator, str):
                    iterator = iterator.removeprefix("${").removesuffix("}")
                iterator = iterator or label
                collection = self.evaluate(spec.get("for_each"), scope)
                contents = spec.get("content") or []
                if collection is UNKNOWN or not isinstance(collection, (list, dict)):
                    continue
                pairs = collection.items() if isinstance(collection, dict) else enumerate(collection)
                block_list = values.setdefault(label, [])
                for k, v in pairs:
                    inner = scope.child({iterator: {"key": k, "value": v}})
                    for content in contents:
                        if isinstance(content, dict):
                            block_list.append(self._block_values(content, inner, type_schema, path + (label,)))

    # -- plan parts -------------------------------------------------------------------------------

    def provider_key(self, body: dict, rtype: str) -> str:
        provider = body.get("provider")
        if isinstance(provider, str):
            return provider.removeprefix("${").removesuffix("}")
        return rtype.split("_", 1)[0]

    def provider_full_name(self, name: str) -> str:
        req = self.required_providers.get(name)
        source = req.get("source") if isinstance(req, dict) else None
        if isinstance(source, str) and source:
            parts = source.split("/")
            if len(parts) == 2:
                return "registry.terraform.io/" + source.lower()
            return source.lower()
        return DEFAULT_PROVIDER_SOURCE.format(name=name)


def _fill_unset(values: dict, spec, top: bool) -> None:
    """What a real plan shows for what the configuration leaves out: an optional argument as null, one the
    provider computes as unknown, a nested block as an empty list (null when it nests as one object).
    `tags_all` (top level) is planned separately."""
    for name, argument in spec.arguments.items():
        if name in values or (top and name == "tags_all"):
            continue
        values[name] = UNKNOWN if argument.computed else None
    for name, block in spec.blocks.items():
        if name not in values and not (top and name == "timeouts"):
            values[name] = None if block.nesting == "single" else []


def _labelled(entry: Any) -> Iterable[tuple[str, Any]]:
    if isinstance(entry, dict):
        for key, value in entry.items():
            if key != BLOCK_MARKER:
                yield key, value


def _address(mode: str, rtype: str, name: str, index: Any = None) -> str:
    base = f"{rtype}.{name}" if mode == "managed" else f"data.{rtype}.{name}"
    if index is None or index is UNKNOWN:
        return base
    if isinstance(index, str):
        return f'{base}["{index}"]'
    return f"{base}[{index}]"


def build_plan(config: dict, schema=None, as_attributes: dict[str, frozenset] | None = None,
               symbolic: bool = False) -> dict:
    """The emulated plan JSON for a parsed configuration (`parse_hcl(text, explicit_blocks=True)`).

    `as_attributes` maps resource types to their attribute-as-blocks arguments (read from the
    provider docs by default). `symbolic=True` builds the diagnostic plan in which every value known
    only after apply is a placeholder string, to tell "fails because of unknowns" from other causes.
    Runs under a scoring budget (`expressions.scoring_budget`, shared with an outer one): a program
    that would take too long raises `BudgetExceeded`.
    """
    with scoring_budget():
        return _build_plan(config, schema, as_attributes, symbolic)


def _build_plan(config: dict, schema, as_attributes: dict[str, frozenset] | None, symbolic: bool) -> dict:
    if as_attributes is None:
        as_attributes = attributes_as_blocks()
    program = Program(config, schema, symbolic=symbolic)
    config_resources, planned, changes, prior = [], [], [], []
    provider_names = set()
    for (mode, rtype, name), body in program.resources.items():
        provider_key = program.provider_key(body, rtype)
        provider_names.add(provider_key.split(".")[0])
        entry: dict[str, Any] = {
            "address": _address(mode, rtype, name),
            "mode": mode,
            "type": rtype,
            "name": name,
            "provider_config_key": provider_key,
            "expressions": config_expressions(
                body, as_attributes.get(rtype, frozenset()) if mode == "managed" else frozenset(),
                schema.get(rtype, "resource" if mode == "managed" else "data") if schema is not None else None),
            "schema_version": _schema_version(schema, rtype, mode),
        }
        if "provisioner" in body:
            entry["provisioners"] = provisioners_json(body)
        if "count" in body:
            entry["count_expression"] = expression_json(body["count"])
        if "for_each" in body:
            entry["for_each_expression"] = expression_json(body["for_each"])
        if "depends_on" in body:
            entry["depends_on"] = _depends_on(body["depends_on"])
        config_resources.append(entry)

        full_name = program.provider_full_name(provider_key.split(".")[0])
        for index, values in program.instances((mode, rtype, name)):
            address = _address(mode, rtype, name, index)
            after = _json_value(values)
            item: dict[str, Any] = {"address": address, "mode": mode, "type": rtype, "name": name}
            if index is not None and index is not UNKNOWN:
                item["index"] = index
            item["provider_name"] = full_name
            item["schema_version"] = _schema_version(schema, rtype, mode)
            if mode == "data":
                if contains_unknown_inputs(values, program.resources[(mode, rtype, name)]):
                    planned.append({**item, "values": after, "sensitive_values": {}})
                    changes.append({**_without_version(item), "change": _change(["read"], after, values)})
                else:
                    prior.append({**item, "values": after, "sensitive_values": {}})
                continue
            planned.append({**item, "values": after, "sensitive_values": {}})
            exported = getattr(schema.get(rtype) if schema is not None else None, "attributes", ())
            changes.append({**_without_version(item),
                            "change": _change(["create"], after, values, computed=exported)})

    for name, _ in program.providers:
        provider_names.add(name)
    # Terraform lists managed resources, then data sources, each sorted by address.
    root_module: dict[str, Any] = {"resources": sorted(config_resources, key=lambda r: (r["mode"] == "data", r["address"]))}
    if program.variables:
        root_module["variables"] = {name: _variable_json(body) for name, body in program.variables.items()}
    if program.outputs:
        root_module["outputs"] = {name: _output_json(body) for name, body in program.outputs.items()}
    if program.modules:
        root_module["module_calls"] = {name: _module_json(body) for name, body in program.modules.items()}

    plan: dict[str, Any] = {
        "format_version": "1.2",
        "terraform_version": "static-emulation",
        "planned_values": {"root_module": {"resources": sorted(planned, key=lambda r: r["address"])}},
        "resource_changes": sorted(changes, key=lambda r: r["address"]),
        "configuration": {
            "provider_config": _provider_config(program, provider_names),
            "root_module": root_module,
        },
    }
    if program.variables:
        plan["variables"] = {name: {"value": _json_value(program.scope.roots["var"][name])}
                             for name in program.variables
                             if program.scope.roots["var"][name] is not UNKNOWN}
    outputs = _planned_outputs(program)
    if outputs:
        plan["planned_values"]["outputs"] = outputs
    if prior:
        plan["prior_state"] = {"format_version": "1.0", "values": {"root_module": {
            "resources": sorted(prior, key=lambda r: r["address"])}}}
    return plan


def _schema_version(schema, rtype: str, mode: str) -> int:
    """The state schema version a real plan shows: the provider schema's own, else the known table."""
    type_schema = schema.get(rtype) if schema is not None and mode == "managed" else None
    if type_schema is not None and getattr(type_schema, "exact", False):
        return type_schema.version
    return schema_version(rtype, mode)


def _without_version(item: dict) -> dict:
    """`resource_changes` entries carry no `schema_version` in a real plan."""
    return {k: v for k, v in item.items() if k != "schema_version"}


def contains_unknown_inputs(values: dict, body: dict) -> bool:
    """A data source is read during plan unless its arguments depend on values unknown until apply."""
    for key, value in body_items(body):
        if key in META_ARGUMENTS or key == "dynamic":
            continue
        if key in values and contains_unknown(values[key]) and not is_block_list(value):
            return True
    return False


def _change(actions: list[str], after: dict, values: dict, computed: Iterable[str] = ()) -> dict:
    """A resource change; `computed` names the attributes the provider exports (ids, ARNs...), which a
    real plan marks unknown when the configuration does not set them."""
    after_unknown = _after_unknown(values)
    for name in sorted(computed):
        if name not in values and name not in after_unknown:
            after_unknown[name] = True
    return {
        "actions": actions,
        "before": None,
        "after": after,
        "after_unknown": dict(sorted(after_unknown.items())),
        "before_sensitive": False,
        "after_sensitive": {},
    }


def _after_unknown(values: Any) -> Any:
    check_budget()
    if values is UNKNOWN:
        return True
    if isinstance(values, list):
        return [_after_unknown(v) for v in values]
    if isinstance(values, dict):
        out = {}
        for k, v in values.items():
            marker = _after_unknown(v)
            if marker is True or (isinstance(marker, (list, dict)) and _has_true(marker)):
                out[k] = marker
        return out
    return False


def _has_true(marker: Any) -> bool:
    if marker is True:
        return True
    if isinstance(marker, list):
        return any(_has_true(m) for m in marker)
    if isinstance(marker, dict):
        return any(_has_true(m) for m in marker.values())
    return False


def _depends_on(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        if isinstance(item, str):
            out.append(item.removeprefix("${").removesuffix("}"))
    return out


def _variable_json(body: dict) -> dict:
    out: dict[str, Any] = {}
    if "default" in body:
        ok, value = constant_value(body["default"])
        out["default"] = _json_value(value) if ok else None
    if isinstance(body.get("description"), str):
        out["description"] = body["description"]
    if body.get("sensitive") is True:
        out["sensitive"] = True
    return out


def _output_json(body: dict) -> dict:
    out: dict[str, Any] = {"expression": expression_json(body.get("value"))}
    if body.get("sensitive") is True:
        out["sensitive"] = True
    if isinstance(body.get("description"), str):
        out["description"] = body["description"]
    if "depends_on" in body:
        out["depends_on"] = _depends_on(body["depends_on"])
    return out


def _module_json(body: dict) -> dict:
    out: dict[str, Any] = {"source": body.get("source", "")}
    expressions = {k: expression_json(v) for k, v in body_items(body)
                   if k not in ("source", "version", "providers") and k not in META_ARGUMENTS}
    out["expressions"] = expressions
    out["module"] = {}
    if isinstance(body.get("version"), str):
        out["version_constraint"] = body["version"]
    return out


def _planned_outputs(program: Program) -> dict:
    out = {}
    for name, body in program.outputs.items():
        value = program.evaluate(body.get("value"), program.scope)
        if contains_unknown(value):
            continue
        out[name] = {"sensitive": body.get("sensitive") is True, "value": _json_value(value)}
    return out


def _provider_config(program: Program, provider_names: set[str]) -> dict:
    out: dict[str, Any] = {}
    declared = {}
    for name, body in program.providers:
        alias = body.get("alias")
        key = f"{name}.{alias}" if isinstance(alias, str) else name
        declared[key] = (name, body)
    for name in sorted(provider_names):
        declared.setdefault(name, (name, {}))
    for key, (name, body) in declared.items():
        entry: dict[str, Any] = {"name": name, "full_name": program.provider_full_name(name)}
        alias = body.get("alias")
        if isinstance(alias, str):
            entry["alias"] = alias
        req = program.required_providers.get(name)
        if isinstance(req, dict) and isinstance(req.get("version"), str):
            entry["version_constraint"] = req["version"]
        expressions = config_expressions({k: v for k, v in body_items(body) if k not in ("alias", "version")})
        if expressions:
            entry["expressions"] = expressions
        out[key] = entry
    return out


def plan_for_code(code: str, schema=None, symbolic: bool = False) -> dict:
    """Parse HCL text and emulate its plan (raises `HCLParseError` for code that does not parse)."""
    return build_plan(parse_hcl(code, explicit_blocks=True), schema, symbolic=symbolic)


__all__ = ["build_plan", "plan_for_code", "Program", "config_expressions", "expression_json", "planned_value"]
