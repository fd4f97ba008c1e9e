"""Streaming a batched `generate` call to a UI, every row at once.

transformers' `TextIteratorStreamer` refuses batches, yet the Compare tab wants one batched generation
for all its columns (one forward pass per step instead of one per column). This streamer takes the
token ids `generate` hands over each step, keeps one growing text per row, and lets the consumer
thread iterate over "all rows' texts so far", as FastChat's arena steps all its columns from one
generator.
"""
from __future__ import annotations

import queue
import threading
from typing import Any, Iterable, Iterator

import torch
from transformers.generation.stopping_criteria import StoppingCriteria
from transformers.generation.streamers import BaseStreamer

_END = object()


class BatchTextStreamer(BaseStreamer):
    """Collects the new tokens of every row of a batch and queues every row's decoded text per step.

    A row stops growing at its first end-of-sequence token: `generate` keeps stepping finished rows
    (it pads them) until the last row is done, and those pads must not show up in the text.
    """

    def __init__(self, tokenizer: Any, n_rows: int, stop_token_ids: Iterable[int],
                 skip_prompt: bool = True, timeout: float | None = None):
        self.tokenizer = tokenizer
        self.n_rows = n_rows
        self.stop_token_ids = frozenset(int(t) for t in stop_token_ids)
        self.timeout = timeout
        self.token_ids: list[list[int]] = [[] for _ in range(n_rows)]
        self.finished = [False] * n_rows
        self._texts = [""] * n_rows
        self._skip_next = skip_prompt  # generate() first puts the whole prompt
        self._queue: queue.Queue = queue.Queue()
        self.error: BaseException | None = None

    # -- called by generate() in the worker thread -------------------------------------------------
    def put(self, value: torch.Tensor) -> None:
        if self._skip_next:
            self._skip_next = False
            return
        tokens = value.reshape(-1).tolist()
        if len(tokens) != self.n_rows:
            raise ValueError(f"BatchTextStreamer expected {self.n_rows} tokens per step, got {len(tokens)}")
        changed = False
        for row, token in enumerate(tokens):
            if self.finished[row]:
                continue
            if token in self.stop_token_ids:
                self.finished[row] = True
            else:
                self.token_ids[row].append(int(token))
            changed = True
        if changed:
            self._queue.put(self.texts())

    def end(self) -> None:
        self._queue.put(_END)

    def fail(self, error: BaseException) -> None:
        """Hand an exception of the worker thread over to the consumer, who re-raises it."""
        self.error = error
        self._queue.put(_END)

    # -- consumer side -----------------------------------------------------------------------------
    def texts(self) -> list[str]:
        """Every row's text so far; an incomplete multi-byte character at the end is held back."""
        for row, ids in enumerate(self.token_ids):
            text = self.tokenizer.decode(ids, skip_special_tokens=True)
            if text.endswith("\ufffd") and not self.finished[row]:
                text = text.rstrip("\ufffd")
            self._texts[row] = text
        return list(self._texts)

    def final_texts(self) -> list[str]:
        return [self.tokenizer.decode(ids, skip_special_tokens=True) for ids in self.token_ids]

    def __iter__(self) -> Iterator[list[str]]:
        while True:
            item = self._queue.get(timeout=self.timeout)
            if item is _END:
                if self.error is not None:
                    raise self.error
                return
            # Skip stale ticks when the consumer is slower than the model: the UI wants the latest.
            while True:
                try:
                    newer = self._queue.get_nowait()
                except queue.Empty:
                    break
                if newer is _END:
                    yield item
                    if self.error is not None:
                        raise self.error
                    return
                item = newer
            yield item


class StopOnEvent(StoppingCriteria):
    """Ends generation for every row as soon as the event is set (the UI's Stop button)."""

    def __init__(self, event: threading.Event):
        self.event = event

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs) -> torch.BoolTensor:
        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool,
                          device=input_ids.device)
