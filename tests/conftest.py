"""Shared fixtures: one strict build of the book per test session; torch thread counts."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"


@dataclass(frozen=True)
class Build:
    returncode: int
    log: str
    html: Path


@pytest.fixture(scope="session")
def book_build() -> Build:
    """Build the whole book from scratch (``--all``: no cached page hides a warning)."""
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    bindir = Path(sys.executable).parent
    subprocess.run([sys.executable, "scripts/vendor_assets.py"], cwd=ROOT, check=True, env=env)
    proc = subprocess.run(
        [str(bindir / "jupyter-book"), "build", ".", "-W", "-n", "--keep-going", "--all"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    return Build(proc.returncode, proc.stdout + proc.stderr, HTML)


@pytest.fixture
def threads() -> Iterator[None]:
    """Let a test set torch's thread count; restore the count it found afterwards."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """A module of many tiny tensor ops: one thread is deterministic and, on a busy
    machine, many times faster than two. Restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
