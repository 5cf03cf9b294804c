"""Reading the study: rows against their parents, per-epoch values over seeds, one figure.

The study (``results.load("study")["runs"]``) holds one run per (row, seed): its recipe,
its per-epoch ``history`` (training metrics as running means over each epoch, validation
metrics after it) and one test evaluation of the finished model.
:func:`cnnnotes.training.study.compare` turns a row and its parent into a
:class:`~cnnnotes.training.study.Comparison`; this module adds what the chapters that
read the study share:

* :func:`study_runs`: the runs with their per-epoch lists where ``final`` reads them;
* :func:`per_epoch`: one metric after a given epoch, over a row's seeds (e.g. the loss
  after the first epoch, which judges an optimisation aid);
* :func:`difference` and :func:`effect`: the two numbers
  :func:`~cnnnotes.training.study.verdict` compares, and the verdict for a metric where
  lower is better (a loss);
* :func:`plot_comparisons`: every row's validation accuracy (mean ± sd over seeds) with
  its test accuracy alongside, coloured by the verdict against its parent.

Nothing here chooses: choices read validation accuracy through
:func:`cnnnotes.training.study.select`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from cnnnotes._validate import choice, integer, require, require_type
from cnnnotes.training.study import Comparison, summarise, verdict

__all__ = ["difference", "effect", "per_epoch", "plot_comparisons", "study_runs"]

HISTORY_METRICS = ("train_loss", "train_acc", "val_loss", "val_acc", "seconds", "cpu_seconds")
"""The per-epoch fields of a run's history (``train_*`` are running means over the epoch)."""

VERDICT_COLOURS = {
    "better (effect)": "tab:green",
    "worse (effect)": "tab:red",
    "within seed noise": "tab:gray",
}


def study_runs(runs: Sequence[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The study's runs, each with its ``history`` lists also at the top level.

    :func:`~cnnnotes.training.study.final` reads ``run["val_acc"]``; a recorded run keeps
    it in ``run["history"]``. ``runs=None`` loads the recorded study.

    >>> run = {"key": "a", "seed": 0, "history": {"val_acc": [0.8, 0.9]}, "test_acc": 0.88}
    >>> study_runs([run])[0]["val_acc"]
    [0.8, 0.9]
    """
    if runs is None:
        from cnnnotes.training import results  # loads the recorded file only when asked

        runs = results.load("study")["runs"]
    require_type(isinstance(runs, (list, tuple)), f"runs must be a list, got {runs!r}")
    out = []
    for run in runs:
        require_type(isinstance(run, dict) and "history" in run, f"not a study run: {run!r}")
        out.append({**run, **run["history"]})
    return out


def per_epoch(runs: Sequence[dict[str, Any]], key: str, metric: str, epoch: int) -> list[float]:
    """``metric`` after epoch ``epoch`` (1-based) of every seed of row ``key``, in seed order.

    >>> runs = study_runs([{"key": "a", "seed": s, "history": {"val_loss": [0.5 + s, 0.4]}}
    ...                    for s in (1, 0)])
    >>> per_epoch(runs, "a", "val_loss", 1)
    [0.5, 1.5]
    """
    choice(metric, "metric", HISTORY_METRICS)
    epoch = integer(epoch, "epoch", 1)
    mine = sorted((r for r in runs if r["key"] == key), key=lambda r: r["seed"])
    require(len(mine) > 0, f"no runs of row {key!r}")
    require(
        all(len(r[metric]) >= epoch for r in mine),
        f"row {key!r} has fewer than {epoch} epochs of {metric}",
    )
    return [r[metric][epoch - 1] for r in mine]


def difference(row: Sequence[float], parent: Sequence[float]) -> tuple[float, float]:
    """``(Δ, se)``: the difference of the means and its standard error over seeds.

    ``se = √(s²_row/n_row + s²_parent/n_parent)`` with sample standard deviations;
    :func:`~cnnnotes.training.study.verdict` calls ``Δ`` an effect when ``|Δ| > 2·se``.

    >>> d, se = difference([0.93, 0.94, 0.95], [0.92, 0.92, 0.92])
    >>> round(d, 4), round(se, 4)
    (0.02, 0.0058)
    """
    (m1, s1), (m0, s0) = summarise(list(row)), summarise(list(parent))
    return m1 - m0, math.sqrt(s1**2 / len(row) + s0**2 / len(parent))


def effect(row: Sequence[float], parent: Sequence[float], higher_is_better: bool = True) -> str:
    """:func:`~cnnnotes.training.study.verdict`, with "better" meaning lower when
    ``higher_is_better`` is false (a loss).

    >>> effect([0.30, 0.31, 0.29], [0.40, 0.41, 0.39], higher_is_better=False)
    'better (effect)'
    """
    if higher_is_better:
        return verdict(list(row), list(parent))
    return verdict([-v for v in row], [-v for v in parent])


def plot_comparisons(ax: Any, rows: Sequence[Comparison], labels: Sequence[str] | None = None):
    """Draw each row's validation accuracy (mean ± sd, %) and its test accuracy alongside.

    One line per row, the first at the top. The validation marker's colour is the row's
    verdict against its parent (green better, red worse, grey within seed noise); the
    test marker (hollow square, just below) is for the report and decides nothing.
    ``labels`` defaults to the rows' keys. Returns ``ax``.
    """
    require(len(rows) > 0, "plot_comparisons needs at least one row")
    labels = [r.key for r in rows] if labels is None else list(labels)
    require(len(labels) == len(rows), f"{len(labels)} labels for {len(rows)} rows")
    ys = list(range(len(rows)))[::-1]
    shown: set[str] = set()
    for y, r in zip(ys, rows, strict=True):
        colour = VERDICT_COLOURS.get(r.verdict, "tab:blue")
        name = f"validation: {r.verdict}"
        val_label = None if name in shown else name
        ax.errorbar(
            100 * r.val[0],
            y + 0.12,
            xerr=100 * r.val[1],
            fmt="o",
            color=colour,
            capsize=3,
            label=val_label,
        )
        shown.add(name)
        test_label = None if "test" in shown else "test (report only)"
        ax.errorbar(
            100 * r.test[0],
            y - 0.12,
            xerr=100 * r.test[1],
            fmt="s",
            color="black",
            mfc="none",
            capsize=3,
            label=test_label,
        )
        shown.add("test")
    ax.set_yticks(ys)
    ax.set_yticklabels(labels)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlabel("accuracy after the last epoch (%, mean ± sd over seeds)")
    return ax
