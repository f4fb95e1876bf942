"""Sphinx configuration: Markdown pages through MyST, warnings are errors in tox."""

project = "securechat"
author = "the securechat developers"
copyright = "2026, the securechat developers"
extensions = ["myst_parser"]
source_suffix = {".md": "markdown"}
myst_heading_anchors = 3
# _generated/ holds files other pages include (the demo's attack matrix).
exclude_patterns = ["_build", "_generated"]
html_theme = "alabaster"
