"""Repair on real prompts: IaC-Eval tasks (experiment, `train.evaluate --repair N`) and one chat turn
(what a Compare-tab pane would show round by round).

Both run the loop of `repair.py` on the shared model with batched, cached generation, and score every
round the way the harness scores single-shot answers, so "round 0" is exactly the single-shot result.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

from iacdemo.evaluation.answers import AnswerCache
from iacdemo.evaluation.harness import score_answer
from iacdemo.evaluation.prompts import task_messages
from iacdemo.evaluation.report import build_report
from iacdemo.experiment.generate import Request, generate_requests
from iacdemo.experiment.repair import Diagnose, RepairRound, default_diagnostics, repair
from iacdemo.generation.side_by_side import GenSettings
from iacdemo.settings import Settings, get_settings
from iacdemo.terraform.schema import load_schema

_HEADLINE = ("pass_at_1", "plannable_rate", "code_block_rate", "parse_rate", "hallucinated_type_rate",
             "unknown_argument_rate")


def _generator(model_id: str, adapter: str | None, session_provider: Callable[[], Any], gen: Any,
               cache: AnswerCache, batch_rows: int, settings: Settings,
               progress: Callable[[int, int], Any] | None) -> Callable[[list[list[dict]]], list[str]]:
    def generate(histories: list[list[dict]]) -> list[str]:
        requests = [Request.chat(adapter, h) for h in histories]
        return [g.text for g in generate_requests(requests, model_id=model_id, session_provider=session_provider,
                                                  gen=gen, cache=cache, batch_rows=batch_rows, settings=settings,
                                                  progress=progress)]
    return generate


def repair_tasks(tasks: Sequence[Any], first_answers: Sequence[str], *, model_id: str, adapter: str | None,
                 session_provider: Callable[[], Any], gen: Any, rounds: int, schema: Any, mode: str,
                 cache: AnswerCache | None = None, batch_rows: int = 4, settings: Settings | None = None,
                 diagnose: Diagnose | None = None, progress: Callable[[int, int], Any] | None = None) -> dict:
    """Repair each task's single-shot answer for up to `rounds` turns; scores after every round.

    Returns {rounds, by_round: [{round, pass_at_1, plannable_rate, ...}], repaired_tasks, final (the
    last round's headline numbers), answers: [{task_id, rounds: [{answer, diagnostics}]}]}.
    """
    settings = settings or get_settings()
    cache = cache or AnswerCache.for_settings(settings)
    generate = _generator(model_id, adapter, session_provider, gen, cache, batch_rows, settings, progress)
    histories = repair([task_messages(t.prompt) for t in tasks], list(first_answers), generate=generate,
                       diagnose=diagnose or default_diagnostics(schema, mode), rounds=rounds)
    by_round = []
    for r in range(rounds + 1):
        answers = [h[min(r, len(h) - 1)].answer for h in histories]
        results = [score_answer(t, a, schema, mode=mode) for t, a in zip(tasks, answers)]
        report = build_report(tasks, results, mode=mode, answers="generate")
        by_round.append({"round": r, **{k: report[k] for k in _HEADLINE}})
    return {"rounds": rounds, "mode": mode, "by_round": by_round, "final": by_round[-1],
            "repaired_tasks": sum(len(h) > 1 for h in histories),
            "answers": [{"task_id": t.id, "rounds": [x.to_dict() for x in h]} for t, h in zip(tasks, histories)]}


def repair_chat(session: Any, messages: Sequence[dict], first_answer: str, *, adapter: str | None = None,
                rounds: int = 2, gen: Any = None, schema: Any = None, diagnose: Diagnose | None = None,
                settings: Settings | None = None) -> list[RepairRound]:
    """One chat answer repaired round by round on a loaded session (for a Compare-tab pane).

    `adapter` is an adapter folder (None = the base model); the rounds come back in order, round 0 being
    `first_answer` with its diagnostics.
    """
    settings = settings or get_settings()
    gen = (gen or GenSettings()).validated(settings)
    if diagnose is None:
        diagnose = default_diagnostics(schema if schema is not None else load_schema(settings))
    generate = _generator(session.model_id, str(Path(adapter)) if adapter else None, lambda: session, gen,
                          AnswerCache.for_settings(settings), 1, settings, None)
    return repair([list(messages)], [first_answer], generate=generate, diagnose=diagnose, rounds=rounds)[0]
