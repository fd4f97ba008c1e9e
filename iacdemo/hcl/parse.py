"""Parsing HCL with python-hcl2, turning its parser errors into user-facing ones.

The shape is python-hcl2's dict form with quotes stripped: top-level keys `resource`, `data`, ...
each a list of `{type: {name: body}}`; nested blocks are lists of bodies; expressions and
interpolations stay as strings like `"${aws_s3_bucket.b.id}"`. Comments are dropped: with them, hcl2
puts `__comments__` keys into block bodies, which would look like arguments to everything downstream.
"""
from __future__ import annotations

import re
import textwrap

import hcl2
from lark import Tree
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedEOF, UnexpectedToken

from iacdemo.errors import IacdemoError

BLOCK_MARKER = "__is_block__"


class HCLParseError(IacdemoError):
    """HCL that python-hcl2 cannot parse; `line`/`column` are 1-based, None when unknown."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None):
        super().__init__(message)
        self.line = line
        self.column = column


def parse_hcl(text: str, *, explicit_blocks: bool = False, preserve_heredocs: bool = True) -> dict:
    """Parse HCL text into python-hcl2's dict form.

    `explicit_blocks=True` adds `"__is_block__": True` to every block body, the only way to tell a
    nested block (`rule { ... }`) from an attribute holding a list of objects (`rule = [{ ... }]`).
    `preserve_heredocs=False` gives a heredoc's value as Terraform has it (`<<EOF\nx\nEOF` -> "x\n",
    `<<-` indentation trimmed). python-hcl2's own option for this escapes the quotes of `<<-` heredocs
    (8.1.4), so it is done here. The first call in a process builds the lark grammar (about 2.5 s
    without python-hcl2's on-disk grammar cache); later ones reuse it.
    """
    options = hcl2.SerializationOptions(strip_string_quotes=True, explicit_blocks=explicit_blocks,
                                        with_comments=False)
    try:
        syntax = hcl2.parses_to_tree(text)
        _check_redefinitions(syntax)
        tree = hcl2.serialize(hcl2.transform(syntax), serialization_options=options)
        return tree if preserve_heredocs else _unwrap_heredocs(tree)
    except (UnexpectedToken, UnexpectedCharacters, UnexpectedEOF) as exc:
        raise HCLParseError(_describe(exc), getattr(exc, "line", None), getattr(exc, "column", None)) from exc
    except (LarkError, ValueError, TypeError, KeyError, AttributeError, IndexError, RecursionError,
            RuntimeError) as exc:
        # hcl2's transformer reports some invalid HCL (duplicate keys, odd literals) this way.
        raise HCLParseError(f"Invalid HCL: {exc}") from exc


def _check_redefinitions(syntax) -> None:
    """Terraform's "Attribute redefined": an argument set twice in one block. python-hcl2 keeps the last
    value silently (or raises a bare RuntimeError when a block of the same name sits in between), so the
    syntax tree is checked first, where each attribute still has its line."""
    for body in syntax.iter_subtrees():
        if body.data != "body":
            continue
        seen: dict[str, int | None] = {}
        blocks: dict[str, int | None] = {}
        for child in body.children:
            if not isinstance(child, Tree) or child.data not in ("attribute", "block") or not child.children:
                continue
            ident = child.children[0]
            name = str(ident.children[0]) if isinstance(ident, Tree) and ident.children else str(ident)
            line = None if child.meta.empty else child.meta.line
            if child.data == "block":
                blocks.setdefault(name, line)
                if name in seen:
                    raise HCLParseError(f'Unsupported block type at line {line}: "{name}" is already set as an '
                                        f"argument at line {seen[name]}", line)
                continue
            if name in seen:
                raise HCLParseError(f'Attribute redefined at line {line}: the argument "{name}" was already set '
                                    f"at line {seen[name]}. Each argument may be set only once.", line)
            if name in blocks:
                raise HCLParseError(f'Unsupported argument at line {line}: "{name}" is already defined as a block '
                                    f"at line {blocks[name]}", line)
            seen[name] = line


_HEREDOC = re.compile(r"\A<<(-?)([A-Za-z_][\w-]*)[ \t]*\n(.*?)\n?[ \t]*\2\Z", re.S)


def _unwrap_heredocs(value):
    if isinstance(value, dict):
        return {k: _unwrap_heredocs(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap_heredocs(v) for v in value]
    if isinstance(value, str) and value.startswith("<<"):
        match = _HEREDOC.match(value)
        if match:
            body = match.group(3) + "\n" if match.group(3) else ""
            return textwrap.dedent(body) if match.group(1) else body
    return value


def warm_up() -> None:
    """Build the grammar now (e.g. at app start) so the first answer is not the slow one."""
    parse_hcl('locals {\n  warm = true\n}\n')


# What a lark terminal is, for people: a parse error names what was found and, when only closers would
# do, what is missing. lark's own expected-token lists (DBLQUOTE, ELSE, ENDFOR, ...) mean nothing to a
# reader of the demo, so they are never shown.
_CLOSERS = {"RBRACE": "'}'", "RSQB": "']'", "RPAR": "')'", "DBLQUOTE": 'a closing \'"\''}


def _describe(exc: Exception) -> str:
    line, column = getattr(exc, "line", None), getattr(exc, "column", None)
    where = f"line {line}" if line not in (None, -1) else "at the end"
    if isinstance(exc, UnexpectedToken):
        token = exc.token
        expected = {e for e in exc.expected if not e.startswith("__")}
        if token.type == "$END":
            missing = [_CLOSERS[e] for e in sorted(expected) if e in _CLOSERS]
            return f"{where}: the code ends too early" + (f" (missing {' or '.join(missing)})" if missing else "")
        # STRING_CHARS is lark's catch-all: it swallows the rest of the text, of which the first word is the culprit
        found = _shown(str(token).split()[0] if token.type == "STRING_CHARS" and str(token).split() else str(token))
        if expected == {"$END"}:
            return f"{where}: unexpected {found} after the end of the last block"
        return f"{where}: unexpected {found}"
    if isinstance(exc, UnexpectedCharacters):
        return f"{where}: unexpected character {_shown(exc.char)}"
    return f"{where}: the code ends too early"


def _shown(text: str) -> str:
    text = " ".join(text.split()) or "whitespace"
    return "'" + (text if len(text) <= 30 else text[:30] + "…") + "'"
