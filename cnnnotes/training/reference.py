"""The reference model: the corrected notes' CNN, trained once and shipped with the package.

The chapters after the training chapter study this one network. It is *loaded*,
never retrained, so what they print is a function of committed files and the
same on every machine, and a learner who opens those chapters first waits
seconds, not minutes. ``python scripts/experiments.py reference`` trains it
again (recipe ``notes-corrected``, seed 0, two threads) and records, beside the
weights, everything needed to use and to judge it: the recipe, the seed, the
input normalisation, the training history, the test accuracy and the provenance
(command, versions, CPU, threads, date).

The weights are stored as float32, exactly as trained (6.5 MB): half precision
would halve the file but the chapters would then study a rounded copy whose
accuracy is not the one the training run measured.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from cnnnotes.training import results
from cnnnotes.training.augment import mean_and_std, normalize
from cnnnotes.training.cache import trained
from cnnnotes.training.checkpoint import load_checkpoint, save_checkpoint
from cnnnotes.training.loop import History
from cnnnotes.training.recipes import RECIPES, Splits, load_data, normalized, report_on_test

RECIPE = "notes-corrected"
"""The recipe the reference model was trained with (see :data:`~.recipes.RECIPES`)."""
SEED = 0
FILENAME = "notes-reference.pt"
RECORD_KEYS = ("recipe", "seed", "normalization", "history", "test_acc", "provenance")


def reference_path() -> Path:
    """Where the committed weights live: ``cnnnotes/training/recorded/notes-reference.pt``."""
    return results.DATA_DIR / FILENAME


def load_reference() -> tuple[nn.Module, dict[str, Any]]:
    """The reference model in eval mode, and its record (loaded with ``weights_only=True``).

    The record holds ``recipe``, ``seed``, ``normalization`` (``mean``, ``std``),
    ``history`` (per-epoch metrics), ``test_acc`` and ``provenance``.
    """
    path = reference_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"the reference model {path} is missing: reinstall cnnnotes, or in the repository "
            "run `python scripts/experiments.py reference`"
        )
    model, meta = load_checkpoint(path)
    missing = [
        k for k in ("recipe", "seed", "normalization", "history", "test_acc") if k not in meta
    ]
    if missing or "provenance" not in meta:
        raise ValueError(
            f"{path} is not a reference model: its record lacks {missing or 'provenance'}"
        )
    return model, meta


def reference_history(meta: dict[str, Any]) -> History:
    """The training history recorded with the reference model."""
    return History(**meta["history"])


def reference_data(meta: dict[str, Any], root: str | None = None) -> Splits:
    """The book's train/validation/test splits normalised with the reference's own statistics.

    The recorded mean and std are used as stored, so the inputs are the same on
    every machine (recomputing them over 43 million pixels would differ in the
    last bits from one CPU to another).
    """
    stats = meta["normalization"]
    raw = load_data(normalize=False, root=root)
    return Splits(*((normalize(x, stats["mean"], stats["std"]), y) for x, y in raw))


def make_reference(data: Splits | None = None, path: Path | None = None) -> Path:
    """Train the reference recipe with :data:`SEED` on the CPU and save it with its record.

    ``data`` may pass the raw (unnormalised) splits of :func:`~.recipes.load_data` to
    avoid reloading them. Returns the path written (default :func:`reference_path`).
    """
    raw = data if data is not None else load_data(normalize=False)
    mean, std = mean_and_std(raw.train[0])  # what normalized() normalises with
    splits = normalized(*raw)
    # Through the cache: the training chapter, run next on this machine, then finds this model.
    model, history = trained(RECIPE, SEED, retrain=True, data=splits)
    report = report_on_test(model, splits.test)
    return write_reference(model, history, {"mean": mean, "std": std}, report, path)


def write_reference(
    model: nn.Module,
    history: History,
    normalization: dict[str, float],
    report: dict[str, float],
    path: Path | None = None,
) -> Path:
    """Save a trained reference model with its record: recipe, seed, normalisation,
    history, the once-per-run test report (:func:`~.recipes.report_on_test`), provenance."""
    recipe = RECIPES[RECIPE]
    meta = {
        "model": recipe.model,
        "recipe": {"name": RECIPE, **recipe.as_dict()},
        "seed": SEED,
        "normalization": dict(normalization),
        "history": history.as_dict(),
        **report,
        "provenance": results.provenance(),
    }
    return save_checkpoint(path or reference_path(), model, meta)
