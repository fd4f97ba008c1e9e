"""The one description of decoding settings: every tab's controls, the CLI flags and the checks.

`GenSettings` is to generation what `TrainConfig` is to training: each field carries its label, help,
bounds and widget in its metadata, and the Compare and Doc-completion controls, the flags of
`train/evaluate.py` and `validated()` are all generated from it. A bound written once cannot disagree
with itself across three tabs. Tabs that want other defaults (a doc continuation is short, an IaC-Eval
answer is long) take one of the named presets declared below, never a constant of their own.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from iacdemo.errors import ConfigError
from iacdemo.number_input import describe, parse_number
from iacdemo.settings import Settings, get_settings

MAX_SEED = 2**32 - 1
CAP = "max_new_tokens_cap"  # a bound read from Settings (the app's cap on answer length)


def _g(default: Any, label: str, help: str, *, low: float | None, high: float | str | None, integer: bool = False,
       widget: str = "number", step: float | None = None, blank_is_none: bool = False):
    """A field with what the form, the CLI and the checks need: label, help, bounds and widget.

    `high` may name a Settings attribute (CAP) when the bound is a deployment setting. With
    `blank_is_none`, a cleared box means None (the seed: blank = a random seed), else the preset's value.
    """
    meta = {"label": label, "help": help, "low": low, "high": high, "integer": integer, "widget": widget,
            "step": step, "blank_is_none": blank_is_none}
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class GenSettings:
    """Decoding settings shared by every column (the comparison is only fair with the same ones).

    temperature 0 means greedy. The default repetition penalty is above 1 because small models
    decoding greedily fall into loops (the same resource block over and over) within a few lines. It
    stays low (1.1) because the penalty also hits the prompt's tokens: at 1.2 the quick-demo adapter no
    longer repeats `aws_dynamodb_contributor_insights` from a doc-completion prompt, at 1.1 it does.
    """

    temperature: float = _g(0.0, "Temperature", "0 = greedy (the same answer every time); higher = more varied",
                            low=0.0, high=2.0, widget="slider", step=0.05)
    top_p: float = _g(0.95, "Top-p", "Sample only from the most likely tokens covering this probability "
                      "(used when temperature > 0)", low=0.05, high=1.0, widget="slider", step=0.05)
    max_new_tokens: int = _g(256, "Max new tokens", "Longest answer, in tokens", low=1, high=CAP, integer=True)
    repetition_penalty: float = _g(1.1, "Repetition penalty", "1 = off; small models loop without a little",
                                   low=1.0, high=2.0, widget="slider", step=0.05)
    seed: int | None = _g(42, "Seed", "Same seed, same answer; blank = random", low=0, high=MAX_SEED,
                          integer=True, widget="text", blank_is_none=True)

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0

    def validated(self, settings: Settings | None = None) -> "GenSettings":
        """Return self if every value is in range, else raise ConfigError naming the setting."""
        for spec in field_specs(settings):
            value = getattr(self, spec.name)
            if not (value is None and spec.blank_is_none):
                spec.parse(value)  # a blank value here is an error: code must say what it means
        return self

    @classmethod
    def from_values(cls, values: Mapping[str, Any], preset: "GenSettings | None" = None,
                    settings: Settings | None = None) -> "GenSettings":
        """From form boxes or CLI flags (numbers or strings); missing or blank values take the preset's."""
        preset = preset or cls()
        specs = {s.name: s for s in field_specs(settings)}
        unknown = set(values) - set(specs)
        if unknown:
            raise ConfigError(f"Unknown generation setting(s): {', '.join(sorted(unknown))}.")
        parsed = {name: specs[name].parse(raw, default=None if specs[name].blank_is_none else getattr(preset, name))
                  for name, raw in values.items()}
        return dataclasses.replace(preset, **parsed).validated(settings)

    @classmethod
    def from_form(cls, temperature: Any = None, top_p: Any = None, max_new_tokens: Any = None,
                  repetition_penalty: Any = None, seed: Any = None, settings: Settings | None = None,
                  preset: "GenSettings | None" = None) -> "GenSettings":
        """Build from UI widgets (blank means the preset's value; a blank seed means random)."""
        return cls.from_values({"temperature": temperature, "top_p": top_p, "max_new_tokens": max_new_tokens,
                                "repetition_penalty": repetition_penalty, "seed": seed}, preset, settings)

    def generation_config(self, session: Any) -> Any:
        """A GenerationConfig for `generate`, starting from the model's own (bos/eos/pad ids)."""
        config = copy.deepcopy(session.base_model.generation_config)
        config.max_new_tokens = self.max_new_tokens
        config.max_length = None
        config.min_new_tokens = None
        config.do_sample = not self.greedy
        config.temperature = None if self.greedy else self.temperature
        config.top_p = None if self.greedy else self.top_p
        config.top_k = None
        config.repetition_penalty = self.repetition_penalty if self.repetition_penalty != 1.0 else None
        config.num_beams = 1
        config.pad_token_id = session.tokenizer.pad_token_id
        config.eos_token_id = sorted(session.stop_token_ids())
        return config


# -- presets: the only place a tab's defaults differ ------------------------------------------------------
COMPARE = GenSettings()  # a chat answer with one Terraform program
DOC_COMPLETION = GenSettings(max_new_tokens=96)  # a few lines of docs: enough to see the style, fast on a CPU
EVALUATION = GenSettings(max_new_tokens=512)  # most IaC-Eval dev-split reference programs fit in 300-500 tokens
PRESETS = {"compare": COMPARE, "doc-completion": DOC_COMPLETION, "evaluation": EVALUATION}


# -- field specs ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GenFieldSpec:
    """One setting as the form and the CLI present it, with its bounds resolved against Settings."""

    name: str
    label: str
    help: str
    low: float | None
    high: float | None
    integer: bool
    widget: str  # "slider", "number" or "text"
    step: float | None
    blank_is_none: bool

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def describe(self) -> str:
        """'a number between 0 and 2' (for help texts and the form's info line)."""
        return describe(self.integer, self.low, self.high)

    def parse(self, value: Any, **default: Any) -> Any:
        """The number in `value` within bounds; blank is an error unless `default=` is given."""
        return parse_number(self.label, value, low=self.low, high=self.high, integer=self.integer, **default)


def field_specs(settings: Settings | None = None) -> list[GenFieldSpec]:
    """One spec per field, in form order; a bound naming a Settings attribute is read from `settings`."""
    settings = settings or get_settings()
    specs = []
    for f in dataclasses.fields(GenSettings):
        m = f.metadata
        high = getattr(settings, m["high"]) if isinstance(m["high"], str) else m["high"]
        specs.append(GenFieldSpec(f.name, m["label"], m["help"], m["low"], high, m["integer"], m["widget"],
                                  m["step"], m["blank_is_none"]))
    return specs


def spec(name: str, settings: Settings | None = None) -> GenFieldSpec:
    for s in field_specs(settings):
        if s.name == name:
            return s
    raise KeyError(name)


# -- CLI ------------------------------------------------------------------------------------------------
def add_cli_flags(parser: argparse.ArgumentParser, preset: GenSettings, names: Sequence[str] | None = None,
                  notes: Mapping[str, str] | None = None, settings: Settings | None = None) -> None:
    """Add `--temperature`, `--max-new-tokens`, … (all fields, or `names`) to a script's parser.

    Flags default to None (= not given), so the script can tell a typed value from the preset's;
    `values_from_cli` keeps only the given ones. `notes` replaces a flag's default text in its help
    (e.g. a default that depends on another flag).
    """
    group = parser.add_argument_group("generation settings")
    for s in field_specs(settings):
        if names is not None and s.name not in names:
            continue
        default = (notes or {}).get(s.name) or f"default {getattr(preset, s.name)}"
        group.add_argument(s.flag, dest=s.name, default=None, metavar=s.name.upper().split("_")[-1],
                           help=f"{s.help[0].lower()}{s.help[1:]}: {s.describe()} ({default})")


def values_from_cli(args: argparse.Namespace) -> dict[str, Any]:
    """The generation flags the user gave (raw strings; `GenSettings.from_values` checks them)."""
    names = {f.name for f in dataclasses.fields(GenSettings)}
    return {name: value for name, value in vars(args).items() if name in names and value is not None}
