"""Building the app, and every prop update Gradio applies to a component, must not spam the log.

Gradio re-creates a component from its constructor arguments each time a handler returns
`gr.update(...)` for it (on page load and on every poll), so a constructor warning is printed again and
again for as long as the page is open.
"""
from __future__ import annotations

import warnings

import gradio as gr

from iacdemo.ui import build_app
from tests.ui_support import isolated_settings


def _rebuild_every_component(demo: gr.Blocks) -> None:
    """What gradio's postprocess does for a prop update: `block.__class__(**constructor_args)`."""
    for block in demo.blocks.values():
        if isinstance(block, gr.components.Component):
            kwargs = dict(block.constructor_args)
            kwargs.pop("value", None)
            kwargs["render"] = False
            block.__class__(**kwargs)


def test_app_and_component_updates_emit_no_show_label_warning(settings, tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        demo = build_app(isolated_settings(settings, tmp_path))
        _rebuild_every_component(demo)
    spam = [str(w.message) for w in caught if "show_label has no effect" in str(w.message)]
    assert not spam, spam
