"""A figure of a chain-shaped computation graph: values flow down, gradients flow up."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from cnnnotes._validate import require, require_type

FORWARD = "#1f4e79"
BACKWARD = "#b2182b"


def _shape(shape: Sequence[int]) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


def _note(ax: plt.Axes, x: float, y: float, text: str, color: str, ha: str) -> None:
    ax.text(x, y, text, ha=ha, va="center", fontsize=7, color=color)


def chain_graph(
    steps: Sequence[tuple[str, Sequence[int], bool]],
    input_shape: Sequence[int],
    size: tuple[float, float] = (5.6, 6.4),
) -> Figure:
    """Draw a chain of operations from the input down to the loss.

    ``steps`` lists each operation as ``(name, output shape, has parameters)``; the loss
    is added at the bottom. Left of each arrow: the value passed down and its shape
    (forward, blue); right: its gradient, of the same shape, passed back up (red). An
    operation with parameters also returns their gradients (red, on its right).
    """
    require_type(isinstance(steps, (list, tuple)), f"steps must be a list, got {steps!r}")
    require(len(steps) > 0, "steps must list at least one operation")
    for step in steps:
        require_type(
            isinstance(step, tuple) and len(step) == 3 and isinstance(step[0], str),
            f"each step must be (name, output shape, has parameters), got {step!r}",
        )
    names = ["x"] + [name for name, _, _ in steps] + ["cross-entropy L"]
    shapes = [tuple(input_shape)] + [tuple(shape) for _, shape, _ in steps]
    params = [False] + [bool(p) for _, _, p in steps] + [False]
    fig, ax = plt.subplots(figsize=size)
    n = len(names)
    ys = [n - 1 - k for k in range(n)]
    box = {"boxstyle": "round,pad=0.3", "facecolor": "#f2f2f2", "edgecolor": "#555555"}
    for k, (name, y) in enumerate(zip(names, ys, strict=True)):
        ax.text(0, y, name, ha="center", va="center", fontsize=9, bbox=box)
        if params[k]:
            ax.text(-0.6, y, "w, b →", ha="right", va="center", fontsize=8, color=FORWARD)
            ax.text(0.6, y, "→ w̄, b̄", ha="left", va="center", fontsize=8, color=BACKWARD)
        if k == n - 1:
            _note(ax, 0.2, y - 0.55, "starts from ∂L/∂L = 1", BACKWARD, "left")
            continue
        ax.annotate(
            "",
            xy=(-0.12, y - 0.75),
            xytext=(-0.12, y - 0.25),
            arrowprops={"arrowstyle": "->", "color": FORWARD},
        )
        ax.annotate(
            "",
            xy=(0.12, y - 0.25),
            xytext=(0.12, y - 0.75),
            arrowprops={"arrowstyle": "->", "color": BACKWARD},
        )
        shape = _shape(shapes[k])
        _note(ax, -0.2, y - 0.5, shape, FORWARD, "right")
        _note(ax, 0.2, y - 0.5, "gradient " + shape, BACKWARD, "left")
    ax.text(-0.2, n - 0.4, "forward: values", ha="right", fontsize=8, color=FORWARD)
    ax.text(0.2, n - 0.4, "backward: gradients", ha="left", fontsize=8, color=BACKWARD)
    ax.set_xlim(-2.2, 2.2)
    ax.set_ylim(-1.0, n - 0.1)
    ax.axis("off")
    fig.tight_layout()
    return fig
