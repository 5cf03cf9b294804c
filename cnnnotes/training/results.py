"""Results of long runs, stored as JSON data files with their provenance.

The chapters read what ``scripts/experiments.py`` measured (the study's rows over
their seeds, the side-by-side benchmark) instead of re-running hours of training.
Every file records the command that wrote it, the library versions, the machine
and the date, and :func:`load` refuses a file without them.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from cnnnotes import __version__
from cnnnotes._io import atomic_write_text

DATA_DIR = Path(__file__).resolve().parent / "recorded"
"""Where the recorded results live: package data (``cnnnotes/training/recorded``), so a regular
``pip install`` carries them and a chapter downloaded on its own can read them."""

PROVENANCE_KEYS = ("command", "versions", "machine", "threads", "date")


def cpu_name() -> str:
    """The CPU's model name (from ``/proc/cpuinfo`` where there is one)."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            names = [line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return cpu


def provenance(command: list[str] | None = None) -> dict[str, Any]:
    """Who wrote a result: command line, versions, machine, thread count, UTC date."""
    cpu = cpu_name()
    return {
        "command": " ".join(command if command is not None else sys.argv),
        "versions": {
            "cnnnotes": __version__,
            "torch": str(torch.__version__),
            "python": platform.python_version(),
        },
        "machine": {"cpu": cpu, "cores": os.cpu_count(), "cuda": torch.cuda.is_available()},
        "threads": torch.get_num_threads(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def save(name: str, payload: dict[str, Any], command: list[str] | None = None) -> Path:
    """Write ``recorded/<name>.json`` with ``payload`` and its provenance, atomically."""
    if not name.isidentifier():
        raise ValueError(f"result name must be an identifier, got {name!r}")
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    path = DATA_DIR / f"{name}.json"
    return atomic_write_text(
        path, json.dumps({"provenance": provenance(command), **payload}, indent=1) + "\n"
    )


def load(name: str) -> dict[str, Any]:
    """Read ``recorded/<name>.json``; raise if it is missing or has no provenance."""
    path = DATA_DIR / f"{name}.json"
    if not path.is_file():
        command = "benchmark" if name == "benchmark" else "study"
        raise FileNotFoundError(
            f"{path} is missing: run `python scripts/experiments.py {command}` to produce it"
        )
    data = json.loads(path.read_text(encoding="utf-8"))
    missing = [k for k in PROVENANCE_KEYS if k not in data.get("provenance", {})]
    if missing:
        raise ValueError(f"{path} lacks provenance fields {missing}; regenerate it")
    return data
