"""Write each chapter's code cells as one Python file, for tools that read only scripts.

    python scripts/chapters_as_scripts.py OUTDIR

A duplicate finder (or grep) over ``cnnnotes tests OUTDIR`` then sees the
chapters' code next to the package's and the tests'. Each cell starts with a
``# %% cell N`` line, so a hit points back to its cell.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def chapter_script(notebook: Path) -> str:
    """The code cells of ``notebook``, in order, each under a ``# %% cell N`` line."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    parts = [
        f"# %% cell {i}\n{''.join(cell['source'])}\n"
        for i, cell in enumerate(cells)
        if cell["cell_type"] == "code"
    ]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", type=Path, help="folder for the .py files (created)")
    args = parser.parse_args(argv)
    args.outdir.mkdir(parents=True, exist_ok=True)
    for notebook in sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb")):
        (args.outdir / f"{notebook.stem}.py").write_text(chapter_script(notebook), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
