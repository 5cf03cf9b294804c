"""Reproducibility: seeds, thread counts and the device."""

from __future__ import annotations

import os
import random

import torch

DEFAULT_THREADS = 2
"""CPU threads used for every stored output and its re-check (numbers depend on it)."""


def seed_everything(seed: int = 0) -> None:
    """Seed Python's and PyTorch's generators (CPU and CUDA).

    >>> seed_everything(0); a = torch.rand(2)
    >>> seed_everything(0); torch.equal(a, torch.rand(2))
    True
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")
    random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def threads_from_env(default: int = DEFAULT_THREADS) -> int:
    """The CPU thread count: ``$CNNNOTES_THREADS`` if set, else ``default``."""
    raw = os.environ.get("CNNNOTES_THREADS", str(default))
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"CNNNOTES_THREADS must be an int >= 1, got {raw!r}") from None
    if value < 1:
        raise ValueError(f"CNNNOTES_THREADS must be an int >= 1, got {raw!r}")
    return value


def pick_device(prefer: str | None = None) -> torch.device:
    """CUDA when present (or when ``prefer="cuda"``), else the CPU.

    >>> pick_device("cpu")
    device(type='cpu')
    """
    if prefer is not None:
        if prefer not in ("cpu", "cuda"):
            raise ValueError(f"device must be 'cpu' or 'cuda', got {prefer!r}")
        if prefer == "cuda" and not torch.cuda.is_available():
            raise ValueError("device 'cuda' was asked for, but no CUDA device is available")
        return torch.device(prefer)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def setup(seed: int = 0, threads: int | None = None) -> None:
    """The first cell of every chapter: fixed CPU threads, then :func:`seed_everything`.

    ``threads`` defaults to :func:`threads_from_env`; the stored outputs were made
    with :data:`DEFAULT_THREADS`.
    """
    n = threads_from_env() if threads is None else threads
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"threads must be an int >= 1, got {n!r}")
    torch.set_num_threads(n)
    seed_everything(seed)
