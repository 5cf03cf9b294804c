"""A chapter runs from an installed cnnnotes alone, and chapters import only what it declares.

A learner may download one chapter from the website and run it in an empty folder
against ``pip install ".[notebooks]"`` with the command book/setup.md prints: every
subpackage, the recorded results and the reference model must come with the wheel,
every module a chapter imports must be declared by the package or its ``notebooks``
extra, and the wheel carries its licences.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from email.parser import Parser
from importlib import metadata
from pathlib import Path

import pytest
from conftest import ROOT

CHAPTERS = sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))
PORTABLE_CHAPTER = ROOT / "book" / "10_evaluation.ipynb"
SETUP_PAGE = ROOT / "book" / "setup.md"
# The comment line in book/setup.md above the block this module runs.
RUN_MARKER = "% tests/test_portable.py runs the next block"
LICENCE_FILES = ("LICENSE", "LICENSE-CC-BY-4.0")


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


def block_after(text: str, marker: str) -> list[str]:
    """The command lines of the first fenced block after the line starting with ``marker``.

    >>> block_after("% run\\n```bash\\nls -l\\n\\npwd\\n```\\n", "% run")
    ['ls -l', 'pwd']
    """
    lines = text.splitlines()
    (start,) = [i for i, line in enumerate(lines) if line.startswith(marker)]
    fence = lines[start + 1]
    assert fence.startswith("```"), f"no code block right after {marker!r}"
    end = lines.index("```", start + 2)
    return [line for line in lines[start + 2 : end] if line.strip()]


def test_the_setup_page_and_the_readme_print_the_same_commands() -> None:
    commands = block_after(SETUP_PAGE.read_text(encoding="utf-8"), RUN_MARKER)
    assert any(c.startswith("jupyter execute ") for c in commands), commands
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for command in commands:
        assert command in readme, f"README.md does not print {command!r}"
    for page in (SETUP_PAGE.read_text(encoding="utf-8"), readme):
        assert 'pip install ".[notebooks]"' in page and 'pip install ".[lab]"' in page


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """cnnnotes built as a wheel from a copy of its sources and installed into a bare folder."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    shutil.copytree(
        ROOT / "cnnnotes", src / "cnnnotes", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("pyproject.toml", "README.md", *LICENCE_FILES):
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


def package_files(top: Path) -> list[str]:
    """Every file under ``top``/cnnnotes, as a relative path, without byte-code caches."""
    return sorted(
        p.relative_to(top).as_posix()
        for p in (top / "cnnnotes").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )


def wheel_metadata(site: Path) -> tuple[Path, dict[str, list[str]]]:
    """The installed wheel's ``.dist-info`` folder and its METADATA fields (all values)."""
    (info,) = site.glob("cnnnotes-*.dist-info")
    message = Parser().parsestr((info / "METADATA").read_text(encoding="utf-8"))
    fields: dict[str, list[str]] = {}
    for key, value in message.items():
        fields.setdefault(key, []).append(value)
    return info, fields


def test_the_wheel_carries_every_subpackage_and_the_recorded_results(installed: Path) -> None:
    shipped = package_files(installed)
    assert shipped == package_files(ROOT), "the wheel's files differ from the sources"
    subpackages = {Path(p).parent.as_posix() for p in shipped if p.endswith("/__init__.py")}
    assert {"cnnnotes/conv", "cnnnotes/training", "cnnnotes/oracle"} <= subpackages
    recorded = [p for p in shipped if p.startswith("cnnnotes/training/recorded/")]
    assert any(p.endswith(".pt") for p in recorded) and any(p.endswith(".json") for p in recorded)


def test_the_wheel_declares_its_licences_and_extras(installed: Path) -> None:
    info, fields = wheel_metadata(installed)
    assert fields["License-Expression"] == ["MIT AND CC-BY-4.0"]
    assert sorted(fields["License-File"]) == sorted(LICENCE_FILES)
    for name in LICENCE_FILES:
        assert (info / "licenses" / name).read_text(encoding="utf-8") == (ROOT / name).read_text(
            encoding="utf-8"
        )
    assert (info / "licenses" / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")
    extras = set(fields["Provides-Extra"])
    assert {"notebooks", "lab"} <= extras, extras
    requires = fields["Requires-Dist"]
    for extra, needed in (
        ("notebooks", "nbclient"),
        ("notebooks", "ipykernel"),
        ("lab", "jupyterlab"),
    ):
        assert any(r.startswith(needed) and f'extra == "{extra}"' in r for r in requires), (
            extra,
            needed,
        )


def test_the_printed_command_runs_a_downloaded_chapter(installed: Path, tmp_path: Path) -> None:
    """book/setup.md's command, run as printed in an empty folder holding only the chapter,
    with cnnnotes from the wheel: it succeeds and prints what the stored run printed."""
    env = bare_env(installed)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    where = subprocess.run(
        [sys.executable, "-c", "import cnnnotes; print(cnnnotes.__file__)"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert where.stdout.strip().startswith(str(installed)), where.stdout
    commands = block_after(SETUP_PAGE.read_text(encoding="utf-8"), RUN_MARKER)
    names = sorted({n for c in commands for n in re.findall(r"\b\d\d_\w+\.ipynb\b", c)})
    assert names, f"the printed commands name no chapter: {commands}"
    for name in names:
        shutil.copy(ROOT / "book" / name, tmp_path / name)
    for command in commands:
        proc = subprocess.run(
            command, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True,
            timeout=900,
        )  # fmt: skip
        assert proc.returncode == 0, f"{command}:\n{proc.stderr[-3000:]}"
    assert sorted(p.name for p in tmp_path.iterdir()) == names, "it wrote other files here"
    for name in names:
        ran = json.loads((tmp_path / name).read_text(encoding="utf-8"))
        stored = json.loads((ROOT / "book" / name).read_text(encoding="utf-8"))
        counts = [c["execution_count"] for c in ran["cells"] if c["cell_type"] == "code"]
        assert counts == list(range(1, len(counts) + 1)), f"{name} was not run in place: {counts}"
        for got, want in zip(ran["cells"], stored["cells"], strict=True):
            # One string per cell: a kernel may flush one print in one chunk or in two.
            texts = [
                "".join(
                    "".join(o.get("text", ""))
                    for o in c.get("outputs", [])
                    if o["output_type"] == "stream"
                )
                for c in (got, want)
            ]
            assert texts[0] == texts[1], f"printed differently from the stored run: {texts}"
