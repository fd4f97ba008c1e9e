"""Assemble the app: header, presentation toggle, and one `gr.Tab` per module in `TABS`.

To add a tab, write a module in `iacdemo/ui/tabs/` with `TAB_ID`, `TITLE` and `build(ctx)` (see
`iacdemo/ui/tabs/__init__.py`) and add it to `TABS` below: the builder does the rest.
"""
from __future__ import annotations

from types import ModuleType

import gradio as gr

from iacdemo.settings import ASSETS_DIR, Settings, get_settings
from iacdemo.ui import presentation
from iacdemo.ui.header import build_header
from iacdemo.ui.state import AppContext
from iacdemo.ui.tabs import (compare_tab, data_tab, doc_completion_tab, evaluate_tab, experiment_tab,
                             models_tab, train_tab)

TABS: tuple[ModuleType, ...] = (
    data_tab,
    train_tab,
    compare_tab,
    doc_completion_tab,
    evaluate_tab,
    experiment_tab,
    models_tab,
)

APP_TITLE = "iacdemo: teach small LLMs Terraform"
# System fonts only: the themes' default Google Fonts would be fetched from the internet, which an
# offline machine (or a talk venue's Wi-Fi) cannot be relied on for.
SYSTEM_FONTS = ["ui-sans-serif", "system-ui", "Segoe UI", "Roboto", "DejaVu Sans", "sans-serif"]
MONO_FONTS = ["ui-monospace", "SFMono-Regular", "Menlo", "DejaVu Sans Mono", "monospace"]


def build_app(settings: Settings | None = None, ctx: AppContext | None = None) -> gr.Blocks:
    """Build the Blocks; `demo.iacdemo_context` is the shared AppContext (handy in tests)."""
    ctx = ctx or AppContext(settings or get_settings())
    with gr.Blocks(title=APP_TITLE, analytics_enabled=False) as demo:
        with gr.Row(elem_id="iacdemo-top"):
            with gr.Column(scale=10):
                build_header(ctx)
            with gr.Column(scale=0, min_width=180):
                presentation.build_toggle(demo)
        with gr.Tabs(elem_id="iacdemo-tabs"):
            for tab in TABS:
                with gr.Tab(tab.TITLE, id=tab.TAB_ID, elem_id=f"tab-{tab.TAB_ID}"):
                    tab.build(ctx)
    demo.iacdemo_context = ctx
    return demo


def launch_kwargs(settings: Settings | None = None) -> dict:
    """Theme, CSS and JS for gradio 6's `launch()` (they moved there from `gr.Blocks`), and the upload cap."""
    settings = settings or get_settings()
    return {
        "max_file_size": settings.max_upload_bytes,
        "theme": gr.themes.Soft(primary_hue="indigo", secondary_hue="emerald", font=SYSTEM_FONTS,
                                font_mono=MONO_FONTS),
        "css": (ASSETS_DIR / "style.css").read_text(encoding="utf-8"),
        "js": presentation.present_js(),
    }
