"""A chapter runs from an installed cnnnotes alone, and chapters import only what it declares.

A learner may download one chapter from the website and run it in an empty folder
against ``pip install cnnnotes[notebooks]``: recorded results and the reference
model must come with the package, and every module a chapter imports must be
declared by the package or its ``notebooks`` extra.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from conftest import ROOT

CHAPTERS = sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))
PORTABLE_CHAPTER = ROOT / "book" / "10_evaluation.ipynb"


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_distributions() -> set[str]:
    """Distributions cnnnotes requires, with its ``notebooks`` extra."""
    names = set()
    for req in metadata.requires("cnnnotes") or []:
        spec, _, marker = req.partition(";")
        if marker and "extra" in marker and "notebooks" not in marker:
            continue
        names.add(normalise(re.split(r"[<>=!~\[ ]", spec.strip(), maxsplit=1)[0]))
    return names


def imported_modules(path: Path) -> set[str]:
    """Top-level modules imported by the code cells of a notebook."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    found = set()
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        lines = [ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
        for node in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return found


def test_every_chapter_import_is_declared() -> None:
    declared = declared_distributions()
    assert {"torch", "myst-nb", "ipykernel"} <= declared, declared
    providers = metadata.packages_distributions()
    undeclared = {}
    for path in CHAPTERS:
        for module in imported_modules(path):
            if module in sys.stdlib_module_names or module == "cnnnotes":
                continue
            dists = {normalise(d) for d in providers.get(module, [])}
            if not dists & declared:
                undeclared.setdefault(module, []).append(path.name)
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"


def test_imported_modules_sees_imports() -> None:
    assert {"torch", "cnnnotes", "IPython"} <= imported_modules(PORTABLE_CHAPTER)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """cnnnotes built as a wheel from a copy of its sources and installed into a bare folder."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    shutil.copytree(
        ROOT / "cnnnotes", src / "cnnnotes", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp / "dist"), str(src)],
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp / "dist").glob("cnnnotes-*.whl")
    site = tmp / "site"
    subprocess.run(
        [*pip, "install", "--no-deps", "--no-index", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
    )
    return site


def bare_env(site: Path) -> dict[str, str]:
    """This environment, with the installed wheel first on the path and no repository on it."""
    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "PYTHONPATH")}
    env["PYTHONPATH"] = str(site)
    return env


def test_the_wheel_carries_the_recorded_results(installed: Path) -> None:
    recorded = sorted(p.name for p in (installed / "cnnnotes" / "recorded").iterdir())
    assert recorded == sorted(p.name for p in (ROOT / "cnnnotes" / "recorded").iterdir())


def test_a_chapter_runs_alone_in_an_empty_folder(installed: Path, tmp_path: Path) -> None:
    env = bare_env(installed)
    where = subprocess.run(
        [sys.executable, "-c", "import cnnnotes; print(cnnnotes.__file__)"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert where.stdout.strip().startswith(str(installed)), where.stdout
    notebook = tmp_path / PORTABLE_CHAPTER.name
    shutil.copy(PORTABLE_CHAPTER, notebook)
    run = (
        "import nbformat, sys; from nbclient import NotebookClient;"
        "nb = nbformat.read(sys.argv[1], as_version=4);"
        "NotebookClient(nb, timeout=600, kernel_name='python3').execute();"
        "nbformat.write(nb, sys.argv[1])"
    )
    proc = subprocess.run(
        [sys.executable, "-c", run, str(notebook)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == [notebook.name], "it wrote files here"
    ran = json.loads(notebook.read_text(encoding="utf-8"))
    stored = json.loads(PORTABLE_CHAPTER.read_text(encoding="utf-8"))
    for got, want in zip(ran["cells"], stored["cells"], strict=True):
        texts = [
            [
                "".join(o.get("text", ""))
                for o in c.get("outputs", [])
                if o["output_type"] == "stream"
            ]
            for c in (got, want)
        ]
        assert texts[0] == texts[1], f"printed differently from the stored run: {texts}"
