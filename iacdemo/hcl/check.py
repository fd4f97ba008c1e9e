"""Grounded checks of Terraform code: would `terraform validate` and `plan` accept it?

Where Terraform cannot run, plannability is judged statically against the AWS provider's own schema
(`iacdemo.terraform.schema.load_schema`): the code parses, every AWS type exists, every argument and
nested block exists in its block, required arguments and blocks are there, literal values have the
argument's type, references read attributes the type exports, and Terraform's own rules hold (variables
need values, files other than main.tf do not exist, ...). Each finding Terraform would stop on is
reported in its words (`diagnostics`). Types of other providers (`random_string`, `archive_file`, ...)
are listed apart and not checked against the AWS schema: they are not AWS hallucinations. The same
`CheckResult` feeds the UI badges, the CLI and the offline IaC-Eval harness, so there is one notion of
"plannable" everywhere.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Iterator

from iacdemo.hcl.extract import _looks_like_hcl, extract_hcl, first_code_block
from iacdemo.hcl.parse import BLOCK_MARKER, HCLParseError, parse_hcl
from iacdemo.terraform.expressions import constant_value
from iacdemo.terraform.provider_rules import PROVIDER_REJECTS, provider_rule_errors
from iacdemo.terraform.provider_values import PROVIDER_VALIDATES, value_problems
from iacdemo.terraform.schema_model import (DATA, META_BLOCKS_NOT_CHECKED, RESOURCE, BlockSpec, ProviderSchema,
                                            TypeSchema)
from iacdemo.terraform.value_types import is_object_collection, type_problem

AWS_PREFIX = "aws"
# Provider prefixes whose references we check besides those of declared types; guarding the reference
# regex this way keeps iterator names (`for sub_net in ...: sub_net.id`) from reading as resources.
COMMON_PROVIDER_PREFIXES = frozenset({"aws", "random", "null", "archive", "tls", "time", "local", "http",
                                      "template", "external", "cloudinit"})

_RESOURCE_REF = re.compile(r"(?<![\w.\-])(data\.)?([a-z][a-z0-9]*_[a-z0-9_]+)\.([A-Za-z_][\w-]*)")
_NAMED_REF = re.compile(r"(?<![\w.\-])(var|local|module)\.([A-Za-z_][\w-]*)")
_FOR_VARS = re.compile(r"\bfor\s+([A-Za-z_][\w-]*)(?:\s*,\s*([A-Za-z_][\w-]*))?\s+in\b")
# `type.name.attr`, `type.name[0].attr`, `type.name[*].attr`, `type.name.*.attr`: the attribute read.
_ATTRIBUTE_REF = re.compile(r"(?<![\w.\-])(data\.)?([a-z][a-z0-9]*_[a-z0-9_]+)\.([A-Za-z_][\w-]*)"
                            r"(\[[^\[\]]*\]|\.\*)?\.([A-Za-z_][\w-]*)(?:\.([A-Za-z_][\w-]*))?")
# Functions that read a file while planning. IaC-Eval's harness (and the real mode's sandbox) writes only
# main.tf into an empty folder, so any other file is missing and the plan fails.
_FILE_FUNCTION = re.compile(r"(?<![\w.])(file|filebase64|filemd5|filesha1|filesha256|filesha512|filebase64sha256|"
                            r"filebase64sha512|templatefile)\s*\(")
# Terraform's own meta-arguments of a resource/data block (checked by Terraform, not the provider).
_EXACT_META = frozenset({"count", "for_each", "depends_on", "provider", "lifecycle", "provisioner", "connection"})


@dataclass
class CheckResult:
    has_code: bool = False
    code: str = ""
    parses: bool = False
    parse_error: str | None = None
    parse_error_line: int | None = None
    resources: list[str] = field(default_factory=list)  # "type.name" of managed resources
    data_sources: list[str] = field(default_factory=list)  # "data.type.name"
    unknown_resource_types: list[dict] = field(default_factory=list)  # {type, kind, address, suggestion}
    unknown_arguments: list[dict] = field(default_factory=list)  # {address, argument, block_path, suggestion}
    missing_required: list[dict] = field(default_factory=list)  # {address, argument, block_path}
    broken_references: list[dict] = field(default_factory=list)  # {reference, kind, used_in}
    malformed_blocks: list[str] = field(default_factory=list)  # wrong label count, duplicate addresses
    not_hcl: bool = False  # the code does not parse and has no HCL shape at all (prose in a fence)
    other_provider_types: list[str] = field(default_factory=list)
    arguments_checked: int = 0  # arguments of known AWS types looked up in the schema
    # Every other error Terraform would stop on, in its own words: {summary, detail, address}
    # (summary as Terraform writes it: "Insufficient rule blocks", "Incorrect attribute value type", ...).
    diagnostics: list[dict] = field(default_factory=list)

    @property
    def plannable(self) -> bool:
        return (self.has_code and self.parses and not self.unknown_resource_types and not self.unknown_arguments
                and not self.missing_required and not self.broken_references and not self.malformed_blocks
                and not self.diagnostics)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["plannable"] = self.plannable
        return out

    def badges(self) -> list[tuple[str, str]]:
        """(label, level) pairs for the UI; level is one of ok, info, warn, error.

        The one source of every tab's badges, so they never contradict each other: a failure at one
        stage (no code, no HCL, no parse) is the only badge, and the count names what was found.
        """
        if not self.has_code:
            return [("no code", "error")]
        if self.not_hcl:
            return [("not HCL", "error")]
        if not self.parses:
            where = f" (line {self.parse_error_line})" if self.parse_error_line else ""
            return [(f"does not parse{where}", "error")]
        badges: list[tuple[str, str]] = [("parses", "ok")]
        problems = [
            (len(self.unknown_resource_types), "unknown type", "unknown types"),
            (len(self.unknown_arguments), "unknown argument", "unknown arguments"),
            (len(self.missing_required), "missing required argument", "missing required arguments"),
            (len(self.broken_references), "broken reference", "broken references"),
            (len(self.malformed_blocks), "malformed block", "malformed blocks"),
        ]
        for count, one, many in problems:
            if count:
                badges.append((f"{count} {one if count == 1 else many}", "error"))
        if self.other_provider_types:
            badges.append((f"other providers: {', '.join(self.other_provider_types)}", "info"))
        found = [_count(len(self.resources), "resource"), _count(len(self.data_sources), "data source")]
        found = [text for text in found if text]
        if found:
            badges.append((", ".join(found), "info"))
        elif not self.malformed_blocks:  # a malformed block is a block: "no resources" would deny it
            badges.append(("no resources", "info"))
        badges.append(("plannable", "ok") if self.plannable else ("not plannable", "error"))
        return badges


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' if n != 1 else ''}" if n else ""


NOT_HCL_MESSAGE = ("This is not HCL: it has no block (`resource \"type\" \"name\" {`) and no `name = value` "
                   "line, so it reads as prose.")


def check_answer(answer: str | None, schema: ProviderSchema, *, official: bool = False,
                 nested_required: bool = False) -> CheckResult:
    """Extract the code from a model's answer and check it.

    `official=True` takes the code exactly as the IaC-Eval harness would (first fenced block); the
    default also recovers unfenced HCL, which is what a viewer of the demo wants to see judged.
    """
    code = first_code_block(answer) if official else extract_hcl(answer)
    return check_hcl(code or "", schema, nested_required=nested_required)


def check_hcl(code: str, schema: ProviderSchema, *, nested_required: bool = False) -> CheckResult:
    """Check one Terraform program (the text of a .tf file)."""
    result = CheckResult(has_code=bool(code and code.strip()), code=code or "")
    if not result.has_code:
        return result
    try:
        tree = parse_hcl(code, explicit_blocks=True)
    except HCLParseError as exc:
        if not _looks_like_hcl(code):  # prose: a parser's complaint about its first comma helps nobody
            result.not_hcl, result.parse_error = True, NOT_HCL_MESSAGE
            return result
        result.parse_error, result.parse_error_line = str(exc), exc.line
        return result
    return check_tree(tree, code, schema, nested_required=nested_required)


def check_tree(tree: dict, code: str, schema: ProviderSchema, *, nested_required: bool = False) -> CheckResult:
    """Check a program already parsed with `parse_hcl(code, explicit_blocks=True)`.

    For callers that need the tree themselves (the evaluation harness builds its plan from it): parsing
    is most of the time a check takes, so it is done once.
    """
    result = CheckResult(has_code=bool(code and code.strip()), code=code or "", parses=True)
    _Checker(schema, result, nested_required).run(tree)
    return result


def _declared_providers(tree: dict) -> set[str]:
    """Provider names the program itself declares (`provider "x"` blocks, `required_providers`)."""
    names = {name for entry in _as_list(tree.get("provider")) if isinstance(entry, dict)
             for name in entry if not name.startswith("__")}
    for block in _as_list(tree.get("terraform")):
        if not isinstance(block, dict):
            continue
        for required in _as_list(block.get("required_providers")):
            if isinstance(required, dict):
                names |= {name for name in required if not name.startswith("__")}
    return names


class _Checker:
    def __init__(self, schema: ProviderSchema, result: CheckResult, nested_required: bool):
        self._values: dict = {}
        self._cross = None
        self.schema = schema
        self.result = result
        self.nested_required = nested_required

    def run(self, tree: dict) -> None:
        declared_resources: set[tuple[str, str]] = set()
        declared_data: set[tuple[str, str]] = set()
        other: set[str] = set()
        providers = COMMON_PROVIDER_PREFIXES | _declared_providers(tree)
        for kind, key in ((RESOURCE, "resource"), (DATA, "data")):
            seen: set[str] = set()
            for type_name, name, body in self._labelled_blocks(tree, key):
                address = f"{type_name}.{name}" if kind == RESOURCE else f"data.{type_name}.{name}"
                if address in seen:
                    self.result.malformed_blocks.append(f"duplicate {address}")
                seen.add(address)
                (declared_resources if kind == RESOURCE else declared_data).add((type_name, name))
                (self.result.resources if kind == RESOURCE else self.result.data_sources).append(address)
                prefix = _provider_prefix(type_name)
                if prefix != AWS_PREFIX and prefix in providers:
                    other.add(type_name)
                    continue
                type_schema = self.schema.get(type_name, kind) if prefix == AWS_PREFIX else None
                if type_schema is None:
                    # A prefix of no known or declared provider is an invented type (the tuned model's
                    # `dynamodb_contributor`), not another provider's: suggest the AWS name it resembles.
                    guess = type_name if prefix == AWS_PREFIX else f"{AWS_PREFIX}_{type_name}"
                    self.result.unknown_resource_types.append(
                        {"type": type_name, "kind": kind, "address": address,
                         "suggestion": self.schema.suggest(guess, kind)})
                    continue
                if type_schema.exact:
                    self._values = type_schema.values if kind == RESOURCE else {}
                    self._cross = type_schema.cross if kind == RESOURCE else None
                    self._check_exact(type_schema, address, body, ())
                    if kind == RESOURCE:
                        self._check_documented_rules(type_schema, address, body)
                        for summary in provider_rule_errors(type_name, body):
                            self._diagnose(summary, PROVIDER_REJECTS, address)
                else:
                    self._check_body(type_schema, address, body, ())
        self._values, self._cross = {}, None  # the provider's rules of a type apply to that type's blocks only
        self.result.other_provider_types = sorted(other)
        self._check_references(tree, declared_resources, declared_data)
        if self.schema.exact:
            self._check_providers(tree)
        self._check_variables(tree)
        self._check_destroy_provisioners(tree)
        self._check_file_reads(tree)
        self._check_archives(tree)

    def _diagnose(self, summary: str, detail: str, address: str = "") -> None:
        self.result.diagnostics.append({"summary": summary, "detail": detail, "address": address})

    def _check_exact(self, spec: BlockSpec, address: str, body: dict, path: tuple[str, ...],
                     known: bool = True) -> None:
        """Check a block against the provider's own schema, as Terraform does before planning.

        `known`: the whole top-level block this one sits in is known before planning. The provider
        validates the values and cross-argument rules inside a nested block only then (the SDK skips a
        list of blocks that holds any unknown value), so its rules are applied only then here."""
        written: dict[str, int] = {}
        dynamic: set[str] = set()
        where = ".".join(path)
        for key, value in body.items():
            if key.startswith("__"):
                continue
            if key == "dynamic":
                for label, content in _dynamic_blocks(value):
                    dynamic.add(label)
                    self.result.arguments_checked += 1
                    child = spec.blocks.get(label)
                    if child is None:
                        argument = spec.arguments.get(label)
                        if argument is None or not is_object_collection(argument.type):
                            self._unknown(address, label, path, spec)
                        else:
                            self._check_object_blocks(address, label, path, argument.type, content)
                        continue
                    for inner in content:
                        self._check_exact(child, address, inner, path + (label,), known=False)
                continue
            if not path and key in _EXACT_META:
                continue
            self.result.arguments_checked += 1
            bodies = _block_bodies(value)
            child = spec.blocks.get(key)
            if child is not None:
                if not bodies:  # `rule = {...}`: a block written as an argument
                    self._unknown(address, key, path, spec, hint=f'did you mean to define a block of type "{key}"?')
                    continue
                written[key] = written.get(key, 0) + len(bodies)
                inner_known = known and (bool(path) or _wholly_known(bodies))
                for inner in bodies:
                    self._check_exact(child, address, inner, path + (key,), known=inner_known)
                continue
            argument = spec.arguments.get(key)
            if argument is not None:
                written[key] = 1
                if bodies:
                    if not is_object_collection(argument.type):  # only lists/sets of objects take block syntax
                        self._unknown(address, key, path, spec, hint=f'did you mean to define argument "{key}"?')
                        continue
                    self._check_object_blocks(address, key, path, argument.type, bodies)
                    continue
                is_constant, constant = constant_value(value)
                problem = type_problem(constant, argument.type) if is_constant else None
                if problem:
                    self._diagnose("Incorrect attribute value type",
                                   f'Inappropriate value for attribute "{key}": {problem}.', address)
                elif is_constant and self._values and known:
                    for summary in value_problems(self._values, path + (key,), constant):
                        self._diagnose(summary, PROVIDER_VALIDATES, address)
                continue
            if key in spec.computed_only:
                self._diagnose("Value for unconfigurable attribute",
                               f'Can\'t configure a value for "{key}": its value will be decided automatically '
                               "based on the result of applying this configuration.", address)
                continue
            self._unknown(address, key, path, spec)
        if self._cross is not None and known:
            present = {k for k, v in body.items() if not k.startswith("__") and k != "dynamic" and v is not None}
            # A top-level argument's conflicts are checked only once its value is known; whether anything
            # of a one-of group is set is checked regardless.
            settled = present if path else {k for k in present if _wholly_known(body[k])}
            for summary, detail in self._cross.problems(path, present | dynamic, settled):
                if not any(d["detail"] == detail and d["address"] == address for d in self.result.diagnostics):
                    self._diagnose(summary, detail, address)
        for name in spec.required():
            if name not in written:
                self.result.missing_required.append({"address": address, "argument": name, "block_path": where})
        for name, child in spec.blocks.items():
            if name in dynamic:
                continue
            count = written.get(name, 0)
            if child.min_items and count < child.min_items:
                self._diagnose(f"Insufficient {name} blocks",
                               f"At least {child.min_items} \"{name}\" block{'s are' if child.min_items > 1 else ' is'} "
                               f"required{' in ' + where if where else ''}.", address)
            limit = child.max_items or (1 if child.nesting == "single" else 0)
            if limit and count > limit:
                self._diagnose(f"Too many {name} blocks",
                               f"No more than {limit} \"{name}\" block{'s are' if limit > 1 else ' is'} allowed"
                               f"{' in ' + where if where else ''}.", address)

    def _check_object_blocks(self, address: str, name: str, path: tuple[str, ...], kind: list,
                             bodies: list[dict]) -> None:
        """An attribute written as blocks: each block is one object of the list, so only its fields may be set."""
        fields = kind[1][1] if isinstance(kind[1][1], dict) else {}
        as_spec = BlockSpec(arguments={f: None for f in fields})
        for inner in bodies:
            for field_name in inner:
                if not field_name.startswith("__") and field_name not in fields:
                    self.result.arguments_checked += 1
                    self._unknown(address, field_name, path + (name,), as_spec)

    def _check_documented_rules(self, type_schema: TypeSchema, address: str, body: dict) -> None:
        """The docs' "Conflicts with" and "Exactly one of" rules, on the arguments written (null is unset)."""
        if not type_schema.conflicts and not type_schema.exactly_one:
            return
        present = {k for k, v in body.items() if not k.startswith("__") and k != "dynamic" and v is not None}
        present |= {label for label, _ in _dynamic_blocks(body.get("dynamic"))}
        reported: set[frozenset[str]] = set()
        for name in sorted(present):
            for other in sorted(type_schema.conflicts.get(name, frozenset()) & present):
                pair = frozenset((name, other))
                if pair not in reported:
                    reported.add(pair)
                    self._diagnose("Conflicting configuration arguments", f'"{name}": conflicts with {other}', address)
        if "dynamic" in body and not present:
            return
        for group in type_schema.exactly_one:
            # Only the "none set" half: checked against real Terraform, "exactly one" in the docs sometimes
            # means "one is enough" (aws_elb takes both `availability_zones` and `subnets`).
            if not any(n in present for n in group):
                self._diagnose("Invalid combination of arguments",
                               f'"{group[0]}": one of `{",".join(sorted(group))}` must be specified', address)

    def _unknown(self, address: str, name: str, path: tuple[str, ...], spec: BlockSpec, hint: str = "") -> None:
        names = list(spec.arguments) + list(spec.blocks)
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.75)
        entry = {"address": address, "argument": name, "block_path": ".".join(path),
                 "suggestion": close[0] if close else None}
        if hint:
            entry["hint"] = hint
        self.result.unknown_arguments.append(entry)

    def _check_providers(self, tree: dict) -> None:
        """`provider "aws" { ... }` arguments against the provider's own configuration schema."""
        spec = self.schema.provider
        if spec is None:
            return
        for entry in _as_list(tree.get("provider")):
            if not isinstance(entry, dict):
                continue
            body = entry.get(AWS_PREFIX)
            for block in _as_list(body):
                if isinstance(block, dict):
                    self._check_exact(spec, 'provider "aws"',
                                      {k: v for k, v in block.items() if k not in ("alias", "version")}, ("provider",))

    def _check_variables(self, tree: dict) -> None:
        """Variables without a default fail the plan (no value is given), and defaults must be literal."""
        for entry in _as_list(tree.get("variable")):
            if not isinstance(entry, dict):
                continue
            for name, body in entry.items():
                if name.startswith("__") or not isinstance(body, dict):
                    continue
                if "default" not in body:
                    self._diagnose("No value for required variable",
                                   f'The root module input variable "{name}" is not set, and has no default value.',
                                   f"var.{name}")
                elif any(_expression_code(text).strip() for _, text in _walk_expressions(body["default"])):
                    # A default is a literal: no references, no function calls.
                    self._diagnose("Variables not allowed", "Variables may not be used here.", f"var.{name}")

    def _check_destroy_provisioners(self, tree: dict) -> None:
        """A `when = destroy` provisioner may refer only to `self`, `count.index` and `each.key`."""
        for entry in _as_list(tree.get("resource")):
            for type_name, named in (entry.items() if isinstance(entry, dict) else ()):
                for name, body in (named.items() if isinstance(named, dict) else ()):
                    if not isinstance(body, dict):
                        continue
                    for provisioner in _as_list(body.get("provisioner")):
                        for _, spec in (provisioner.items() if isinstance(provisioner, dict) else ()):
                            if not isinstance(spec, dict) or str(spec.get("when", "")).strip("${}") != "destroy":
                                continue
                            code = "\n".join(_expression_code(t) for _, t in _walk_expressions(spec))
                            if _RESOURCE_REF.search(code) or _NAMED_REF.search(code):
                                self._diagnose("Invalid reference from destroy provisioner",
                                               "Destroy-time provisioners and their connection configurations may "
                                               "only reference attributes of the related resource, via 'self', "
                                               "'count.index', or 'each.key'.", f"{type_name}.{name}")

    def _check_file_reads(self, tree: dict) -> None:
        for used_in, text in _expressions(tree):
            code = _expression_code(text)
            match = _FILE_FUNCTION.search(code)
            if match and "fileexists" not in code:
                self._diagnose("Invalid function argument",
                               f'{match.group(1)}(): no such file: only main.tf is in the working directory.',
                               used_in)

    def _check_archives(self, tree: dict) -> None:
        """`data "archive_file"` zips files of the working directory, where only main.tf exists."""
        for entry in _as_list(tree.get("data")):
            if not isinstance(entry, dict):
                continue
            for name, body in (entry.get("archive_file") or {}).items() if isinstance(entry.get("archive_file"), dict) else ():
                if isinstance(body, dict) and ("source_file" in body or "source_dir" in body):
                    self._diagnose("Archive creation error",
                                   "error archiving file: could not archive missing file", f"data.archive_file.{name}")

    def _labelled_blocks(self, tree: dict, key: str) -> Iterator[tuple[str, str, dict]]:
        for entry in _as_list(tree.get(key)):
            if not isinstance(entry, dict):
                continue
            for type_name, named in entry.items():
                if type_name == BLOCK_MARKER:
                    self.result.malformed_blocks.append(f"{key} block without labels")
                    continue
                if not isinstance(named, dict) or named.get(BLOCK_MARKER):
                    self.result.malformed_blocks.append(f'{key} "{type_name}" needs two labels (type and name)')
                    continue
                for name, body in named.items():
                    if isinstance(body, dict) and body.get(BLOCK_MARKER):
                        yield type_name, name, body
                    else:
                        self.result.malformed_blocks.append(f'{key} "{type_name}" "{name}" has extra labels')

    def _check_body(self, type_schema: TypeSchema, address: str, body: dict, path: tuple[str, ...]) -> None:
        spec = type_schema.find_block(path) if path else type_schema
        if spec is None:
            return  # a block the docs name but never detail (e.g. `filter`): nothing to check against
        present: set[str] = set()
        for key, value in body.items():
            if key.startswith("__"):
                continue
            if key == "dynamic":
                for label, content in _dynamic_blocks(value):
                    present.add(label)
                    self._check_argument(type_schema, address, label, path)
                    for inner in content:
                        self._check_body(type_schema, address, inner, path + (label,))
                continue
            present.add(key)
            if not path and key in META_BLOCKS_NOT_CHECKED:
                continue
            if not self._check_argument(type_schema, address, key, path):
                continue
            for inner in _block_bodies(value):
                self._check_body(type_schema, address, inner, path + (key,))
        if path and not self.nested_required:
            return
        for name in spec.required():
            if name not in present:
                self.result.missing_required.append(
                    {"address": address, "argument": name, "block_path": ".".join(path)})

    def _check_argument(self, type_schema: TypeSchema, address: str, name: str, path: tuple[str, ...]) -> bool:
        self.result.arguments_checked += 1
        if type_schema.is_known(name):
            return True
        close = difflib.get_close_matches(name, type_schema.known_names, n=1, cutoff=0.75)
        self.result.unknown_arguments.append({"address": address, "argument": name, "block_path": ".".join(path),
                                              "suggestion": close[0] if close else None})
        return False

    def _check_references(self, tree: dict, resources: set[tuple[str, str]], data: set[tuple[str, str]]) -> None:
        variables = {name for entry in _as_list(tree.get("variable")) if isinstance(entry, dict)
                     for name in entry if not name.startswith("__")}
        locals_ = {name for entry in _as_list(tree.get("locals")) if isinstance(entry, dict)
                   for name in entry if not name.startswith("__")}
        modules = {name for entry in _as_list(tree.get("module")) if isinstance(entry, dict)
                   for name in entry if not name.startswith("__")}
        prefixes = COMMON_PROVIDER_PREFIXES | {_provider_prefix(t) for t, _ in resources | data}
        seen: set[str] = set()
        dynamic_iterators = _dynamic_iterators(tree)
        for where, text in _walk_expressions(tree):
            used_in = _address_of(where)
            code = _expression_code(text)
            iterators = dynamic_iterators | {v for match in _FOR_VARS.finditer(code) for v in match.groups() if v}
            self._check_attributes(code, iterators, prefixes, resources, data, where, used_in)
            for match in _RESOURCE_REF.finditer(code):
                is_data, type_name, name = bool(match.group(1)), match.group(2), match.group(3)
                if type_name in iterators or _provider_prefix(type_name) not in prefixes:
                    continue
                declared = (type_name, name) in (data if is_data else resources)
                reference = f"{'data.' if is_data else ''}{type_name}.{name}"
                if not declared and reference not in seen:
                    seen.add(reference)
                    self.result.broken_references.append(
                        {"reference": reference, "kind": DATA if is_data else RESOURCE, "used_in": used_in})
            for match in _NAMED_REF.finditer(code):
                kind, name = match.group(1), match.group(2)
                pool = {"var": variables, "local": locals_, "module": modules}[kind]
                reference = f"{kind}.{name}"
                if name not in pool and reference not in seen:
                    seen.add(reference)
                    self.result.broken_references.append({"reference": reference, "kind": kind, "used_in": used_in})


    def _check_attributes(self, code: str, iterators: set[str], prefixes: set[str], resources: set, data: set,
                          where: str, used_in: str) -> None:
        """References to attributes a type does not export, and a resource reading itself."""
        for match in _ATTRIBUTE_REF.finditer(code):
            is_data, type_name, name = bool(match.group(1)), match.group(2), match.group(3)
            splat, attribute, further = match.group(4), match.group(5), match.group(6)
            if type_name in iterators or _provider_prefix(type_name) != AWS_PREFIX:
                continue
            if (type_name, name) not in (data if is_data else resources):
                continue
            reference = f"{'data.' if is_data else ''}{type_name}.{name}"
            if reference == used_in and not is_data and not re.search(r"\.(provisioner|connection)\b", where):
                self._diagnose("Self-referential block", f"Configuration for {reference} may not refer to itself.",
                               used_in)
            type_schema = self.schema.get(type_name, DATA if is_data else RESOURCE)
            if type_schema is None or not type_schema.exact:
                continue
            if attribute in type_schema.attributes:
                if further and not (splat or "").strip("[]").strip() == "*":
                    self._check_attribute_access(type_schema, reference, attribute, further)
                continue
            self._diagnose("Unsupported attribute",
                           f'This object has no argument, nested block, or exported attribute named "{attribute}".',
                           f"{reference}.{attribute}")


    def _check_attribute_access(self, type_schema: TypeSchema, reference: str, attribute: str, further: str) -> None:
        """`x.attr.field` where `attr` is a list of blocks or a string: Terraform needs an index or has nothing."""
        block = type_schema.blocks.get(attribute)
        if block is not None:
            if block.nesting in ("list", "set"):
                self._diagnose("Unsupported attribute", "Can't access attributes on a list of objects. Did you mean "
                               f'to access attribute "{further}" for a specific element of the list?',
                               f"{reference}.{attribute}.{further}")
            return
        spec = type_schema.arguments.get(attribute)
        kind = spec.type if spec is not None else type_schema.computed_only.get(attribute)
        if kind in ("string", "number", "bool"):
            self._diagnose("Unsupported attribute", f"Can't access attributes on a primitive-typed value ({kind}).",
                           f"{reference}.{attribute}.{further}")
        elif isinstance(kind, list) and kind and kind[0] in ("list", "set"):
            self._diagnose("Unsupported attribute", f"Can't access attributes on a {kind[0]} of values.",
                           f"{reference}.{attribute}.{further}")


def _provider_prefix(type_name: str) -> str:
    return type_name.split("_", 1)[0]


def _wholly_known(value: Any) -> bool:
    """Every value inside is known before planning (no reference, no dynamic block)."""
    if isinstance(value, dict):
        return "dynamic" not in value and all(_wholly_known(v) for k, v in value.items() if not k.startswith("__"))
    if isinstance(value, list):
        return all(_wholly_known(v) for v in value)
    return constant_value(value)[0]


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _block_bodies(value: Any) -> list[dict]:
    """Nested block bodies under an argument; attribute values (maps, lists of objects) are not blocks."""
    if isinstance(value, list):
        return [v for v in value if isinstance(v, dict) and v.get(BLOCK_MARKER)]
    if isinstance(value, dict) and value.get(BLOCK_MARKER):
        return [value]
    return []


def _dynamic_blocks(value: Any) -> Iterator[tuple[str, list[dict]]]:
    """(block name, content bodies) of `dynamic "name" { content { ... } }` blocks."""
    for entry in _as_list(value):
        if not isinstance(entry, dict):
            continue
        for label, spec in entry.items():
            if label.startswith("__") or not isinstance(spec, dict):
                continue
            yield label, _block_bodies(spec.get("content"))


def _dynamic_iterators(tree: Any) -> set[str]:
    """Names usable as `name.value` inside dynamic blocks (the label, or the `iterator` argument)."""
    found: set[str] = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "dynamic":
                    for entry in _as_list(value):
                        if isinstance(entry, dict):
                            for label, spec in entry.items():
                                if label.startswith("__"):
                                    continue
                                found.add(label)
                                if isinstance(spec, dict) and isinstance(spec.get("iterator"), str):
                                    found.add(spec["iterator"].strip("${}"))
                stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
    return found


def _expressions(tree: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """(address, string) for every string value holding an interpolation or expression."""
    for path, text in _walk_expressions(tree, where):
        yield _address_of(path), text


def _walk_expressions(tree: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """(full path such as resource.aws_x.y.rule.z, string) for every string holding an expression."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            if key.startswith("__"):
                continue
            yield from _walk_expressions(value, f"{where}.{key}" if where else key)
    elif isinstance(tree, list):
        for item in tree:
            yield from _walk_expressions(item, where)
    elif isinstance(tree, str) and ("${" in tree or "%{" in tree):
        yield where, tree


def _address_of(where: str) -> str:
    """A readable address from the walk path: resource.aws_x.y.arg -> aws_x.y."""
    parts = where.split(".")
    if parts[0] == "resource" and len(parts) >= 3:
        return ".".join(parts[1:3])
    if parts[0] == "data" and len(parts) >= 3:
        return "data." + ".".join(parts[1:3])
    return ".".join(parts[:2])


def _expression_code(text: str) -> str:
    """The expression code inside every `${...}`/`%{...}` of a string, with quoted literals removed
    (interpolations inside those literals kept), so words in strings never read as references."""
    pieces: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text.startswith("$${", i) or text.startswith("%%{", i):
            i += 3
            continue
        if text.startswith("${", i) or text.startswith("%{", i):
            end = _expression_end(text, i + 2)
            pieces.append(_strip_literals(text[i + 2:end]))
            i = end + 1
            continue
        i += 1
    return "\n".join(pieces)


def _expression_end(text: str, start: int) -> int:
    depth, i, n = 1, start, len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            i = _literal_end(text, i)
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return n


def _literal_end(text: str, quote: int) -> int:
    i, n = quote + 1, len(text)
    while i < n:
        if text[i] == "\\":
            i += 2
            continue
        if text.startswith("${", i):
            i = _expression_end(text, i + 2) + 1
            continue
        if text[i] == '"':
            return i + 1
        i += 1
    return n


def _strip_literals(code: str) -> str:
    out: list[str] = []
    i, n = 0, len(code)
    while i < n:
        if code[i] == '"':
            end = _literal_end(code, i)
            out.append(" " + _expression_code(code[i + 1:end - 1]) + " ")
            i = end
            continue
        out.append(code[i])
        i += 1
    return "".join(out)
