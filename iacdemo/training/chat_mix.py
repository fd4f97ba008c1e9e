"""The forgetting guard: chat examples made from the docs themselves, mixed into the CPT data.

The original experiment's tuned model lost its chat ability and stopped emitting code, because it only
ever saw raw docs. So a share of the training tokens are chat turns built from provider pages:

    system:    iacdemo.settings.SYSTEM_PROMPT
    user:      the page's one-line description ("Provides a DynamoDB contributor insights resource")
    assistant: the page's first Example Usage HCL block, in a ```hcl fence

rendered with the model's own chat template. The loss is taken on the assistant tokens only (the
prompt is labelled -100): we want the model to keep *answering* requests with code, not to learn to
produce system prompts and requests, and prompt tokens would otherwise make up about half of the loss
of these short examples.

The corpus dataset's rows are cleaned text without code fences, so the examples are cut from the raw
markdown pages (same paths) where the fences still mark where the HCL ends.

"Better data" (`instructions=True`, the original experiment's other next step) adds two instruction
pairs per resource page, so the model meets the page's facts in the form it is asked for them in chat:

    user:      "Write Terraform HCL for an `aws_x` resource: <description>"  -> the Example Usage block
    user:      "Which arguments does the `aws_x` resource take? ..."        -> the argument list
                                                                              (required / optional)
                                                                              and the Example Usage block
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Iterable

from iacdemo.corpus.sources import Doc
from iacdemo.settings import SYSTEM_PROMPT
from iacdemo.training.packing import IGNORE, Example

_TITLE = re.compile(r"^#\s*(?:Resource|Data Source):", re.M)
_EXAMPLE_HEADING = re.compile(r"^##\s+Example(?: Usage)?s?\b.*$", re.M | re.I)
_NEXT_H2 = re.compile(r"^##\s+(?!#)", re.M)
_FENCE = re.compile(r"^```[ \t]*(terraform|hcl|tf)?[ \t]*\n(.*?)\n```[ \t]*$", re.M | re.S)
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_TYPE_TITLE = re.compile(r"^#\s*Resource:\s*(aws_[a-z0-9_]+)", re.M)
_ARGUMENTS_HEADING = re.compile(r"^##\s+Argument(?:s)? Reference\b.*$", re.M | re.I)
_ARGUMENT_BULLET = re.compile(r"^[*-]\s+`([a-z][a-z0-9_]*)`\s+-\s+\((Required|Optional)\b", re.M)
MAX_LISTED_ARGUMENTS = 24  # a few pages list 100+: the answer would be a wall of names
MAX_EXAMPLE_CHARS = 4000  # longer examples would dominate the mix and rarely fit a block


@dataclass(frozen=True)
class ChatPair:
    path: str
    user: str
    assistant: str


def _clean_line(text: str) -> str:
    text = _LINK.sub(r"\1", text)
    return re.sub(r"\s+", " ", text.replace("**", "")).strip()


def page_description(doc: Doc) -> str:
    """The page's one-line description: front matter `description`, else the first prose paragraph."""
    description = _clean_line(doc.front_matter.get("description", ""))
    if description:
        return description
    body = doc.body
    title = _TITLE.search(body)
    rest = body[title.end():] if title else body
    for para in re.split(r"\n\s*\n", rest.split("\n", 1)[1] if "\n" in rest else ""):
        para = para.strip()
        if para and not para.startswith(("#", "~>", "->", "!>", "```", "<")):
            return _clean_line(para.splitlines()[0])
    return ""


def example_hcl(doc: Doc) -> str:
    """The first HCL code block under the page's "## Example Usage" section ('' when there is none)."""
    body = doc.body
    heading = _EXAMPLE_HEADING.search(body)
    if not heading:
        return ""
    section = body[heading.end():]
    nxt = _NEXT_H2.search(section)
    section = section[:nxt.start()] if nxt else section
    for match in _FENCE.finditer(section):
        code = match.group(2).strip("\n")
        if code.strip() and ("resource" in code or "data" in code or "=" in code):
            return code
    return ""


def chat_pair(doc: Doc) -> ChatPair | None:
    """A chat pair from a provider resource or data-source page, or None for other pages."""
    if not _TITLE.search(doc.body):
        return None
    user, code = page_description(doc), example_hcl(doc)
    if not user or not code or len(code) > MAX_EXAMPLE_CHARS:
        return None
    return ChatPair(path=doc.path, user=user, assistant=f"```hcl\n{code}\n```")


def page_arguments(doc: Doc) -> tuple[list[str], list[str]]:
    """(required, optional) top-level argument names from the page's "## Argument Reference" section."""
    body = doc.body
    heading = _ARGUMENTS_HEADING.search(body)
    if not heading:
        return [], []
    section = body[heading.end():]
    nxt = _NEXT_H2.search(section)
    section = section[:nxt.start()] if nxt else section
    section = re.split(r"^###\s", section, maxsplit=1, flags=re.M)[0]  # nested blocks' arguments come later
    required: list[str] = []
    optional: list[str] = []
    for name, kind in _ARGUMENT_BULLET.findall(section):
        target = required if kind == "Required" else optional
        if name not in required and name not in optional:
            target.append(name)
    return required, optional


def instruction_pairs(doc: Doc) -> list[ChatPair]:
    """Better data: "type + description -> example" and "type's arguments -> list and example" pairs.

    Only for managed-resource pages with an Example Usage block (data sources and guides have no
    resource to write); an empty list for every other page.
    """
    title = _TYPE_TITLE.search(doc.body)
    code = example_hcl(doc)
    if not title or not code or len(code) > MAX_EXAMPLE_CHARS:
        return []
    type_name, description = title.group(1), page_description(doc)
    fenced = f"```hcl\n{code}\n```"
    pairs = [ChatPair(doc.path, f"Write Terraform HCL for an `{type_name}` resource"
                                + (f": {description}" if description else "."), fenced)]
    required, optional = page_arguments(doc)
    if required or optional:
        def names(items: list[str]) -> str:
            shown = ", ".join(f"`{n}`" for n in items[:MAX_LISTED_ARGUMENTS])
            return shown + (f" and {len(items) - MAX_LISTED_ARGUMENTS} more" if len(items) > MAX_LISTED_ARGUMENTS
                            else "")

        lines = [f"Required arguments: {names(required)}." if required else "It has no required arguments.",
                 f"Optional arguments: {names(optional)}." if optional else ""]
        answer = f"`{type_name}` takes these arguments.\n\n" + "\n".join(l for l in lines if l)
        pairs.append(ChatPair(doc.path, f"Which arguments does the `{type_name}` resource take? Show an example.",
                              f"{answer}\n\n{fenced}"))
    return pairs


def chat_pairs(docs: Iterable[Doc], instructions: bool = False) -> list[ChatPair]:
    """The forgetting guard's pairs; with `instructions`, also the better-data instruction pairs."""
    pairs: list[ChatPair] = []
    for doc in docs:
        pair = chat_pair(doc)
        if pair is not None:
            pairs.append(pair)
        if instructions:
            pairs.extend(instruction_pairs(doc))
    return pairs


def render_chat_example(pair: ChatPair, tokenizer, system_prompt: str = SYSTEM_PROMPT) -> Example | None:
    """Tokenize a pair with the model's chat template, labels only on the assistant turn.

    Returns None when the tokenizer has no chat template (base models): there is no chat format to guard.
    """
    if not getattr(tokenizer, "chat_template", None):
        return None
    prompt_messages = [{"role": "system", "content": system_prompt}, {"role": "user", "content": pair.user}]
    messages = prompt_messages + [{"role": "assistant", "content": pair.assistant}]
    prompt = tokenizer.apply_chat_template(prompt_messages, add_generation_prompt=True, tokenize=False)
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    if not full.startswith(prompt):  # a template that rewrites earlier turns: no clean cut, learn it all
        ids = tokenizer(full, add_special_tokens=False)["input_ids"]
        return Example(ids, ids)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(full[len(prompt):], add_special_tokens=False)["input_ids"]
    return Example(prompt_ids + answer_ids, [IGNORE] * len(prompt_ids) + answer_ids)


def mix_in_chat(doc_tokens: int, chat_examples: list[Example], ratio: float, seed: int,
                max_repeats: int = 4) -> list[Example]:
    """Pick chat examples so that they make up about `ratio` of all training tokens.

    Examples are cycled in a seeded random order; each is used at most `max_repeats` times, so a
    large corpus with few resource pages gets a smaller share rather than memorising a handful of turns.
    """
    if ratio <= 0 or not chat_examples or doc_tokens <= 0:
        return []
    target = ratio / (1.0 - ratio) * doc_tokens
    order = list(range(len(chat_examples)))
    random.Random(seed).shuffle(order)
    picked: list[Example] = []
    total = 0
    for _ in range(max_repeats):
        for i in order:
            if total >= target:
                return picked
            picked.append(chat_examples[i])
            total += len(chat_examples[i])
    return picked
