"""scripts/execute_notebooks.py: the kernel's environment, the arguments, one tiny notebook."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT

SCRIPT = ROOT / "scripts" / "execute_notebooks.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("execute_notebooks", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_kernel_env_fixes_threads_and_unsets_the_backend(script, monkeypatch) -> None:
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.delenv("CNNNOTES_THREADS", raising=False)
    env = script.kernel_env()
    assert "MPLBACKEND" not in env, "Agg would turn every figure into text"
    assert env["CNNNOTES_THREADS"] == env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "2"
    assert env["CUDA_VISIBLE_DEVICES"] == "" and env["TQDM_DISABLE"] == "1"
    assert env["PYTHONHASHSEED"] == "0"
    assert os.environ["MPLBACKEND"] == "Agg", "kernel_env must not change this process"
    monkeypatch.setenv("CNNNOTES_THREADS", "3")
    assert script.kernel_env()["OMP_NUM_THREADS"] == "3"


def test_chapter_paths_are_the_numbered_chapters_in_order(script) -> None:
    paths = script.chapter_paths()
    names = [p.name for p in paths]
    assert names and names == sorted(names)
    assert all(p.parent == ROOT / "book" and p.name[:2].isdigit() for p in paths)


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True, text=True, cwd=ROOT, timeout=300, env=env,
    )  # fmt: skip


def test_bad_arguments_exit_2() -> None:
    proc = run("--timeout", "soon")
    assert proc.returncode == 2 and "--timeout" in proc.stderr and "Traceback" not in proc.stderr


def test_executes_a_tiny_notebook_in_place(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# tiny"),
        nbformat.v4.new_code_cell("import os\nprint(os.environ.get('MPLBACKEND'))"),
        nbformat.v4.new_code_cell("print(os.environ['OMP_NUM_THREADS'], 6 * 7)"),
    ]
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="stale\n")]
    path = tmp_path / "tiny.ipynb"
    nbformat.write(nb, path)
    env = {**os.environ, "MPLBACKEND": "Agg", "CNNNOTES_THREADS": "2"}
    proc = run(str(path), "--timeout", "120", env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    done = nbformat.read(path, as_version=4)
    code = [c for c in done.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == [1, 2]
    backend, numbers = (c.outputs[0].text for c in code)
    assert backend.strip().lower() != "agg", "the kernel must not inherit MPLBACKEND=Agg"
    assert numbers == "2 42\n" and "stale" not in backend
    assert done.metadata["kernelspec"]["name"] == "python3"
