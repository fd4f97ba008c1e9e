"""Evaluating the HCL expressions that python-hcl2 hands back as `${...}` strings.

`parse_hcl` gives literal values as Python values but every other expression as its source text
(`"${aws_vpc.main.id}"`, `"x-${var.env}"`, heredocs with their markers). A Terraform plan needs two
things from those texts: the references Terraform lists in `configuration` (`aws_vpc.main.id`,
`aws_vpc.main`) and the values it knows at plan time. Expressions are parsed with python-hcl2's own
grammar (no second HCL parser), then walked here. Anything that cannot be known before apply
evaluates to `UNKNOWN`, which spreads like Terraform's unknown values do.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Iterable, Mapping

from lark import Token, Tree
from lark.exceptions import LarkError

from iacdemo.terraform.functions import call_function
from iacdemo.terraform.values import (UNKNOWN, EvalError, PartialObject, check_budget, check_size, contains_unknown,
                                      to_string)


# --------------------------------------------------------------------------------------------------
# Parsing: python-hcl2's grammar, one attribute per expression


@lru_cache(maxsize=1)
def _parser():
    from hcl2.parser import parser

    return parser()


@lru_cache(maxsize=50_000)
def parse_expression(source: str) -> Tree | Token:
    """The parse tree of one expression (cached: references repeat across tasks and answers)."""
    try:
        tree = _parser().parse("x = " + source + "\n")
    except (LarkError, RecursionError) as exc:
        raise EvalError(f"cannot parse expression {source[:80]!r}: {type(exc).__name__}") from None
    attribute = _first_tree(tree, "attribute")
    if attribute is None:
        raise EvalError(f"not an expression: {source[:80]!r}")
    return _significant(attribute.children)[-1]


def _first_tree(tree: Tree, name: str) -> Tree | None:
    for sub in tree.iter_subtrees_topdown():
        if sub.data == name:
            return sub
    return None


_PUNCTUATION = {"LPAR", "RPAR", "LSQB", "RSQB", "LBRACE", "RBRACE", "COMMA", "DOT", "EQ", "COLON",
                "DBLQUOTE", "INTERP_START", "QMARK", "FOR_OBJECT_ARROW", "COLONS"}


def _significant(children) -> list:
    """Children without newlines, comments and punctuation."""
    out = []
    for child in children:
        if isinstance(child, Tree):
            if child.data == "new_line_or_comment":
                continue
        elif child.type in _PUNCTUATION or child.type == "NL_OR_COMMENT":
            continue
        out.append(child)
    return out


# --------------------------------------------------------------------------------------------------
# Template strings as python-hcl2 serialises them


@dataclass(frozen=True)
class Template:
    """A string value split into literal text and interpolated expression sources."""

    parts: tuple  # str literal | ("expr", source) | ("directive", source)

    @property
    def single_expression(self) -> str | None:
        """`"${x}"` is `x` itself in HCL (the value keeps its type), so it is returned unwrapped."""
        if len(self.parts) == 1 and isinstance(self.parts[0], tuple) and self.parts[0][0] == "expr":
            return self.parts[0][1]
        return None

    @property
    def is_literal(self) -> bool:
        return all(isinstance(part, str) for part in self.parts)


_HEREDOC_HEAD = re.compile(r"<<(-?)([A-Za-z][\w.-]*)\r?\n")


def _split_heredoc(text: str) -> tuple[bool, str] | None:
    """(indented, body) of a serialised heredoc `<<MARKER\n…\nMARKER`, else None.

    Written out rather than as one regex: `(.*?)\r?\n?[ \t]*MARKER\s*$` backtracks quadratically, and
    a heredoc of 200,000 spaces in an answer took minutes to split.
    """
    head = _HEREDOC_HEAD.match(text)
    if head is None:
        return None
    marker, rest = head.group(2), text[head.end():].rstrip()
    if not rest.endswith(marker):
        return None
    body = rest[:-len(marker)].rstrip(" \t")
    body = body.removesuffix("\n").removesuffix("\r")  # the line break before the closing marker
    return head.group(1) == "-", body


@lru_cache(maxsize=50_000)
def parse_template(text: str) -> Template:
    """Split a serialised string into literal text and `${...}` expressions.

    python-hcl2 has already processed escapes in quoted strings, but leaves heredocs raw (markers
    included) and keeps `$${` escapes. A heredoc's body keeps its final newline, as in Terraform.
    """
    heredoc = _split_heredoc(text)
    if heredoc:
        indented, body = heredoc
        body += "\n"
        if indented:
            body = _dedent(body)
        text = body
    parts: list = []
    literal: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text.startswith("$${", i) or text.startswith("%%{", i):
            literal.append(text[i + 1:i + 3])
            i += 3
            continue
        if text.startswith("${", i) or text.startswith("%{", i):
            end = _interpolation_end(text, i + 2)
            if end < 0:
                raise EvalError(f"unclosed interpolation in {text[:80]!r}")
            if literal:
                parts.append("".join(literal))
                literal = []
            source = text[i + 2:end].strip()
            kind = "expr" if text[i] == "$" else "directive"
            if kind == "expr":
                source = source.removeprefix("~").removesuffix("~").strip()
            parts.append((kind, source))
            i = end + 1
            continue
        literal.append(text[i])
        i += 1
    if literal:
        parts.append("".join(literal))
    return Template(tuple(parts))


def _dedent(body: str) -> str:
    lines = body.split("\n")
    indents = [len(line) - len(line.lstrip(" \t")) for line in lines if line.strip()]
    cut = min(indents) if indents else 0
    return "\n".join(line[cut:] for line in lines)


def _interpolation_end(text: str, start: int) -> int:
    """Index of the `}` closing an interpolation whose expression starts at `start`."""
    depth = 0
    i, n = start, len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            i += 1
            while i < n and text[i] != '"':
                if text[i] == "\\":
                    i += 1
                elif text.startswith("${", i):
                    inner = _interpolation_end(text, i + 2)
                    if inner < 0:
                        return -1
                    i = inner
                i += 1
        elif ch == "{":
            depth += 1
        elif ch == "}":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    return -1


# --------------------------------------------------------------------------------------------------
# References, as Terraform lists them in `configuration`

_REFERENCE_ROOTS_SINGLE = {"var", "local", "count", "each", "path", "terraform", "self"}


def template_references(text: str) -> list[str]:
    """Terraform's `references` list for a serialised string value (empty for a literal)."""
    refs: list[str] = []
    for part in parse_template(text).parts:
        if isinstance(part, tuple):
            refs.extend(expression_references(part[1]))
    return refs


@lru_cache(maxsize=50_000)
def expression_references(source: str) -> tuple[str, ...]:
    """Every reference in an expression, each followed by its shorter prefixes, as in a plan JSON."""
    try:
        tree = parse_expression(source)
        out: list[str] = []
        for traversal in _traversals(tree, frozenset()):
            out.extend(_reference_strings(traversal))
    except (EvalError, RecursionError):
        return ()
    return tuple(out)


def _traversals(node, local_names: frozenset) -> Iterable[list]:
    """Absolute traversals (root name + literal steps) in source order, skipping for-loop locals."""
    if isinstance(node, Token):
        return
    data = node.data
    if data in ("get_attr_expr_term", "index_expr_term", "expr_term", "attr_splat_expr_term",
                "full_splat_expr_term"):
        chain = _traversal_chain(node)
        if chain is not None:
            steps, dynamic_nodes = chain
            if steps[0] not in local_names:
                yield steps
            for dyn in dynamic_nodes:
                yield from _traversals(dyn, local_names)
            return
    if data == "function_call":
        for child in _significant(node.children)[1:]:
            yield from _traversals(child, local_names)
        return
    if data in ("for_tuple_expr", "for_object_expr"):
        intro = next(c for c in node.children if isinstance(c, Tree) and c.data == "for_intro")
        names = [c.children[0].value for c in intro.children if isinstance(c, Tree) and c.data == "identifier"]
        collection = [c for c in _significant(intro.children) if isinstance(c, Tree) and c.data != "identifier"]
        for child in collection:
            yield from _traversals(child, local_names)
        inner = local_names | frozenset(names)
        for child in node.children:
            if isinstance(child, Tree) and child.data != "for_intro":
                yield from _traversals(child, inner)
        return
    if data == "object_elem":
        key, value = _significant(node.children)[0], _significant(node.children)[-1]
        key_expr = _significant(key.children)[0] if isinstance(key, Tree) else key
        if not _is_bare_identifier(key_expr):
            yield from _traversals(key_expr, local_names)
        yield from _traversals(value, local_names)
        return
    if data in ("heredoc_template", "heredoc_template_trim"):
        token = node.children[0]
        for part in parse_template(token.value.rstrip("\n")).parts:
            if isinstance(part, tuple) and part[0] == "expr":
                try:
                    yield from _traversals(parse_expression(part[1]), local_names)
                except EvalError:
                    pass
        return
    for child in node.children:
        yield from _traversals(child, local_names)


def _is_bare_identifier(node) -> bool:
    while isinstance(node, Tree) and node.data == "expr_term" and len(_significant(node.children)) == 1:
        node = _significant(node.children)[0]
    return isinstance(node, Tree) and node.data in ("identifier", "keyword")


def _traversal_chain(node) -> tuple[list, list] | None:
    """(root + static steps, expressions of dynamic indexes) when the node is a variable traversal.

    Steps after the first dynamic index or splat are not part of the traversal, as in HCL.
    """
    ops: list = []
    while True:
        if isinstance(node, Tree) and node.data == "expr_term":
            inner = _significant(node.children)
            if len(inner) != 1:
                return None
            node = inner[0]
            continue
        if isinstance(node, Tree) and node.data in ("get_attr_expr_term", "index_expr_term",
                                                       "attr_splat_expr_term", "full_splat_expr_term"):
            base, op = node.children[0], node.children[1]
            ops.append(op)
            node = base
            continue
        break
    if not (isinstance(node, Tree) and node.data == "identifier"):
        return None
    steps: list = [node.children[0].value]
    dynamic: list = []
    stopped = False
    for op in reversed(ops):
        if stopped:
            dynamic.extend(_op_expressions(op))
            continue
        if op.data == "get_attr":
            steps.append(("attr", _significant(op.children)[0].children[0].value))
        elif op.data in ("braces_index", "short_index"):
            key = _static_index(op)
            if key is None:
                stopped = True
                dynamic.extend(_op_expressions(op))
            else:
                steps.append(("index", key))
        else:  # splats end the traversal
            stopped = True
            dynamic.extend(_op_expressions(op))
    return steps, dynamic


def _op_expressions(op) -> list:
    if isinstance(op, Tree) and op.data == "braces_index":
        return [_significant(op.children)[0]]
    if isinstance(op, Tree) and op.data in ("attr_splat", "full_splat"):
        return [e for c in op.children if isinstance(c, Tree) for e in _op_expressions(c)]
    return []


def _static_index(op) -> int | str | None:
    if op.data == "short_index":
        return int(_significant(op.children)[0].value)
    expr = _significant(op.children)[0]
    try:
        value = evaluate_tree(expr, EMPTY_SCOPE)
    except EvalError:
        return None
    if value is UNKNOWN or isinstance(value, (bool, list, dict)) or value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value


def _step_str(step) -> str:
    kind, value = step
    if kind == "attr":
        return "." + value
    if isinstance(value, str):
        return '["' + value.replace("\\", "\\\\").replace('"', '\\"') + '"]'
    return f"[{value}]"


def _reference_strings(steps: list) -> list[str]:
    """Terraform's jsonconfig rules: the full reference, then each shorter prefix down to its subject."""
    root = steps[0]
    rest = steps[1:]
    if root in _REFERENCE_ROOTS_SINGLE:
        if root == "self":
            return []
        if not rest or rest[0][0] != "attr":
            return []
        subject, remaining, extra = root + _step_str(rest[0]), rest[1:], []
    elif root == "module":
        if not rest or rest[0][0] != "attr":
            return []
        subject, remaining = "module" + _step_str(rest[0]), rest[1:]
        call = subject
        if remaining and remaining[0][0] == "index":
            subject += _step_str(remaining[0])
            remaining = remaining[1:]
        extra = []
        if remaining and remaining[0][0] == "attr":  # an output: then the call instance, key included
            extra = [subject]
            subject += _step_str(remaining[0])
            remaining = remaining[1:]
        elif subject != call:
            extra = [call]
    else:
        if root == "data":
            if len(rest) < 2 or rest[0][0] != "attr" or rest[1][0] != "attr":
                return []
            resource, remaining = "data" + _step_str(rest[0]) + _step_str(rest[1]), rest[2:]
        else:
            if not rest or rest[0][0] != "attr":
                return []
            resource, remaining = root + _step_str(rest[0]), rest[1:]
        subject, extra = resource, []
        if remaining and remaining[0][0] == "index":
            subject += _step_str(remaining[0])
            remaining = remaining[1:]
            extra = [resource]
    out = []
    while remaining:
        out.append(subject + "".join(_step_str(s) for s in remaining))
        remaining = remaining[:-1]
    out.append(subject)
    out.extend(extra)
    return out


# --------------------------------------------------------------------------------------------------
# Evaluation


@dataclass
class Scope:
    """Root names an expression can read (`var`, `local`, `aws_vpc`, `data`, loop variables...).

    `functions` False mimics Terraform's constant check (`Value(nil)`): no variables and no function
    calls, so only literal expressions have a `constant_value`.
    """

    roots: Mapping[str, Any]
    functions: bool = True

    def child(self, names: Mapping[str, Any]) -> "Scope":
        merged = dict(self.roots)
        merged.update(names)
        return Scope(merged, self.functions)


EMPTY_SCOPE = Scope({}, functions=False)


class NotConstant(EvalError):
    """The expression reads a variable or calls a function, so it has no `constant_value`."""


def evaluate_value(value: Any, scope: Scope) -> Any:
    """Evaluate a value from `parse_hcl`'s dict: strings as templates, containers element-wise."""
    if isinstance(value, str):
        return evaluate_template(value, scope)
    if isinstance(value, list):
        return [evaluate_value(v, scope) for v in value]
    if isinstance(value, dict):
        out = {}
        for key, val in value.items():
            if isinstance(key, str) and "${" in key:
                resolved = evaluate_template(key, scope)
                if resolved is UNKNOWN:
                    return UNKNOWN
                key = to_string(resolved)
            out[key] = evaluate_value(val, scope)
        return out
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def evaluate_template(text: str, scope: Scope) -> Any:
    template = parse_template(text)
    single = template.single_expression
    if single is not None:
        return evaluate_source(single, scope)
    pieces: list[str] = []
    unknown = False
    for part in template.parts:
        if isinstance(part, str):
            pieces.append(part)
            continue
        kind, source = part
        if kind == "directive":
            if not scope.functions:
                raise NotConstant(source)
            unknown = True
            continue
        value = evaluate_source(source, scope)
        if contains_unknown(value):
            unknown = True
            continue
        pieces.append(to_string(value))
    return UNKNOWN if unknown else check_size("".join(pieces))


def evaluate_source(source: str, scope: Scope) -> Any:
    return evaluate_tree(parse_expression(source), scope)


def evaluate_tree(node, scope: Scope) -> Any:
    if isinstance(node, Token):
        raise EvalError(f"unexpected token {node.type}")
    handler = _HANDLERS.get(node.data)
    if handler is None:
        raise EvalError(f"unsupported expression {node.data}")
    check_budget()
    return check_size(handler(node, scope))


def _expr_term(node, scope):
    inner = _significant(node.children)
    if len(inner) != 1:
        raise EvalError("malformed expression")
    return evaluate_tree(inner[0], scope)


def _number(node, scope):
    text = node.children[0].value
    value = float(text) if any(c in text for c in ".eE") else int(text)
    return int(value) if isinstance(value, float) and value.is_integer() else value


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
_UNICODE_ESCAPE = re.compile(r"\\u([0-9A-Fa-f]{4})|\\U([0-9A-Fa-f]{8})")


def _unescape(text: str) -> str:
    """HCL string escapes: \\n \\t \\r \\" \\\\ and \\uNNNN / \\UNNNNNNNN."""
    if "\\" not in text:
        return text
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            if text[i + 1] in _ESCAPES:
                out.append(_ESCAPES[text[i + 1]])
                i += 2
                continue
            unicode = _UNICODE_ESCAPE.match(text, i)
            if unicode:
                out.append(chr(int(unicode.group(1) or unicode.group(2), 16)))
                i = unicode.end()
                continue
        out.append(ch)
        i += 1
    return "".join(out)


def _string(node, scope):
    pieces: list[str] = []
    parts = [c for c in node.children if isinstance(c, Tree) and c.data == "string_part"]
    if len(parts) == 1 and isinstance(parts[0].children[0], Tree) and parts[0].children[0].data == "interpolation":
        return evaluate_tree(_significant(parts[0].children[0].children)[0], scope)
    unknown = False
    for part in parts:
        child = part.children[0]
        if isinstance(child, Token):
            if child.type == "STRING_CHARS":
                pieces.append(_unescape(child.value))
            elif child.type in ("ESCAPED_INTERPOLATION", "ESCAPED_DIRECTIVE"):
                pieces.append(child.value[1:])
            continue
        if child.data == "interpolation":
            value = evaluate_tree(_significant(child.children)[0], scope)
            if contains_unknown(value):
                unknown = True
            else:
                pieces.append(to_string(value))
        else:  # template directives (%{ if }, %{ for }) are not evaluated
            if not scope.functions:
                raise NotConstant("directive")
            unknown = True
    return UNKNOWN if unknown else "".join(pieces)


def _heredoc(node, scope):
    text = node.children[0].value.rstrip("\n")
    return evaluate_template_literal(text, scope)


def evaluate_template_literal(text: str, scope: Scope) -> Any:
    template = parse_template(text)
    pieces, unknown = [], False
    for part in template.parts:
        if isinstance(part, str):
            pieces.append(part)
        elif part[0] == "directive":
            if not scope.functions:
                raise NotConstant(part[1])
            unknown = True
        else:
            value = evaluate_source(part[1], scope)
            if contains_unknown(value):
                unknown = True
            else:
                pieces.append(to_string(value))
    return UNKNOWN if unknown else check_size("".join(pieces))


def _tuple(node, scope):
    return [evaluate_tree(c, scope) for c in _significant(node.children)]


def _object(node, scope):
    out: dict = {}
    for elem in _significant(node.children):
        key_node, value_node = _significant(elem.children)[0], _significant(elem.children)[-1]
        key_expr = _significant(key_node.children)[0] if isinstance(key_node, Tree) else key_node
        if isinstance(key_expr, Token):  # a keyword used as a key
            key = key_expr.value
        elif _is_bare_identifier(key_expr):
            inner = key_expr
            while inner.data == "expr_term":
                inner = _significant(inner.children)[0]
            key = inner.children[0].value
        else:
            key = evaluate_tree(key_expr, scope)
            if key is UNKNOWN:
                return UNKNOWN
            key = to_string(key)
        out[key] = evaluate_tree(value_node, scope)
    return out


def _identifier(node, scope):
    name = node.children[0].value
    if not scope.functions:
        raise NotConstant(name)
    if name in scope.roots:
        return scope.roots[name]
    raise EvalError(f"unknown name {name!r}")


def _literal(node, scope):
    return {"true": True, "false": False, "null": None}[node.children[0].value]


def _get_attr(value, name):
    if value is UNKNOWN:
        return UNKNOWN
    if isinstance(value, (dict, Mapping)):
        if name in value or isinstance(value, PartialObject):
            return value[name]
        raise EvalError(f"no attribute {name!r}")
    if isinstance(value, list):
        raise EvalError(f"cannot read .{name} of a list (use [*] or an index)")
    raise EvalError(f"cannot read .{name} of {type(value).__name__}")


def _index(value, key):
    if value is UNKNOWN or key is UNKNOWN:
        return UNKNOWN
    if isinstance(value, list):
        if isinstance(key, str) and key.lstrip("-").isdigit():
            key = int(key)
        if isinstance(key, float) and key.is_integer():
            key = int(key)
        if not isinstance(key, int) or isinstance(key, bool):
            raise EvalError("list index must be a number")
        if 0 <= key < len(value):
            return value[key]
        raise EvalError(f"index {key} out of range")
    if isinstance(value, (dict, Mapping)):
        key = to_string(key)
        if key in value or isinstance(value, PartialObject):
            return value[key]
        raise EvalError(f"no key {key!r}")
    raise EvalError("cannot index this value")


def _get_attr_term(node, scope):
    base = evaluate_tree(node.children[0], scope)
    name = _significant(node.children[1].children)[0].children[0].value
    return _get_attr(base, name)


def _index_term(node, scope):
    base = evaluate_tree(node.children[0], scope)
    op = node.children[1]
    if op.data == "short_index":
        key = int(_significant(op.children)[0].value)
    else:
        key = evaluate_tree(_significant(op.children)[0], scope)
    return _index(base, key)


def _apply_ops(value, ops, scope):
    for op in ops:
        if op.data == "get_attr":
            value = _get_attr(value, _significant(op.children)[0].children[0].value)
        elif op.data == "short_index":
            value = _index(value, int(_significant(op.children)[0].value))
        else:
            value = _index(value, evaluate_tree(_significant(op.children)[0], scope))
    return value


def _splat(node, scope):
    base = evaluate_tree(node.children[0], scope)
    ops = [c for c in node.children[1].children if isinstance(c, Tree)]
    if base is UNKNOWN:
        return UNKNOWN
    if base is None:
        return []
    items = base if isinstance(base, list) else [base]
    return [_apply_ops(item, ops, scope) for item in items]


def _conditional(node, scope):
    cond, yes, no = _significant(node.children)
    test = evaluate_tree(cond, scope)
    if test is UNKNOWN:
        return UNKNOWN
    if not isinstance(test, bool):
        test = _to_bool(test)
    return evaluate_tree(yes if test else no, scope)


def _to_bool(value):
    if isinstance(value, str) and value in ("true", "false"):
        return value == "true"
    if isinstance(value, bool):
        return value
    raise EvalError("condition is not a bool")


def _to_number(value):
    if isinstance(value, bool):
        raise EvalError("bool is not a number")
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            try:
                return float(value)
            except ValueError:
                raise EvalError(f"{value!r} is not a number") from None
    raise EvalError("not a number")


def _binary_op(node, scope):
    left_node, term = node.children[0], node.children[1]
    op_token = _significant(term.children)[0]
    op = op_token.children[0].type if isinstance(op_token, Tree) else op_token.type
    right_node = _significant(term.children)[-1]
    left = evaluate_tree(left_node, scope)
    if op == "DOUBLE_AMP" and left is False:
        return False
    if op == "DOUBLE_PIPE" and left is True:
        return True
    right = evaluate_tree(right_node, scope)
    if left is UNKNOWN or right is UNKNOWN:
        return UNKNOWN
    if op == "DOUBLE_EQ":
        return _equal(left, right)
    if op == "NEQ":
        return not _equal(left, right)
    if op == "DOUBLE_AMP":
        return _to_bool(left) and _to_bool(right)
    if op == "DOUBLE_PIPE":
        return _to_bool(left) or _to_bool(right)
    a, b = _to_number(left), _to_number(right)
    if op == "PLUS":
        result = a + b
    elif op == "MINUS":
        result = a - b
    elif op == "ASTERISK":
        result = a * b
    elif op == "SLASH":
        if b == 0:
            raise EvalError("division by zero")
        result = a / b
    elif op == "PERCENT":
        if b == 0:
            raise EvalError("division by zero")
        result = math.fmod(a, b)
    elif op == "LT":
        return a < b
    elif op == "GT":
        return a > b
    elif op == "LEQ":
        return a <= b
    elif op == "GEQ":
        return a >= b
    else:
        raise EvalError(f"unknown operator {op}")
    if isinstance(result, float) and result.is_integer():
        return int(result)
    return result


def _equal(a, b) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def _unary_op(node, scope):
    op = node.children[0]
    value = evaluate_tree(node.children[1], scope)
    if value is UNKNOWN:
        return UNKNOWN
    if op.type == "NOT":
        return not _to_bool(value)
    return -_to_number(value)


def _for_expr(node, scope):
    intro = next(c for c in node.children if isinstance(c, Tree) and c.data == "for_intro")
    names = [c.children[0].value for c in intro.children if isinstance(c, Tree) and c.data == "identifier"]
    collection_node = [c for c in _significant(intro.children) if isinstance(c, Tree) and c.data != "identifier"][0]
    collection = evaluate_tree(collection_node, scope)
    if collection is UNKNOWN:
        return UNKNOWN
    rest = [c for c in _significant(node.children)
            if not (isinstance(c, Tree) and c.data == "for_intro") and not (isinstance(c, Token))]
    cond = None
    if rest and isinstance(rest[-1], Tree) and rest[-1].data == "for_cond":
        cond = _significant(rest[-1].children)[-1]
        rest = rest[:-1]
    grouping = any(isinstance(c, Token) and c.type == "ELLIPSIS" for c in node.children)
    if isinstance(collection, (dict, Mapping)):
        pairs = list(collection.items())
    elif isinstance(collection, list):
        pairs = list(enumerate(collection))
    else:
        raise EvalError("for expression over a non-collection")
    is_object = node.data == "for_object_expr"
    result_list: list = []
    result_obj: dict = {}
    for key, value in pairs:
        bindings = {names[-1]: value}
        if len(names) == 2:
            bindings[names[0]] = key
        inner = scope.child(bindings)
        if cond is not None:
            test = evaluate_tree(cond, inner)
            if test is UNKNOWN:
                return UNKNOWN
            if not _to_bool(test):
                continue
        if is_object:
            k = evaluate_tree(rest[0], inner)
            v = evaluate_tree(rest[1], inner)
            if k is UNKNOWN:
                return UNKNOWN
            k = to_string(k)
            if grouping:
                result_obj.setdefault(k, []).append(v)
            else:
                result_obj[k] = v
        else:
            result_list.append(evaluate_tree(rest[0], inner))
        check_size(result_list)
        check_size(result_obj)
    return result_obj if is_object else result_list


def _function_call(node, scope):
    parts = _significant(node.children)
    names = [p for p in parts if isinstance(p, Tree) and p.data == "identifier"]
    if not scope.functions:
        raise NotConstant("function call")
    name = "::".join(n.children[0].value for n in names)
    args_node = next((p for p in parts if isinstance(p, Tree) and p.data == "arguments"), None)
    args = []
    expand = False
    if name in ("try", "can") and args_node is not None:
        return _try_or_can(name, [a for a in _significant(args_node.children) if not isinstance(a, Token)], scope)
    if args_node is not None:
        args = [evaluate_tree(a, scope) for a in _significant(args_node.children)
                if not (isinstance(a, Token))]
        expand = any(isinstance(a, Token) and a.type == "ELLIPSIS" for a in args_node.children)
    if expand and args:
        last = args.pop()
        if last is UNKNOWN:
            return UNKNOWN
        args.extend(last)

    return call_function(name.removeprefix("provider::"), args)


def _try_or_can(name: str, arg_nodes: list, scope: Scope):
    """`try`/`can` catch the errors of their unevaluated arguments, so they are evaluated here."""
    for arg in arg_nodes:
        try:
            value = evaluate_tree(arg, scope)
        except EvalError:
            if name == "can":
                return False
            continue
        if name == "can":
            return UNKNOWN if contains_unknown(value) else True
        return value
    if name == "can":
        return False
    raise EvalError("try: no argument could be evaluated")


def _template_string(node, scope):
    return _unescape(node.children[0].value[2:-2])


_HANDLERS: dict[str, Callable] = {
    "expr_term": _expr_term,
    "int_lit": _number,
    "float_lit": _number,
    "string": _string,
    "template_string": _template_string,
    "tuple": _tuple,
    "object": _object,
    "identifier": _identifier,
    "literal_value": _literal,
    "function_call": _function_call,
    "heredoc_template": _heredoc,
    "heredoc_template_trim": _heredoc,
    "index_expr_term": _index_term,
    "get_attr_expr_term": _get_attr_term,
    "attr_splat_expr_term": _splat,
    "full_splat_expr_term": _splat,
    "for_tuple_expr": _for_expr,
    "for_object_expr": _for_expr,
    "conditional": _conditional,
    "binary_op": _binary_op,
    "unary_op": _unary_op,
}


def constant_value(value: Any) -> tuple[bool, Any]:
    """(True, value) when Terraform would print a `constant_value` for this configuration value."""
    try:
        return True, evaluate_value(value, EMPTY_SCOPE)
    except EvalError:
        return False, None
    except (TypeError, ValueError, KeyError, IndexError, ZeroDivisionError, OverflowError, RecursionError):
        return False, None
