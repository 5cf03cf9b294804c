"""Trained models cached on disk, so later chapters reuse the training chapter's run.

A cache entry is a checkpoint whose metadata records the recipe, seed, thread
count and library versions; an entry is used only when all of them match, so a
cached model is the model a fresh run would produce on this machine.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnnnotes import __version__
from cnnnotes.checkpoint import load_checkpoint, save_checkpoint
from cnnnotes.recipes import RECIPES, Recipe, run
from cnnnotes.train import History


def cache_dir() -> Path:
    """``$CNNNOTES_CACHE`` if set, else ``~/.cache/cnnnotes/runs``."""
    env = os.environ.get("CNNNOTES_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "cnnnotes" / "runs"


def fingerprint(recipe: Recipe, seed: int) -> dict[str, Any]:
    """Everything a training run's result depends on (on one machine)."""
    return {
        "recipe": recipe.as_dict(),
        "seed": seed,
        "threads": torch.get_num_threads(),
        "torch": str(torch.__version__),
        "cnnnotes": __version__,
    }


def _path(name: str, seed: int) -> Path:
    return cache_dir() / f"{name}-seed{seed}.pt"


def trained(
    name: str, seed: int = 0, *, retrain: bool = False, data: tuple | None = None
) -> tuple[nn.Module, History]:
    """The model of recipe ``name`` trained with ``seed`` (CPU), from the cache when it matches.

    ``retrain=True`` always trains (and refreshes the cache entry). The model is
    returned in eval mode with its training history.
    """
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; choose one of {', '.join(sorted(RECIPES))}")
    recipe = RECIPES[name]
    path = _path(name, seed)
    expected = fingerprint(recipe, seed)
    if not retrain and path.is_file():
        model, meta = load_checkpoint(path)
        if meta.get("fingerprint") == expected:
            return model, History(**meta["history"])
    model, history = run(recipe, seed=seed, device="cpu", progress=False, data=data)
    model.eval()
    meta = {"model": recipe.model, "fingerprint": expected, "history": history.as_dict()}
    save_checkpoint(path, model, meta)
    return model, history
