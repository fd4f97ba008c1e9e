"""Running a long job on its own thread and handing what it reports to a generator, as it happens.

A UI handler that streams (progress, partial results) must yield from its own thread, while the job
reports through callbacks deep inside generation. This joins the two with a queue. Whatever the job
raises, BaseExceptions included (a pyo3 panic is one), comes out as an `error` item, so the consumer
always gets an end; if the consumer goes away first (page closed), the job is asked to stop.
"""
from __future__ import annotations

import queue
import threading
from typing import Any, Callable, Iterator, TypeVar

T = TypeVar("T")

UPDATE, DONE, ERROR = "update", "done", "error"
LET_THROUGH = (KeyboardInterrupt, SystemExit)


def run_with_updates(work: Callable[[Callable[[Any], None]], T], *,
                     stop_event: threading.Event | None = None,
                     name: str = "iacdemo-job") -> Iterator[tuple[str, Any]]:
    """Run `work(emit)` on a new thread; yield (UPDATE, x) per `emit(x)`, then (DONE, result) or (ERROR, exc)."""
    items: queue.Queue = queue.Queue()

    def target() -> None:
        try:
            items.put((DONE, work(lambda item: items.put((UPDATE, item)))))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which shows it
            items.put((ERROR, exc))

    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    try:
        while True:
            kind, value = items.get()
            if kind == ERROR and isinstance(value, LET_THROUGH):
                raise value
            yield kind, value
            if kind in (DONE, ERROR):
                return
    finally:
        if thread.is_alive() and stop_event is not None:
            stop_event.set()  # the consumer left early: do not run on for nobody


__all__ = ["DONE", "ERROR", "UPDATE", "run_with_updates"]
