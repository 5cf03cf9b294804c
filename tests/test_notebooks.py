"""Structure of every chapter notebook: outputs come from one clean, top-to-bottom run.

nbval does not compare cells without an execution count, so a stripped notebook
would pass it; these checks catch that and the other ways stored outputs can lie.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import ROOT

CHAPTERS = sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))
IGNORE_TAGS = {"nbval-ignore-output"}
RAISES_TAGS = {"raises-exception", "nbval-raises-exception"}
HIDDEN_TAGS = {"remove-cell", "remove-input"}
MACHINE_PATH = re.compile(r"(/tmp/|/root/|/work/|/home/\w+/|site-packages/|Root location)")


SOLUTION_MARK = re.compile(r"\{solution-(start|end)\}\s*([\w-]*)")
CHECK_CALL = re.compile(r"\b(check_\w+|compare|agree)\(")
COUNTING_LOOP = re.compile(
    r"\b\w*(bad|mismatch\w*|wrong|errors)\s*(\[[^]]*\])?\s*\+=|\+=\s*not\b|\+= int\(not"
)
RANDOM_HELPER = re.compile(r"^\s*def (randint|draw|_randint|rand_int)\(", re.M)
SWEEP_LINE = re.compile(
    r"\d[\d,]* (random )?([\w-]+ )?(cases|layers|stacks)\b"
    r".*(mismatch|all agree|all exact|DIFFERENT)"
)
MAX_VISIBLE_SWEEPS = 3
# Lines that carry no prose: directive fences and their options.
FENCE_LINE = re.compile(r"[`:]{3,}(\{[\w-]+\}.*)?|:[\w-]+:.*")


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def code_cells(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]


def tags(cell: dict) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


def solutions(nb: dict) -> list[tuple[str, list[dict]]]:
    """(label, code cells) of every solution block, in order."""
    found: list[tuple[str, list[dict]]] = []
    inside = False
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            for mark in SOLUTION_MARK.finditer("".join(cell["source"])):
                inside = mark.group(1) == "start"
                if inside:
                    found.append((mark.group(2), []))
        elif inside and "".join(cell["source"]).strip():
            found[-1][1].append(cell)
    return found


def output_text(out: dict) -> str:
    text = out.get("text", "")
    data = out.get("data", {})
    return "".join(text) + "".join(data.get("text/plain", ""))


def test_there_are_chapters() -> None:
    assert CHAPTERS, "no book/NN_topic.ipynb chapters found"


def test_toc_lists_every_chapter() -> None:
    toc = (ROOT / "_toc.yml").read_text(encoding="utf-8")
    for path in CHAPTERS:
        assert f"book/{path.stem}" in toc, f"{path.name} is not in _toc.yml"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
class TestChapter:
    def test_executed_once_top_to_bottom(self, path: Path) -> None:
        counts = [c.get("execution_count") for c in code_cells(load(path))]
        assert counts, "chapter has no code cells"
        assert None not in counts, f"unexecuted code cells (nbval would skip them): {counts}"
        assert counts == list(range(1, len(counts) + 1)), f"execution counts {counts} are not 1..N"

    def test_no_untagged_errors(self, path: Path) -> None:
        for i, cell in enumerate(code_cells(load(path))):
            for out in cell.get("outputs", []):
                if out["output_type"] == "error":
                    assert tags(cell) & RAISES_TAGS, f"code cell {i} stores an error {out['ename']}"

    def test_ignored_outputs_are_followed_by_a_visible_assert(self, path: Path) -> None:
        cells = code_cells(load(path))
        for i, cell in enumerate(cells):
            if tags(cell) & IGNORE_TAGS:
                assert i + 1 < len(cells), f"output-ignored cell {i} is the last cell"
                nxt = cells[i + 1]
                assert re.search(r"^\s*assert\b", "".join(nxt["source"]), re.M), (
                    f"output-ignored cell {i} is not followed by a cell with an assert"
                )
                assert not tags(nxt) & HIDDEN_TAGS, f"the assert after cell {i} is hidden"

    def test_figures_are_images(self, path: Path) -> None:
        for i, cell in enumerate(code_cells(load(path))):
            for out in cell.get("outputs", []):
                data = out.get("data", {})
                if "<Figure size" in "".join(data.get("text/plain", "")):
                    assert "image/png" in data, f"cell {i}: a figure stored as text only (Agg?)"

    def test_outputs_hold_no_machine_details(self, path: Path) -> None:
        for i, cell in enumerate(code_cells(load(path))):
            for out in cell.get("outputs", []):
                text = output_text(out)
                assert not MACHINE_PATH.search(text), f"cell {i} output shows a machine path"
                assert not re.search(r"\d+(\.\d+)?\s?(it/s|s/it)", text), (
                    f"cell {i}: a progress bar"
                )

    def test_python3_kernel(self, path: Path) -> None:
        assert load(path)["metadata"]["kernelspec"]["name"] == "python3"

    def test_chapter_skeleton(self, path: Path) -> None:
        nb = load(path)
        md = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
        assert re.match(r"#\s+\S", md), "a chapter starts with its title"
        assert re.search(r"You will learn", md, re.I), "no 'you will learn' admonition"
        assert "## Summary" in md and "## Exercises" in md
        exercises = re.findall(r"[:`]{3,}\{exercise(?:-start)?\}", md)
        solutions = re.findall(r"[:`]{3,}\{solution(?:-start)?\}", md)
        assert len(exercises) >= 3, f"{len(exercises)} exercises, the skeleton asks for 3 or more"
        assert len(solutions) >= len(exercises), "every exercise has a solution"
        assert re.search(r"^\s*from cnnnotes", "".join(code_cells(nb)[0]["source"]), re.M), (
            "the first code cell is the set-up cell importing cnnnotes"
        )
        assert md.count(":class: dropdown") >= len(exercises), "solutions are hidden (dropdown)"

    def test_every_solution_runs_a_self_check(self, path: Path) -> None:
        """Each exercise's solution code calls a cnnnotes check (or ``compare``)."""
        for label, cells in solutions(load(path)):
            sources = ["".join(c["source"]) for c in cells]
            assert any(CHECK_CALL.search(s) for s in sources), f"{label}: no self-check call"

    def test_solution_cells_are_collapsed_in_the_notebook(self, path: Path) -> None:
        """A learner running the notebook locally is not shown the solutions."""
        for label, cells in solutions(load(path)):
            for cell in cells:
                hidden = cell.get("metadata", {}).get("jupyter", {})
                assert hidden.get("source_hidden") and hidden.get("outputs_hidden"), label

    def test_solution_text_is_collapsed_in_the_notebook(self, path: Path) -> None:
        """Solution prose sits in markdown cells of its own, collapsed like the solution code;
        scripts/execute_notebooks.py (collapse_solutions) splits and collapses them."""
        inside = False
        for i, cell in enumerate(load(path)["cells"]):
            if cell["cell_type"] != "markdown":
                continue
            where = set()
            for line in "".join(cell["source"]).splitlines():
                mark = SOLUTION_MARK.search(line)
                if mark:
                    inside = mark.group(1) == "start"
                elif line.strip() and not FENCE_LINE.fullmatch(line.strip()):
                    where.add(inside)
            if True in where:
                assert False not in where, f"markdown cell {i} mixes solution text with other text"
                view = cell.get("metadata", {}).get("jupyter", {})
                assert view.get("source_hidden"), f"markdown cell {i}: solution text not collapsed"

    def test_code_lines_fit_the_page(self, path: Path) -> None:
        """The site's text column shows 80 characters of code; longer lines are cut off."""
        for i, cell in enumerate(code_cells(load(path))):
            for line in "".join(cell["source"]).splitlines():
                assert len(line) <= 80, f"code cell {i}, {len(line)} characters: {line[:50]}"

    def test_no_proof_directive_is_a_dropdown_itself(self, path: Path) -> None:
        """sphinx-togglebutton cannot collapse a sphinx-proof directive (it finds no title and
        throws in the browser); a long proof goes inside an ``admonition`` with the dropdown."""
        md = "\n".join(
            "".join(c["source"]) for c in load(path)["cells"] if c["cell_type"] == "markdown"
        )
        bad = re.findall(r"[`:]{3,}\{prf:\w+\}[^\n]*\n(?::[^\n]*\n)*:class:[^\n]*dropdown", md)
        assert not bad, bad

    def test_no_hand_written_mismatch_loop(self, path: Path) -> None:
        """ "Ours vs a reference over many cases" is one cnnnotes.oracle.agree call."""
        for i, cell in enumerate(code_cells(load(path))):
            source = "".join(cell["source"])
            assert not COUNTING_LOOP.search(source), f"code cell {i} counts mismatches by hand"
            assert not RANDOM_HELPER.search(source), (
                f"code cell {i} defines its own random helper; use cnnnotes.oracle.cases.Draw"
            )

    def test_few_visible_random_case_verdicts(self, path: Path) -> None:
        """One visible check per claim: repeated sweeps belong in the tests (or a collapsed cell,
        such as an exercise's solution)."""
        nb = load(path)
        collapsed = {id(c) for _, cells in solutions(nb) for c in cells}
        lines = [
            line
            for cell in code_cells(nb)
            if id(cell) not in collapsed and not tags(cell) & {"hide-cell", "hide-output"}
            for out in cell.get("outputs", [])
            for line in output_text(out).splitlines()
            if SWEEP_LINE.search(line)
        ]
        assert len(lines) <= MAX_VISIBLE_SWEEPS, "\n".join(lines)


def test_chapters_extract_to_python_scripts(tmp_path: Path) -> None:
    """scripts/chapters_as_scripts.py (for duplicate finders) gives valid Python per chapter."""
    import ast
    import subprocess
    import sys

    script = ROOT / "scripts" / "chapters_as_scripts.py"
    subprocess.run([sys.executable, str(script), str(tmp_path)], check=True)
    files = sorted(tmp_path.glob("*.py"))
    assert [f.stem for f in files] == [c.stem for c in CHAPTERS]
    for f in files:
        tree = ast.parse(f.read_text(encoding="utf-8"))
        assert tree.body, f"{f.name} has no code"
