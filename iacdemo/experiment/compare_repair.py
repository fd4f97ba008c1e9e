"""Repair as a Compare mode: each pane's last answer gets its diagnostics back for up to N more turns.

The experiment measures repair over many tasks; a presenter wants to *see* it on one request: which
problems the checks found in the first answer, what the model wrote when told, whether the next check
was clean. The same loop as the experiment (`repair.repair`) drives it, so the pane shows exactly the
rounds the report counts. Each pane keeps its own adapter and docs grounding (its `Column`), and its
own conversation: the repair request follows that pane's answer, not another's.
"""
from __future__ import annotations

import html
import threading
from typing import Any, Sequence

from iacdemo.errors import ConfigError, JobError
from iacdemo.experiment.repair import Diagnose, RepairRound, first_block, repair
from iacdemo.generation.gen_settings import GenSettings
from iacdemo.generation.side_by_side import Column, generate_side_by_side
from iacdemo.settings import Settings, get_settings

NOTHING_TO_REPAIR = "Send a request first: repair works on the panes' last answers."


def last_turns(histories: Sequence[Sequence[dict]]) -> tuple[list[list[dict]], list[str]]:
    """(each pane's conversation up to its last request, each pane's last answer)."""
    conversations, answers = [], []
    for history in histories:
        messages = list(history or [])
        if len(messages) < 2 or messages[-1].get("role") != "assistant" or messages[-2].get("role") != "user":
            raise ConfigError(NOTHING_TO_REPAIR)
        conversations.append([dict(m) for m in messages[:-1]])  # own copies: their first dict names the pane
        answers.append(str(messages[-1].get("content") or ""))
    if not conversations:
        raise ConfigError(NOTHING_TO_REPAIR)
    return conversations, answers


def repair_panes(session: Any, columns: Sequence[Column], histories: Sequence[Sequence[dict]], gen: GenSettings,
                 *, diagnose: Diagnose, rounds: int = 2, system_prompt: str | None = None,
                 settings: Settings | None = None,
                 stop_event: threading.Event | None = None) -> list[list[RepairRound]]:
    """Every pane's repair rounds ([first answer, repair 1, ...]); a pane stops once its checks are clean.

    Panes differ in adapter and diagnostics, so each repair turn is generated for its own pane.
    """
    settings = settings or get_settings()
    if len(columns) != len(histories):
        raise ConfigError(f"Got {len(histories)} pane histories for {len(columns)} panes: send the request again.")
    if rounds < 0:
        raise ConfigError(f"Repair rounds must be at least 0, got {rounds}.")
    conversations, answers = last_turns(histories)
    # repair() copies each conversation's list but keeps its message dicts: the first one identifies the pane
    column_of = {id(c[0]): col for c, col in zip(conversations, columns)}

    def generate(batch: list[list[dict]]) -> list[str]:
        out = []
        for messages in batch:
            if stop_event is not None and stop_event.is_set():
                raise JobError("Repair was stopped.")
            column = column_of[id(messages[0])]
            out.append(generate_side_by_side(session, [column], messages[-1]["content"], gen,
                                             histories=[messages[:-1]], system_prompt=system_prompt,
                                             settings=settings, stop_event=stop_event)[0])
        return out

    return repair(conversations, answers, generate=generate, diagnose=diagnose, rounds=rounds)


def rounds_markdown(labels: Sequence[str], panes: Sequence[Sequence[RepairRound]], rounds: int) -> str:
    """Each pane's rounds: what the checks found, and the code the model wrote in reply."""
    parts = []
    for label, pane in zip(labels, panes):
        parts.append(f"### {html.escape(label)}: {_outcome(pane, rounds)}")
        for number, step in enumerate(pane):
            title = "first answer" if number == 0 else f"repair {number}"
            found = (f"{len(step.diagnostics)} problem{'s' if len(step.diagnostics) != 1 else ''}"
                     if step.diagnostics else "checks clean")
            parts.append(f"**Round {number} ({title})**: {found}")
            code = first_block(step.answer)
            parts.append(f"```hcl\n{code.rstrip()}\n```" if code else "_(no code block in this answer)_")
            parts.extend(f"- {html.escape(d)}" for d in step.diagnostics)
    return "\n\n".join(parts)


def _outcome(pane: Sequence[RepairRound], rounds: int) -> str:
    if not pane[-1].diagnostics:
        return "clean at once" if len(pane) == 1 else f"clean after {len(pane) - 1} repair round(s)"
    if rounds == 0:
        return f"{len(pane[-1].diagnostics)} problem(s), repair is off (0 rounds)"
    return f"{len(pane[-1].diagnostics)} problem(s) left after {len(pane) - 1} repair round(s)"
