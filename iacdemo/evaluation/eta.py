"""How long an evaluation takes on this machine: measured speeds, a forecast, and a live ETA.

On a CPU an evaluation of a few tasks runs for minutes to an hour, and a label that says "Answer 1/9"
for ten minutes tells nobody anything. Time goes to two things with different costs: reading the
prompt (prefill; a retrieval-grounded prompt is ~1,700 tokens, a plain one ~200) and generating
(one decode step per new token for the whole batch). So the forecast counts both, from speeds
measured on this machine with the loaded model: by earlier batches of this process (`SPEEDS`), or by
a short calibration batch. Answers may stop early (end of sequence), so the upper bound assumes every
answer runs to the token limit and the typical figure uses the share of the limit answers used so far.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Sequence

DEFAULT_STEP_SHARE = 1.0  # before any answer finished, assume each runs to the limit


@dataclass(frozen=True)
class Speed:
    """Measured rates of one model on this machine."""

    prefill_tokens_per_s: float  # prompt tokens read per second (all rows of a batch together)
    decode_steps_per_s: float  # decode steps per second; each step gives every row of the batch a token
    batches: int = 0  # how many batches it was measured on

    def batch_seconds(self, prompt_tokens: Sequence[int], steps: float) -> float:
        """Left-padded prompts are read at their longest length, so a batch's prefill is rows x longest."""
        if not prompt_tokens:
            return 0.0
        prefill = len(prompt_tokens) * max(prompt_tokens) / max(self.prefill_tokens_per_s, 1e-9)
        return prefill + steps / max(self.decode_steps_per_s, 1e-9)


class SpeedBook:
    """Speeds per model, summed over every batch measured in this process (so they settle, not jump)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sums: dict[str, list[float]] = {}  # model -> [prefill tokens, prefill s, steps, decode s, batches]

    def record(self, model: str, prefill_tokens: int, prefill_s: float, steps: int, decode_s: float) -> None:
        if prefill_s <= 0 or decode_s <= 0 or steps <= 0 or prefill_tokens <= 0:
            return  # a batch stopped before its first token teaches nothing
        with self._lock:
            sums = self._sums.setdefault(model, [0.0, 0.0, 0.0, 0.0, 0.0])
            for i, value in enumerate((prefill_tokens, prefill_s, steps, decode_s, 1)):
                sums[i] += value

    def get(self, model: str) -> Speed | None:
        with self._lock:
            sums = self._sums.get(model)
            if not sums:
                return None
            return Speed(sums[0] / sums[1], sums[2] / sums[3], int(sums[4]))

    def forget(self, model: str) -> None:
        with self._lock:
            self._sums.pop(model, None)


SPEEDS = SpeedBook()


@dataclass(frozen=True)
class Forecast:
    """How long the answers still to generate will take (cached ones cost nothing)."""

    answers: int  # to generate
    cached: int
    prompt_tokens: int  # all prompts to read
    max_new_tokens: int  # the per-answer limit
    typical_s: float
    upper_s: float
    speed: Speed | None

    def text(self) -> str:
        if self.answers == 0:
            return f"All {self.cached} answers are cached: scoring only, a few seconds."
        cached = f" ({self.cached} more cached)" if self.cached else ""
        head = (f"{self.answers} answers to generate{cached}, {self.prompt_tokens:,} prompt tokens to read, "
                f"up to {self.max_new_tokens} new tokens each.")
        if self.speed is None:
            return head + " Speed not measured yet."
        rates = (f"measured here: {self.speed.prefill_tokens_per_s:,.0f} prompt tokens/s, "
                 f"{self.speed.decode_steps_per_s:.1f} decode steps/s")
        if abs(self.upper_s - self.typical_s) < 30:
            return f"{head} About {format_duration(self.upper_s)} on this machine ({rates})."
        return (f"{head} About {format_duration(self.typical_s)} on this machine, up to "
                f"{format_duration(self.upper_s)} if every answer runs to the limit ({rates}).")


def forecast(batches: Sequence[Sequence[int]], max_new_tokens: int, speed: Speed | None, *, cached: int = 0,
             step_share: float = DEFAULT_STEP_SHARE) -> Forecast:
    """`batches`: the prompt lengths (tokens) of each batch still to generate, in order."""
    answers = sum(len(b) for b in batches)
    prompt_tokens = sum(sum(b) for b in batches)
    if speed is None:
        return Forecast(answers, cached, prompt_tokens, max_new_tokens, 0.0, 0.0, None)
    upper = sum(speed.batch_seconds(b, max_new_tokens) for b in batches)
    typical = sum(speed.batch_seconds(b, max_new_tokens * step_share) for b in batches)
    return Forecast(answers, cached, prompt_tokens, max_new_tokens, typical, upper, speed)


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        minutes, rest = divmod(seconds, 60)
        return f"{minutes} min {rest:02d} s" if minutes < 10 else f"{round(seconds / 60)} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class RunClock:
    """Live progress of a generation run, per generated token, with an ETA from this run's own speed.

    The ETA is the forecast of the remaining batches, re-made with the speeds measured so far in this
    run (before the first token: the speed book's, if any), plus what is left of the running batch.
    """

    def __init__(self, batches: Sequence[Sequence[int]], max_new_tokens: int, *, cached: int = 0,
                 prior: Speed | None = None, clock=time.perf_counter):
        self.batches = [list(b) for b in batches]
        self.max_new_tokens = max_new_tokens
        self.cached = cached
        self.prior = prior
        self._clock = clock
        self.started = clock()
        self.batch = -1  # index of the running (or last) batch
        self.running = False
        self._batch_started = self.started
        self._first_token_at: float | None = None
        self._steps = 0  # decode steps of the running batch
        self._tokens = 0  # new tokens of the running batch (all rows)
        self.tokens_done = 0  # new tokens of finished batches
        self.answers_done = 0
        self._sums = [0.0, 0.0, 0.0, 0.0]  # this run: prefill tokens, prefill s, steps, decode s
        self._steps_used = [0, 0]  # decode steps used, allowed: the share of the limit answers need

    @property
    def total_answers(self) -> int:
        return sum(len(b) for b in self.batches)

    def start_batch(self, index: int) -> None:
        self.batch, self.running = index, True
        self._batch_started = self._clock()
        self._first_token_at = None
        self._steps = self._tokens = 0

    def tick(self, steps: int, tokens: int) -> None:
        """The running batch has done `steps` decode steps and `tokens` new tokens over all its rows."""
        if steps > 0 and self._first_token_at is None:
            self._first_token_at = self._clock()
        self._steps, self._tokens = steps, tokens

    def end_batch(self, steps: int, tokens: int) -> tuple[int, float, int, float]:
        """Close the running batch; its (prefill tokens, prefill s, steps, decode s) for the speed book."""
        now = self._clock()
        rows = self.batches[self.batch]
        first = self._first_token_at if self._first_token_at is not None else now
        # the first token comes out of the prefill pass: time to it is reading the prompt
        measured = (len(rows) * max(rows), first - self._batch_started, max(steps - 1, 0), now - first)
        if measured[1] > 0 and measured[2] > 0 and measured[3] > 0:
            for i, value in enumerate(measured):
                self._sums[i] += value
        self._steps_used[0] += steps
        self._steps_used[1] += self.max_new_tokens
        self.tokens_done += tokens
        self.answers_done += len(rows)
        self._steps = self._tokens = 0
        self.running, self._first_token_at = False, None
        return measured

    def speed(self) -> Speed | None:
        """This run's speeds once measured (a batch done, or the running one past its first tokens)."""
        prefill_tokens, prefill_s, steps, decode_s = self._sums
        if self._first_token_at is not None and self.running:
            now = self._clock()
            if prefill_s == 0:
                rows = self.batches[self.batch]
                prefill_tokens, prefill_s = len(rows) * max(rows), self._first_token_at - self._batch_started
            if self._steps > 1:
                steps, decode_s = steps + self._steps - 1, decode_s + now - self._first_token_at
        if prefill_s > 0 and decode_s > 0 and steps > 0:
            return Speed(prefill_tokens / prefill_s, steps / decode_s)
        return self.prior

    def step_share(self) -> float:
        used, allowed = self._steps_used
        return used / allowed if allowed else DEFAULT_STEP_SHARE

    def eta_s(self) -> float | None:
        speed = self.speed()
        if speed is None:
            return None
        share = self.step_share()
        remaining = sum(speed.batch_seconds(b, self.max_new_tokens * share) for b in self.batches[self.batch + 1:])
        if self.running:
            rows = self.batches[self.batch]
            left_steps = max(self.max_new_tokens * share, self._steps + 1) - self._steps
            if self._first_token_at is None:  # still reading the prompt
                spent = self._clock() - self._batch_started
                remaining += max(speed.batch_seconds(rows, 0) - spent, 0) + left_steps / speed.decode_steps_per_s
            else:
                remaining += left_steps / speed.decode_steps_per_s
        return remaining

    def fraction(self) -> float:
        """Share of the run done, by time: elapsed over elapsed plus ETA (answers alone mislead)."""
        elapsed = self._clock() - self.started
        eta = self.eta_s()
        if eta is None:
            return self.answers_done / self.total_answers if self.total_answers else 1.0
        return min(1.0, elapsed / (elapsed + eta)) if elapsed + eta > 0 else 1.0

    def message(self, tasks: tuple[int, int] | None = None, n_tasks: int = 0) -> str:
        """`tasks`: the first and last task number (1-based) of the running batch."""
        elapsed = self._clock() - self.started
        tokens = self.tokens_done + self._tokens
        running = len(self.batches[self.batch]) if self.running else 0
        first, last = self.answers_done + 1, self.answers_done + running
        parts = [f"Answers {first}–{last}/{self.total_answers}" if running > 1
                 else f"Answer {min(first, self.total_answers)}/{self.total_answers}"]
        if tasks and n_tasks and running:
            first_task, last_task = tasks
            parts[0] += (f" (task {first_task}/{n_tasks})" if first_task == last_task
                         else f" (tasks {first_task}–{last_task}/{n_tasks})")
        if self.running and self._first_token_at is None:
            parts.append(f"reading {sum(self.batches[self.batch]):,} prompt tokens")
        parts.append(f"{tokens:,} tokens generated")
        speed = self.speed()
        if speed is not None and running:
            parts.append(f"{speed.decode_steps_per_s * running:.1f} tok/s")
        if self.cached:
            parts.append(f"{self.cached} cached")
        parts.append(f"{format_duration(elapsed)} elapsed")
        eta = self.eta_s()
        parts.append(f"ETA about {format_duration(eta)}" if eta is not None else "ETA: measuring speed…")
        return " · ".join(parts)


__all__ = ["Forecast", "RunClock", "SPEEDS", "Speed", "SpeedBook", "forecast", "format_duration"]
