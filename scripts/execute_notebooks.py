"""The one way stored outputs are produced: each chapter in a fresh kernel, top to bottom.

Usage: python scripts/execute_notebooks.py [book/NN_topic.ipynb ...]   (default: every chapter)

Each notebook runs on the CPU with CNNNOTES_THREADS threads (default 2, the
count nbval re-checks with), MPLBACKEND unset (so figures are images), and
is written back in place with execution counts 1..N.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


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


def execute(path: Path, timeout: int) -> None:
    """Clear ``path``'s outputs, run it in a fresh kernel and write it back."""
    nb = nbformat.read(path, as_version=4)
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
