"""How every tab reports a failure: a toast plus an error box that stays, never a crash.

A toast alone disappears while the presenter is still talking, and a raised exception would leave the
outputs half-updated; so handlers catch, and show the message in a red box next to the button.
`IacdemoError` messages are written for users and shown verbatim; anything else is a bug, logged with
its traceback and shown briefly.
"""
from __future__ import annotations

import logging

import gradio as gr

from iacdemo.errors import IacdemoError

log = logging.getLogger("iacdemo.ui")


def user_message(exc: BaseException) -> str:
    if isinstance(exc, IacdemoError):
        return str(exc)
    log.error("Unexpected error in a UI handler", exc_info=exc)
    return f"Unexpected error ({type(exc).__name__}: {str(exc)[:300]}). The app keeps running; see the server log."


def error_box(elem_id: str) -> gr.Markdown:
    """A hidden red box for one tab's errors; show it with `show_error`."""
    return gr.Markdown("", visible=False, elem_id=elem_id, elem_classes=["iacdemo-error"])


def escape_markdown(text: str) -> str:
    """Keep paths and names verbatim in the Markdown box; `code spans` stay as they are (the messages
    use them for commands, and Markdown shows their content literally anyway)."""
    parts = text.split("`")
    for k in range(0, len(parts), 2 if len(parts) % 2 else 1):  # unbalanced backticks: escape all
        for char in "\\*_[]<>#|":
            parts[k] = parts[k].replace(char, "\\" + char)
    return "`".join(parts)


def show_error(exc: BaseException) -> dict:
    """Toast the error and return the update that fills and shows the error box."""
    message = user_message(exc)
    gr.Warning(message)
    return gr.update(value=f"**Error:** {escape_markdown(message)}", visible=True)


def hide_error() -> dict:
    return gr.update(value="", visible=False)
