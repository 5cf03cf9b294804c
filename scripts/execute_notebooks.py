"""The one way stored outputs are produced: each chapter in a fresh kernel, top to bottom.

Usage: python scripts/execute_notebooks.py [book/NN_topic.ipynb ...]   (default: every chapter)

Each notebook runs on the CPU with CNNNOTES_THREADS threads (default 2, the
count nbval re-checks with), MPLBACKEND unset (so figures are images), and
is written back in place with execution counts 1..N. Before it runs, every cell
inside an exercise's solution is collapsed in the notebook (:func:`collapse_solutions`),
as the website collapses it in a dropdown.
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}
# The gated solution directives: a fence, its options, and the closing fence.
SOLUTION_FENCE = re.compile(r"^(?P<fence>`{3,}|:{3,})\{solution-(?P<kind>start|end)\}")
OPTION_LINE = re.compile(r"^:[\w-]+:")


def chapter_paths() -> list[Path]:
    """Every chapter notebook of the book, in order."""
    return sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))


def kernel_env() -> dict[str, str]:
    """The environment the kernel inherits: CPU only, fixed threads, real figures."""
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    threads = env.setdefault("CNNNOTES_THREADS", "2")
    env.update(
        OMP_NUM_THREADS=threads,
        MKL_NUM_THREADS=threads,
        CUDA_VISIBLE_DEVICES="",
        PYTHONHASHSEED="0",
        TQDM_DISABLE="1",
        PYDEVD_DISABLE_FILE_VALIDATION="1",
    )
    return env


def _line_roles(lines: list[str], inside: bool) -> tuple[list[str], bool]:
    """Each line's role ("start", "end": a solution fence; "in", "out": text inside or outside a
    solution; "": blank), and whether a solution is still open after the last line."""
    roles: list[str] = []
    closing = ""  # the fence that ends the directive being read, while reading one
    for line in lines:
        mark = SOLUTION_FENCE.match(line)
        if closing:
            roles.append(roles[-1])
            if line.strip() == closing:
                closing = ""
            elif not OPTION_LINE.match(line) and line.strip():
                raise ValueError(f"a solution fence holds text; expected {closing!r}: {line!r}")
        elif mark:
            starts = mark["kind"] == "start"
            if starts == inside:
                raise ValueError(f"{line.strip()!r} {'inside' if inside else 'outside'} a solution")
            inside, closing = starts, mark["fence"]
            roles.append(mark["kind"])
        else:
            roles.append(("in" if inside else "out") if line.strip() else "")
    return roles, inside


def _hidden_runs(roles: list[str]) -> list[tuple[bool, int, int]]:
    """Split lines into runs (hidden, first, stop): solution text with its fences is hidden,
    everything else visible; blank lines at the edges of a run are dropped."""
    text = [(i, r) for i, r in enumerate(roles) if r in ("in", "out")]
    hidden: list[bool | None] = []
    for i, role in enumerate(roles):
        before = [r for j, r in text if j < i]
        after = [r for j, r in text if j > i]
        if role in ("in", "out"):
            hidden.append(role == "in")
        elif role == "start":  # goes with the solution text after it, if any
            hidden.append(bool(after) and after[0] == "in")
        elif role == "end":  # goes with the solution text before it, if any
            hidden.append(bool(before) and before[-1] == "in")
        else:
            hidden.append(None)  # blank: joins the run it sits in
    runs: list[tuple[bool, int, int]] = []
    for i, flag in enumerate(hidden):
        if flag is None:
            continue
        if runs and runs[-1][0] == flag:
            runs[-1] = (flag, runs[-1][1], i + 1)
        else:
            runs.append((flag, i, i + 1))
    return runs


def _collapse(cell: dict[str, Any], hidden: bool, outputs: bool = False) -> None:
    """Set (hidden) or clear Jupyter's collapsed-source flag on ``cell``, and its outputs'."""
    meta = cell.setdefault("metadata", {})
    view = meta.pop("jupyter", {})
    if hidden:
        view["source_hidden"] = True
        if outputs:
            view["outputs_hidden"] = True
    else:
        view.pop("source_hidden", None)
    if view:
        meta["jupyter"] = view


def collapse_solutions(nb: dict[str, Any]) -> dict[str, Any]:
    """A copy of notebook ``nb`` with every exercise solution collapsed in Jupyter.

    Solutions are the gated blocks between ``{solution-start}`` and ``{solution-end}``
    fences. Code cells inside one get ``"jupyter": {"source_hidden": true,
    "outputs_hidden": true}``; markdown inside one gets ``"source_hidden": true``. A
    markdown cell that mixes solution text with other text (the exercise after it) is
    split at the fences so that only the solution is hidden; the pieces after the first
    get new ids. Idempotent: a collapsed notebook comes back unchanged.

    >>> md = lambda text: {"cell_type": "markdown", "metadata": {}, "source": text}
    >>> nb = {"cells": [
    ...     md("Ex 1.\\n```{solution-start} ex-1\\n:class: dropdown\\n```\\nAnswer 1."),
    ...     {"cell_type": "code", "metadata": {}, "source": "check(1)", "outputs": []},
    ...     md("Why.\\n```{solution-end}\\n```\\n\\nEx 2."),
    ... ]}
    >>> out = collapse_solutions(nb)
    >>> for cell in out["cells"]:
    ...     print(repr(cell["source"]), cell["metadata"].get("jupyter"))
    'Ex 1.' None
    '```{solution-start} ex-1\\n:class: dropdown\\n```\\nAnswer 1.' {'source_hidden': True}
    'check(1)' {'source_hidden': True, 'outputs_hidden': True}
    'Why.\\n```{solution-end}\\n```' {'source_hidden': True}
    'Ex 2.' None
    >>> collapse_solutions(out) == out
    True
    >>> collapse_solutions({"cells": [md("```{solution-end}\\n```")]})
    Traceback (most recent call last):
    ValueError: '```{solution-end}' outside a solution
    """
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise TypeError(f"nb must be a notebook dict with a 'cells' list, got {type(nb).__name__}")
    out = copy.deepcopy(nb)
    used = {cell["id"] for cell in out["cells"] if "id" in cell}
    cells: list[dict[str, Any]] = []
    inside = False
    for cell in out["cells"]:
        if cell["cell_type"] != "markdown":
            if inside:
                _collapse(cell, hidden=True, outputs=cell["cell_type"] == "code")
            cells.append(cell)
            continue
        as_list = isinstance(cell["source"], list)
        lines = "".join(cell["source"]).split("\n")
        roles, inside = _line_roles(lines, inside)
        runs = _hidden_runs(roles)
        if len(runs) <= 1:
            if runs and runs[0][0]:
                _collapse(cell, hidden=True)
            cells.append(cell)
            continue
        for k, (hidden, first, stop) in enumerate(runs):
            piece = copy.deepcopy(cell)
            text = "\n".join(lines[first:stop])
            piece["source"] = text.splitlines(keepends=True) if as_list else text
            if k and "id" in cell:
                n = k
                while f"{cell['id']}-{n}" in used:
                    n += 1
                piece["id"] = f"{cell['id']}-{n}"
                used.add(piece["id"])
            _collapse(piece, hidden)
            cells.append(piece)
    if inside:
        raise ValueError("a {solution-start} has no {solution-end} after it")
    out["cells"] = cells
    return out


def execute(path: Path, timeout: int) -> None:
    """Collapse ``path``'s solutions, clear its outputs, run it in a fresh kernel, write it back."""
    nb = nbformat.from_dict(collapse_solutions(nbformat.read(path, as_version=4)))
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.pop("execution", None)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every chapter")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    args = parser.parse_args(argv)
    paths = args.notebooks or chapter_paths()
    env = kernel_env()  # the kernels inherit this process's environment
    os.environ.clear()
    os.environ.update(env)
    for path in paths:
        start = time.perf_counter()
        execute(path.resolve(), args.timeout)
        print(f"executed {path} in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
