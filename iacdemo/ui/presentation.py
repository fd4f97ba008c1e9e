"""Presentation mode: large type and high contrast for talks, switched on per browser tab.

The switch is pure client-side (a CSS class on <body>), so it costs no server round trip, works while
a long job holds the queue, and one presenter's toggle never changes what other visitors see. The
state is mirrored into the URL (`?mode=present`) so a reload or a bookmarked link keeps it.

Later features hook in without touching this module: give a component `elem_classes=PRESENT_ONLY`
to show it only in presentation mode (e.g. preset-prompt buttons, the replay player), or
`HIDE_IN_PRESENT` to hide detail that distracts on a projector.
"""
from __future__ import annotations

import gradio as gr

from iacdemo.settings import ASSETS_DIR

PRESENT_CLASS = "iacdemo-present"
PRESENT_ONLY = ["present-only"]
HIDE_IN_PRESENT = ["hide-in-present"]
URL_FLAG = "mode=present"

_READ_URL_JS = "() => (window.iacdemoPresentFromUrl ? window.iacdemoPresentFromUrl() : " \
               "new URLSearchParams(window.location.search).get('mode') === 'present')"
_APPLY_JS = "(on) => { if (window.iacdemoSetPresent) { window.iacdemoSetPresent(on); } " \
            f"else {{ document.body.classList.toggle('{PRESENT_CLASS}', Boolean(on)); }} return on; }}"


def present_js() -> str:
    """The page-load script (assets/present.js) for `launch(js=...)`."""
    return (ASSETS_DIR / "present.js").read_text(encoding="utf-8")


def build_toggle(demo: gr.Blocks) -> gr.Checkbox:
    """A 'Presentation mode' checkbox that starts from the URL and flips the body class."""
    toggle = gr.Checkbox(label="Presentation mode", value=False, elem_id="present-toggle",
                         container=False, scale=0, min_width=180)
    demo.load(fn=None, js=_READ_URL_JS, outputs=toggle, api_visibility="private")
    toggle.change(fn=None, inputs=toggle, js=_APPLY_JS, api_visibility="private")
    return toggle
