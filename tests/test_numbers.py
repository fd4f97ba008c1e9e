"""The shared parser of user-typed numbers, and that every form that takes numbers goes through it."""
from __future__ import annotations

import pytest

from iacdemo.errors import ConfigError
from iacdemo.generation.side_by_side import GenSettings
from iacdemo.number_input import describe, format_number, parse_number
from iacdemo.training.config import TrainConfig
from iacdemo.ui.state import AppContext
from iacdemo.ui.tabs import data_tab, evaluate_tab


@pytest.mark.parametrize("value, kwargs, expected", [
    (3, {}, 3.0), ("  12 ", {"integer": True}, 12), ("3e-4", {}, 3e-4), ("16.0", {"integer": True}, 16),
    (16.0, {"integer": True}, 16), (" -2.5 ", {}, -2.5), ("10", {"low": 10, "high": 10, "integer": True}, 10),
    (0, {"low": 0}, 0.0), (10**30, {"integer": True}, 10**30), ("123456789012345678901", {"integer": True},
                                                                   123456789012345678901),
])
def test_accepts_numbers_and_numeric_text(value, kwargs, expected):
    result = parse_number("Field", value, **kwargs)
    assert result == expected
    assert type(result) is (int if kwargs.get("integer") else float)


@pytest.mark.parametrize("value, kwargs, words", [
    ("abc", {}, "Field must be a number; you typed 'abc', which is not a number."),
    ("x", {"integer": True, "low": 1, "high": 5},
     "Field must be a number (a whole number between 1 and 5); you typed 'x', which is not a number."),
    (True, {}, "you typed True, which is a yes/no value, not a number"),
    ([1], {}, "you typed [1], which is not a number"),
    ("1,5", {}, "not a number"),
    ("nan", {}, "you typed 'nan', which is not a finite number"),
    (float("inf"), {}, "you typed inf, which is not a finite number"),
    ("-inf", {"low": 0}, "must be a number of at least 0; you typed '-inf', which is not a finite number"),
    pytest.param(10**400, {}, "you typed 1000000000000000000000000000000000000000…, which is not a finite number",
                 id="int-beyond-float"),
    pytest.param(10**5000, {}, "you typed a number with thousands of digits, which is not a finite number",
                 id="int-too-long-to-print"),
    ("2.5", {"integer": True}, "Field must be a whole number; you typed '2.5', which is not a whole number."),
    (0, {"low": 1, "high": 10, "integer": True},
     "Field must be a whole number between 1 and 10; you typed 0, which is below the minimum."),
    ("5", {"low": 1e-8, "high": 1.0}, "must be a number between 1e-08 and 1; you typed '5', which is above the maximum"),
    (5000.0, {"high": 2048, "integer": True}, "whole number of at most 2048; you typed 5000, which is above the maximum"),
    (None, {"integer": True, "low": 16}, "Field must be a whole number of at least 16; a value is required"),
    ("   ", {}, "a value is required, but nothing was typed"),
])
def test_refusals_say_what_was_typed_and_what_is_expected(value, kwargs, words):
    with pytest.raises(ConfigError) as error:
        parse_number("Field", value, **kwargs)
    assert words in str(error.value)


def test_a_pasted_essay_is_cut_in_the_message():
    with pytest.raises(ConfigError) as error:
        parse_number("Field", "x" * 10_000)
    assert len(str(error.value)) < 200 and "…" in str(error.value)


def test_blank_gives_the_default_only_when_one_is_given():
    assert parse_number("Seed", "  ", integer=True, default=None) is None
    assert parse_number("Count", None, low=0, integer=True, default=0) == 0
    assert parse_number("Seed", " 7 ", integer=True, default=None) == 7
    with pytest.raises(ConfigError, match="a value is required"):
        parse_number("Seed", "", integer=True)


def test_bounds_read_like_a_person_wrote_them():
    assert format_number(1000.0) == "1000" and format_number(1e-8) == "1e-08" and format_number(0.9) == "0.9"
    assert format_number(2**31 - 1) == "2147483647"
    assert describe(True, 1, None) == "a whole number of at least 1"
    assert describe(False, None, 2.0) == "a number of at most 2"


# ---- every form with numbers speaks through parse_number ------------------------------------------------
def _message(call) -> str:
    with pytest.raises(ConfigError) as error:
        call()
    return str(error.value)


def test_all_forms_give_the_same_kind_of_message(tmp_path):
    ctx = AppContext()
    messages = {
        "data": _message(lambda: data_tab.parse_seq_len(" 12.5 ")),
        "compare": _message(lambda: GenSettings.from_form(seed="not-a-number")),
        "evaluate": _message(lambda: evaluate_tab.tasks_from_form(ctx, [1], "2.5")),
        "train": _message(lambda: TrainConfig.from_form({"dataset": str(tmp_path), "batch_size": "2.5"})),
    }
    assert messages["data"] == "Sequence length (tokens) must be a whole number; you typed ' 12.5 ', " \
                               "which is not a whole number."
    assert messages["compare"].startswith("Seed must be a number")
    assert messages["evaluate"].startswith("Number of tasks must be a whole number of at least 0")
    assert messages["train"] == ("Batch size (batch_size) must be a whole number between 1 and 4096; "
                                 "you typed '2.5', which is not a whole number.")
    assert all("you typed" in m for m in messages.values())


def test_train_config_bounds_hold_for_forms_and_hand_edited_configs(tmp_path):
    config = TrainConfig.from_form({"dataset": str(tmp_path), "lora_r": " 8 ", "lr": "1e-3"})
    assert config.lora_r == 8 and type(config.lora_r) is int and config.lr == 1e-3
    assert "below the minimum" in _message(lambda: TrainConfig(dataset=str(tmp_path), lora_r=0).validate())
    assert "not a finite number" in _message(lambda: TrainConfig(dataset=str(tmp_path), lr=float("inf")).validate())
    text_number = TrainConfig.from_dict({"dataset": str(tmp_path), "lr": "3e-4"})
    assert _message(text_number.validate) == "Learning rate (lr) must be a number, not the text '3e-4'."


def test_evaluate_form_blank_count_means_all_and_bounds_are_checked(settings):
    ctx = AppContext(settings)
    assert len(evaluate_tab.tasks_from_form(ctx, [6], " ")) == len(evaluate_tab.tasks_from_form(ctx, [6], 0)) > 0
    assert "Samples per task must be a whole number between 1 and" in _message(
        lambda: evaluate_tab.run_generation(ctx, ["base"], None, [1], 1, 11, 8))
