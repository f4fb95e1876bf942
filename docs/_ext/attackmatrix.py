"""
The C{attack-matrix} directive: the demo's stored run as a coloured table.

C{```{attack-matrix} _generated/matrix.json```} reads what
C{securechat demo --json} wrote (C{tox -e matrix} regenerates it; a test
checks it against a fresh run) and builds a docutils table whose cells
carry CSS classes (docs/_static/matrix.css): the documentation shows the
lesson without a terminal, and any builder still gets a plain table with
the marks spelled out.  The layout comes from
L{securechat.mitm.matrix.picture}, like the terminal's from the data.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

from securechat.mitm.matrix import (
    BLOCKED,
    CLAIMED_CLASS,
    DETECTED,
    FAILED_CLASS,
    PICTURE_CLASSES,
    WORKED,
    Picture,
    picture,
)

#: The legend under the table: a swatch of each class, and what it means.
LEGEND = (
    (PICTURE_CLASSES[BLOCKED], "ok", "the attack had no effect (refused, hidden, or never sent)"),
    (PICTURE_CLASSES[DETECTED], "flag", "it got through, and the receiver said so"),
    (PICTURE_CLASSES[WORKED], "WORKED", "it got through unnoticed (READ: the relay read the body)"),
    (CLAIMED_CLASS, "framed", "a cell docs/security.md makes a claim about, checked on every run"),
    (FAILED_CLASS, "!", "a claim that did not hold in this run"),
)


def _paragraph(*children: nodes.Node) -> nodes.paragraph:
    paragraph = nodes.paragraph()
    paragraph.extend(children)
    return paragraph


def _entry(classes: List[str], *children: nodes.Node) -> nodes.entry:
    entry = nodes.entry(classes=list(classes))
    entry += _paragraph(*children)
    return entry


def table(shown: Picture) -> nodes.table:
    """The docutils table of a L{Picture}: a header row of layers, one row per attack."""
    result = nodes.table(classes=["sc-matrix"])
    group = nodes.tgroup(cols=len(shown.layers) + 1)
    result += group
    for _ in range(len(shown.layers) + 1):
        group += nodes.colspec(colwidth=1)
    head = nodes.thead()
    header = nodes.row()
    header += _entry([], nodes.Text("attack"))
    for layer in shown.layers:
        header += _entry([], nodes.literal(text=layer))
    head += header
    group += head
    body = nodes.tbody()
    for label, key, cells in shown.rows:
        row = nodes.row()
        row += _entry(["sc-label"], nodes.Text(label + " "), nodes.literal(text=key))
        for cell in cells:
            verdict = nodes.inline(text=cell.verdict, classes=["sc-verdict"]) if cell.verdict else nodes.Text("")
            row += _entry(list(cell.classes), nodes.strong(text=cell.mark), nodes.Text(" "), verdict)
        body += row
    group += body
    return result


def legend() -> nodes.paragraph:
    paragraph = nodes.paragraph(classes=["sc-legend"])
    for i, (css, mark, meaning) in enumerate(LEGEND):
        if i:
            paragraph += nodes.Text("; ")
        paragraph += nodes.inline(text=mark, classes=["sc-swatch", css])
        paragraph += nodes.Text(" " + meaning)
    paragraph += nodes.Text(".")
    return paragraph


class AttackMatrix(SphinxDirective):
    """C{```{attack-matrix} PATH```}: PATH is a stored C{securechat demo --json} run."""

    required_arguments = 1
    has_content = False

    def run(self) -> List[nodes.Node]:
        relative, path = self.env.relfn2path(self.arguments[0], self.env.docname)
        self.env.note_dependency(relative)
        try:
            with open(path, encoding="utf-8") as f:
                document: Dict[str, Any] = json.load(f)
            shown = picture(document)
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise self.error("attack-matrix: cannot read %s: %s" % (relative, error)) from error
        out: List[nodes.Node] = [table(shown), legend()]
        lessons = nodes.bullet_list()
        for layer, text in shown.lessons:
            item = nodes.list_item()
            item += _paragraph(nodes.strong(text=layer), nodes.Text(": " + text))
            lessons += item
        out.append(lessons)
        kdf = document.get("kdf") or {}
        if kdf:
            out.append(
                _paragraph(
                    nodes.Text(
                        "This run: %d cells, room keys from Argon2id (t=%s, p=%s, m=%s KiB); %s."
                        % (
                            sum(len(cells) for _, _, cells in shown.rows),
                            kdf.get("iterations"),
                            kdf.get("lanes"),
                            kdf.get("memory_cost"),
                            "every claim held" if not shown.failures else "%d claims FAILED" % shown.failures,
                        )
                    )
                )
            )
        return out


def setup(app: Sphinx) -> Dict[str, Any]:
    app.add_directive("attack-matrix", AttackMatrix)
    app.add_css_file("matrix.css")
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
