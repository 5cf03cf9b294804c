"""Copy MathJax 3 from its PyPI package into _vendor/ so the built site needs no CDN.

The package django-static-mathjax (pinned in requirements.txt, no Django needed)
ships MathJax's ``es5`` build as static files. Sphinx copies ``_vendor/`` into the
site root (``html_extra_path``), giving ``_static/vendor/mathjax/`` in the site; ``mathjax_path``
(relative to ``_static``) points at the copy. It is kept out of ``book/_static`` because
Jupyter Book injects every .js/.css found there into every page.
Nothing here is committed: _vendor/ is ignored by git.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEST = ROOT / "_vendor" / "_static" / "vendor" / "mathjax"


def mathjax_source() -> Path:
    """The ``es5`` folder of the installed MathJax package."""
    spec = importlib.util.find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("MathJax is not installed: pip install -r requirements.txt")
    src = Path(next(iter(spec.submodule_search_locations))) / "static" / "mathjax" / "es5"
    if not (src / "tex-chtml.js").is_file():
        raise SystemExit(f"{src} has no tex-chtml.js: is django-static-mathjax 3.x installed?")
    return src


def main() -> int:
    src = mathjax_source()
    if (DEST / "tex-chtml.js").is_file() and (DEST / "tex-chtml.js").stat().st_size == (
        src / "tex-chtml.js"
    ).stat().st_size:
        return 0  # already there: keep repeated builds fast
    tmp = DEST.with_name("mathjax.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp)
    licence = src.parent / "LICENSE"
    if licence.is_file():
        shutil.copy2(licence, tmp / "LICENSE")
    shutil.rmtree(DEST, ignore_errors=True)
    tmp.rename(DEST)
    print(f"MathJax copied to {DEST.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
