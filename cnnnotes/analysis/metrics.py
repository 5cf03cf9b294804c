"""Classification metrics from labels and predictions: the confusion matrix and what it gives.

Conventions: class labels are ints ``0 .. K-1``; in a confusion matrix ``cm`` the **row** is
the true class and the **column** the predicted class, so ``cm[i, j]`` counts the images of
class ``i`` that the model called ``j``. Counts are ``int64``; rates are ``float64``, with
``nan`` where a rate has no denominator (a class that never occurs, or is never predicted).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from cnnnotes._validate import boolean, integer, positive_int, require, require_type, tensor

__all__ = [
    "accuracy",
    "confusion_matrix",
    "format_confusion",
    "most_confused_pairs",
    "precision_recall",
    "recall",
    "top_k_accuracy",
]


def _labels(value: object, name: str, num_classes: int) -> torch.Tensor:
    """``value`` as int64 class labels in ``0 .. num_classes − 1``, one per example."""
    tensor(value, name, shape="(N,)", integers="class labels")
    require(
        value.ndim == 1,
        f"{name} must be 1-D (one label per example), got shape {tuple(value.shape)}",
    )
    low, high = (int(value.min()), int(value.max())) if value.numel() else (0, 0)
    require(
        low >= 0 and high < num_classes,
        f"{name} holds the label {low if low < 0 else high}; "
        f"labels must be in 0..{num_classes - 1}",
    )
    return value.detach().to("cpu", torch.int64)


def _matrix(cm: object) -> torch.Tensor:
    """``cm`` as an int64 ``(K, K)`` matrix of counts."""
    tensor(cm, "cm", shape="(K, K)", integers="counts")
    require(
        cm.ndim == 2 and cm.shape[0] == cm.shape[1] and cm.shape[0] > 0,
        f"cm must be a square (K, K) matrix with K >= 1, got shape {tuple(cm.shape)}",
    )
    require(int(cm.min()) >= 0, "cm must hold counts >= 0, got a negative entry")
    return cm.detach().to("cpu", torch.int64)


def confusion_matrix(y_true: torch.Tensor, y_pred: torch.Tensor, num_classes: int) -> torch.Tensor:
    """The ``(K, K)`` int64 matrix whose entry ``[i, j]`` counts examples of class i predicted j.

    Rows are true classes, columns predicted classes; the matrix sums to the number of
    examples and its diagonal holds the correct predictions.

    >>> confusion_matrix(torch.tensor([0, 0, 1, 2, 2]), torch.tensor([0, 1, 1, 2, 0]), 3)
    tensor([[1, 1, 0],
            [0, 1, 0],
            [1, 0, 1]])
    """
    k = positive_int(num_classes, "num_classes")
    t, p = _labels(y_true, "y_true", k), _labels(y_pred, "y_pred", k)
    require(t.shape == p.shape, f"y_true has {t.numel()} labels but y_pred has {p.numel()}")
    # Each (true, predicted) pair gets its own bin t * K + p; count the bins, fold to (K, K).
    return torch.bincount(t * k + p, minlength=k * k).reshape(k, k)


def accuracy(cm: torch.Tensor) -> float:
    """The share of correct predictions: trace over total (``nan`` for an empty matrix).

    >>> accuracy(torch.tensor([[3, 1], [0, 4]]))
    0.875
    """
    m = _matrix(cm)
    total = int(m.sum())
    return int(m.trace()) / total if total else float("nan")


def _ratio(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    num, den = num.to(torch.float64), den.to(torch.float64)
    return torch.where(den > 0, num / den.clamp(min=1), torch.nan)


def recall(cm: torch.Tensor) -> torch.Tensor:
    """Per true class, the share the model found: ``cm[i, i] / cm[i].sum()`` (a row).

    Also called the per-class accuracy or sensitivity.

    >>> recall(torch.tensor([[3, 1], [0, 4]]))
    tensor([0.7500, 1.0000], dtype=torch.float64)
    """
    m = _matrix(cm)
    return _ratio(m.diagonal(), m.sum(dim=1))


def precision_recall(cm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per class: precision ``cm[j, j] / cm[:, j].sum()`` and recall ``cm[i, i] / cm[i].sum()``.

    Precision asks "when the model says j, how often is it j?" (a column); recall asks
    "of the examples of class i, how many did the model find?" (a row).

    >>> precision, recall = precision_recall(torch.tensor([[3, 1], [0, 4]]))
    >>> precision, recall
    (tensor([1.0000, 0.8000], dtype=torch.float64), tensor([0.7500, 1.0000], dtype=torch.float64))
    """
    m = _matrix(cm)
    return _ratio(m.diagonal(), m.sum(dim=0)), recall(m)


def most_confused_pairs(
    cm: torch.Tensor, k: int = 5, *, symmetric: bool = False
) -> list[tuple[int, int, int]]:
    """The ``k`` largest off-diagonal counts as ``(a, b, count)``, largest first.

    Directed (default): ``(true, predicted, cm[true, predicted])``, e.g. "shirts called
    T-shirts" and "T-shirts called shirts" are two pairs. ``symmetric=True`` merges the two
    directions: ``(a, b, cm[a, b] + cm[b, a])`` with ``a < b``. Ties are broken by ``(a, b)``
    in increasing order; pairs with count 0 are left out, so fewer than ``k`` may come back.

    >>> cm = torch.tensor([[5, 2, 0], [3, 4, 1], [0, 1, 6]])
    >>> most_confused_pairs(cm, 2)
    [(1, 0, 3), (0, 1, 2)]
    >>> most_confused_pairs(cm, 2, symmetric=True)
    [(0, 1, 5), (1, 2, 2)]
    """
    m = _matrix(cm)
    k = positive_int(k, "k")
    n = m.shape[0]
    if boolean(symmetric, "symmetric"):
        pairs = [(a, b, int(m[a, b] + m[b, a])) for a in range(n) for b in range(a + 1, n)]
    else:
        pairs = [(a, b, int(m[a, b])) for a in range(n) for b in range(n) if a != b]
    pairs = [p for p in pairs if p[2] > 0]
    return sorted(pairs, key=lambda p: (-p[2], p[0], p[1]))[:k]


def top_k_accuracy(scores: torch.Tensor, y_true: torch.Tensor, k: int) -> float:
    """Share of examples whose true class is among the ``k`` highest scores of their row.

    ``scores`` is ``(N, K)`` (probabilities or logits). Equal scores are ranked by
    ``torch.topk``, which may pick either; with real-valued network outputs ties are rare.

    >>> top_k_accuracy(torch.tensor([[0.5, 0.3, 0.2], [0.1, 0.3, 0.6]]), torch.tensor([1, 1]), 2)
    1.0
    """
    tensor(scores, "scores", shape="(N, K)")
    require(
        scores.ndim == 2 and scores.shape[1] > 0,
        f"scores must be an (N, K) tensor with K >= 1, got {tuple(scores.shape)}",
    )
    k = positive_int(k, "k")
    require(
        k <= scores.shape[1], f"k must be at most the number of classes {scores.shape[1]}, got {k}"
    )
    t = _labels(y_true, "y_true", scores.shape[1])
    require(
        t.numel() == scores.shape[0],
        f"scores has {scores.shape[0]} rows but y_true has {t.numel()} labels",
    )
    if t.numel() == 0:
        return float("nan")
    top = scores.detach().cpu().topk(k, dim=1).indices
    return int((top == t[:, None]).any(dim=1).sum()) / t.numel()


def format_confusion(cm: torch.Tensor, names: Sequence[str], width: int = 6) -> str:
    """A fixed-width text table: one row per true class, one column per predicted class.

    Column headers are the first ``width - 1`` characters of each name.

    >>> print(format_confusion(torch.tensor([[3, 1], [0, 4]]), ["cat", "dog"]))
    true \\ pred    cat   dog
    cat              3     1
    dog              0     4
    """
    m = _matrix(cm)
    require_type(
        isinstance(names, Sequence) and not isinstance(names, str),
        f"names must be a list of class names, got {type(names).__name__}",
    )
    require(
        len(names) == m.shape[0], f"got {len(names)} names for a {m.shape[0]}x{m.shape[0]} matrix"
    )
    integer(width, "width", 2)
    corner = "true \\ pred"
    first = max(len(corner), *(len(str(n)) for n in names)) + 1
    header = f"{corner:<{first}}" + "".join(f"{str(n)[: width - 1]:>{width}}" for n in names)
    rows = [
        f"{name:<{first}}" + "".join(f"{v:>{width}}" for v in row)
        for name, row in zip(names, m.tolist(), strict=True)
    ]
    return "\n".join([header, *rows])
