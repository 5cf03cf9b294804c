"""graph_figure.chain_graph: one box per operation, one shape per edge, both directions."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest

from cnnnotes.graph_figure import chain_graph

STEPS = [("conv1", (2, 4, 8, 8), True), ("relu", (2, 4, 8, 8), False), ("fc", (2, 10), True)]


def _texts(fig) -> list[str]:
    return [t.get_text() for t in fig.axes[0].texts]


def test_every_operation_and_every_edge_is_drawn_in_both_directions() -> None:
    fig = chain_graph(STEPS, input_shape=(2, 1, 8, 8))
    texts = _texts(fig)
    for box in ("x", "conv1", "relu", "fc", "cross-entropy L"):
        assert texts.count(box) == 1, box
    # the value below each box, and its gradient of the same shape
    for shape in ("(2, 1, 8, 8)", "(2, 4, 8, 8)", "(2, 10)"):
        assert texts.count(shape) == texts.count("gradient " + shape) >= 1, shape
    assert texts.count("(2, 4, 8, 8)") == 2  # after conv1 and after relu
    assert texts.count("→ w̄, b̄") == 2, "one per operation with parameters"
    arrows = [c for c in fig.axes[0].texts if type(c).__name__ == "Annotation"]
    assert len(arrows) == 2 * (len(STEPS) + 1), "a forward and a backward arrow per edge"
    plt.close(fig)


@pytest.mark.parametrize(
    ("steps", "kind", "says"),
    [
        ([], ValueError, "at least one operation"),
        ("conv1", TypeError, "steps must be a list"),
        ([("conv1", (2, 4))], TypeError, "each step must be"),
    ],
)
def test_bad_steps_say_what_is_allowed(steps, kind, says) -> None:
    with pytest.raises(kind, match=says):
        chain_graph(steps, input_shape=(2, 1, 8, 8))
