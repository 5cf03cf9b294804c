"""Author-year labels in the bibliography, matching the author-year citations.

The text cites as "[Xiao et al., 2017]" (``bibtex_reference_style:
author_year``); pybtex's own label styles would list that work as ``[1]`` or
``[XRV17]``. This registers a formatting style, ``author_year_plain``, that is
pybtex's plain style with labels "Xiao et al., 2017" (a, b, … added where two
works would share a label).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

from pybtex.plugin import register_plugin
from pybtex.style.formatting.plain import Style as PlainStyle
from pybtex.style.labels import BaseLabelStyle


def _surname(person: Any) -> str:
    return " ".join(person.last_names).replace("{", "").replace("}", "")


def author_year(entry: Any) -> str:
    """``Surname``, ``A and B`` or ``A et al.``, then the year."""
    people = entry.persons.get("author") or entry.persons.get("editor") or []
    names = [_surname(p) for p in people]
    if not names:
        who = entry.fields.get("title", entry.key)
    elif len(names) == 1:
        who = names[0]
    elif len(names) == 2:
        who = f"{names[0]} and {names[1]}"
    else:
        who = f"{names[0]} et al."
    return f"{who}, {entry.fields.get('year', 'n.d.')}"


class AuthorYearLabels(BaseLabelStyle):
    def format_labels(self, sorted_entries: Iterable[Any]) -> Iterator[str]:
        entries = list(sorted_entries)
        labels = [author_year(e) for e in entries]
        repeated, seen = Counter(labels), Counter()
        for label in labels:
            if repeated[label] > 1:
                seen[label] += 1
                label += "abcdefghijklmnopqrstuvwxyz"[seen[label] - 1]
            yield label


class AuthorYearPlainStyle(PlainStyle):
    default_label_style = "author_year_labels"


register_plugin("pybtex.style.labels", "author_year_labels", AuthorYearLabels)
register_plugin(
    "pybtex.style.formatting", "author_year_plain", AuthorYearPlainStyle
)


def setup(app: Any) -> dict[str, Any]:
    return {"parallel_read_safe": True, "parallel_write_safe": True}
