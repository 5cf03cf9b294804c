"""viz.learning_curves: what it draws, where, and what it refuses."""

from __future__ import annotations

import pytest

from cnnnotes.training.loop import History

HISTORY = {
    "train_loss": [0.5, 0.3, 0.2],
    "train_acc": [0.80, 0.90, 0.95],
    "val_loss": [0.4, 0.3, 0.35],
    "val_acc": [0.85, 0.90, 0.91],
}


@pytest.fixture
def viz():
    """The module with figures drawn off-screen, all closed afterwards."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cnnnotes import viz

    viz.use_book_style()
    yield viz
    plt.close("all")


@pytest.mark.parametrize("as_history", [False, True], ids=["mapping", "History"])
def test_learning_curves_draw_training_half_an_epoch_early(viz, as_history: bool) -> None:
    history = History(**HISTORY) if as_history else HISTORY
    fig = viz.learning_curves(history)
    loss_ax, acc_ax = fig.axes
    assert [ax.get_ylabel() for ax in fig.axes] == ["mean cross-entropy", "accuracy (%)"]
    for ax, what, scale in ((loss_ax, "loss", 1), (acc_ax, "acc", 100)):
        train, val = ax.get_lines()
        assert list(train.get_xdata()) == [0.5, 1.5, 2.5]  # running means: mid-epoch
        assert list(val.get_xdata()) == [1, 2, 3]  # measured after each epoch
        assert list(train.get_ydata()) == pytest.approx(
            [scale * v for v in HISTORY[f"train_{what}"]]
        )
        assert list(val.get_ydata()) == pytest.approx([scale * v for v in HISTORY[f"val_{what}"]])
        assert list(ax.get_xticks()) == [1, 2, 3]
    assert [t.get_text() for t in acc_ax.get_legend().get_texts()] == ["training", "validation"]
    assert tuple(fig.get_size_inches()) == (6.4, 2.6)


@pytest.mark.parametrize(
    ("history", "match"),
    [
        ({k: v for k, v in HISTORY.items() if k != "val_acc"}, "equal, non-empty"),
        ({**HISTORY, "val_loss": [0.4, 0.3]}, "equal, non-empty"),
        ({k: [] for k in HISTORY}, "equal, non-empty"),
        ({**HISTORY, "val_acc": [85.0, 90.0, 91.0]}, "fractions"),
        (object(), "equal, non-empty"),
    ],
    ids=["missing", "ragged", "empty", "percent", "not a history"],
)
def test_learning_curves_refuse_what_is_not_a_history(viz, history, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        viz.learning_curves(history)
