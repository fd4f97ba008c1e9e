"""How often the app's Gradio queue wakes up when nothing is waiting.

Gradio's queue loop sleeps 1 ms between looks at an empty queue on Linux (50 ms on Windows, and on every
platform in older releases), and its progress loop 10 ms. So an idle app keeps a tenth of a core busy,
and while it generates, that thread wakes a thousand times a second beside the model's torch threads:
on a 2-core CPU the Compare tab generated 7-15 % fewer tokens/s (`python -m bench.bench_queue_poll`
measures both; bench/RESULTS.md). Waking every `Settings.queue_poll_s` (50 ms) instead delays the start
of an event by at most that, which nobody sees next to a model's answer.

The two intervals are attributes of Gradio's private `Queue`. If a Gradio release renames them, the app
keeps Gradio's own polling and says so at start, rather than failing.
"""
from __future__ import annotations

import gradio as gr

from iacdemo.settings import Settings

POLL_ATTRIBUTES = ("sleep_when_free", "progress_update_sleep_when_free")
CONCURRENCY_LIMIT = 4  # events of one handler at a time (two visitors' streams and a job's status, say)


def enable_queue(demo: gr.Blocks, settings: Settings) -> str | None:
    """Turn on the queue the app's streams need and set how often it polls.

    Returns a line for the log when the polling could not be set (the app works either way)."""
    demo.queue(default_concurrency_limit=CONCURRENCY_LIMIT)
    return set_queue_polling(demo, settings.queue_poll_s)


def set_queue_polling(demo: gr.Blocks, poll_s: float) -> str | None:
    queue = getattr(demo, "_queue", None)
    found = {name: getattr(queue, name, None) for name in POLL_ATTRIBUTES}
    if not all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in found.values()):
        return (f"iacdemo: gradio {gr.__version__}'s queue has no {' / '.join(POLL_ATTRIBUTES)}: it polls as "
                "gradio sets it (IACDEMO_QUEUE_POLL_S has no effect)")
    for name in POLL_ATTRIBUTES:
        setattr(queue, name, poll_s)
    return None
