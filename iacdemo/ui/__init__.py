"""The Gradio UI: a thin layer that wires components to the core functions of `iacdemo`.

`build_app(settings)` assembles the shell (header, tabs, presentation mode); `launch_kwargs(settings)`
gives the theme, CSS and JS that gradio 6 takes in `launch()`.
"""
from iacdemo.ui.app_builder import build_app, launch_kwargs
from iacdemo.ui.state import AppContext

__all__ = ["AppContext", "build_app", "launch_kwargs"]
