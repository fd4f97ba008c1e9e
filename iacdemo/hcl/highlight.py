"""Syntax-highlighted HCL for the UI (pygments' Terraform lexer).

Class-based output keeps the HTML small when both answers stream and re-render on every token; the
matching CSS comes from `highlight_css()`. `inline=True` gives self-contained HTML for places where no
stylesheet can be added (exports, reports).
"""
from __future__ import annotations

from functools import lru_cache

from pygments import highlight
from pygments.filter import simplefilter
from pygments.formatters import HtmlFormatter
from pygments.lexers import TerraformLexer
from pygments.token import Error, Text

CSS_CLASS = "iac-hl"
STYLE = "friendly"


def highlight_hcl(code: str, *, error_line: int | None = None, inline: bool = False) -> str:
    """HTML for `code`; `error_line` (1-based, e.g. a parse error's line) is marked."""
    lines = len(code.splitlines())
    marked = [error_line] if error_line and 1 <= error_line <= max(lines, 1) else []
    formatter = HtmlFormatter(cssclass=CSS_CLASS, style=STYLE, noclasses=inline, hl_lines=marked, wrapcode=True)
    return highlight(code or "", _lexer(), formatter)


@lru_cache(maxsize=1)
def highlight_css() -> str:
    """CSS for class-based `highlight_hcl` output, scoped to `.iac-hl` so it styles nothing else."""
    defs = HtmlFormatter(cssclass=CSS_CLASS, style=STYLE).get_style_defs(f".{CSS_CLASS}")
    scoped = [line for line in defs.splitlines() if line.startswith(f".{CSS_CLASS}")]
    scoped.append(f".{CSS_CLASS} pre {{ line-height: 125%; margin: 0; padding: 0.6em; overflow-x: auto; }}")
    scoped.append(f".{CSS_CLASS} .hll {{ background-color: #ffd9d9; }}")
    return "\n".join(scoped)


@simplefilter
def _errors_as_text(self, lexer, stream, options):
    """The lexer's error tokens as plain text: code that does not parse would otherwise be boxed in red
    character by character, which hides the one line the parse error names (that line is marked)."""
    for ttype, value in stream:
        yield (Text if ttype in Error else ttype), value


@lru_cache(maxsize=1)
def _lexer() -> TerraformLexer:
    lexer = TerraformLexer()
    lexer.add_filter(_errors_as_text())
    return lexer
