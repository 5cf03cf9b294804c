"""``python -m cnnnotes.train``: train a model, write metrics.json and a checkpoint.

Example::

    python -m cnnnotes.train --model notes --epochs 5 --out runs/notes

Bad arguments and missing data end with a one-paragraph message and exit code 2
(arguments) or 1 (data), never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

from cnnnotes.checkpoint import save_checkpoint
from cnnnotes.data import DataCorruptError, DataNotFoundError
from cnnnotes.models import MODELS
from cnnnotes.recipes import RECIPES, Recipe, run
from cnnnotes.repro import pick_device
from cnnnotes.results import provenance


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m cnnnotes.train",
        description="Train a CNN on FashionMNIST; write metrics.json and model.pt to --out.",
    )
    p.add_argument(
        "--model", choices=sorted(MODELS), help="network (default: the recipe's, else notes)"
    )
    p.add_argument(
        "--recipe", choices=sorted(RECIPES), help="start from a named recipe (default: corrected)"
    )
    p.add_argument("--epochs", type=positive_int, help="passes over the training set (default 5)")
    p.add_argument("--batch-size", type=positive_int, help="default 64")
    p.add_argument("--lr", type=positive_float, help="Adam learning rate (default 1e-3)")
    p.add_argument(
        "--no-shuffle", action="store_true", help="keep the file order, as the notes did"
    )
    p.add_argument(
        "--no-normalize", action="store_true", help="raw [0, 1] inputs, as the notes did"
    )
    p.add_argument("--augment", action="store_true", help="random shifts and flips")
    p.add_argument("--schedule", choices=["constant", "onecycle"], help="learning-rate schedule")
    p.add_argument("--seed", type=int, default=0, help="seed for initialisation and shuffling")
    p.add_argument("--device", choices=["cpu", "cuda"], help="default: cuda when present")
    p.add_argument("--threads", type=positive_int, help="CPU threads (default: PyTorch's)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    return p


def recipe_from(args: argparse.Namespace) -> Recipe:
    base = RECIPES[args.recipe] if args.recipe else Recipe()
    changes: dict[str, object] = {}
    if args.model is not None:
        changes["model"] = args.model
    for name in ("epochs", "batch_size", "lr", "schedule"):
        if getattr(args, name) is not None:
            changes[name] = getattr(args, name)
    if args.no_shuffle:
        changes["shuffle"] = False
    if args.no_normalize:
        changes["normalize"] = False
    if args.augment:
        changes["augment"] = True
    return base.with_(**changes)


def check_writable(folder: Path) -> str | None:
    """None if files can be written in ``folder`` (created if needed), else the reason."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder):
            pass
    except OSError as exc:
        return f"cannot write to output folder {folder}: {exc.strerror or exc}"
    return None


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    try:
        recipe = recipe_from(args)
        device = pick_device(args.device)
    except ValueError as exc:
        p.error(str(exc))
    problem = check_writable(args.out)
    if problem:
        p.error(problem)
    if args.threads:
        torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    try:
        model, history = run(recipe, seed=args.seed, device=device, progress=True)
    except (DataNotFoundError, DataCorruptError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    command = ["python -m cnnnotes.train", *(sys.argv[1:] if argv is None else argv)]
    meta = {
        "model": recipe.model,
        "recipe": recipe.as_dict(),
        "seed": args.seed,
        "device": str(device),
        "history": history.as_dict(),
        "test_acc": history.test_acc[-1],
        "seconds": time.perf_counter() - t0,
        **provenance(command),
    }
    save_checkpoint(args.out / "model.pt", model, meta)
    tmp = args.out / ".metrics.json.tmp"
    tmp.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, args.out / "metrics.json")
    print(f"test accuracy {100 * history.test_acc[-1]:.2f}% after {recipe.epochs} epochs; "
          f"wrote {args.out / 'metrics.json'} and {args.out / 'model.pt'}")  # fmt: skip
    return 0
