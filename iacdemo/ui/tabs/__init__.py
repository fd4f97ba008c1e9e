"""The app's tabs, one module each.

A tab module defines `TAB_ID` (a stable id, also usable in tests), `TITLE` (the tab's label) and
`build(ctx: AppContext) -> None`, which creates the tab's components inside the surrounding
`gr.Tab` and wires them to core functions. Adding a tab: write `iacdemo/ui/tabs/NAME_tab.py` and add
the module to `TABS` in `iacdemo/ui/app_builder.py`.
"""
