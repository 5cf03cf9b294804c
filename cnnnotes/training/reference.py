"""The reference model: the corrected notes' CNN, trained once and shipped with the package.

The chapters after the training chapter study this one network. It is *loaded*,
never retrained, so what they print is a function of committed files and the
same on every machine, and a learner who opens those chapters first waits
seconds, not minutes. ``python scripts/experiments.py reference`` trains it
again (recipe ``notes-corrected``, seed 0, two threads) and records, beside the
weights, everything needed to use and to judge it: the recipe, the seed, the
input normalisation, the training history, the test accuracy and the provenance
(command, versions, CPU, threads, date).

The file stays under 2 MB: ``fc1``'s weight, 98.8 % of the parameters, is stored in 8
bits with one scale per row (:mod:`~.quantize`), the rest as float32 (1.7 MB instead of
6.5 MB). The model the chapters load *is* that stored model, and its record's test
report is measured on it; ``as_trained`` keeps the report of the float32 weights as
training left them, and ``storage`` says what was rounded and on what share of the test
images the two models predict the same class.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnnnotes.training import results
from cnnnotes.training.augment import mean_and_std, normalize
from cnnnotes.training.cache import trained
from cnnnotes.training.checkpoint import load_checkpoint, save_checkpoint
from cnnnotes.training.loop import History, predict
from cnnnotes.training.quantize import dequantize_rows, quantize_rows
from cnnnotes.training.recipes import (
    RECIPES,
    Pair,
    Splits,
    load_data,
    normalized,
    report_on_test,
)

RECIPE = "notes-corrected"
"""The recipe the reference model was trained with (see :data:`~.recipes.RECIPES`)."""
SEED = 0
FILENAME = "notes-reference.pt"
RECORD_KEYS = ("recipe", "seed", "normalization", "history", "test_acc", "provenance")
INT8 = ("fc1.weight",)
"""The weights stored in 8 bits (one scale per row); every other tensor is float32."""


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
    return write_reference(model, history, {"mean": mean, "std": std}, splits.test, path)


def as_stored(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with the :data:`INT8` weights rounded as the file stores them."""
    stored = copy.deepcopy(model).eval()
    params = dict(stored.named_parameters())
    with torch.no_grad():
        for name in INT8:
            params[name].copy_(dequantize_rows(*quantize_rows(params[name])))
    return stored


def write_reference(
    model: nn.Module,
    history: History,
    normalization: dict[str, float],
    test: Pair,
    path: Path | None = None,
    provenance: dict[str, Any] | None = None,
) -> Path:
    """Save a trained reference model, :data:`INT8` weights in 8 bits, with its record.

    The record: recipe, seed, normalisation, history, the once-per-run test report
    (:func:`~.recipes.report_on_test`) of the model as stored, the same report of the
    float32 weights as trained (``as_trained``), ``storage`` (the rounded weights and the
    share of test images whose predicted class they left unchanged) and provenance
    (default: this run's).
    """
    recipe = RECIPES[RECIPE]
    stored = as_stored(model)
    same = predict(model, test[0]).argmax(1) == predict(stored, test[0]).argmax(1)
    meta = {
        "model": recipe.model,
        "recipe": {"name": RECIPE, **recipe.as_dict()},
        "seed": SEED,
        "normalization": dict(normalization),
        "history": history.as_dict(),
        **report_on_test(stored, test),
        "as_trained": report_on_test(model, test),
        "storage": {"int8": list(INT8), "same_predictions": same.double().mean().item()},
        "provenance": provenance or results.provenance(),
    }
    return save_checkpoint(path or reference_path(), model, meta, int8=INT8)
