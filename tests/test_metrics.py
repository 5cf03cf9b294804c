"""analysis.metrics against independent counts: Python loops and one-hot products."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from cnnnotes.analysis.metrics import (
    accuracy,
    confusion_matrix,
    format_confusion,
    most_confused_pairs,
    precision_recall,
    recall,
    top_k_accuracy,
)
from cnnnotes.oracle import agree
from cnnnotes.oracle.cases import Case, Draw


def loop_count(y_true: list[int], y_pred: list[int], k: int) -> list[list[int]]:
    """The definition, literally: one counter per (true, predicted) pair."""
    cm = [[0] * k for _ in range(k)]
    for t, p in zip(y_true, y_pred, strict=True):
        cm[t][p] += 1
    return cm


def labelled(draw: Draw) -> Case:
    """0-300 true and predicted labels (int64, even when empty) of 1-12 classes."""
    k, n = draw.int(1, 12), draw.int(0, 300)
    y_true, y_pred = (torch.tensor(draw.ints(n, 0, k - 1), dtype=torch.int64) for _ in "tp")
    return {"y_true": y_true, "y_pred": y_pred, "k": k}


def test_confusion_matrix_equals_loop_count_and_one_hot_product() -> None:
    def ours(y_true, y_pred, k):
        cm = confusion_matrix(y_true, y_pred, k)
        return cm, cm.dtype

    def loop(y_true, y_pred, k):
        return torch.tensor(loop_count(y_true.tolist(), y_pred.tolist(), k)), torch.int64

    def one_hot(y_true, y_pred, k):
        return F.one_hot(y_true, k).T @ F.one_hot(y_pred, k)

    result = agree(ours, loop, labelled, n_cases=300, claim="confusion matrix vs loops")
    assert result.ok, str(result)
    result = agree(confusion_matrix, one_hot, labelled, n_cases=300, seed=1,
                   claim="confusion matrix vs one-hot")  # fmt: skip
    assert result.ok, str(result)


def test_rates_equal_their_definitions_on_the_labels() -> None:
    """Accuracy, per-class recall and precision: the fraction right among all examples,
    those of the class, those called the class; NaN where there are none."""

    def ours(y_true, y_pred, k):
        cm = confusion_matrix(y_true, y_pred, k)
        return (accuracy(cm), recall(cm), *precision_recall(cm))

    def definitions(y_true, y_pred, k):
        correct = (y_true == y_pred).double()
        recall = torch.stack([correct[y_true == c].mean() for c in range(k)])
        precision = torch.stack([correct[y_pred == c].mean() for c in range(k)])
        return correct.mean().item(), recall, precision, recall

    result = agree(ours, definitions, labelled, n_cases=200, seed=2, claim="rates")
    assert result.ok, str(result)


def test_balanced_classes_mean_recall_is_accuracy() -> None:
    g = torch.Generator().manual_seed(0)
    y_true = torch.arange(10).repeat(100)
    y_pred = torch.where(
        torch.rand(1000, generator=g) < 0.8, y_true, torch.randint(0, 10, (1000,), generator=g)
    )
    cm = confusion_matrix(y_true, y_pred, 10)
    assert recall(cm).mean().item() == pytest.approx(accuracy(cm))


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
    for fn in (accuracy, recall, precision_recall, most_confused_pairs):
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


def test_top_k_accuracy_against_ranks() -> None:
    def ours(scores, y):
        classes = scores.shape[1]
        return [top_k_accuracy(scores, y, k) for k in range(1, classes + 1)]

    def ranks(scores, y):
        rank = (scores > scores.gather(1, y[:, None])).sum(dim=1)  # 0 = best; distinct scores
        top_1 = accuracy(confusion_matrix(y, scores.argmax(1), scores.shape[1]))
        return [top_1] + [(rank < k).double().mean().item() for k in range(2, scores.shape[1] + 1)]

    def make(draw: Draw) -> Case:
        classes, n = draw.int(1, 10), draw.int(1, 50)
        return {"scores": draw.tensor(n, classes), "y": torch.tensor(draw.ints(n, 0, classes - 1))}

    result = agree(ours, ranks, make, n_cases=100, claim="top-k accuracy")
    assert result.ok, str(result)


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
