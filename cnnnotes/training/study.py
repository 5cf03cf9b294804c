"""The book's controlled comparisons: rows that change one thing against a named parent.

Every row of :data:`ROWS` is a :class:`~cnnnotes.training.recipes.Recipe` that differs
from its parent's in exactly one respect (checked by :func:`changed_fields`), is trained
over several seeds by ``scripts/experiments.py study``, and is recorded with, per seed,
the per-epoch training and *validation* metrics and one test evaluation of the finished
model. What the chapters conclude follows three rules, written as functions here:

* a choice reads validation accuracy only (:func:`select`); the test column is for
  the report, and a test checks that rewriting it never changes a choice;
* a row is summarised by the mean and the sample standard deviation over its seeds
  (:func:`summarise`);
* a difference from the parent is called an effect only when it is larger than the
  seed noise of both (:func:`verdict`).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, fields
from typing import Any

from cnnnotes._validate import choice, number, require, require_type
from cnnnotes.training.recipes import RECIPES, Recipe


@dataclass(frozen=True)
class Row:
    """A compared recipe: ``key``, its ``parent``'s key ("" for a root) and the change."""

    key: str
    parent: str
    change: str
    recipe: Recipe


_CORRECTED = RECIPES["notes-corrected"]
_ORIGINAL = RECIPES["notes-original"]
_DEEP = _CORRECTED.with_(model="plain-deep", epochs=2)
DECAYS = (0.01, 0.1, 1.0)
"""The weight-decay strengths λ compared (AdamW's default is 0.01)."""

ROWS: tuple[Row, ...] = (
    Row("original", "", "the notes as written: no shuffling, raw inputs", _ORIGINAL),
    Row("shuffle", "original", "+ reshuffle every epoch", _ORIGINAL.with_(shuffle=True)),
    Row("corrected", "shuffle", "+ normalise the inputs", _CORRECTED),
    Row(
        "batchnorm", "corrected", "+ batch norm after each conv", _CORRECTED.with_(model="notes-bn")
    ),
    # the learning rate batch norm tolerates: ten times the notes' rate, without and with it
    Row("lr-1e-2", "corrected", "learning rate 1e-3 -> 1e-2", _CORRECTED.with_(lr=1e-2)),
    Row(
        "batchnorm-lr-1e-2",
        "lr-1e-2",
        "+ batch norm after each conv",
        _CORRECTED.with_(model="notes-bn", lr=1e-2),
    ),
    Row(
        "gap",
        "corrected",
        "fc1's 12,544 inputs -> global average pooling",
        _CORRECTED.with_(model="notes-gap"),
    ),
    Row(
        "onecycle",
        "corrected",
        "+ one-cycle learning rate (β₁ fixed)",
        _CORRECTED.with_(schedule="onecycle"),
    ),
    Row(
        "onecycle-momentum",
        "onecycle",
        "+ β₁ cycled too (PyTorch's default)",
        _CORRECTED.with_(schedule="onecycle-momentum"),
    ),
    Row(
        "cosine",
        "onecycle",
        "no warm-up: one cosine anneal from the start",
        _CORRECTED.with_(schedule="cosine"),
    ),
    # weight decay (decoupled, AdamW) over three decades of λ, each against no decay
    *(
        Row(
            f"decay-{lam:g}",
            "corrected",
            f"+ decoupled weight decay λ = {lam:g}",
            _CORRECTED.with_(weight_decay=lam),
        )
        for lam in DECAYS
    ),
    Row("augment", "corrected", "+ random shifts and flips", _CORRECTED.with_(augment=True)),
    Row(
        "erasing",
        "augment",
        "+ random erasing (p = 0.5)",
        _CORRECTED.with_(augment=True, erase=0.5),
    ),
    Row("smoothing", "corrected", "+ label smoothing 0.1", _CORRECTED.with_(label_smoothing=0.1)),
    Row(
        "kaiming",
        "corrected",
        "+ He initialisation (conv1, conv2, fc1)",
        _CORRECTED.with_(model="notes-kaiming"),
    ),
    Row(
        "separable",
        "corrected",
        "conv2 -> depthwise-separable",
        _CORRECTED.with_(model="notes-separable"),
    ),
    Row("lenet5", "corrected", "architecture: LeNet-5", _CORRECTED.with_(model="lenet5")),
    Row(
        "vgg-small",
        "corrected",
        "architecture: VGG-style, batch norm",
        _CORRECTED.with_(model="vgg-small"),
    ),
    Row("nin-gap", "corrected", "architecture: NiN with GAP", _CORRECTED.with_(model="nin-gap")),
    Row(
        "resnet-small",
        "corrected",
        "architecture: small ResNet",
        _CORRECTED.with_(model="resnet-small"),
    ),
    # the depth experiment has its own root: two epochs keep 26 layers affordable
    Row("plain-deep", "", "a 26-layer plain net (half width), 2 epochs", _DEEP),
    Row("resnet-deep", "plain-deep", "+ identity shortcuts", _DEEP.with_(model="resnet-deep")),
)
"""The compared rows, parents first; a row without a parent is the root of its experiment.

An architecture row's one change is the model."""

ROOTS = ("original", "plain-deep")

BY_KEY: dict[str, Row] = {row.key: row for row in ROWS}


def changed_fields(recipe: Recipe, parent: Recipe) -> list[str]:
    """The recipe fields in which ``recipe`` differs from ``parent``.

    >>> changed_fields(Recipe(lr=2e-3), Recipe())
    ['lr']
    """
    require_type(isinstance(recipe, Recipe), f"recipe must be a Recipe, got {recipe!r}")
    require_type(isinstance(parent, Recipe), f"parent must be a Recipe, got {parent!r}")
    return [f.name for f in fields(Recipe) if getattr(recipe, f.name) != getattr(parent, f.name)]


def stale_rows(runs: list[dict[str, Any]]) -> list[str]:
    """The row keys among ``runs`` whose recorded recipe is no longer the row's recipe in
    :data:`ROWS` (or whose row is gone): their numbers describe another experiment.

    A field the record lacks counts as its default (:meth:`Recipe.from_dict`).

    >>> stale_rows([{"key": "corrected", "recipe": {"model": "notes", "lr": 0.01}}])
    ['corrected']
    """
    return sorted(
        {
            r["key"]
            for r in runs
            if r["key"] not in BY_KEY or Recipe.from_dict(r["recipe"]) != BY_KEY[r["key"]].recipe
        }
    )


def summarise(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n − 1) over seeds; at least two values.

    >>> summarise([0.90, 0.92, 0.94])
    (0.92, 0.02)
    """
    require_type(isinstance(values, (list, tuple)), f"values must be a list, got {values!r}")
    require(len(values) >= 2, f"a spread needs at least 2 seeds, got {len(values)}")
    values = [number(v, "value") for v in values]
    mean = statistics.fmean(values)
    return round(mean, 12), round(statistics.stdev(values), 12)


def final(runs: list[dict[str, Any]], key: str, metric: str) -> list[float]:
    """``metric`` of every seed of row ``key``: a final-epoch ``val_acc``/``val_loss``
    (from the run's per-epoch ``history``, or from the run itself when it has none),
    or the once-per-run ``test_acc``/``test_loss``.

    >>> final([{"key": "a", "history": {"val_acc": [0.5, 0.9]}, "test_acc": 0.8}], "a", "val_acc")
    [0.9]
    """
    choice(metric, "metric", ("val_acc", "val_loss", "test_acc", "test_loss"))
    out = [
        r.get("history", r)[metric][-1] if metric.startswith("val") else r[metric]
        for r in runs
        if r["key"] == key
    ]
    require(len(out) > 0, f"no runs of row {key!r}")
    return out


def select(runs: list[dict[str, Any]], keys: list[str]) -> str:
    """The row among ``keys`` with the highest mean final *validation* accuracy.

    Ties go to the earlier key. Only ``val_acc`` is read: a choice never sees the test set.

    >>> runs = [{"key": "a", "val_acc": [0.91], "test_acc": 0.99},
    ...         {"key": "b", "val_acc": [0.92], "test_acc": 0.10}]
    >>> select(runs, ["a", "b"])
    'b'
    """
    require(len(keys) > 0, "select needs at least one row key")
    means = {k: statistics.fmean(final(runs, k, "val_acc")) for k in keys}
    return max(keys, key=lambda k: (means[k], -keys.index(k)))


def verdict(row: list[float], parent: list[float]) -> str:
    """Is ``row`` different from ``parent``? Compared with the seed noise of both.

    An *effect* when the difference of the means exceeds twice the standard error of
    that difference, √(s²_row/n_row + s²_parent/n_parent) (about a 95 % interval);
    otherwise *within seed noise*.

    >>> verdict([0.930, 0.931, 0.929], [0.920, 0.921, 0.919])
    'better (effect)'
    >>> verdict([0.921, 0.925, 0.917], [0.920, 0.924, 0.916])
    'within seed noise'
    """
    (m1, s1), (m0, s0) = summarise(row), summarise(parent)
    se = math.sqrt(s1**2 / len(row) + s0**2 / len(parent))
    diff = m1 - m0
    if abs(diff) <= 2 * se:
        return "within seed noise"
    return "better (effect)" if diff > 0 else "worse (effect)"


@dataclass(frozen=True)
class Comparison:
    """One row against its parent: means ± sds over seeds (fractions) and the verdict."""

    key: str
    parent: str
    change: str
    seeds: int
    val: tuple[float, float]
    test: tuple[float, float]
    verdict: str


def compare(runs: list[dict[str, Any]], key: str, parent: str | None = None) -> Comparison:
    """Row ``key`` against ``parent`` (default: its own parent in :data:`ROWS`).

    The verdict compares final validation accuracies (what a choice may read); the
    test column is carried along for the report.
    """
    choice(key, "key", list(BY_KEY))
    parent = BY_KEY[key].parent if parent is None else choice(parent, "parent", list(BY_KEY))
    require(bool(parent), f"row {key!r} has no parent to compare with")
    val = final(runs, key, "val_acc")
    return Comparison(
        key=key,
        parent=parent,
        change=BY_KEY[key].change,
        seeds=len(val),
        val=summarise(val),
        test=summarise(final(runs, key, "test_acc")),
        verdict=verdict(val, final(runs, parent, "val_acc")),
    )


def format_comparisons(rows: list[Comparison]) -> str:
    """A plain-text table: change, seeds, validation and test accuracy in % (mean ± sd), verdict.

    >>> row = Comparison("gap", "corrected", "-> GAP", 3, (0.9, 0.001), (0.89, 0.002), "worse")
    >>> print(format_comparisons([row]))
    change  seeds  validation %   test %           against    verdict
    -> GAP      3  90.00 ± 0.10   89.00 ± 0.20     corrected  worse
    """
    width = max(len("change"), *(len(r.change) for r in rows))
    head = f"{'change':<{width}}  seeds  {'validation %':<15}{'test %':<17}{'against':<11}verdict"
    lines = [head]
    for r in rows:
        val = f"{100 * r.val[0]:.2f} ± {100 * r.val[1]:.2f}"
        test = f"{100 * r.test[0]:.2f} ± {100 * r.test[1]:.2f}"
        lines.append(
            f"{r.change:<{width}}  {r.seeds:>5}  {val:<15}{test:<17}{r.parent:<11}{r.verdict}"
        )
    return "\n".join(lines)
