"""The header strip: which device, which model, how much memory — refreshed every few seconds.

On stage and on a shared Space people ask first "is it on the GPU?" and "which model is this?", so the
answer stays visible above every tab. On a Space it also says that the demo is shared and how to get
a private copy.
"""
from __future__ import annotations

import html

import gradio as gr

from iacdemo.errors import IacdemoError
from iacdemo.models import memory_summary
from iacdemo.ui.state import AppContext

REFRESH_SECONDS = 5.0


def _chip(name: str, value: str, test_id: str) -> str:
    return (f'<span class="iacdemo-chip" data-testid="{test_id}"><b>{html.escape(name)}</b> '
            f'{html.escape(value)}</span>')


def model_state_text(ctx: AppContext) -> str:
    if ctx.model_loading:
        return f"{ctx.model_id} (loading…)"
    if ctx.model_loaded:
        return ctx.model_id
    return f"{ctx.model_id} (loads on first use)"


def space_note_html(ctx: AppContext) -> str:
    space = ctx.settings.space_id or ""
    link = f"https://huggingface.co/spaces/{html.escape(space)}?duplicate=true"
    return ('<div class="iacdemo-space-note" data-testid="space-note">This is a shared public demo: '
            "chats are private to your browser tab, but the model and any training are shared with "
            f'other visitors. <a href="{link}" target="_blank" rel="noopener">Duplicate this Space</a> '
            "to get your own copy (and a GPU of your choice) for training.</div>")


def header_html(ctx: AppContext) -> str:
    """The header's HTML for the current state; never raises (a broken setting shows as text)."""
    try:
        device, dtype = ctx.device()
        device_text = f"{device} ({dtype})"
    except IacdemoError as exc:
        device, device_text = "cpu", f"error: {exc}"
    chips = [
        _chip("Device", device_text, "header-device"),
        _chip("Model", model_state_text(ctx), "header-model"),
        _chip("Memory", memory_summary(device), "header-memory"),
    ]
    note = space_note_html(ctx) if ctx.settings.on_space else ""
    return (
        '<div class="iacdemo-header" data-testid="iacdemo-header">'
        '<div class="iacdemo-title"><span class="iacdemo-logo">iacdemo</span>'
        '<span class="iacdemo-tagline">Teach small LLMs Terraform, and see what the training did</span></div>'
        f'<div class="iacdemo-chips">{"".join(chips)}</div>{note}</div>'
    )


def build_header(ctx: AppContext) -> gr.HTML:
    """Render the header and refresh it with a timer (no queue: it must not wait behind a long job)."""
    header = gr.HTML(header_html(ctx), elem_id="iacdemo-header-box", padding=False)
    timer = gr.Timer(REFRESH_SECONDS)
    timer.tick(lambda: header_html(ctx), outputs=header, queue=False, show_progress="hidden",
               api_visibility="private")
    return header
