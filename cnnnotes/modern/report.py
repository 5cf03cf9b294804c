"""What the modern-CNN chapter shows: sources without docstrings, block-level layer tables,
signals through a deep net at initialisation, recorded runs summarised and the Pareto view.

* :func:`source`: a function's code without its docstring, for printing in a chapter;
* :func:`block_table`: :func:`~cnnnotes.analysis.summary.layer_table` for a chain whose
  links may be :class:`~cnnnotes.modern.blocks.ResidualBlock`\\ s (one row per block);
* :func:`without_batch_norm` and :func:`block_signals`: a net's per-block activation
  scale and gradient size at initialisation, with and without batch norm;
* :func:`row_summary`, :func:`percent`, :func:`pareto_front` and
  :func:`pareto_figure`: the recorded study runs of a row as one summary, and accuracy
  against cost. Whatever *chooses* (the front) reads validation accuracy only.
"""

from __future__ import annotations

import ast
import copy
import inspect
import statistics
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import torch.nn.functional as F
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter
from torch import Tensor, nn

from cnnnotes._validate import function, instance, require
from cnnnotes.analysis.compare import study_runs
from cnnnotes.analysis.summary import LayerRow, layer_table
from cnnnotes.modern.blocks import ResidualBlock
from cnnnotes.training.study import final, summarise

__all__ = [
    "RowSummary",
    "block_signals",
    "block_table",
    "pareto_figure",
    "pareto_front",
    "percent",
    "row_summary",
    "source",
    "without_batch_norm",
]


def source(fn: Callable[..., Any]) -> str:
    """The source of ``fn`` (a function or method), dedented, without its docstring.

    >>> def halve(x):
    ...     '''Half of x.'''
    ...     return x / 2  # a comment stays
    >>> print(source(halve))
    def halve(x):
        return x / 2  # a comment stays
    """
    function(fn, "fn", "a function or method")
    lines = textwrap.dedent(inspect.getsource(fn)).splitlines()
    definition = ast.parse("\n".join(lines)).body[0]
    first = definition.body[0]
    is_doc = isinstance(first, ast.Expr) and isinstance(getattr(first, "value", None), ast.Constant)
    if is_doc and isinstance(first.value.value, str):  # drop the docstring's lines
        lines = lines[: first.lineno - 1] + lines[first.end_lineno :]
    return "\n".join(lines)


def _main_path(model: nn.Sequential) -> list[tuple[str, list[nn.Module]]]:
    """``(name, leaves)`` per child: a block's body and final ReLU, else the child itself."""
    out = []
    for name, child in model.named_children():
        if isinstance(child, ResidualBlock):
            out.append((name, [*child.body, child.relu]))
        else:
            out.append((name, [child]))
    return out


def block_table(
    model: nn.Sequential, input_shape: Sequence[int] = (1, 1, 28, 28)
) -> list[LayerRow]:
    """One :class:`~cnnnotes.analysis.summary.LayerRow` per child of ``model``, a residual
    block counted as one row.

    A block's row has all its parameters (the projection shortcut's too), the MACs of its
    body and of its shortcut, the bytes of its output, and the receptive field of its
    output: the field grows along the longest path, the body's two 3×3 convolutions (the
    shortcut's 1×1 path sees less). Other children are rows of
    :func:`~cnnnotes.analysis.summary.layer_table`.

    >>> from cnnnotes.modern.architectures import resnet_small, resnet_small_cost
    >>> rows = block_table(resnet_small())
    >>> [r.kind for r in rows][:5], rows[4].receptive_field
    (['Conv2d', 'BatchNorm2d', 'ReLU', 'ResidualBlock', 'ResidualBlock'], 11)
    >>> (sum(r.params for r in rows), sum(r.macs for r in rows)) == resnet_small_cost()
    True
    """
    instance(model, "model", nn.Sequential, "an nn.Sequential (a chain of layers and blocks)")
    groups = _main_path(model)
    chain = nn.Sequential(*(leaf for _, leaves in groups for leaf in leaves))
    leaf_rows = iter(layer_table(chain, input_shape))
    rows: list[LayerRow] = []
    for (name, leaves), child in zip(groups, model.children(), strict=True):
        part = [next(leaf_rows) for _ in leaves]
        if not isinstance(child, ResidualBlock):
            rows.append(LayerRow(name, *_fields(part[0])))
            continue
        macs = sum(r.macs for r in part)
        if isinstance(child.shortcut, nn.Sequential):  # a projection: 1×1 conv and BN
            macs += sum(r.macs for r in layer_table(child.shortcut, part[0].in_shape))
        params = sum(p.numel() for p in child.parameters())
        last = part[-1]
        rows.append(
            LayerRow(
                name,
                "ResidualBlock",
                part[0].in_shape,
                last.out_shape,
                params,
                macs,
                last.activation_bytes,
                last.receptive_field,
            )
        )
    return rows


def _fields(row: LayerRow) -> tuple:
    return (
        row.kind,
        row.in_shape,
        row.out_shape,
        row.params,
        row.macs,
        row.activation_bytes,
        row.receptive_field,
    )


def without_batch_norm(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` with every ``BatchNorm2d`` replaced by ``nn.Identity``.

    >>> net = without_batch_norm(nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)))
    >>> [type(m).__name__ for m in net]
    ['Conv2d', 'Identity']
    """
    instance(model, "model", nn.Module, "a torch.nn.Module")
    copied = copy.deepcopy(model)
    for parent in list(copied.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.BatchNorm2d):
                setattr(parent, name, nn.Identity())
    return copied


def block_signals(model: nn.Module, x: Tensor, y: Tensor) -> tuple[list[float], list[float]]:
    """``(std, gradient norm)`` of every residual block's output, for one batch.

    One forward pass of ``(x, y)`` in train mode with the cross-entropy loss, one backward
    pass: for each :class:`~cnnnotes.modern.blocks.ResidualBlock` (plain twins included)
    in the order they run, the standard deviation of its output and the norm of the
    loss's gradient with respect to that output. The model's own gradients are
    accumulated as usual. Use float64 (``model.double()``) for numbers that do not depend
    on the machine.
    """
    instance(model, "model", nn.Module, "a torch.nn.Module")
    outputs: list[Tensor] = []

    def keep(module: nn.Module, args: tuple, out: Tensor) -> None:
        out.retain_grad()
        outputs.append(out)

    hooks = [m.register_forward_hook(keep) for m in model.modules() if isinstance(m, ResidualBlock)]
    require(bool(hooks), "model has no ResidualBlock to measure")
    try:
        F.cross_entropy(model.train()(x), y).backward()
    finally:
        for hook in hooks:
            hook.remove()
    stds = [float(out.detach().std()) for out in outputs]
    return stds, [float(out.grad.norm()) for out in outputs]


@dataclass(frozen=True)
class RowSummary:
    """A study row over its seeds: its cost and its accuracies (fractions, mean and sd)."""

    key: str
    seeds: int
    params: int
    macs: int
    cpu_seconds: float  # training CPU time per run, mean over seeds
    val: tuple[float, float]
    test: tuple[float, float]


def row_summary(runs: Sequence[Mapping[str, Any]], key: str) -> RowSummary:
    """The runs of row ``key`` summarised: final validation accuracy, the once-per-run test
    accuracy, the model's size and MACs, and the mean training CPU seconds.

    >>> runs = [{"key": "a", "params": 5, "macs": 7, "test_acc": t,
    ...          "history": {"val_acc": [0.5, v], "cpu_seconds": [1.0, 2.0]}}
    ...         for v, t in ((0.90, 0.80), (0.92, 0.82))]
    >>> s = row_summary(runs, "a")
    >>> s.seeds, s.cpu_seconds, s.val
    (2, 3.0, (0.91, 0.014142135624))
    """
    flat = study_runs(list(runs))
    mine = [r for r in flat if r["key"] == key]
    require(len(mine) >= 2, f"row {key!r} needs at least 2 recorded seeds, got {len(mine)}")
    require(
        len({(r["params"], r["macs"]) for r in mine}) == 1,
        f"the runs of row {key!r} disagree on the model's size",
    )
    return RowSummary(
        key=key,
        seeds=len(mine),
        params=mine[0]["params"],
        macs=mine[0]["macs"],
        cpu_seconds=statistics.fmean(sum(r["cpu_seconds"]) for r in mine),
        val=summarise(final(flat, key, "val_acc")),
        test=summarise(final(flat, key, "test_acc")),
    )


def percent(pair: tuple[float, float]) -> str:
    """A ``(mean, sd)`` of fractions as ``"mean ± sd %"`` with two decimals.

    >>> percent((0.9234, 0.0012))
    '92.34 ± 0.12 %'
    """
    mean, sd = pair
    return f"{100 * mean:.2f} ± {100 * sd:.2f} %"


def pareto_front(points: Mapping[str, tuple[float, float]]) -> list[str]:
    """The keys whose ``(cost, accuracy)`` no other point beats: none is as cheap and as
    accurate with one of the two strictly better. In the order given.

    Pass *validation* accuracy: the front is a choice.

    >>> pareto_front({"a": (1, 0.80), "b": (2, 0.90), "c": (3, 0.85), "d": (2, 0.90)})
    ['a', 'b', 'd']
    """
    instance(points, "points", Mapping, "a mapping key -> (cost, accuracy)")

    def beaten(cost: float, acc: float) -> bool:
        return any(c <= cost and a >= acc and (c < cost or a > acc) for c, a in points.values())

    return [key for key, (cost, acc) in points.items() if not beaten(cost, acc)]


def pareto_figure(rows: Sequence[RowSummary], labels: Mapping[str, str] | None = None) -> Figure:
    """Accuracy against MACs per image (left) and training CPU seconds (right).

    Filled markers: validation accuracy, open markers: test accuracy, each the mean over
    seeds with ± one sd as bars; the grey line joins each panel's validation front
    (:func:`pareto_front`). ``labels`` renames the keys on the plot.
    """
    require(len(rows) > 0, "pareto_figure needs at least one row")
    labels = dict(labels or {})
    fig, axes = plt.subplots(1, 2, figsize=(8.8, 3.6), sharey=True)
    costs = {
        "MACs per image (millions)": lambda r: r.macs / 1e6,
        "training CPU seconds per run": lambda r: r.cpu_seconds,
    }
    for ax, (title, cost) in zip(axes, costs.items(), strict=True):
        for r in rows:
            x = cost(r)
            ax.errorbar(x, 100 * r.val[0], 100 * r.val[1], fmt="o", color="C0", capsize=2)
            test = (100 * r.test[0], 100 * r.test[1])
            ax.errorbar(x, *test, fmt="o", mfc="none", color="C1", capsize=2)
            name = labels.get(r.key, r.key)
            where = {"xytext": (4, 4), "textcoords": "offset points", "fontsize": 8}
            ax.annotate(name, (x, 100 * r.val[0]), **where)
        front = pareto_front({r.key: (cost(r), r.val[0]) for r in rows})
        line = [r for r in sorted(rows, key=cost) if r.key in front]
        ax.plot([cost(r) for r in line], [100 * r.val[0] for r in line], color="0.6", zorder=0)
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())  # label the decades only
        ax.set_xlabel(title)
    axes[0].set_ylabel("accuracy (%)")
    axes[0].plot([], [], "o", color="C0", label="validation")
    axes[0].plot([], [], "o", mfc="none", color="C1", label="test")
    fig.legend(loc="upper center", ncol=2, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.93))  # room for the legend above the panels
    return fig
