"""Markdown/MDX documentation → plain training text.

The model should learn Terraform and its documentation's prose, not web markup: front matter, link
targets, images, JSX components and emphasis markers are noise that costs tokens and teaches the model
to emit URLs. Three things are deliberately kept:

* Code block *content*, verbatim (the HCL examples are the most valuable text); only the fence lines go,
  and nothing inside a code block is ever rewritten.
* Heading lines *with* their `#` markers: they mark the page structure the model should reproduce and the
  Doc-completion tab prompts with exactly such lines (`# Resource: aws_dynamodb_table`). The segmenter
  also cuts at them.
* Terraform's callout lines (`->`, `~>`, `!>` + "Note:"/"Warning:"): `~> **Note:** x` becomes
  `~> Note: x`, so a completion prompt ending in `~>` still means what it means in the docs.

The cleaner works on blocks (heading / text paragraph / code) so the segmenter can cut between them
without ever re-parsing markdown.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass

from iacdemo.corpus.sources import split_front_matter

HEADING, TEXT, CODE = "heading", "text", "code"

_FENCE_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_HEADING = re.compile(r"^[ \t]{0,3}(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$")
_MDX_IMPORT_EXPORT = re.compile(
    r"^(?:import\s+(?:[\w*{}\s,]+\s+from\s+)?['\"][^'\"]+['\"];?\s*$"
    r"|export\s+(?:const|let|var|default|function)\b.*$)")
_REF_DEFINITION = re.compile(r"^[ \t]{0,3}\[[^\]]+\]:[ \t]*\S+.*$")
_RULE = re.compile(r"^[ \t]{0,3}(?:[-*_][ \t]*){3,}$")
_BLOCKQUOTE = re.compile(r"^[ \t]*(?:>[ \t]?)+")
_GITHUB_ALERT = re.compile(r"^\[!(?:NOTE|TIP|IMPORTANT|WARNING|CAUTION)\][ \t]*$", re.I)
_DECORATION_ONLY = re.compile(r"^[\W_]*$")  # e.g. a banner line of only "⚠️⚠️⚠️"
_HEADING_ANCHOR = re.compile(r"[ \t]*\{#[\w.-]+\}[ \t]*$")

# Inline code stays within one line: docs have stray backticks, and a span running on into the next
# list item would shield that item's links and emphasis from cleaning.
_INLINE_CODE = re.compile(r"(`+)(.+?)(?<!`)\1(?!`)")
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!<>|~])")
_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.S)
_IMAGE = re.compile(r"!\[[^\]]*\](?:\((?:[^()\s]|\([^)]*\))*(?:\s+\"[^\"]*\")?\)|\[[^\]]*\])")
_LINK_INLINE = re.compile(r"\[((?:[^\[\]]|\[[^\]]*\])*)\]\((?:[^()]|\([^)]*\))*\)")
_LINK_REF = re.compile(r"\[((?:[^\[\]]|\[[^\]]*\])+)\]\[[^\]]*\]")
_ORPHAN_TARGET = re.compile(r"\]\((?:https?://|/|#)[^()\s]*(?:\([^()\s]*\)[^()\s]*)*\)")  # "text](url)" missing its "["
_AUTOLINK = re.compile(r"<((?:https?|mailto):[^>\s]+)>")
_HTML_TAGS = ("a|abbr|b|blockquote|br|center|code|dd|del|details|div|dl|dt|em|figcaption|figure|font|"
              "h[1-6]|hr|i|iframe|img|ins|kbd|li|mark|meta|ol|p|pre|s|small|source|span|strong|sub|"
              "summary|sup|table|tbody|td|tfoot|th|thead|tr|u|ul|video")
# JSX components are PascalCase (`<CodeBlockConfig>`, `<RunSnippet .../>`); ALL-CAPS words in angle
# brackets (`<PROVIDER>`) are placeholders in prose and stay.
_TAG = re.compile(r"</?(?:[A-Z][A-Za-z0-9]*[a-z][A-Za-z0-9.]*|(?:" + _HTML_TAGS + r")\b)"
                  r"(?:\s[^<>]*?)?/?>", re.S)
_STRONG = re.compile(r"(?<![\w*])\*\*(?=\S)(.+?)(?<=\S)\*\*(?![\w*])|(?<![\w_])__(?=\S)(.+?)(?<=\S)__(?![\w_])", re.S)
_EM_STAR = re.compile(r"(?<![\w*])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\w*])", re.S)
_EM_UNDERSCORE = re.compile(r"(?<![\w_])_(?=[^\s_])(.+?)(?<=[^\s_])_(?![\w_])", re.S)
_PLACEHOLDER = re.compile("\x00(\\d+)\x00")


@dataclass(frozen=True)
class Block:
    """One unit the segmenter may cut around: a heading line, a prose paragraph or a code block."""
    kind: str
    text: str


def clean_markdown(text: str) -> str:
    """Plain text of a markdown/MDX document: blocks joined by blank lines (see module docstring)."""
    return join_blocks(clean_blocks(text))


def join_blocks(blocks: list[Block]) -> str:
    return "\n\n".join(block.text for block in blocks)


def clean_blocks(text: str) -> list[Block]:
    """Split a document into cleaned heading/text/code blocks, dropping front matter and markup."""
    _, body = split_front_matter(text)
    body = body.replace("\r\n", "\n").replace("\r", "\n")
    blocks: list[Block] = []
    paragraph: list[str] = []
    lines = body.split("\n")
    i = 0
    in_comment = False

    def flush_paragraph() -> None:
        if paragraph:
            cleaned = clean_inline("\n".join(paragraph))
            kept = [ln.rstrip() for ln in cleaned.split("\n") if not _DECORATION_ONLY.match(ln)]
            if kept:
                blocks.append(Block(TEXT, "\n".join(kept)))
            paragraph.clear()

    while i < len(lines):
        line = lines[i]
        i += 1
        if in_comment:  # inside a multi-line HTML comment: skip up to its end
            end = line.find("-->")
            if end < 0:
                continue
            in_comment = False
            line = line[end + 3:]
        stripped = line.lstrip()
        first = stripped[:1]
        fence = _FENCE_OPEN.match(line) if first in ("`", "~") else None
        if fence and not (fence.group("fence")[0] == "`" and "`" in fence.group("info")):
            flush_paragraph()
            i = _read_code_block(lines, i, fence, blocks)
            continue
        if "<!--" in line:
            start = line.find("<!--")
            if "-->" not in line[start:]:
                in_comment = True
                line = line[:start]
                stripped = line.lstrip()
                first = stripped[:1]
        if not stripped:
            flush_paragraph()
            continue
        heading = _HEADING.match(line) if first == "#" else None
        if heading:
            flush_paragraph()
            title = _HEADING_ANCHOR.sub("", clean_inline(heading.group(2))).strip()
            if title:
                blocks.append(Block(HEADING, f"{heading.group(1)} {title}"))
            continue
        if ((first in ("i", "e") and _MDX_IMPORT_EXPORT.match(line))
                or (first == "[" and _REF_DEFINITION.match(line))
                or (first in ("-", "*", "_") and _RULE.match(line))):
            continue
        if first == ">":
            line = _BLOCKQUOTE.sub("", line)
            if _GITHUB_ALERT.match(line.strip()):
                continue
        paragraph.append(line)
    flush_paragraph()
    return blocks


def _read_code_block(lines: list[str], i: int, fence: re.Match, blocks: list[Block]) -> int:
    """Collect a fenced block's lines verbatim (minus the fence's own indent); return the next index."""
    marker, indent = fence.group("fence"), len(fence.group("indent"))
    closing = re.compile(r"^[ \t]*" + re.escape(marker[0]) + "{" + str(len(marker)) + r",}[ \t]*$")
    code: list[str] = []
    while i < len(lines) and not closing.match(lines[i]):
        line = lines[i]
        strip = min(indent, len(line) - len(line.lstrip(" \t")))
        code.append(line[strip:].rstrip())
        i += 1
    while code and not code[0].strip():
        code.pop(0)
    while code and not code[-1].strip():
        code.pop()
    if code:
        blocks.append(Block(CODE, "\n".join(code)))
    return i + 1


def clean_inline(text: str) -> str:
    """Strip inline markup from prose, leaving inline code content and escaped characters untouched."""
    protected: list[str] = []

    def protect(value: str) -> str:
        protected.append(value)
        return f"\x00{len(protected) - 1}\x00"

    text = text.replace("\x00", "")
    # Each pattern runs only when its trigger character is present: most paragraphs have little markup,
    # and this halves the cleaning time of the full corpus.
    if "`" in text:
        text = _INLINE_CODE.sub(lambda m: protect(m.group(2)), text).replace("`", "")  # and stray ones
    if "\\" in text:
        text = _ESCAPE.sub(lambda m: protect(m.group(1)), text)
    if "<" in text:
        text = _COMMENT.sub("", text) if "<!--" in text else text
        text = _AUTOLINK.sub(r"\1", text)
        text = _TAG.sub("", text)
    if "![" in text:
        text = _IMAGE.sub("", text)
    if "](" in text or "][" in text:
        for _ in range(2):  # a link whose text holds an image badge or another link
            text = _LINK_INLINE.sub(r"\1", text)
            text = _LINK_REF.sub(r"\1", text)
        text = _ORPHAN_TARGET.sub("", text)
    if "**" in text or "__" in text:
        text = _STRONG.sub(lambda m: m.group(1) or m.group(2), text)
    if "*" in text:
        text = _EM_STAR.sub(r"\1", text)
    if "_" in text:
        text = _EM_UNDERSCORE.sub(r"\1", text)
    if "&" in text:
        text = html.unescape(text)
    if not protected:
        return text
    return _PLACEHOLDER.sub(lambda m: protected[int(m.group(1))], text)
