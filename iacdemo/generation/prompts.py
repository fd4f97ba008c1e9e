"""Turning what the user typed into token ids the model can take, without ever crashing.

Two kinds of prompt: chat (system prompt + multi-turn history through the model's chat template) for
the Compare tab, and raw text with no template for Doc completion, where the model should simply
continue a documentation page. A prompt that does not fit (too many characters, or more tokens than
the context leaves room for next to the answer) is cut from the left - the newest words matter most -
and the cut is reported in `notes` for the UI to show. An empty prompt is a ConfigError.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from iacdemo.errors import ConfigError
from iacdemo.settings import SYSTEM_PROMPT

RAG_INSTRUCTION = "Use these excerpts from the Terraform documentation if they are relevant:"
_MIN_PROMPT_TOKENS = 16


@dataclass(frozen=True)
class PreparedPrompt:
    input_ids: list[int]
    text: str  # what the model sees, for a "show prompt" box
    query: str  # the user's last request, e.g. for retrieval
    notes: tuple[str, ...] = field(default_factory=tuple)


def content_text(content: Any) -> str:
    """Plain text of a message's content: a str, or Gradio 6's list of parts ({"type": "text", ...})."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        if content.get("type", "text") == "text" and isinstance(content.get("text"), str):
            return content["text"]
        return ""  # files, images, components: nothing a text model can read
    if isinstance(content, (list, tuple)):
        return "".join(content_text(part) for part in content)
    return str(content)


def normalise_messages(messages: Sequence[Any]) -> list[dict[str, str]]:
    """Gradio/OpenAI-style messages as [{"role", "content": str}], dropping empty and unknown turns."""
    clean: list[dict[str, str]] = []
    for message in messages or []:
        if isinstance(message, dict):
            role, content = message.get("role"), message.get("content")
        else:  # ChatMessage-like objects
            role, content = getattr(message, "role", None), getattr(message, "content", None)
        if role not in {"system", "user", "assistant"}:
            continue
        text = content_text(content)
        if text.strip() or role == "assistant":
            clean.append({"role": role, "content": text})
    return clean


def build_messages(history: Sequence[Any] | None, user_message: str | None = None,
                   system_prompt: str | None = None) -> list[dict[str, str]]:
    """System prompt + history + the new user message, the way the chat template wants them.

    A system message in the history wins over `system_prompt`; no system message anywhere gets the
    TerraformAI default (otherwise SmolLM2's template inserts its own "helpful assistant" one).
    """
    turns = normalise_messages(history or [])
    if user_message is not None:
        turns.append({"role": "user", "content": content_text(user_message)})
    systems = [t for t in turns if t["role"] == "system"]
    turns = [t for t in turns if t["role"] != "system"]
    system = systems[-1]["content"] if systems else (system_prompt if system_prompt is not None else SYSTEM_PROMPT)
    return ([{"role": "system", "content": system}] if system.strip() else []) + turns


def prompt_token_budget(context_length: int, max_new_tokens: int) -> int:
    """Tokens left for the prompt once the answer's room is reserved."""
    budget = context_length - max_new_tokens
    if budget < _MIN_PROMPT_TOKENS:
        raise ConfigError(f"Max new tokens ({max_new_tokens}) leaves no room for a prompt in this model's "
                          f"context of {context_length} tokens. Lower it.")
    return budget


def _encode_chat(tokenizer: Any, messages: list[dict[str, str]]) -> list[int]:
    encoded = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                            return_dict=True)
    ids = encoded["input_ids"]
    return list(ids[0] if ids and isinstance(ids[0], list) else ids)


def prepare_chat_prompt(tokenizer: Any, messages: Sequence[Any], *, max_prompt_tokens: int,
                        max_chars: int, system_prompt: str | None = None,
                        context: str | None = None) -> PreparedPrompt:
    """Chat-template a conversation whose last turn is the user's request.

    Older turns are dropped first when the prompt is too long; only then is the request itself cut
    from the left. `context` (retrieved docs) goes in front of the request, so it is cut first.
    """
    turns = build_messages(messages, system_prompt=system_prompt)
    if not turns or turns[-1]["role"] != "user" or not turns[-1]["content"].strip():
        raise ConfigError("The prompt is empty: type a request (or pick a preset) before generating.")
    system = turns[:1] if turns[0]["role"] == "system" else []
    history, request = turns[len(system):-1], turns[-1]["content"]
    query = request
    if context:
        request = f"{RAG_INSTRUCTION}\n\n{context.strip()}\n\n{request}"
    notes: list[str] = []

    def total_chars() -> int:
        return sum(len(t["content"]) for t in history) + len(request)

    dropped = 0
    while history and total_chars() > max_chars:
        history, dropped = _drop_oldest_turn(history), dropped + 1
    if len(request) > max_chars:
        notes.append(f"The request was {len(request):,} characters; only its last {max_chars:,} were kept.")
        request = request[-max_chars:]

    ids = _encode_chat(tokenizer, system + history + [{"role": "user", "content": request}])
    while len(ids) > max_prompt_tokens and history:
        history, dropped = _drop_oldest_turn(history), dropped + 1
        ids = _encode_chat(tokenizer, system + history + [{"role": "user", "content": request}])
    for _ in range(4):  # cutting tokens then re-templating converges in one or two rounds
        if len(ids) <= max_prompt_tokens:
            break
        request_ids = tokenizer(request, add_special_tokens=False)["input_ids"]
        keep = len(request_ids) - (len(ids) - max_prompt_tokens) - 2
        if keep < 1:
            raise ConfigError(f"The system prompt alone is longer than the {max_prompt_tokens} prompt tokens "
                              "this model has room for. Shorten it or lower max new tokens.")
        request = tokenizer.decode(request_ids[-keep:], skip_special_tokens=True)
        ids = _encode_chat(tokenizer, system + history + [{"role": "user", "content": request}])
        if not any("tokens" in n for n in notes):
            notes.append(f"The request was cut from the left to fit {max_prompt_tokens:,} prompt tokens "
                         "(model context minus max new tokens).")
    if len(ids) > max_prompt_tokens:
        raise ConfigError("The prompt could not be made to fit the model's context. Shorten it.")
    if dropped:
        notes.insert(0, f"Dropped the {dropped} oldest turn(s) of the conversation to fit the model's context.")
    text = tokenizer.decode(ids, skip_special_tokens=False)
    return PreparedPrompt(input_ids=ids, text=text, query=query, notes=tuple(notes))


def _drop_oldest_turn(history: list[dict[str, str]]) -> list[dict[str, str]]:
    """Drop the oldest exchange (a user turn and the answer to it) so roles keep alternating."""
    rest = history[1:]
    if history[0]["role"] == "user" and rest and rest[0]["role"] == "assistant":
        rest = rest[1:]
    return rest


def prepare_raw_prompt(tokenizer: Any, text: str, *, max_prompt_tokens: int, max_chars: int,
                       context: str | None = None) -> PreparedPrompt:
    """Raw text for the model to continue (documentation completion): no chat template at all."""
    text = content_text(text)
    if not text.strip():
        raise ConfigError("The prompt is empty: type the start of a documentation page (or pick a preset).")
    query = text
    if context:
        text = f"{context.strip()}\n\n{text}"
    notes: list[str] = []
    if len(text) > max_chars:
        notes.append(f"The prompt was {len(text):,} characters; only its last {max_chars:,} were kept.")
        text = text[-max_chars:]
    ids = list(tokenizer(text)["input_ids"])
    if len(ids) > max_prompt_tokens:
        notes.append(f"The prompt was {len(ids):,} tokens; only its last {max_prompt_tokens:,} were kept "
                     "(model context minus max new tokens).")
        ids = ids[-max_prompt_tokens:]
        text = tokenizer.decode(ids, skip_special_tokens=True)
    return PreparedPrompt(input_ids=ids, text=text, query=query, notes=tuple(notes))
