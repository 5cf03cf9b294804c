"""Drop repeated inline <script> blocks from every page.

With Sphinx 7.4, scripts that extensions add during ``env-before-read-docs``
(sphinx-thebe's ``const THEBE_JS_URL = ...``, sphinx-togglebutton's
selector) end up in each page twice; the repeated ``const`` is a console error
in every browser. This keeps the first copy of each identical script.
"""

from __future__ import annotations

from typing import Any


def _key(script: Any) -> tuple:
    attrs = getattr(script, "attributes", {}) or {}
    filename = (
        getattr(script, "filename", script) or ""
    )  # inline scripts: None or ""
    return (str(filename), tuple(sorted((k, str(v)) for k, v in attrs.items())))


def dedupe(
    app: Any, pagename: str, templatename: str, context: dict, doctree: Any
) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple] = set()
    unique = []
    for script in scripts:
        key = _key(script)
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app: Any) -> dict[str, Any]:
    app.connect("html-page-context", dedupe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
