"""Sphinx configuration: Markdown pages through MyST, warnings are errors in tox."""

import os
import sys

# _ext/ holds the attack-matrix directive; it reads the demo's stored run
# with securechat's own code (installed in tox, the source tree otherwise).
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, "_ext"), os.path.dirname(HERE)]

project = "securechat"
author = "the securechat developers"
copyright = "2026, the securechat developers"
extensions = ["myst_parser", "attackmatrix"]
source_suffix = {".md": "markdown"}
myst_heading_anchors = 3
# _generated/ holds what pages render (the demo's stored run, matrix.json).
exclude_patterns = ["_build", "_generated"]
html_static_path = ["_static"]
html_theme = "alabaster"
