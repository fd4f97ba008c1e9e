"""Read the AWS provider's own value validation out of the provider, by asking real `terraform validate`.

    TF_CLI_CONFIG_FILE=cli.tfrc python scripts/probe_provider_validation.py SCHEMA.json.gz OUT.json --cross [--work DIR]
    gzip -9 OUT.json && mv OUT.json.gz iacdemo/terraform/provider_values/aws-<version>.json.gz

(TF_CLI_CONFIG_FILE: a CLI config whose filesystem mirror holds the provider, as in tests/test_hcl_terraform_errors.py.
About 15 minutes for the 1,526 resource types on 2 loaded cores.)

`terraform providers schema -json` exports which arguments exist, not which values the provider accepts:
that lives in the provider's Go code (`ValidateFunc`), and `terraform validate` runs it on literal values
without any AWS access. This script writes, for every resource type, one configuration that sets every
settable string argument (and every list or set of strings) at every block depth to a probe value that no
sensible validation accepts, runs `terraform validate -json` on batches of them, and keeps the diagnostics
whose text states the rule exactly:

- `expected X to be one of ["A" "B"], got ...` (SDK `StringInSlice`) and the plugin framework's
  `value must be one of: [...]`: a one-of list, in the provider's own words;
- `"X" (...) is an invalid ARN`: the argument takes an ARN;
- `"X" doesn't look like AWS Region`: the argument takes a region name;
- `"X" does not match pattern ("RE")` / `doesn't comply with restrictions ("RE")` / `expected value of X
  to match regular expression "RE"`: the provider's regex;
- `"X" doesn't look like AWS Account ID (exactly 12 digits)`: twelve digits;
- the plugin framework's "Invalid String Enum Value" (its `Valid Values: [...]`) and "Invalid ARN Value"
  (the value must parse as an ARN; the SDK's check also wants a valid partition, region and account).

A second pass sets each one-of argument to one of its values with the letter case flipped, to learn which
lists the provider compares case-insensitively. Messages that describe a rule only in prose
("invalid value for master_password (must contain ...)") are not kept: the probe shows the rule exists,
not what it is. The result is data about one provider version, regenerated like the schema dump.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import subprocess
import sys
from pathlib import Path

PROBE = "zzqprobe"
HEADER = 'terraform {\n  required_providers {\n    aws = { source = "hashicorp/aws" }\n  }\n}\n' \
         'provider "aws" {\n  region = "us-east-1"\n}\n'
MAX_DEPTH = 5
BATCH = 60

_ENUM = re.compile(r'^expected (\S+) to be one of \[(.*)\], got (.*)$', re.S)
_FW_ENUM = re.compile(r'^Attribute (\S+) value must be one of: ?\[(.*)\], got: (.*)$', re.S)
_ARN = re.compile(r'^"?([\w.]+)"? \(.*\) is an invalid ARN')
_FW_ENUM_VALUES = re.compile(r'^The provided value does not match any valid values\.\s.*Valid Values: \[(.*)\]\s*$', re.S)
_FW_ARN = re.compile(r'^The provided value cannot be parsed as an ARN\.')
_ACCOUNT = re.compile(r'^"?([\w.]+)"? doesn\'t look like AWS Account ID \(exactly 12 digits\)')
_REGION = re.compile(r'^"?([\w.]+)"? doesn\'t look like AWS Region')
_PATTERN = re.compile(r'^(?:"?([\w.]+)"? (?:does not match pattern|doesn\'t comply with restrictions) \(|'
                      r'expected value of ([\w.]+) to match regular expression )("(?:[^"\\]|\\.)*")')
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')


def _hcl_string(value: str) -> str:
    return json.dumps(value).replace("${", "$${").replace("%{", "%%{")


def _value(kind, probe: str | None) -> str | None:
    """HCL for a value of the schema type `kind`: the probe for strings, a minimal valid value otherwise."""
    if kind == "string":
        return _hcl_string(probe if probe is not None else "x")
    if kind == "number":
        return "1"
    if kind == "bool":
        return "false"
    if isinstance(kind, list):
        head = kind[0]
        if head in ("list", "set"):
            inner = _value(kind[1], probe)
            return f"[{inner}]"
        if head == "map":
            return "{}"
        if head == "object":
            fields = ", ".join(f"{k} = {_value(v, None)}" for k, v in kind[1].items())
            return "{" + fields + "}"
    return None


def _is_string_or_strings(kind) -> bool:
    return kind == "string" or (isinstance(kind, list) and kind[0] in ("list", "set") and kind[1] == "string")


def _full_value(kind) -> str | None:
    """A value of every kind, so that every argument counts as set (`true` for booleans)."""
    if kind == "bool":
        return "true"
    if isinstance(kind, list) and kind[0] in ("list", "set"):
        inner = _full_value(kind[1])
        return f"[{inner}]" if inner is not None else None
    return _value(kind, PROBE)


def _block_body(block: dict, path: tuple[str, ...], overrides: dict, depth: int, indent: str,
                paths: list, mode: str = "probe") -> list[str]:
    """The lines of a block; `paths` gets, per line, the argument path it sets (None for other lines).
    mode "probe": strings and lists of strings set to the probe; "all": every argument set;
    "skeleton": only required arguments (every block still written once)."""
    lines: list[str] = []
    for name, attr in sorted(block.get("attributes", {}).items()):
        if (not path and name in ("id", "tags_all")) or not (attr.get("required") or attr.get("optional")):
            continue
        kind = attr.get("type")
        here = path + (name,)
        if mode == "all" or (mode == "skeleton" and attr.get("required")):
            text = _full_value(kind) if mode == "all" else _value(kind, None)
            if text is not None:
                lines.append(f"{indent}{name} = {text}")
                paths.append((here, kind != "string"))
            continue
        if mode == "skeleton":
            continue
        if here in overrides:
            lines.append(f"{indent}{name} = {_value(kind, overrides[here])}")
        elif _is_string_or_strings(kind):
            lines.append(f"{indent}{name} = {_value(kind, PROBE)}")
        elif attr.get("required"):
            text = _value(kind, None)
            if text is None:
                continue
            lines.append(f"{indent}{name} = {text}")
        else:
            continue
        paths.append((here, kind != "string"))
    if depth >= MAX_DEPTH:
        return lines
    for name, child in sorted(block.get("block_types", {}).items()):
        if child.get("nesting_mode") == "map":
            continue
        lines.append(f"{indent}{name} {{")
        paths.append(None)
        lines += _block_body(child.get("block", {}), path + (name,), overrides, depth + 1, indent + "  ", paths, mode)
        lines.append(f"{indent}}}")
        paths.append(None)
    return lines


def program(type_name: str, schema: dict, overrides: dict, mode: str = "probe") -> tuple[str, list]:
    """The probe configuration of one type, and per line the (argument path, is a list) it sets."""
    paths: list = [None]
    body = _block_body(schema["block"], (), overrides, 0, "  ", paths, mode)
    paths.append(None)
    return f'resource "{type_name}" "p" {{\n' + "\n".join(body) + "\n}\n", paths


def batch_program(names: list[str], resources: dict, overrides: dict,
                  mode: str = "probe") -> tuple[str, dict[int, tuple]]:
    """Several types in one file, and {line number: (type, argument path, is a list)}."""
    texts, lines = [], {}
    line = HEADER.count("\n") + 1
    for name in names:
        text, paths = program(name, resources[name], overrides.get(name, {}), mode)
        for offset, entry in enumerate(paths):
            if entry is not None:
                lines[line + offset] = (name, entry[0], entry[1])
        texts.append(text)
        line += text.count("\n")
    return "".join(texts), lines


def validate(work: Path, text: str) -> list[dict]:
    (work / "main.tf").write_text(HEADER + text)
    run = subprocess.run(["terraform", "validate", "-json", "-no-color"], cwd=work, capture_output=True,
                         text=True, timeout=900)
    try:
        return json.loads(run.stdout).get("diagnostics", [])
    except json.JSONDecodeError:
        print(run.stdout[-2000:], run.stderr[-2000:], file=sys.stderr)
        return []


def parse(diagnostic: dict, lines: dict[int, tuple]) -> tuple[str, tuple[str, ...], dict] | None:
    """(type, argument path, rule) when the diagnostic states a rule exactly and points at the line of
    one argument (a diagnostic on a whole block cannot say which argument it is about)."""
    if diagnostic.get("severity") != "error":
        return None
    where = lines.get(((diagnostic.get("range") or {}).get("start") or {}).get("line"))
    if where is None or not (diagnostic.get("address") or "").startswith(where[0] + "."):
        return None
    type_name, path, is_list = where
    summary, detail = diagnostic.get("summary", ""), diagnostic.get("detail", "")
    for text in (summary, detail):
        if m := _ENUM.match(text) or _FW_ENUM.match(text):
            values = [json.loads(f'"{v}"') for v in _QUOTED.findall(m.group(2))]
            return type_name, path, {"one_of": values, "element": is_list}
        if (m := _FW_ENUM_VALUES.match(text)) and summary == "Invalid String Enum Value":
            return type_name, path, {"one_of": m.group(1).split(), "element": is_list}
        if _ARN.match(text):
            return type_name, path, {"arn": True, "element": is_list}
        if _FW_ARN.match(text) and summary == "Invalid ARN Value":  # the framework's check: parses as an ARN
            return type_name, path, {"arn": "parse", "element": is_list}
        if _REGION.match(text):
            return type_name, path, {"region": True, "element": is_list}
        if _ACCOUNT.match(text):
            return type_name, path, {"account_id": True, "element": is_list}
        if m := _PATTERN.match(text):
            return type_name, path, {"pattern": json.loads(m.group(3)), "element": is_list}
    return None


_CONFLICT = re.compile(r'^"([\w.]+)": conflicts with ([\w.]+)$')
_GROUP = re.compile(r'^"([\w.]+)": (one|only one) of `([\w.,]+)` (must|can) be specified$')


def _strip(dotted: str) -> tuple[str, ...]:
    return tuple(p for p in dotted.split(".") if not p.isdigit())


def parse_cross(diagnostic: dict) -> tuple[str, str, tuple] | None:
    """(type, kind, names) for a cross-argument diagnostic of the provider, within one block:
    ("conflicts", (a, b)), ("at_least_one", group) or ("at_most_one", group), as paths."""
    address = diagnostic.get("address") or ""
    if not address.endswith(".p") or diagnostic.get("severity") != "error":
        return None
    detail = " ".join((diagnostic.get("detail") or "").split())
    if m := _CONFLICT.match(detail):
        a, b = _strip(m.group(1)), _strip(m.group(2))
        if a[:-1] == b[:-1]:
            return address[:-2], "conflicts", (".".join(a), ".".join(b))
    if m := _GROUP.match(detail):
        group = tuple(sorted({".".join(_strip(n)) for n in m.group(3).split(",")}))
        parents = {g.rsplit(".", 1)[0] if "." in g else "" for g in group}
        if len(parents) == 1 and len(group) > 1:
            return address[:-2], ("at_least_one" if m.group(2) == "one" else "at_most_one"), group
    return None


def probe_cross(work: Path, resources: dict, names: list[str]) -> dict[str, dict]:
    """Conflicts and one-of groups: every argument set (conflicts, "only one of"), then only the required
    ones with every block written ("one of ... must be specified")."""
    cross: dict[str, dict] = {}
    for mode in ("all", "skeleton"):
        for start in range(0, len(names), BATCH):
            text, _ = batch_program(names[start:start + BATCH], resources, {}, mode)
            for diagnostic in validate(work, text):
                found = parse_cross(diagnostic)
                if found is None:
                    continue
                type_name, kind, names_found = found
                rules = cross.setdefault(type_name, {})
                if kind == "conflicts":
                    a, b = names_found
                    rules.setdefault("conflicts", {}).setdefault(a, [])
                    if b not in rules["conflicts"][a]:
                        rules["conflicts"][a].append(b)
                elif list(names_found) not in rules.setdefault(kind, []):
                    rules[kind].append(list(names_found))
            print(f"cross ({mode}): {min(start + BATCH, len(names))}/{len(names)} types", file=sys.stderr, flush=True)
    return cross


def _flip(value: str) -> str | None:
    flipped = value.lower() if value != value.lower() else value.upper()
    return flipped if flipped != value else None


def probe_values(work: Path, resources: dict, names: list[str]) -> tuple[dict, dict]:
    """{type: {argument path: rule}} and a count of the probe's diagnostics that state no exact rule."""
    rules: dict[str, dict[str, dict]] = {}
    unparsed: dict[str, int] = {}
    for start in range(0, len(names), BATCH):
        batch = names[start:start + BATCH]
        text, lines = batch_program(batch, resources, {})
        diagnostics = validate(work, text)
        # Two diagnostics on one argument mean `validation.Any` / `All` of several rules: no single rule
        # says what the provider accepts, so that argument is left out.
        per_line: dict = {}
        for diagnostic in diagnostics:
            key = (diagnostic.get("address"), ((diagnostic.get("range") or {}).get("start") or {}).get("line"))
            per_line[key] = per_line.get(key, 0) + 1
        for diagnostic in diagnostics:
            key = (diagnostic.get("address"), ((diagnostic.get("range") or {}).get("start") or {}).get("line"))
            if per_line[key] > 1:
                continue
            found = parse(diagnostic, lines)
            if found is None:
                if (diagnostic.get("address") or "").endswith(".p") and PROBE in diagnostic.get("summary", "") + diagnostic.get("detail", ""):
                    key = re.sub(r"\S*\d\S*", "N", diagnostic["summary"])[:80]
                    unparsed[key] = unparsed.get(key, 0) + 1
                continue
            type_name, path, rule = found
            rules.setdefault(type_name, {})[".".join(path)] = rule
        print(f"{min(start + BATCH, len(names))}/{len(names)} types, {sum(map(len, rules.values()))} rules",
              file=sys.stderr, flush=True)
    # Second pass: a one-of value with its letter case flipped; accepted means the provider ignores case.
    flips = {t: {p: _flip(r["one_of"][0]) for p, r in paths.items() if r.get("one_of") and _flip(r["one_of"][0])}
             for t, paths in rules.items()}
    flips = {t: f for t, f in flips.items() if f}
    flipped_types = sorted(flips)
    for start in range(0, len(flipped_types), BATCH):
        batch = flipped_types[start:start + BATCH]
        overrides = {n: {tuple(p.split(".")): v for p, v in flips[n].items()} for n in batch}
        text, lines = batch_program(batch, resources, overrides)
        rejected = set()
        for diagnostic in validate(work, text):
            # Accepted only when no diagnostic at all points at the argument's line.
            where = lines.get(((diagnostic.get("range") or {}).get("start") or {}).get("line"))
            if where is not None and diagnostic.get("severity") == "error":
                rejected.add((where[0], ".".join(where[1])))
        for type_name in batch:
            for path in flips[type_name]:
                rules[type_name][path]["ignore_case"] = (type_name, path) not in rejected
    return rules, unparsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("schema", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--work", type=Path, default=Path("tf-probe"))
    parser.add_argument("--types", default=None, help="comma-separated resource types (default: all)")
    parser.add_argument("--cross", action="store_true", help="also probe conflicts and one-of groups")
    parser.add_argument("--cross-only", action="store_true", help="only conflicts and one-of groups")
    args = parser.parse_args(argv)
    opener = gzip.open if args.schema.suffix == ".gz" else open
    with opener(args.schema, "rt", encoding="utf-8") as handle:
        dump = json.load(handle)
    source, provider = next(iter(dump["provider_schemas"].items()))
    resources = provider["resource_schemas"]
    names = sorted(resources) if not args.types else args.types.split(",")
    args.work.mkdir(parents=True, exist_ok=True)
    (args.work / "main.tf").write_text(HEADER)
    subprocess.run(["terraform", "init", "-input=false", "-no-color"], cwd=args.work, check=True,
                   capture_output=True)
    rules, unparsed = ({}, {}) if args.cross_only else probe_values(args.work, resources, names)
    cross = probe_cross(args.work, resources, names) if args.cross or args.cross_only else {}
    result = {"provider": source, "probe": PROBE, "terraform": _terraform_version(),
              "resources": {t: rules[t] for t in sorted(rules)}, "cross": {t: cross[t] for t in sorted(cross)}}
    args.out.write_text(json.dumps(result, indent=None, sort_keys=True, separators=(",", ":")) + "\n")
    print(json.dumps({"types": len(rules), "rules": sum(map(len, rules.values())),
                      "unparsed_top": sorted(unparsed.items(), key=lambda kv: -kv[1])[:40]}, indent=1),
          file=sys.stderr)
    return 0


def _terraform_version() -> str:
    run = subprocess.run(["terraform", "version", "-json"], capture_output=True, text=True)
    try:
        return json.loads(run.stdout).get("terraform_version", "")
    except json.JSONDecodeError:
        return ""


if __name__ == "__main__":
    os.environ.setdefault("CHECKPOINT_DISABLE", "1")
    sys.exit(main())
