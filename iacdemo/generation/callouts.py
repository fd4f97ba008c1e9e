"""Highlighting Terraform documentation callouts in a completed page.

The provider docs mark callouts with `->` (note), `~>` (important note) and `!>` (warning), usually
followed by `**Note:**`/`**Warning:**`. A model that learned the docs' style writes them where a base
model writes plain prose, so the Doc-completion tab makes them stand out.
"""
from __future__ import annotations

import html
import re

_MARKERS = {"->": "note", "~>": "important", "!>": "warning"}
_WORDS = {"note": "note", "warning": "warning", "important": "important", "caution": "warning"}
_WORD_CALLOUT = re.compile(r"^\s*(?:[-*>]\s*)?(?:\*\*|__)?(note|warning|important|caution)(?:\*\*|__)?\s*:",
                           re.IGNORECASE)

CALLOUT_CSS = """
.iac-doc { white-space: pre-wrap; font-family: ui-monospace, monospace; font-size: 0.9em; margin: 0; }
.iac-callout { display: inline-block; width: 100%; border-left: 4px solid; padding-left: 6px; }
.iac-callout-note { border-color: #3b82f6; background: rgba(59, 130, 246, 0.12); }
.iac-callout-important { border-color: #f59e0b; background: rgba(245, 158, 11, 0.14); }
.iac-callout-warning { border-color: #ef4444; background: rgba(239, 68, 68, 0.14); }
"""


def callout_kind(line: str) -> str | None:
    """'note', 'important' or 'warning' for a callout line, else None."""
    stripped = line.lstrip()
    for marker, kind in _MARKERS.items():
        if stripped.startswith(marker):
            return kind
    match = _WORD_CALLOUT.match(line)
    return _WORDS[match.group(1).lower()] if match else None


def count_callouts(text: str) -> int:
    return sum(1 for line in text.splitlines() if callout_kind(line))


def highlight_callouts(text: str) -> str:
    """HTML of `text` (escaped, whitespace kept) with callout lines wrapped in highlighted spans."""
    lines = []
    for line in (text or "").split("\n"):
        escaped = html.escape(line)
        kind = callout_kind(line)
        if kind:
            escaped = f'<span class="iac-callout iac-callout-{kind}" title="{kind} callout">{escaped}</span>'
        lines.append(escaped)
    return '<pre class="iac-doc">' + "\n".join(lines) + "</pre>"
