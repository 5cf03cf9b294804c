"""cnnnotes.metrics against independent counts: Python loops and one-hot products in PyTorch."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnnotes.metrics import (
    accuracy,
    confusion_matrix,
    format_confusion,
    most_confused_pairs,
    per_class_accuracy,
    precision_recall,
    top_k_accuracy,
)


def loop_count(y_true: list[int], y_pred: list[int], k: int) -> list[list[int]]:
    """The definition, literally: one counter per (true, predicted) pair."""
    cm = [[0] * k for _ in range(k)]
    for t, p in zip(y_true, y_pred, strict=True):
        cm[t][p] += 1
    return cm


@st.composite
def labelled(draw: st.DrawFn) -> tuple[torch.Tensor, torch.Tensor, int]:
    k = draw(st.integers(1, 12))
    n = draw(st.integers(0, 300))
    labels = st.lists(st.integers(0, k - 1), min_size=n, max_size=n)
    y_true = torch.tensor(draw(labels), dtype=torch.int64)  # int64 even when empty
    return y_true, torch.tensor(draw(labels), dtype=torch.int64), k


@settings(max_examples=300, deadline=None, database=None, derandomize=True)
@given(labelled())
def test_confusion_matrix_equals_loop_count_and_one_hot_product(case: tuple) -> None:
    y_true, y_pred, k = case
    cm = confusion_matrix(y_true, y_pred, k)
    assert cm.dtype == torch.int64 and cm.shape == (k, k)
    assert cm.tolist() == loop_count(y_true.tolist(), y_pred.tolist(), k)
    one_hot = F.one_hot(y_true, k).T @ F.one_hot(y_pred, k)
    assert torch.equal(cm, one_hot)
    assert int(cm.sum()) == len(y_true)
    assert torch.equal(cm.sum(dim=1), torch.bincount(y_true, minlength=k))


@settings(max_examples=200, deadline=None, database=None, derandomize=True)
@given(labelled())
def test_rates_equal_their_definitions_on_the_labels(case: tuple) -> None:
    y_true, y_pred, k = case
    cm = confusion_matrix(y_true, y_pred, k)
    correct = (y_true == y_pred).double()
    acc = accuracy(cm)
    assert math.isnan(acc) if len(y_true) == 0 else acc == pytest.approx(correct.mean().item())
    recall = per_class_accuracy(cm)
    precision, recall2 = precision_recall(cm)
    assert torch.equal(recall.nan_to_num(-1), recall2.nan_to_num(-1))
    for c in range(k):
        found, called = y_true == c, y_pred == c
        if found.any():
            assert recall[c].item() == pytest.approx(correct[found].mean().item())
        else:
            assert math.isnan(recall[c].item())
        if called.any():
            assert precision[c].item() == pytest.approx(correct[called].mean().item())
        else:
            assert math.isnan(precision[c].item())


def test_balanced_classes_mean_recall_is_accuracy() -> None:
    g = torch.Generator().manual_seed(0)
    y_true = torch.arange(10).repeat(100)
    y_pred = torch.where(
        torch.rand(1000, generator=g) < 0.8, y_true, torch.randint(0, 10, (1000,), generator=g)
    )
    cm = confusion_matrix(y_true, y_pred, 10)
    assert per_class_accuracy(cm).mean().item() == pytest.approx(accuracy(cm))


def test_other_integer_dtypes_give_the_same_matrix() -> None:
    y_true, y_pred = torch.tensor([0, 2, 1, 2]), torch.tensor([0, 1, 1, 2])
    expected = confusion_matrix(y_true, y_pred, 3)
    for dtype in (torch.uint8, torch.int16, torch.int32):
        got = confusion_matrix(y_true.to(dtype), y_pred.to(dtype), 3)
        assert got.dtype == torch.int64 and torch.equal(got, expected)


@pytest.mark.parametrize(
    ("y_true", "y_pred", "k", "error", "message"),
    [
        ([0, 1], torch.tensor([0, 1]), 2, TypeError, "y_true must be a torch.Tensor"),
        (torch.tensor([0.0, 1.0]), torch.tensor([0, 1]), 2, TypeError, "integer class labels"),
        (torch.tensor([[0, 1]]), torch.tensor([[0, 1]]), 2, ValueError, "must be 1-D"),
        (torch.tensor([0, 1]), torch.tensor([0, 1, 1]), 2, ValueError, "2 labels but y_pred has 3"),
        (
            torch.tensor([0, 3]),
            torch.tensor([0, 1]),
            3,
            ValueError,
            "label 3; labels must be in 0..2",
        ),
        (torch.tensor([0, 1]), torch.tensor([-1, 1]), 2, ValueError, "y_pred holds the label -1"),
        (torch.tensor([0]), torch.tensor([0]), 0, ValueError, "num_classes must be an int >= 1"),
        (torch.tensor([0]), torch.tensor([0]), 2.0, ValueError, "num_classes must be an int >= 1"),
    ],
)
def test_confusion_matrix_rejects_bad_input(y_true, y_pred, k, error, message) -> None:
    with pytest.raises(error, match=message):
        confusion_matrix(y_true, y_pred, k)


@pytest.mark.parametrize(
    ("cm", "error", "message"),
    [
        ([[1, 0], [0, 1]], TypeError, "cm must be a torch.Tensor"),
        (torch.ones(2, 3, dtype=torch.int64), ValueError, "square"),
        (torch.ones(2, 2), TypeError, "integer counts"),
        (torch.tensor([[1, -1], [0, 1]]), ValueError, "counts >= 0"),
    ],
)
def test_matrix_functions_reject_bad_matrices(cm, error, message) -> None:
    for fn in (accuracy, per_class_accuracy, precision_recall, most_confused_pairs):
        with pytest.raises(error, match=message):
            fn(cm)


def test_most_confused_pairs_directed_and_symmetric() -> None:
    cm = torch.tensor([[50, 7, 0, 3], [2, 60, 0, 0], [0, 0, 40, 7], [9, 0, 1, 30]])
    assert most_confused_pairs(cm, 3) == [(3, 0, 9), (0, 1, 7), (2, 3, 7)]
    assert most_confused_pairs(cm, 3, symmetric=True) == [(0, 3, 12), (0, 1, 9), (2, 3, 8)]
    assert len(most_confused_pairs(cm, 100)) == 6  # only the non-zero off-diagonal entries
    assert most_confused_pairs(torch.eye(3, dtype=torch.int64), 2) == []
    with pytest.raises(ValueError, match="k must be an int >= 1"):
        most_confused_pairs(cm, 0)


@settings(max_examples=100, deadline=None, database=None, derandomize=True)
@given(st.integers(1, 10), st.integers(1, 50), st.integers(0, 2**31 - 1))
def test_top_k_accuracy_against_ranks(k_classes: int, n: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(n, k_classes, generator=g, dtype=torch.float64)
    y = torch.randint(0, k_classes, (n,), generator=g)
    true_score = scores.gather(1, y[:, None])
    rank = (scores > true_score).sum(dim=1)  # 0 = best; distinct scores almost surely
    for k in range(1, k_classes + 1):
        assert top_k_accuracy(scores, y, k) == pytest.approx((rank < k).double().mean().item())
    assert top_k_accuracy(scores, y, 1) == pytest.approx(
        accuracy(confusion_matrix(y, scores.argmax(1), k_classes))
    )


def test_top_k_accuracy_rejects_bad_input() -> None:
    scores, y = torch.rand(4, 3), torch.tensor([0, 1, 2, 0])
    with pytest.raises(ValueError, match="at most the number of classes 3"):
        top_k_accuracy(scores, y, 4)
    with pytest.raises(ValueError, match=r"\(N, K\) tensor"):
        top_k_accuracy(torch.rand(4), y, 1)
    with pytest.raises(ValueError, match="4 rows but y_true has 3"):
        top_k_accuracy(scores, y[:3], 1)


def test_format_confusion_is_a_fixed_width_table() -> None:
    cm = torch.tensor([[1000, 0], [12, 7]])
    lines = format_confusion(cm, ["Trouser", "Bag"], width=6).splitlines()
    assert len({len(line) for line in lines}) == 1
    assert lines[0].split()[-2:] == ["Trous", "Bag"]
    assert lines[1].split() == ["Trouser", "1000", "0"]
    with pytest.raises(ValueError, match="got 1 names for a 2x2 matrix"):
        format_confusion(cm, ["Trouser"])
