"""Shared fixtures: one strict build of the book per test session."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

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
