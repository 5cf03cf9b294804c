"""Trained models cached on disk: a cache entry may save time, never change a result.

An entry is a checkpoint whose file name carries a hash of everything the
training result depends on: the recipe (data normalisation included), the seed,
a digest of the training and test tensors, a digest of this package's source
code, the thread count, the library versions, the CPU and the settings that pick
its float kernels. A different
machine or setting therefore never finds another's entry, and an entry that
cannot be read or whose record does not match is deleted and trained again.
Clear the cache with ``make clean`` or ``python -m cnnnotes cache --clear``.

One exception, asked for explicitly: with ``CNNNOTES_CACHE_ANY_KERNELS=1`` an entry
trained on this machine under *other float-kernel settings* (``KERNEL_VARIABLES``, the
CPU capability ATen picked, the thread count, and so the last bits of normalised inputs)
is reused. ``make test`` sets it for its
second notebook pass, which re-checks every stored output under other kernels and one
thread: the one chapter that trains (chapter 9) then reuses the first pass's model
instead of training again, which is sound because every output that depends on a
trained model is a measurement, checked against a band, never compared digit for digit.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnnnotes import __version__
from cnnnotes._validate import boolean, choice
from cnnnotes._validate import seed as a_seed
from cnnnotes.training.checkpoint import load_checkpoint, save_checkpoint
from cnnnotes.training.loop import History
from cnnnotes.training.recipes import RECIPES, Recipe, Splits, load_data, run
from cnnnotes.training.results import cpu_name

KERNEL_VARIABLES = (
    "ATEN_CPU_CAPABILITY",
    "ONEDNN_MAX_CPU_ISA",
    "MKL_ENABLE_INSTRUCTIONS",
    "MKL_CBWR",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
)
"""Environment variables that change which float kernels run, hence the last bits."""

ANY_KERNELS = "CNNNOTES_CACHE_ANY_KERNELS"
"""Set to ``1`` to reuse an entry trained under other float kernels or threads (see above)."""


def cache_dir() -> Path:
    """``$CNNNOTES_CACHE`` if set, else ``~/.cache/cnnnotes/runs``."""
    env = os.environ.get("CNNNOTES_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "cnnnotes" / "runs"


def tensor_digest(*tensors: torch.Tensor) -> str:
    """A short hash of the tensors' shapes, dtypes and bytes.

    >>> tensor_digest(torch.zeros(2)) == tensor_digest(torch.zeros(2))
    True
    >>> tensor_digest(torch.zeros(2)) == tensor_digest(torch.zeros(3))
    False
    """
    h = hashlib.blake2b(digest_size=16)
    for t in tensors:
        t = t.detach().cpu().contiguous()
        h.update(f"{tuple(t.shape)} {t.dtype};".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def code_digest() -> str:
    """A short hash of the ``cnnnotes`` source files: a code change retrains."""
    h = hashlib.blake2b(digest_size=16)
    for path in sorted(Path(__file__).resolve().parent.rglob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def fingerprint(recipe: Recipe, seed: int, data: Splits) -> dict[str, Any]:
    """Everything a training run's result depends on (the test split is not among it)."""
    (x_train, y_train), (x_val, y_val) = data.train, data.val
    return {
        "recipe": recipe.as_dict(),
        "seed": seed,
        "data": tensor_digest(x_train, y_train, x_val, y_val),
        "labels": tensor_digest(y_train, y_val),  # integers: the same under any kernels
        "shapes": [list(x_train.shape), list(x_val.shape)],
        "code": code_digest(),
        "threads": torch.get_num_threads(),
        "versions": {
            "torch": str(torch.__version__),
            "cnnnotes": __version__,
            "python": platform.python_version(),
        },
        "cpu": {"name": cpu_name(), "capability": torch.backends.cpu.get_cpu_capability()},
        "kernel_env": {k: os.environ.get(k) for k in KERNEL_VARIABLES},
    }


def without_kernels(fp: dict[str, Any]) -> dict[str, Any]:
    """``fp`` less what float kernels and threads change: what both test passes share.

    That is the kernel settings, the thread count, and the digest of the input floats:
    normalised inputs are computed with reductions whose last bits follow the kernels.
    The labels and shapes stay, so other data still never reuse an entry.

    >>> fp = {"seed": 0, "threads": 2, "data": "ab", "labels": "cd",
    ...       "cpu": {"name": "x", "capability": "AVX2"}, "kernel_env": {}}
    >>> without_kernels(fp)
    {'seed': 0, 'labels': 'cd', 'cpu': {'name': 'x'}}
    """
    rest = {k: v for k, v in fp.items() if k not in ("kernel_env", "threads", "data")}
    rest["cpu"] = {k: v for k, v in fp["cpu"].items() if k != "capability"}
    return rest


def any_kernels() -> bool:
    """Whether ``$CNNNOTES_CACHE_ANY_KERNELS`` asks to reuse entries across kernel settings."""
    return os.environ.get(ANY_KERNELS, "") == "1"


def entry_path(name: str, seed: int, fp: dict[str, Any]) -> Path:
    """The cache file for recipe ``name``, ``seed`` and fingerprint ``fp``.

    The name hashes the fingerprint less its kernel settings, so one file per machine
    holds a run; the full fingerprint inside decides whether it may be reused.
    """
    text = json.dumps(without_kernels(fp), sort_keys=True)
    key = hashlib.sha256(text.encode()).hexdigest()[:16]
    return cache_dir() / f"{name}-seed{seed}-{key}.pt"


def _cached(path: Path, fp: dict[str, Any]) -> tuple[nn.Module, History] | None:
    """The entry at ``path`` if it loads and matches ``fp``; else None (a bad entry is removed)."""
    if not path.is_file():
        return None
    try:
        model, meta = load_checkpoint(path)
        stored = meta.get("fingerprint")
        same = stored == fp or (
            any_kernels()
            and isinstance(stored, dict)
            and without_kernels(stored) == without_kernels(fp)
        )
        if same:
            return model, History(**meta["history"])
    except Exception:  # a truncated or foreign file: delete it and train again
        pass
    path.unlink(missing_ok=True)
    return None


def trained(
    name: str,
    seed: int = 0,
    *,
    retrain: bool = False,
    data: Splits | None = None,
    progress: bool = True,
) -> tuple[nn.Module, History]:
    """The model of recipe ``name`` trained with ``seed`` on the CPU, cached when possible.

    ``data`` are the recipe's :class:`~cnnnotes.training.recipes.Splits` (default: loaded
    with the recipe's normalisation); the training and validation tensors are part of the
    cache key (training never reads the test set). ``retrain=True``
    always trains and refreshes the entry. ``progress`` shows a progress bar
    (``TQDM_DISABLE=1`` hides it). The model is returned in eval mode with its
    training history.
    """
    choice(name, "name", sorted(RECIPES))
    seed = a_seed(seed)
    boolean(retrain, "retrain")
    boolean(progress, "progress")
    recipe = RECIPES[name]
    data = data if data is not None else load_data(recipe.normalize)
    fp = fingerprint(recipe, seed, data)
    path = entry_path(name, seed, fp)
    hit = None if retrain else _cached(path, fp)
    if hit is not None:
        return hit
    model, history = run(recipe, seed=seed, device="cpu", progress=progress, data=data)
    model.eval()
    meta = {"model": recipe.model, "fingerprint": fp, "history": history.as_dict()}
    save_checkpoint(path, model, meta)
    return model, history


def clear_cache() -> int:
    """Delete every cached model; return how many files were removed."""
    removed = 0
    for path in cache_dir().glob("*.pt"):
        path.unlink(missing_ok=True)
        removed += 1
    return removed


def main(argv: list[str] | None = None, prog: str = "cnnnotes cache") -> int:
    """``cnnnotes cache [--clear]``: show or clear the cache of trained models."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="List the cached trained models (set CNNNOTES_CACHE to move the cache), "
        "or delete them with --clear.",
    )
    parser.add_argument("--clear", action="store_true", help="delete every cached model")
    args = parser.parse_args(argv)
    if args.clear:
        print(f"removed {clear_cache()} cached model(s) from {cache_dir()}")
    else:
        entries = sorted(cache_dir().glob("*.pt"))
        print(f"{len(entries)} cached model(s) in {cache_dir()}")
        for path in entries:
            print(f"  {path.name}  {path.stat().st_size / 1e6:.1f} MB")
    return 0
