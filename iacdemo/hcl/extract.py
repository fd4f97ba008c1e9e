"""Finding the Terraform code in a model's answer.

Two extractions on purpose:

* `first_code_block` reproduces the official IaC-Eval harness byte for byte (its
  `separate_answer_and_code` with the `DELIMITERS` list of `evaluation/eval.py` in
  autoiac-project/iac-eval), quirks included, so static pass rates are comparable with published ones.
* `extract_hcl` is for people looking at the demo: it also recovers HCL written without a fence or
  after an empty fence, which is exactly how the fine-tuned model of the original experiment answered.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

# Order matters: the official harness tries each in turn and ``` must stay last (the catch-all).
OFFICIAL_DELIMITERS = ("```hcl", "```json", "```HCL", "```Terraform", "```terraform", "```")

HCL_FENCE_LANGS = {"", "hcl", "terraform", "tf", "hcl2", "tfvars"}

TOP_LEVEL_KEYWORDS = ("resource", "data", "provider", "variable", "output", "module", "terraform", "locals")

_FENCE_OPEN = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([\w+.-]*)[^\n]*$", re.M)

# A top-level block opener at the start of a line, with the labels its keyword requires.
_BLOCK_START = re.compile(
    r"""^[ \t]*(?:
        (?:resource|data)[ \t]+"[^"\n]+"[ \t]+"[^"\n]+"
      | (?:provider|variable|output|module)[ \t]+"[^"\n]+"
      | (?:terraform|locals)
    )[ \t]*\{""",
    re.M | re.X,
)


@dataclass(frozen=True)
class CodeBlock:
    lang: str  # fence info string, lower-cased ("" when the fence had none or there was no fence)
    code: str
    fenced: bool


def first_code_block(answer: str | None) -> str | None:
    """The code the official IaC-Eval harness would run, or None where it would score "Empty code".

    Mirrors `separate_answer_and_code(text, DELIMITERS)`: for each delimiter in order, split the answer
    on it; the text between its first and second occurrence, cut at its last ``` and stripped, is the
    code. Quirks kept on purpose: a plain ``` fence keeps its info string (```python -> "python\n...")
    and an empty ```hcl fence falls through to the ``` delimiter (which then yields "hcl").
    """
    if not answer:
        return None
    code = ""
    for delimiter in OFFICIAL_DELIMITERS:
        parts = answer.split(delimiter)
        if len(parts) < 2:
            code = ""
            continue
        code = parts[1].strip().rsplit("```", 1)[0].strip()
        if code != "":
            return code
    return code or None


def extract_code_blocks(answer: str | None) -> list[CodeBlock]:
    """Every fenced block in order; an unclosed last fence runs to the end (generation was cut off)."""
    if not answer:
        return []
    blocks: list[CodeBlock] = []
    pos = 0
    while True:
        opener = _FENCE_OPEN.search(answer, pos)
        if not opener:
            break
        fence = opener.group(1)
        body_start = opener.end() + 1
        closer = re.compile(r"^[ \t]*" + re.escape(fence[0]) + "{" + str(len(fence)) + r",}[ \t]*$", re.M)
        close = closer.search(answer, body_start) if body_start <= len(answer) else None
        body = answer[body_start:close.start()] if close else answer[body_start:]
        blocks.append(CodeBlock(lang=opener.group(2).lower(), code=body.strip("\n"), fenced=True))
        if not close:
            break
        pos = close.end()
    return blocks


def find_unfenced_hcl(text: str) -> list[str]:
    """Top-level HCL blocks written in prose, each up to its matching closing brace.

    A block whose braces never close (a cut-off generation) runs to the end of the text, so the parse
    error it causes is shown rather than the code silently dropped.
    """
    found: list[str] = []
    pos = 0
    while True:
        start = _BLOCK_START.search(text, pos)
        if not start:
            break
        end = matching_brace_end(text, start.end() - 1)
        begin = start.start() + (len(start.group(0)) - len(start.group(0).lstrip()))
        found.append(text[begin:end].rstrip())
        if end >= len(text):
            break
        pos = end
    return found


def extract_hcl(answer: str | None) -> str:
    """The HCL to show and check for an answer ("" when there is none).

    Non-empty fenced blocks tagged as HCL/Terraform (or untagged) that look like HCL win, joined in order
    so resources split over several fences are checked together; otherwise top-level blocks are
    recovered from the text with the fence markers removed (unfenced code, empty fences).
    """
    if not answer or not answer.strip():
        return ""
    fenced = [b.code.strip() for b in extract_code_blocks(answer)
              if b.lang in HCL_FENCE_LANGS and b.code.strip() and _looks_like_hcl(b.code)]
    if fenced:
        return "\n\n".join(fenced)
    without_fences = _FENCE_OPEN.sub("", answer)
    return "\n\n".join(find_unfenced_hcl(without_fences))


def _looks_like_hcl(code: str) -> bool:
    return bool(_BLOCK_START.search(code)) or bool(re.search(r"^[ \t]*[A-Za-z_][\w-]*[ \t]*=", code, re.M))


def matching_brace_end(text: str, open_index: int) -> int:
    """Index just past the brace closing the one at `open_index`, skipping strings, comments, heredocs."""
    depth = 0
    i = open_index
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        elif ch == '"':
            i = _string_end(text, i)
            continue
        elif ch == "#" or text.startswith("//", i):
            newline = text.find("\n", i)
            i = n if newline < 0 else newline
            continue
        elif text.startswith("/*", i):
            close = text.find("*/", i + 2)
            i = n if close < 0 else close + 2
            continue
        elif text.startswith("<<", i):
            heredoc = re.compile(r"<<-?([A-Za-z_]\w*)[ \t]*\n").match(text, i)
            if heredoc:
                marker = re.compile(r"^[ \t]*" + re.escape(heredoc.group(1)) + r"[ \t]*$", re.M)
                close = marker.search(text, heredoc.end())
                i = n if not close else close.end()
                continue
        i += 1
    return n


def _string_end(text: str, quote_index: int) -> int:
    """Index just past the string literal starting at `quote_index` (a newline ends a broken one)."""
    i = quote_index + 1
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == '"' or ch == "\n":
            return i + 1
        if text.startswith("${", i) or text.startswith("%{", i):
            i = matching_brace_end(text, i + 1)
            continue
        i += 1
    return n
