"""Generation-setting widgets made from `GenSettings`' field metadata (no tab writes a bound of its own).

A tab asks for the fields it shows, under its preset, and gets the components back by field name in
form order; `GenSettings.from_values` reads them back with the same bounds and messages.
"""
from __future__ import annotations

from typing import Sequence

import gradio as gr

from iacdemo.generation.gen_settings import GenSettings, field_specs
from iacdemo.settings import Settings


def gen_controls(preset: GenSettings, settings: Settings, elem_prefix: str,
                 names: Sequence[str] | None = None) -> dict[str, gr.components.Component]:
    """One component per setting (all, or `names`), valued from `preset`; call inside a layout block.

    Element ids are `<elem_prefix>-<field-name>` with dashes (compare-max-new-tokens, …).
    """
    controls: dict[str, gr.components.Component] = {}
    for s in field_specs(settings):
        if names is not None and s.name not in names:
            continue
        value = getattr(preset, s.name)
        elem_id = f"{elem_prefix}-{s.name.replace('_', '-')}"
        if s.widget == "slider":
            controls[s.name] = gr.Slider(s.low, s.high, value=value, step=s.step, label=s.label, info=s.help,
                                         elem_id=elem_id)
        elif s.widget == "text":
            controls[s.name] = gr.Textbox(value="" if value is None else str(value), label=s.label, info=s.help,
                                          elem_id=elem_id)
        else:
            controls[s.name] = gr.Number(value=value, label=s.label, precision=0 if s.integer else None,
                                         info=f"{s.help}: {s.describe()}", elem_id=elem_id)
    return controls
