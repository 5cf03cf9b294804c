"""``python -m cnnnotes train``: train a model, write metrics.json and a checkpoint.

Example::

    python -m cnnnotes train --model notes --epochs 5 --out runs/notes

Every argument is checked before any work: a bad one ends with exit status 2 and
one line naming the argument and what is allowed, never a traceback, and nothing
is created. Missing or corrupt data end with exit status 1 and the fixes. The
output folder is created only when training has finished, and its two files are
written atomically, so a failed or interrupted run leaves no partial folder.

The checkpoint ``model.pt`` holds what :func:`cnnnotes.training.checkpoint.load_model` needs
to predict: the model name, the weights, the input normalisation, the class names
and the provenance. ``python -m cnnnotes predict runs/notes/model.pt image.png``
uses it. Only ``cnnnotes.__main__`` imports this module: the library never does.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch

from cnnnotes._io import atomic_write_text
from cnnnotes._validate import MAX_SEED, integer, number, seed
from cnnnotes.repro import pick_device
from cnnnotes.training.checkpoint import save_checkpoint
from cnnnotes.training.data import (
    CLASSES,
    DataCorruptError,
    DataNotFoundError,
    DataNotWritableError,
)
from cnnnotes.training.models import MODELS
from cnnnotes.training.recipes import RECIPES, Recipe, load_data_with_stats, report_on_test, run
from cnnnotes.training.results import provenance

T = TypeVar("T")


def finite_float(text: str) -> float:
    """``float(text)``, refusing ``nan`` and ``inf`` (ValueError), which are no settings.

    >>> finite_float("1e-3")
    0.001
    """
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not finite")
    return value


def validated(
    check: Callable[..., T], parse: Callable[[str], object], what: str, **limits: Any
) -> Callable[[str], T]:
    """An argparse type: ``parse`` the text, then ``check`` it with :mod:`cnnnotes._validate`.

    A text ``parse`` refuses is "expected WHAT"; a value ``check`` refuses keeps
    ``_validate``'s message (what is allowed, what was given). Both become
    :class:`argparse.ArgumentTypeError`, which argparse prints as one line after the
    option's name.

    >>> epochs = validated(integer, int, "a whole number", minimum=1)
    >>> epochs("3")
    3
    >>> epochs("0")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: must be an int >= 1, got 0
    >>> epochs("2.5")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: expected a whole number, got '2.5'
    """

    def convert(text: str) -> T:
        try:
            value = parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        try:
            return check(value, "value", **limits)
        except (ValueError, TypeError) as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix("value ")) from None

    return convert


positive_int = validated(integer, int, "a whole number", minimum=1)
seed_int = validated(seed, int, "a whole number")  # 0..MAX_SEED, the package's one seed bound
positive_float = validated(number, finite_float, "a finite number", above=0)


def parser(prog: str = "cnnnotes train") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Train a CNN on FashionMNIST; write metrics.json and model.pt to --out.",
    )
    p.add_argument(
        "--model", choices=sorted(MODELS), help="network (default: the recipe's, else notes)"
    )
    p.add_argument(
        "--recipe",
        choices=sorted(RECIPES),
        help="start from a named recipe (default: the settings of notes-corrected)",
    )
    p.add_argument("--epochs", type=positive_int, help="passes over the training set (default 5)")
    p.add_argument("--batch-size", type=positive_int, help="default 64")
    p.add_argument(
        "--lr",
        type=positive_float,
        help="learning rate of Adam, or AdamW when the recipe has weight decay "
        "(default: the recipe's, else 1e-3)",
    )
    p.add_argument(
        "--no-shuffle", action="store_true", help="keep the file order, as the notes did"
    )
    p.add_argument(
        "--no-normalize", action="store_true", help="raw [0, 1] inputs, as the notes did"
    )
    p.add_argument("--augment", action="store_true", help="random shifts and flips")
    p.add_argument("--schedule", choices=["constant", "onecycle"], help="learning-rate schedule")
    p.add_argument(
        "--seed",
        type=seed_int,
        default=0,
        help=f"seed for initialisation and shuffling, 0..{MAX_SEED}",
    )
    p.add_argument(
        "--max-batches",
        type=positive_int,
        help="end each epoch after this many batches (a quick smoke run; default: all)",
    )
    p.add_argument("--device", choices=["cpu", "cuda"], help="default: cuda when present")
    p.add_argument("--threads", type=positive_int, help="CPU threads (default: PyTorch's)")
    p.add_argument("--out", type=Path, required=True, help="output folder (created at the end)")
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
    """None if ``folder`` can be created (or exists) and written to, else the reason.

    Nothing is left behind: folders made for the test are removed again.
    """
    if folder.exists() and not folder.is_dir():
        return f"--out {folder} is a file, not a folder"
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder):
            pass
    except OSError as exc:
        return f"--out: cannot write to output folder {folder}: {exc.strerror or exc}"
    finally:
        if missing:
            shutil.rmtree(missing[-1], ignore_errors=True)  # the topmost folder we made
    return None


def main(argv: list[str] | None = None, prog: str = "cnnnotes train") -> int:
    """``cnnnotes train ...``: exit status 0, 1 (data missing or corrupt) or 2 (bad arguments)."""
    p = parser(prog)
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
        data, normalization = load_data_with_stats(recipe.normalize)
    except (DataNotFoundError, DataCorruptError, DataNotWritableError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    model, history = run(
        recipe,
        seed=args.seed,
        device=device,
        progress=True,
        data=data,
        max_batches=args.max_batches,
    )
    report = report_on_test(model, data.test, device=device)  # once, the run being finished
    command = ["cnnnotes train", *(sys.argv[1:] if argv is None else argv)]
    meta = {
        "model": recipe.model,
        "normalization": normalization,
        "classes": list(CLASSES),
        "recipe": recipe.as_dict(),
        "seed": args.seed,
        "max_batches": args.max_batches,  # None: full epochs
        "device": str(device),
        "history": history.as_dict(),
        **report,
        "run_seconds": time.perf_counter() - t0,  # the whole command: data, training, tests
        "provenance": provenance(command),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    save_checkpoint(args.out / "model.pt", model, meta)
    atomic_write_text(args.out / "metrics.json", json.dumps(meta, indent=2) + "\n")
    print(
        f"validation accuracy {100 * history.val_acc[-1]:.2f}%, test accuracy "
        f"{100 * report['test_acc']:.2f}% after {recipe.epochs} epochs; "
        f"wrote {args.out / 'metrics.json'} and {args.out / 'model.pt'}"
    )
    return 0
