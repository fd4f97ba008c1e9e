"""The one parser for numbers a user typed (form boxes, text fields, hand-edited configs).

Every form in the app gets numbers as ints, floats or strings (a Gradio Number box, a Textbox, a JSON
file), and every one of them must refuse the same things with the same kind of message: what was typed,
what was expected and the allowed range. Keeping that in one function means a fix (say, refusing NaN)
reaches every form at once and the messages read alike across tabs.
"""
from __future__ import annotations

import math
import numbers
from typing import Any

from iacdemo.errors import ConfigError

_SHOWN_CHARS = 40  # a pasted essay should not become the error message
_REQUIRED: Any = object()  # sentinel: no default given, so a blank value is an error


def is_blank(value: Any) -> bool:
    """None or a string of only spaces: what an untouched or cleared form box sends."""
    return value is None or (isinstance(value, str) and not value.strip())


def parse_number(label: str, value: Any, *, low: float | None = None, high: float | None = None,
                 integer: bool = False, default: Any = _REQUIRED) -> int | float | None:
    """`value` as an int (`integer=True`) or a float, or raise ConfigError naming `label`.

    Accepts ints, floats and numeric strings with surrounding spaces ("  12 ", "3e-4", "16.0" for a
    whole number). Refuses booleans (a checkbox wired to the wrong box is a bug the user should see),
    NaN, infinities, non-numbers, numbers with a fraction when `integer` is set, and numbers outside
    `[low, high]` (both inclusive, either optional). A blank value (None or spaces) returns `default`
    when one is given and is an error otherwise.
    """
    expected = describe(integer, low, high)

    def refuse(problem: str, wanted: str = expected) -> ConfigError:
        return ConfigError(f"{label} must be {wanted}; you typed {_shown(value)}, which {problem}.")

    if is_blank(value):
        if default is not _REQUIRED:
            return default
        raise ConfigError(f"{label} must be {expected}; a value is required, but nothing was typed.")
    number = _to_number(value)
    if number is None:
        # "must be a number" first whatever the field: that is the one thing to fix.
        wanted = expected if expected.startswith("a number") else f"a number ({expected})"
        raise refuse("is a yes/no value, not a number" if isinstance(value, bool) else "is not a number", wanted)
    if isinstance(number, float) and not math.isfinite(number):  # ints are always finite (and may not fit a float)
        raise refuse("is not a finite number")
    if integer:
        if isinstance(number, float) and not number.is_integer():
            raise refuse("is not a whole number")
        number = int(number)
    else:
        try:
            number = float(number)
        except OverflowError:  # an int beyond any float: as useless as infinity here
            raise refuse("is not a finite number") from None
    if low is not None and number < low:
        raise refuse("is below the minimum")
    if high is not None and number > high:
        raise refuse("is above the maximum")
    return number


def describe(integer: bool, low: float | None, high: float | None) -> str:
    """What a field accepts, in words: "a whole number between 1 and 10", "a number of at least 0"."""
    kind = "a whole number" if integer else "a number"
    if low is not None and high is not None:
        return f"{kind} between {format_number(low)} and {format_number(high)}"
    if low is not None:
        return f"{kind} of at least {format_number(low)}"
    if high is not None:
        return f"{kind} of at most {format_number(high)}"
    return kind


def format_number(number: float) -> str:
    """Bounds and typed numbers as a person writes them: 1000, not 1000.0; 1e-08 stays 1e-08."""
    if isinstance(number, float) and number.is_integer() and abs(number) < 1e16:
        return str(int(number))
    return repr(number) if isinstance(number, float) else str(number)


def _to_number(value: Any) -> int | float | None:
    """The number inside `value`, or None when there is none. Ints stay ints so big ones stay exact."""
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if not isinstance(value, str):
        return None
    text = value.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return None


def _shown(value: Any) -> str:
    """The typed value as the message shows it: strings quoted (spaces visible), numbers plain, long ones cut."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        try:
            text = format_number(value if isinstance(value, (int, float)) else float(value))
        except (ValueError, OverflowError):  # an int too long to print
            return "a number with thousands of digits"
    else:
        text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "…"
