"""A reading-time line under the title of every chapter.

The estimate counts what a reader reads and runs: the words of prose (code,
outputs and math excluded) at 200 words a minute, plus half a minute for each
code cell to read and run. It is computed from the page itself on every build,
so it follows the chapter as it changes.
"""

from __future__ import annotations

import math
import re
from typing import Any

from docutils import nodes

WORDS_PER_MINUTE = 200
MINUTES_PER_CODE_CELL = 0.5
CHAPTER = re.compile(r"(^|/)\d\d_[a-z0-9_]+$")
"""Chapter pages are ``book/NN_topic``; other pages get no line."""

_SKIP = (
    nodes.literal_block,
    nodes.math,
    nodes.math_block,
    nodes.raw,
    nodes.comment,
)


def _has_class(node: nodes.Node, name: str) -> bool:
    """``node`` is a container with CSS class ``name`` (myst-nb's cells)."""
    if not isinstance(node, nodes.container):
        return False
    return name in node.get("classes", [])


def count(doctree: nodes.Node) -> tuple[int, int]:
    """Words of prose and number of code cells in ``doctree``."""
    words, cells = 0, 0
    stack = [doctree]
    while stack:
        node = stack.pop()
        if _has_class(node, "cell"):
            cells += 1
        if isinstance(node, _SKIP) or _has_class(node, "cell_output"):
            continue
        if isinstance(node, nodes.Text):
            words += len(node.astext().split())
            continue
        stack.extend(node.children)
    return words, cells


def minutes(words: int, cells: int) -> int:
    """Whole minutes, rounded up, never below one.

    >>> minutes(2000, 20)
    20
    """
    return max(
        1, math.ceil(words / WORDS_PER_MINUTE + cells * MINUTES_PER_CODE_CELL)
    )


def add_reading_time(app: Any, doctree: nodes.document) -> None:
    """Insert the reading-time line after a chapter's title."""
    docname = app.env.docname
    if not CHAPTER.search(docname):
        return
    section = next(iter(doctree.findall(nodes.section)), None)
    if section is None or not section.children:
        return
    words, cells = count(doctree)
    text = (
        f"Reading time: about {minutes(words, cells)} minutes "
        f"({words:,} words of prose, {cells} code cells to run)."
    )
    line = nodes.paragraph(
        "", "", nodes.emphasis(text, text), classes=["reading-time"]
    )
    section.insert(1, line)


def setup(app: Any) -> dict[str, Any]:
    app.connect("doctree-read", add_reading_time)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
