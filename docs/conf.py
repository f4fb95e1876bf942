"""Sphinx configuration: Markdown pages through MyST, warnings are errors in tox."""

project = "securechat"
author = "the securechat developers"
copyright = "2026, the securechat developers"
extensions = ["myst_parser"]
source_suffix = {".md": "markdown"}
myst_heading_anchors = 3
exclude_patterns = ["_build"]
html_theme = "alabaster"
