"""One GenSettings drives the tabs' controls, the evaluation CLI's flags and the checks (no second bound)."""
from __future__ import annotations

import dataclasses

import gradio as gr
import pytest

from iacdemo.errors import ConfigError
from iacdemo.generation import gen_settings as gs
from iacdemo.generation.gen_settings import GenSettings
from iacdemo.ui import build_app
from tests.ui_support import isolated_settings


def _component(demo: gr.Blocks, elem_id: str):
    found = [b for b in demo.blocks.values() if getattr(b, "elem_id", None) == elem_id]
    assert len(found) == 1, f"{elem_id}: {len(found)} components"
    return found[0]


@pytest.fixture(scope="module")
def demo(settings, tmp_path_factory):
    return build_app(isolated_settings(settings, tmp_path_factory.mktemp("gen-ui"), max_new_tokens_cap=777))


@pytest.mark.parametrize("prefix, preset, names", [
    ("compare", gs.COMPARE, ["temperature", "top_p", "repetition_penalty", "max_new_tokens", "seed"]),
    ("doc", gs.DOC_COMPLETION, ["temperature", "repetition_penalty", "max_new_tokens", "seed"]),
])
def test_tab_controls_come_from_the_field_metadata_and_the_tabs_preset(demo, prefix, preset, names):
    settings = demo.iacdemo_context.settings
    for spec in gs.field_specs(settings):
        if spec.name not in names:
            continue
        component = _component(demo, f"{prefix}-{spec.name.replace('_', '-')}")
        assert component.label == spec.label
        if spec.widget == "slider":
            assert (component.minimum, component.maximum, component.step) == (spec.low, spec.high, spec.step)
            assert component.value == getattr(preset, spec.name)
        elif spec.widget == "number":
            assert component.value == getattr(preset, spec.name) and spec.describe() in component.info
        else:
            assert component.value == str(getattr(preset, spec.name))
    # the cap is a deployment setting: the form says the app's, not a number written in a tab
    assert "between 1 and 777" in _component(demo, f"{prefix}-max-new-tokens").info


def test_presets_differ_only_where_declared_and_evaluation_uses_its_preset():
    from iacdemo.evaluation.answers import DEFAULT_MAX_NEW_TOKENS

    assert (gs.COMPARE.max_new_tokens, gs.DOC_COMPLETION.max_new_tokens, gs.EVALUATION.max_new_tokens) == (256, 96, 512)
    assert DEFAULT_MAX_NEW_TOKENS == gs.EVALUATION.max_new_tokens
    for preset in gs.PRESETS.values():
        preset.validated()
        same = {k: v for k, v in dataclasses.asdict(preset).items() if k != "max_new_tokens"}
        assert same == {k: v for k, v in dataclasses.asdict(GenSettings()).items() if k != "max_new_tokens"}


def test_from_values_takes_blanks_from_the_preset_and_refuses_unknown_names():
    gen = GenSettings.from_values({"max_new_tokens": " ", "temperature": "0.5", "seed": ""}, gs.DOC_COMPLETION)
    assert gen == dataclasses.replace(gs.DOC_COMPLETION, temperature=0.5, seed=None)
    with pytest.raises(ConfigError, match="Unknown generation setting"):
        GenSettings.from_values({"top_k": 5})
    with pytest.raises(ConfigError, match="Max new tokens must be a whole number between 1 and 64"):
        GenSettings.from_values({"max_new_tokens": 65}, settings=gs.get_settings().with_overrides(max_new_tokens_cap=64))


def test_validated_refuses_what_code_passes_directly():
    with pytest.raises(ConfigError, match="Top-p must be a number between 0.05 and 1"):
        GenSettings(top_p=0.0).validated()
    with pytest.raises(ConfigError, match="Max new tokens .* a value is required"):
        GenSettings(max_new_tokens=None).validated()
    with pytest.raises(ConfigError, match="yes/no"):
        GenSettings(temperature=True).validated()
    assert GenSettings(seed=None).validated().seed is None  # no seed = a random one


def test_evaluate_cli_flags_are_generated_from_the_same_fields(settings):
    from train.evaluate import generation_settings, parse_args

    base = ["--answers", "generate", "--out", "x.json"]
    parser_flags = {a.dest for a in _evaluate_parser()._actions}
    assert {f.name for f in dataclasses.fields(GenSettings)} <= parser_flags
    gen = generation_settings(parse_args(base), settings)
    assert gen == gs.EVALUATION
    gen = generation_settings(parse_args(base + ["--top-p", "0.5", "--repetition-penalty", "1.3", "--samples", "3",
                                                 "--seed", "7"]), settings)
    assert (gen.top_p, gen.repetition_penalty, gen.temperature, gen.seed) == (0.5, 1.3, 0.7, 7)
    with pytest.raises(ConfigError) as cli_error:
        generation_settings(parse_args(base + ["--temperature", "5"]), settings)
    with pytest.raises(ConfigError) as form_error:
        GenSettings.from_form(temperature="5", settings=settings)
    assert str(cli_error.value) == str(form_error.value)  # one message for the CLI and the form


def _evaluate_parser():
    import argparse

    import train.evaluate as evaluate

    captured = {}
    original = argparse.ArgumentParser.parse_args

    def capture(self, args=None, namespace=None):
        captured["parser"] = self
        return original(self, args, namespace)

    argparse.ArgumentParser.parse_args = capture
    try:
        evaluate.parse_args(["--answers", "reference", "--out", "x"])
    finally:
        argparse.ArgumentParser.parse_args = original
    return captured["parser"]
