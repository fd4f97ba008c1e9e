"""The AWS provider's resource and data-source schemas: the docs-read schema, and `load_schema`, which
prefers the provider's own (`provider_schema.py`); the classes both build are in `schema_model.py`.

`load_schema` returns the provider's `terraform providers schema -json` dump wherever one is present
(the shared data has one), with the docs' defaults and documented rules carried over. Without a dump it
falls back to the schema read from the docs, described here.

The docs reader: every `r/` and `d/` page lists its arguments as bulleted backticked names (`* `table_name`
- (Required) ...`), nested blocks under headings (`### rule`, `### `rule` Block`) or lead-in lines (`The
`rule` block supports:`), and exported attributes under "Attribute Reference". The layout varies from
page to page, so the reader is lenient where it has to guess: every name listed anywhere in a page's
argument sections counts as known for that type (at any nesting depth), while "required" is only trusted
where the page's structure is clear. A false "unknown argument" would discredit a correct answer in front
of an audience; a missed one costs little.

Building takes a few seconds, so the docs-read result is cached as JSON under `cache_dir/schema`, keyed by
the size and mtime of the docs files and by `SCHEMA_VERSION`. The merged schema (dump + docs) is cached
beside it as a pickle, since JSON would drop its value rules and types; every command-line process and
training job would otherwise spend seconds rebuilding it.
"""
from __future__ import annotations

import gc
import hashlib
import json
import pickle
import re
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator

from iacdemo import atomic_write
from iacdemo.corpus.sources import Doc, provider_pages
from iacdemo.errors import DataError
from iacdemo.hcl.extract import matching_brace_end
from iacdemo.settings import Settings, get_settings
from iacdemo.terraform import provider_schema
from iacdemo.terraform.provider_values import CrossRules, ValueRule
from iacdemo.terraform.schema_model import DATA, RESOURCE, ArgumentSpec, BlockSpec, ProviderSchema, TypeSchema

SCHEMA_VERSION = 9  # bump when the page reader changes, so stale caches are rebuilt
CACHES_KEPT = 4  # schema cache files of each kind kept (the newest); older ones are never read again
PROVIDER_DOCS_FILE = "terraform-provider-aws-docs.jsonl.gz"

# ---------------------------------------------------------------------------------------------------
# Reading one documentation page
# ---------------------------------------------------------------------------------------------------

_HEADING = re.compile(r"^(#{2,6})\s+(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^(\s*)[*-]\s+\[?`([^`]+)`\]?(?:\([^)]*\))?(.*)$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.(?:[A-Za-z0-9_]+|\*))*$")
_IDENT_WORD = re.compile(r"^[a-z][a-z0-9_]*(?:\.(?:[a-z0-9_]+|\*))*$")
_INTRO_VERB = re.compile(r"\b(supports?|takes|accepts|has the following|have the following|contains?|"
                         r"following (?:arguments|attributes|fields)|nested arguments|consists? of|arguments of)\b", re.I)
_BOLD_LINE = re.compile(r"^\*\*([^*]+)\*\*:?\s*$")
_PAREN = re.compile(r"^\s*[-–:]?\s*\(([^)]*)\)")
# A documented default: "Defaults to `x`", "Default is 1.", "Default value is `x`", "(Default: `x`)",
# "The default for this attribute is 0,", "Defaults false.", 'Defaults to "Managed by Terraform".' or
# "`x` (the default)". "default" written as a value (`default`, `$Default`, `default_tags`) or in
# "AWS-default" is not the word; numbers followed by "%" or by a decimal part are not defaults we can type.
_DEFAULT = re.compile(r"(?<![`\w$-])defaults?(?:\s+values?)?(?:\s+for\s+this\s+(?:attribute|argument|parameter|field))?"
                      r"(?:\s+(?:is|to|of))?(?:\s*[:=])?\s*(?:set\s+to\s+|to\s+)?"
                      r"(?:`([^`]+)`|\"([^\"`]{1,80})\"|(true|false|-?\d+)(?![\w-]|[.,]\d|%))", re.I)
_LIST_ITEM = re.compile(r"^\s*(?:[*-]|\d+\.)\s")
_VALUE_THEN_DEFAULT = re.compile(r"`([^`]+)`\s*\((?:the\s+|is\s+)?default\)", re.I)
NO_DEFAULT = object()  # what `documented_default` returns for a description that states none
_ALIAS = re.compile(r"`(aws_[a-z0-9_]+)` is known as `(aws_[a-z0-9_]+)`")
_STOP_WORDS = {"and", "or", "the", "of", "for", "a", "an", "to", "in", "with", "on", "block", "blocks",
               "argument", "arguments", "reference", "configuration", "nested", "fields", "object", "objects",
               "x", "e.g", "i.e"}
_TOP_LEVEL_HEADINGS = re.compile(r"^(?:top[- ]level|required|optional|general|main|basic|common)\b|"
                                 r"^(?:argument|arguments)(?: reference)?$", re.I)
_CONDITIONAL_REQUIRED = re.compile(r"\b(conflicts? with|exactly one of|one of|either|at least one|only one|"
                                   r"required if|required when|required unless|is required|must be specified)\b", re.I)
_CONDITIONAL = re.compile(r"\b(if|unless|when|one of|either|conflicts?|instead|alternatively|or\b)", re.I)

ARGS, ATTRS, TIMEOUTS, OTHER, EXTRA = "args", "attrs", "timeouts", "other", "extra"
_UNRESOLVED = "?"


@dataclass
class _PageReading:
    """What one page says, before the nesting is resolved."""

    groups: dict[tuple[str, ...], dict[str, ArgumentSpec]] = field(default_factory=dict)
    # the same block documented in several places (per heading / lead-in line), merged at the end
    occurrences: dict[tuple[str, ...], dict[int, dict[str, ArgumentSpec]]] = field(default_factory=dict)
    names: set[str] = field(default_factory=set)
    attributes: set[str] = field(default_factory=set)
    # top-level argument names of each complete example of this type on the page
    example_top_levels: list[set[str]] = field(default_factory=list)


def _section_kind(heading: str) -> str:
    text = heading.lower()
    if "timeout" in text:
        return TIMEOUTS
    if "attribute" in text:
        return ATTRS
    if "argument" in text or "nested block" in text or "configuration block" in text or " block" in text:
        return ARGS
    if text.startswith(("example", "import", "usage")):
        return OTHER
    return EXTRA  # e.g. "## Option Settings": documents a block, but which one is guessed from its name


def _names_in_heading(text: str) -> list[tuple[str, ...]] | None:
    """Block paths a heading names: [("rule",)], [("a","b")] for paths, several for "x and y"; None if none."""
    ticked = [t for t in re.findall(r"`([^`]+)`", text) if _NAME.match(t) and not t.startswith("aws_")]
    if ticked:
        if len(ticked) > 1 and re.search(r"`\s*(?:,|and|or|/)\s*`", text):
            return [_split_path(t) for t in ticked]
        return [_split_path(ticked[0])]
    words = [w.strip("(),:") for w in text.split()]
    idents = [w for w in words if _IDENT_WORD.match(w) and w not in _STOP_WORDS]
    if not idents:
        return None
    if any(w in {"and", "or", ","} for w in words) or "," in text:
        return [_split_path(w) for w in idents]
    path: tuple[str, ...] = ()
    for w in idents:
        path += _split_path(w)
    return [path]


def _split_path(name: str) -> tuple[str, ...]:
    return tuple(p for p in name.split(".") if p and p != "*" and not p.isdigit())


def _snake_guess(text: str) -> str:
    """ "Restrictions Arguments" -> "restrictions", "Lifecycle Rule" -> "lifecycle_rule"."""
    words = re.sub(r"[^a-z0-9]+", " ", text.lower()).split()
    while words and words[-1] in {"argument", "arguments", "reference", "block", "blocks", "nested", "attributes"}:
        words.pop()
    return "_".join(words)


def _intro_paths(line: str, type_name: str) -> list[tuple[str, ...]] | None:
    """Block paths a lead-in line announces: "The `rule` block supports the following:",
    "**notification** supports the following:", "Parameter blocks support the following:",
    "The following fields are available in target tracking configuration:"."""
    stripped = line.strip()
    if not stripped.endswith(":"):
        return None
    available_in = re.search(r"\b(?:available|supported|allowed|valid)\s+(?:in|for|inside)\s+(?:the\s+|each\s+|an?\s+)?"
                             r"(.+?)(?:\s+(?:configuration\s+)?(?:blocks?|objects?|arguments?))?\s*:$", stripped)
    if not _INTRO_VERB.search(stripped) and not available_in:
        return None
    ticked = [t for t in re.findall(r"`([^`]+)`|\*\*([^*]+)\*\*", stripped)]
    ticked = [a or b for a, b in ticked]
    ticked = [t for t in ticked if _NAME.match(t)]
    if any(t == type_name for t in ticked):
        return [()]
    ticked = [t for t in ticked if not t.startswith("aws_")]
    if ticked:
        if re.search(r"(?:`|\*\*)'s\s+(?:`|\*\*)", stripped):
            path: tuple[str, ...] = ()
            for t in ticked:
                path += _split_path(t)
            return [path]
        return [_split_path(t) for t in ticked]
    if "`" in stripped:
        return None
    if available_in:
        return [(_UNRESOLVED, _snake_guess(available_in.group(1)))]
    bare = re.match(r"^(?:The |A |An |Each )?([A-Za-z][A-Za-z -]{0,60}?)\s+(?:configuration\s+)?"
                    r"(?:blocks?|objects?|mappings?|maps?|fields?|settings?)?\s*(?:supports?|takes|accepts)\b", stripped)
    if bare and not re.match(r"(?i)(this|these|it|following|each|all)\b", bare.group(1)):
        return [(_UNRESOLVED, _snake_guess(bare.group(1)))]
    return None


def _parse_argument(rest: str, required_context: bool | None, continuation: str = "") -> ArgumentSpec:
    """Flags and default of one bullet; `continuation` is the bullet's wrapped lines (read for the default
    only: whether an argument is required is stated up front)."""
    paren = _PAREN.match(rest)
    flags = paren.group(1) if paren else ""
    description = rest[paren.end():] if paren else rest
    first = flags.split(",")[0].strip().lower() if flags else ""
    if first.startswith("required"):
        # "(Required for non-alias records)", "(Required if ...)" and "one of" groups are not plain required.
        required = first == "required" and not _CONDITIONAL.search(flags) and not _CONDITIONAL_REQUIRED.search(description)
    elif first.startswith("optional") or "optional" in flags.lower():
        required = False
    else:
        required = bool(required_context) and not re.search(r"\b(optional|conflicts?|one of|either)\b",
                                                             description, re.I)
    spec = ArgumentSpec(required=required)
    default = documented_default(flags + " " + description + " " + continuation)
    if default is not NO_DEFAULT:
        spec.default, spec.has_default = default, True
    return spec


def documented_default(text: str) -> Any:
    """The default an argument's description states, as a value, or `NO_DEFAULT`.

    `null`, empty collections and placeholders are no default a plan would show.
    """
    match = _DEFAULT.search(text)
    if match and match.group(2) is not None:
        quoted = match.group(2)  # a double-quoted default is a string as written ("Managed by Terraform")
        return NO_DEFAULT if _NOT_A_VALUE.search(quoted) else quoted
    raw = (match.group(1) or match.group(3)) if match else None
    if raw is None:
        after = _VALUE_THEN_DEFAULT.search(text)
        raw = after.group(1) if after else None
    if raw is None or raw.strip().lower() in {"null", "nil", "[]", "{}", "", '""', "''"} or "<" in raw:
        return NO_DEFAULT
    if _NOT_A_VALUE.search(raw) or raw.strip()[:1] in "[{":
        # A list or map "default" is one AWS or the provider computes: the SDK allows no schema default
        # on collections, so a real plan shows the argument unknown until apply, not this value.
        return NO_DEFAULT
    return _literal(raw)


# Text caught between quotes or backticks that is prose or an expression, not a value: it starts with
# punctuation (`", or a combination..."`, "`. (Default:`"), holds an assignment or a placeholder, or is
# a number with a unit ("32,768 KB").
_NOT_A_VALUE = re.compile(r"^\s*[.,;:)]|\s=\s|\{[A-Z ]+\}|^\s*-?\d[\d,.]*\s+[A-Za-z]")


def _literal(text: str) -> Any:
    """A documented default as a value: `true` -> True, `1` -> 1, `"x"` -> "x".

    Decimals stay strings: in these docs they are versions (`1.0`, `8.4`), typed as strings.
    """
    value = text.strip()
    if value.lower() in {"true", "false"}:
        return value.lower() == "true"
    if re.fullmatch(r"-?\d+", value):
        return int(value)
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def _bullets_with_continuations(body: str) -> list[tuple[str, str]]:
    """Each line with, for a bullet, the text of the indented lines it wraps onto ("" otherwise).

    The wrapped lines stay in the list (they are skipped as indented text), so nothing else changes;
    only a bullet's description gets its whole text, where "Default is `false`." often sits.
    """
    lines = body.splitlines()
    out: list[tuple[str, str]] = []
    in_fence = False
    for i, line in enumerate(lines):
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
        if in_fence or not _BULLET.match(line):
            out.append((line, ""))
            continue
        wrapped = []
        for follower in lines[i + 1:]:
            stripped = follower.strip()
            if (not stripped or not follower.startswith((" ", "\t")) or _LIST_ITEM.match(follower)
                    or stripped.startswith(("```", "~~~", "#", "->", "~>"))):
                break
            wrapped.append(stripped)
        out.append((line, " ".join(wrapped)))
    return out


def read_page(type_name: str, doc: Doc, keyword: str = "resource") -> _PageReading:
    """Read one page; `keyword` ("resource" or "data") picks this type's blocks in the examples."""
    reading = _PageReading()
    fence_lines: list[str] = []
    examples: list[str] = []
    section = OTHER
    contexts: list[tuple[str, ...]] = [()]
    required_context: bool | None = None
    bullet_stack: list[tuple[int, str]] = []  # (indent, name) of the bullets enclosing the current one
    in_fence = False
    occurrence = 0  # bumped whenever a heading or lead-in line starts documenting a (maybe known) block

    def add(path: tuple[str, ...], name: str, spec: ArgumentSpec) -> None:
        # Top-level arguments are often split over "### Required" / "### Optional": one occurrence.
        group = reading.occurrences.setdefault(path, {}).setdefault(occurrence if path else 0, {})
        if name in group:
            old = group[name]
            old.required = old.required and spec.required
            if spec.has_default and not old.has_default:
                old.default, old.has_default = spec.default, True
        else:
            group[name] = spec

    for line, continuation in _bullets_with_continuations(doc.body):
        if line.lstrip().startswith(("```", "~~~")):
            if in_fence:
                examples.append("\n".join(fence_lines))
            in_fence, fence_lines = not in_fence, []
            continue
        if in_fence:
            fence_lines.append(line)
            continue
        heading = _HEADING.match(line)
        if heading:
            level, text = len(heading.group(1)), heading.group(2)
            bullet_stack, required_context = [], None
            occurrence += 1
            if level == 2:
                section = _section_kind(text)
                contexts = [()]
                if section == EXTRA:
                    section = ARGS
                    contexts = _names_in_heading(text) or [(_UNRESOLVED, _snake_guess(text))]
                elif section == ARGS and "`" in text:
                    contexts = _names_in_heading(text) or contexts
                continue
            if section == OTHER and "argument" in text.lower():
                section = ARGS
            if section not in (ARGS, ATTRS):
                continue
            if "timeout" in text.lower() and section == ARGS:
                contexts = [(TIMEOUTS,)]
                continue
            named = _names_in_heading(text)
            if named:
                contexts = named
            elif _TOP_LEVEL_HEADINGS.search(text.strip()):
                contexts = [()]
                if text.strip().lower().startswith(("required", "optional")):
                    required_context = text.strip().lower().startswith("required")
            else:
                contexts = [(_UNRESOLVED, _snake_guess(text))]
            continue
        if section not in (ARGS, ATTRS):
            continue
        bullet = _BULLET.match(line)
        if not bullet:
            if not line.strip() or line.startswith((" ", "\t")):
                continue
            bold = _BOLD_LINE.match(line.strip())
            if bold:
                named = _names_in_heading(bold.group(1))
                contexts = named or [(_UNRESOLVED, _snake_guess(bold.group(1)))]
                bullet_stack, required_context = [], None
                occurrence += 1
                continue
            intro = _intro_paths(line, type_name)
            if intro:
                contexts, bullet_stack, required_context = intro, [], None
                occurrence += 1
                continue
            lowered = line.lower()
            if re.search(r"following arguments? (?:are|is) required", lowered):
                required_context, bullet_stack = True, []
            elif re.search(r"following arguments? (?:are|is) optional|deprecated", lowered):
                required_context, bullet_stack = False, []
            continue
        indent, raw_name, rest = len(bullet.group(1).expandtabs(4)), bullet.group(2).strip(), bullet.group(3)
        if not _NAME.match(raw_name):
            continue
        parts = _split_path(raw_name)
        if not parts:
            continue
        while bullet_stack and bullet_stack[-1][0] >= indent:
            bullet_stack.pop()
        parents = tuple(n for _, n in bullet_stack)
        bullet_stack.append((indent, parts[-1]))
        if section == ATTRS:
            reading.attributes.update(parts)
            continue
        if contexts == [(TIMEOUTS,)]:
            continue  # `create`/`delete` of a timeouts block are no arguments of the type
        reading.names.update(parts)
        spec = _parse_argument(rest, required_context if not parents else None, continuation)
        for context in contexts:
            if context == (TIMEOUTS,):
                continue
            add(context + parents + parts[:-1], parts[-1], spec)
    for path, by_occurrence in list(reading.occurrences.items()):
        if not path or path[0] != _UNRESOLVED or len(path) < 2:
            continue
        guess = path[1]
        candidates = (guess, guess[:-1] if guess.endswith("s") else "", guess + "s",
                      guess[:-len("_configuration")] if guess.endswith("_configuration") else "")
        match = next((g for g in candidates if g and g in reading.names), None)
        if match:
            target = reading.occurrences.setdefault((match,), {})
            for occ, group in by_occurrence.items():
                target.setdefault(occ, {}).update(group)
            del reading.occurrences[path]
    for path, by_occurrence in reading.occurrences.items():
        # Unresolved groups stay apart: their names are known but they are never taken for top level.
        reading.groups[path] = _merge_occurrences(list(by_occurrence.values()))
    for path in reading.groups:
        if path and path[0] != _UNRESOLVED:
            reading.names.update(path)
    for example in examples:
        for body in _example_bodies(example, keyword, type_name):
            all_names, top_level, complete = _example_names(body)
            reading.names.update(all_names)  # the page's own examples are valid usage
            if complete:
                reading.example_top_levels.append(top_level)
    return reading


def _example_bodies(code: str, keyword: str, type_name: str) -> list[str]:
    """Bodies of `keyword "type_name" "x" { ... }` blocks in an example."""
    opener = re.compile(r'^\s*' + keyword + r'\s+"' + re.escape(type_name) + r'"\s+"[^"]*"\s*\{', re.M)
    bodies = []
    for match in opener.finditer(code):
        end = matching_brace_end(code, match.end() - 1)
        bodies.append(code[match.end():end - 1])
    return bodies


def _example_names(body: str) -> tuple[set[str], set[str], bool]:
    """(argument/block names at any depth, names at the top level, whether the example looks complete).

    Examples abbreviated with `# ...` or `...` say nothing about what is required.
    """
    complete = not re.search(r"(^|\s)(#|//)\s*\.\.\.|^\s*\.\.\.\s*$", body, re.M)
    names: set[str] = set()
    top: set[str] = set()
    depth = 0
    for line in body.splitlines():
        code = re.sub(r'"(?:[^"\\]|\\.)*"', '""', line)
        code = re.sub(r"(#|//).*$", "", code)
        match = re.match(r'^\s*(?:dynamic\s+"([a-z_][a-z0-9_]*)"|([a-z_][a-z0-9_]*))\s*(=|\{)', code)
        if match:
            name = match.group(1) or match.group(2)
            names.add(name)
            if depth == 0:
                top.add(name)
        depth += code.count("{") + code.count("[") + code.count("(") - code.count("}") - code.count("]") - code.count(")")
        depth = max(depth, 0)
    return names, top, complete


def _merge_occurrences(groups: list[dict[str, ArgumentSpec]]) -> dict[str, ArgumentSpec]:
    """One block documented in several places: required only where every place requires it."""
    merged: dict[str, ArgumentSpec] = {}
    for group in groups:
        for name, spec in group.items():
            if name not in merged:
                merged[name] = ArgumentSpec(spec.required and all(name in g for g in groups),
                                            spec.default, spec.has_default)
            else:
                merged[name].required = merged[name].required and spec.required
                if spec.has_default and not merged[name].has_default:
                    merged[name].default, merged[name].has_default = spec.default, True
    return merged


def build_type_schema(type_name: str, kind: str, reading: _PageReading, doc_path: str) -> TypeSchema:
    """Turn the page's argument groups into a tree: a group named like an argument becomes its block.

    A group known only by its last name (`### rule`) hangs under every group that lists that name as an
    argument, so a block documented once but used under two parents is found under both.
    """
    root = TypeSchema(name=type_name, kind=kind, doc_path=doc_path,
                      known_names=frozenset(reading.names), attributes=frozenset(reading.attributes))
    root.arguments = dict(reading.groups.get((), {}))
    for example in reading.example_top_levels:
        # A complete example on the page that omits a "(Required)" argument proves the docs wrong.
        for name, spec in root.arguments.items():
            if spec.required and name not in example:
                spec.required = False
    groups = {p: g for p, g in reading.groups.items() if p and p[0] != _UNRESOLVED}

    def full_paths(path: tuple[str, ...], seen: frozenset[str]) -> list[tuple[str, ...]]:
        if len(path) != 1:
            return [path]
        name = path[0]
        parents: list[tuple[str, ...]] = [()] if name in root.arguments else []
        parents += [p for p, g in groups.items() if name in g and p != path and not (set(p) & (seen | {name}))]
        if not parents:
            return [path]
        found: list[tuple[str, ...]] = []
        for parent in parents:
            for prefix in full_paths(parent, seen | {name}) if parent else [()]:
                if len(prefix) < 8 and prefix + path not in found:
                    found.append(prefix + path)
        return found or [path]

    for path, group in groups.items():
        for full in full_paths(path, frozenset()):
            node: BlockSpec = root
            for name in full:
                node = node.blocks.setdefault(name, BlockSpec())
            for name, spec in group.items():
                existing = node.arguments.get(name)
                if existing is None:
                    node.arguments[name] = ArgumentSpec(spec.required, spec.default, spec.has_default)
                else:
                    existing.required = existing.required and spec.required
    return root


def _merge_types(first: TypeSchema, second: TypeSchema) -> TypeSchema:
    """Two pages for one type (rare): anything either documents is known; required only if both say so."""
    for name, spec in second.arguments.items():
        if name in first.arguments:
            first.arguments[name].required = first.arguments[name].required and spec.required
        else:
            first.arguments[name] = ArgumentSpec(False, spec.default, spec.has_default)
    for name in list(first.arguments):
        if name not in second.arguments:
            first.arguments[name].required = False
    for name, block in second.blocks.items():
        first.blocks.setdefault(name, block)
    first.known_names = first.known_names | second.known_names
    first.attributes = first.attributes | second.attributes
    return first


def _type_from_path(path: str) -> str | None:
    stem = path.rsplit("/", 1)[-1].split(".")[0]
    return "aws_" + stem if re.fullmatch(r"[a-z0-9_]+", stem) else None


def build_schema(paths: Iterable[str | Path]) -> ProviderSchema:
    """Read every resource and data-source page under `paths` (slow: a few seconds; use `load_schema`)."""
    paths = list(paths)
    tables: dict[str, dict[str, TypeSchema]] = {RESOURCE: {}, DATA: {}}
    for kind, page_kind in ((RESOURCE, "r"), (DATA, "d")):
        table = tables[kind]
        for heading_name, doc in provider_pages(paths, kind=page_kind):
            # A handful of pages carry a copy-pasted heading (d/msk_kafka_version says aws_msk_cluster);
            # the file name is the type's real name on every page where the two differ.
            type_name = _type_from_path(doc.path) or heading_name
            schema = build_type_schema(type_name, kind, read_page(type_name, doc, kind), doc.path)
            table[type_name] = _merge_types(table[type_name], schema) if type_name in table else schema
            for alias, canonical in _ALIAS.findall(doc.body[:2000]):
                if canonical == type_name and alias not in table:
                    table[alias] = schema
    if not tables[RESOURCE]:
        raise DataError(f"No AWS provider resource pages (website/docs/r/*) found in {', '.join(map(str, paths))}. "
                        "Point IACDEMO_DATA_DIR at a data folder whose corpus/ holds the provider docs.")
    return ProviderSchema(resources=tables[RESOURCE], data_sources=tables[DATA])


# ---------------------------------------------------------------------------------------------------
# Cached loading
# ---------------------------------------------------------------------------------------------------

_memory: dict[str, ProviderSchema] = {}
_lock = threading.RLock()  # load_schema reads the docs schema while holding it


def provider_docs_paths(settings: Settings | None = None) -> list[Path]:
    """The provider docs file when the packed corpus is there, else the whole corpus folder."""
    settings = settings or get_settings()
    packed = settings.corpus_dir / PROVIDER_DOCS_FILE
    return [packed] if packed.is_file() else [settings.corpus_dir]


def docs_fingerprint(paths: Iterable[Path]) -> str:
    """Cheap identity of the docs (names, sizes, mtimes) plus the reader's version."""
    digest = hashlib.sha256(f"schema-v{SCHEMA_VERSION}".encode())
    for path in paths:
        if not path.exists():
            raise DataError(f"Provider docs not found: {path}")
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in files:
            stat = file.stat()
            digest.update(f"{file.resolve()}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:20]


def load_schema(settings: Settings | None = None) -> ProviderSchema:
    """The provider's own schema (a `terraform providers schema -json` dump, see `provider_schema.py`)
    with the docs' defaults carried over; the docs-read schema alone where no dump is present."""
    settings = settings or get_settings()
    dump = provider_schema.find_dump(settings.provider_schema_dirs)
    if dump is None:
        return load_docs_schema(settings)
    try:  # the docs' identity is cheap; reading them is only needed when the merged cache misses
        docs_id = docs_fingerprint(provider_docs_paths(settings))
    except DataError:
        docs_id = ""
    key = f"{dump.resolve()}|{dump.stat().st_size}|{dump.stat().st_mtime_ns}|{docs_id}"
    with _lock:
        if key not in _memory:
            cache_file = settings.cache_dir / "schema" / f"aws-provider-merged-{_merged_cache_id(key)}.pickle"
            schema = _read_pickle(cache_file)
            if schema is None:
                try:
                    docs: ProviderSchema | None = load_docs_schema(settings) if docs_id else None
                except DataError:
                    docs = None  # no docs: no documented defaults, the checks are the same
                with _gc_paused():
                    schema = provider_schema.merge_docs(provider_schema.read_dump(dump), docs)
                    if docs is not None:
                        provider_schema.merge_rules(schema, provider_docs_paths(settings))
                _write_cache(cache_file, lambda fh: pickle.dump(schema, fh, pickle.HIGHEST_PROTOCOL), binary=True,
                             siblings="aws-provider-merged-*.pickle")
            _memory[key] = schema
        return _memory[key]


def keep_schema_resident(settings: Settings | None = None) -> ProviderSchema:
    """`load_schema` for a long-lived process (the app): the schema's ~300,000 GC-tracked objects live as
    long as it does, and every full collection of the cyclic GC would walk them again, a ~0.5 s stall in
    the middle of a streaming answer (bench/RESULTS.md). Collected once, then frozen: the GC skips them."""
    schema = load_schema(settings)
    gc.collect()
    gc.freeze()
    return schema


def load_docs_schema(settings: Settings | None = None) -> ProviderSchema:
    """The schema read from the provider docs: from memory, else from the JSON cache, else built and cached."""
    settings = settings or get_settings()
    paths = provider_docs_paths(settings)
    fingerprint = docs_fingerprint(paths)
    with _lock:
        if fingerprint in _memory:
            return _memory[fingerprint]
        cache_file = settings.cache_dir / "schema" / f"aws-provider-{fingerprint}.json"
        schema = _read_cache(cache_file, fingerprint)
        if schema is None:
            with _gc_paused():
                schema = build_schema(paths)
            schema.fingerprint = fingerprint
            _write_cache(cache_file, lambda fh: json.dump({"version": SCHEMA_VERSION, **schema.to_json()}, fh,
                                                          separators=(",", ":")), binary=False,
                         siblings="aws-provider-[0-9a-f]*.json")
        _memory[fingerprint] = schema
        return schema


def forget_loaded_schemas() -> None:
    """Drop the in-memory copies, so the next `load_schema` reads (or builds and writes) the file cache."""
    with _lock:
        _memory.clear()


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Building or unpickling the schema creates ~300,000 GC-tracked objects, and the cyclic garbage
    collector re-scans all of them again and again while they are being made: paused, reading the pickle
    is ~3x faster (bench/RESULTS.md) and the build ~2x. None of these objects is garbage."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _merged_cache_id(key: str) -> str:
    """The merged schema depends on the dump, the docs and this package's code (the dump reader, the value
    tables, the rules): a change to any of them must miss the cache, so all of them are in the id."""
    digest = hashlib.sha256(f"{key}|{sys.version_info[:2]}|v{SCHEMA_VERSION}".encode())
    package = Path(__file__).parent
    for file in sorted(p for p in package.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(file.relative_to(package).as_posix().encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()[:20]


class _SchemaUnpickler(pickle.Unpickler):
    """Pickle keeps every rule and type the JSON form drops, but a plain `pickle.load` runs whatever a file
    names: a cache folder someone else can write to would be a way in (the same reason checkpoints load
    with `weights_only=True`). This one builds the schema's own classes and nothing else."""
    ALLOWED = {(cls.__module__, cls.__qualname__): cls
               for cls in (ProviderSchema, TypeSchema, BlockSpec, ArgumentSpec, ValueRule, CrossRules)}

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self.ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"{module}.{name} is not part of a provider schema") from None


def _read_pickle(path: Path) -> ProviderSchema | None:
    """The merged schema from this app's own cache folder (written by `_write_cache` below). Anything
    unreadable, or naming anything but the schema's classes, is rebuilt, never trusted."""
    try:
        with _gc_paused(), path.open("rb") as fh:
            schema = _SchemaUnpickler(fh).load()
    except Exception:  # noqa: BLE001 - missing, damaged or foreign, of any kind: rebuild it
        return None
    return schema if isinstance(schema, ProviderSchema) else None


def _read_cache(path: Path, fingerprint: str) -> ProviderSchema | None:
    try:
        with _gc_paused():
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("version") != SCHEMA_VERSION or data.get("fingerprint") != fingerprint:
                return None
            return ProviderSchema.from_json(data)
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError, RecursionError):
        return None  # missing or damaged cache: rebuild


def _write_cache(path: Path, write: Callable[[IO], None], binary: bool, siblings: str) -> None:
    """Write a cache file (atomically: a concurrent reader never sees half of it) and drop all but the
    newest CACHES_KEPT files matching `siblings`: each docs or code change writes a new file (several MB),
    and nothing reads the old ones again. A read-only cache is not fatal: the schema is rebuilt next time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write.atomic_file(path, binary=binary) as fh:
            write(fh)
        older = sorted((p for p in path.parent.glob(siblings) if p != path), key=_mtime, reverse=True)
        for stale in older[CACHES_KEPT - 1:]:
            stale.unlink(missing_ok=True)
    except OSError:
        pass


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0  # removed by another process meanwhile


def suggest(type_name: str, kind: str = RESOURCE, settings: Settings | None = None) -> str | None:
    """"Did you mean" for a type name, against the cached schema."""
    return load_schema(settings).suggest(type_name, kind)
