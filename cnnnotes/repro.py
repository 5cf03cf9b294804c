"""Reproducibility: seeds, thread counts, the device, and one run's randomness.

One training run's randomness comes from one seed, :func:`seeded_run`.
Inside ``with seeded_run(seed, device) as generator:``

* ``generator`` (a CPU ``torch.Generator`` seeded with ``seed``) is what shuffling
  and augmentation draw from, explicitly;
* PyTorch's global generator (CPU, and the CUDA device's when ``device`` is CUDA),
  which in-model randomness such as dropout draws from, is seeded once from a twin
  of ``generator`` (so ``generator``'s own stream is untouched), inside
  ``torch.random.fork_rng``: the caller's global state is the same after the block;
* on CUDA, deterministic algorithms are switched on (cuDNN deterministic, no
  benchmarking, ``torch.use_deterministic_algorithms(True, warn_only=True)``) and
  restored afterwards. An op without a deterministic CUDA version then *warns* and
  may differ from run to run; a CUDA run is never bit-identical to a CPU run.

On the CPU, a run is bit-identical for the same seed, thread count, CPU kind and
library versions (see ``book/setup.md``). Every seed is an int from 0 to
:data:`cnnnotes._validate.MAX_SEED` (``2**32 - 1``).
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator

import torch

from cnnnotes._validate import choice, positive_int, require
from cnnnotes._validate import device as as_device
from cnnnotes._validate import seed as a_seed

DEFAULT_THREADS = 2
"""CPU threads used for every stored output and its re-check (numbers depend on it)."""


def seed_everything(seed: int = 0) -> None:
    """Seed Python's and PyTorch's generators (CPU and CUDA); ``seed`` is 0 to ``2**32 - 1``.

    >>> seed_everything(0); a = torch.rand(2)
    >>> seed_everything(0); torch.equal(a, torch.rand(2))
    True
    """
    seed = a_seed(seed)
    random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def threads_from_env(default: int = DEFAULT_THREADS) -> int:
    """The CPU thread count: ``$CNNNOTES_THREADS`` if set, else ``default``."""
    raw = os.environ.get("CNNNOTES_THREADS", str(default))
    try:
        value = int(raw)
    except ValueError:
        value = 0  # not a whole number: refused below
    require(value >= 1, f"CNNNOTES_THREADS must be an int >= 1, got {raw!r}")
    return value


def pick_device(prefer: str | None = None) -> torch.device:
    """CUDA when present (or when ``prefer="cuda"``), else the CPU.

    >>> pick_device("cpu")
    device(type='cpu')
    """
    if prefer is not None:
        choice(prefer, "device", ("cpu", "cuda"))
        require(
            prefer == "cpu" or torch.cuda.is_available(),
            "device 'cuda' was asked for, but no CUDA device is available",
        )
        return torch.device(prefer)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def setup(seed: int = 0, threads: int | None = None) -> None:
    """The first cell of every chapter: fixed CPU threads, then :func:`seed_everything`.

    ``threads`` defaults to :func:`threads_from_env`; the stored outputs were made
    with :data:`DEFAULT_THREADS`.
    """
    seed = a_seed(seed)  # every argument is checked before anything changes
    n = threads_from_env() if threads is None else positive_int(threads, "threads")
    torch.set_num_threads(n)
    seed_everything(seed)


@contextlib.contextmanager
def _deterministic(device: torch.device) -> Iterator[None]:
    if device.type != "cuda":
        yield
        return
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # exact cuBLAS reductions
    before = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
    )
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = before[2:]


@contextlib.contextmanager
def seeded_run(seed: int, device: torch.device | str = "cpu") -> Iterator[torch.Generator]:
    """The run's generator; global RNG seeded from it and restored afterwards.

    >>> with seeded_run(0) as g:
    ...     a = torch.rand(1, generator=g), torch.rand(1)
    >>> with seeded_run(0) as g:
    ...     b = torch.rand(1, generator=g), torch.rand(1)
    >>> a == b
    True
    """
    seed = a_seed(seed)
    device = as_device(device)
    cuda = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda), _deterministic(device):
        # The global seed is drawn from a twin of the run's generator, so the run's own
        # stream (shuffles, augmentation) is exactly what it would be without dropout.
        twin = torch.Generator().manual_seed(seed)
        torch.manual_seed(int(torch.randint(2**62, (1,), generator=twin)))
        yield torch.Generator().manual_seed(seed)
