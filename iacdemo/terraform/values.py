"""The values the plan emulator computes with, and the limits on them.

Both the expression evaluator (`expressions.py`) and Terraform's built-in functions (`functions.py`)
work on these: the unknown value, partial objects, the size limits and the per-scoring budget. They
live here so that each of the two can import them without importing the other.
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping


class _Unknown:
    """A value known only after apply (Terraform's unknown value)."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __bool__(self) -> bool:  # guard against accidental truthiness tests
        raise TypeError("UNKNOWN has no truth value")


UNKNOWN: Any = _Unknown()


class EvalError(Exception):
    """An expression that Terraform itself would reject or that we cannot evaluate."""


class LimitError(EvalError):
    """A value too large to emulate (a huge number, string or collection): an error, as a failed call."""


class BudgetExceeded(Exception):
    """A scoring ran out of its time or work budget.

    Deliberately not an `EvalError`: `try()`/`can()` and the plan's own error handling must not swallow
    it, so the whole scoring ends and the answer scores as an error with this message.
    """


# Limits that keep one answer from hanging or exhausting the scorer. Terraform itself has none of the
# size limits, but no plausible program comes near them; the budget is cooperative (checked at every
# expression node), so Python-level loops stop within milliseconds of the deadline, and C-level work
# (regex, big integers, string building) is bounded by the size limits.
SCORING_SECONDS = 10.0
SCORING_STEPS = 2_000_000  # expression nodes evaluated per scoring
MAX_STRING_CHARS = 1_000_000
MAX_COLLECTION_ITEMS = 100_000
MAX_NUMBER_BITS = 1024  # about 1e308: beyond that a number is surely a mistake (or an attack)


@dataclass
class _Budget:
    deadline: float
    steps_left: int
    seconds: float
    steps: int


_local = threading.local()


@contextmanager
def scoring_budget(seconds: float = SCORING_SECONDS, steps: int = SCORING_STEPS):
    """Bound the evaluation done inside (per thread); a nested call shares the outer budget."""
    outer = getattr(_local, "budget", None)
    if outer is not None:
        yield outer
        return
    budget = _Budget(time.monotonic() + seconds, steps, seconds, steps)
    _local.budget = budget
    try:
        yield budget
    finally:
        _local.budget = None


def check_budget() -> None:
    """Count one unit of work; raise BudgetExceeded once the steps or the time are used up."""
    budget = getattr(_local, "budget", None)
    if budget is None:
        return
    budget.steps_left -= 1
    if budget.steps_left < 0:
        raise BudgetExceeded(f"the emulated plan needs more than {budget.steps:,} evaluation steps "
                             "(nested loops over large collections?); scoring stopped")
    if budget.steps_left % 256 == 0 and time.monotonic() > budget.deadline:
        raise BudgetExceeded(f"the emulated plan took longer than {budget.seconds:g} s; scoring stopped")


def check_size(value: Any) -> Any:
    """Refuse values beyond the size limits (LimitError), so no single step can take unbounded memory."""
    if isinstance(value, str):
        if len(value) > MAX_STRING_CHARS:
            raise LimitError(f"a string of {len(value):,} characters is longer than the emulator's limit "
                             f"of {MAX_STRING_CHARS:,}")
    elif isinstance(value, int) and not isinstance(value, bool):
        if value.bit_length() > MAX_NUMBER_BITS:
            raise LimitError("a number beyond about 1e308 is out of the emulator's range")
    elif isinstance(value, (list, dict)) and len(value) > MAX_COLLECTION_ITEMS:
        raise LimitError(f"a collection of {len(value):,} elements is larger than the emulator's limit "
                         f"of {MAX_COLLECTION_ITEMS:,}")
    return value


class PartialObject(dict):
    """A resource's attributes: the ones set in configuration, anything else unknown until apply.

    With a `placeholder` address, unknown attributes read as the string `(known after apply: ADDR.KEY)`
    instead: the "what if every unknown were known" plan used to tell why a reference fails.
    """

    placeholder: str | None = None

    def __missing__(self, key):
        if self.placeholder:
            return f"(known after apply: {self.placeholder}.{key})"
        return UNKNOWN


class LazyMapping(Mapping):
    """A namespace (`local`, a resource type, `data`) whose members are evaluated on first use.

    Lazy because locals and resources refer to each other in any order; a member that is being
    evaluated while it is looked up again (a cycle) reads as unknown instead of recursing forever.
    """

    def __init__(self, keys: Iterable[str], compute: Callable[[str], Any]):
        self._keys = list(dict.fromkeys(keys))
        self._compute = compute
        self._cache: dict[str, Any] = {}
        self._busy: set[str] = set()

    def __getitem__(self, key):
        if key in self._cache:
            return self._cache[key]
        if key not in self._keys:
            raise KeyError(key)
        if key in self._busy:
            return UNKNOWN
        self._busy.add(key)
        try:
            value = self._compute(key)
        finally:
            self._busy.discard(key)
        self._cache[key] = value
        return value

    def __iter__(self):
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


def contains_unknown(value: Any) -> bool:
    check_budget()  # shared sub-lists make this walk as long as the expanded value
    if value is UNKNOWN:
        return True
    if isinstance(value, list):
        return any(contains_unknown(v) for v in value)
    if isinstance(value, PartialObject):
        return value.placeholder is None or any(contains_unknown(v) for v in value.values())
    if isinstance(value, dict):
        return any(contains_unknown(v) for v in value.values())
    if isinstance(value, LazyMapping):
        return True
    return False


def to_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return format_number(value)
    if value is None:
        raise EvalError("cannot interpolate null")
    raise EvalError(f"cannot convert {type(value).__name__} to string")


def format_number(value: float | int) -> str:
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return repr(value)
    return str(value)
