"""How far to trust the confidence: reliability bins, ECE, temperature scaling, macro-F1.

A classifier is *calibrated* when, among the images it gives confidence ``p`` (its top
softmax probability), a share ``p`` is right. :func:`reliability_bins` splits ``[0, 1]``
into ``B`` equal-width bins ``((b − 1)/B, b/B]`` (the first also holds 0) and gives each
bin's count ``n_b``, mean confidence ``conf_b`` and accuracy ``acc_b``;
:func:`expected_calibration_error` is ``ECE = Σ_b (n_b / N) |acc_b − conf_b|``, bins weighted
by how many images they hold (Guo et al. 2017).

:func:`fit_temperature` finds the ``T > 0`` that minimises the mean negative log-likelihood
of ``softmax(z / T)``. It must be fitted on the **validation** split and then applied,
unchanged, to the test logits: fitted on test, it is one more parameter chosen on the test
set, and the test ECE after it is no longer an honest estimate.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from cnnnotes._validate import number, positive_int, require, require_type, tensor
from cnnnotes.analysis.metrics import confusion_matrix

__all__ = [
    "Bins", "confidence_and_correct", "expected_calibration_error", "fit_temperature",
    "macro_f1", "reliability_bins",
]  # fmt: skip


class Bins(NamedTuple):
    """One row per bin: ``count`` (int64), mean ``confidence`` and ``accuracy`` (float64,
    ``nan`` in an empty bin) and the ``B + 1`` ``edges``."""

    count: Tensor
    confidence: Tensor
    accuracy: Tensor
    edges: Tensor


def _logits(logits: object, labels: object) -> tuple[Tensor, Tensor]:
    tensor(logits, "logits", shape="(N, K)", ndims=(2,), floating=True)
    tensor(labels, "labels", shape="(N,)", ndims=(1,), integers="class labels")
    n, k = logits.shape
    require(n > 0 and len(labels) == n, f"{n} rows of logits but {len(labels)} labels (N >= 1)")
    require(
        int(labels.min()) >= 0 and int(labels.max()) < k,
        f"labels must be classes in 0..{k - 1}, got {labels.min()}..{labels.max()}",
    )
    require(bool(torch.isfinite(logits).all()), "logits must be finite (no nan or inf)")
    return logits.detach().to(torch.float64), labels.detach().to(logits.device, torch.int64)


def confidence_and_correct(logits: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """``(N,)`` top softmax probability and ``(N,)`` bool "the top class is the label".

    >>> confidence_and_correct(torch.tensor([[0.0, 0.0], [2.0, 0.0]]), torch.tensor([1, 1]))
    (tensor([0.5000, 0.8808], dtype=torch.float64), tensor([False, False]))
    """
    z, y = _logits(logits, labels)
    confidence, predicted = z.softmax(dim=1).max(dim=1)
    return confidence, predicted == y


def reliability_bins(confidences: Tensor, correct: Tensor, n_bins: int = 15) -> Bins:
    """Equal-width bins of confidence: count, mean confidence and accuracy in each.

    Bin ``b`` (0-based) holds confidences in ``(b/B, (b + 1)/B]``; confidence 0 goes to bin 0.

    >>> bins = reliability_bins(torch.tensor([0.2, 0.9, 0.7, 0.8]),
    ...                         torch.tensor([False, True, False, True]), n_bins=2)
    >>> bins.count
    tensor([1, 3])
    >>> bins.confidence, bins.accuracy
    (tensor([0.2000, 0.8000], dtype=torch.float64), tensor([0.0000, 0.6667], dtype=torch.float64))
    """
    tensor(confidences, "confidences", shape="(N,)", ndims=(1,), floating=True)
    tensor(correct, "correct", shape="(N,)", ndims=(1,))
    require_type(correct.dtype == torch.bool, f"correct must be a bool tensor, got {correct.dtype}")
    require(
        len(correct) == len(confidences) > 0,
        f"correct must have one entry per confidence (N >= 1), got {len(correct)} entries "
        f"for {len(confidences)} confidences",
    )
    b = positive_int(n_bins, "n_bins")
    p = confidences.detach().cpu().to(torch.float64)
    require(bool(((p >= 0) & (p <= 1)).all()), "confidences must be probabilities in [0, 1]")
    edges = torch.arange(b + 1, dtype=torch.float64) / b  # exactly k / B, as a literal 0.7
    index = (torch.searchsorted(edges, p) - 1).clamp(0, b - 1)  # edges[b] < p <= edges[b + 1]
    count = torch.bincount(index, minlength=b)
    right = torch.bincount(index, weights=correct.cpu().to(torch.float64), minlength=b)
    total = torch.bincount(index, weights=p, minlength=b)
    empty = count == 0
    return Bins(
        count=count,
        confidence=torch.where(empty, torch.nan, total / count.clamp(min=1)),
        accuracy=torch.where(empty, torch.nan, right / count.clamp(min=1)),
        edges=edges,
    )


def expected_calibration_error(confidences: Tensor, correct: Tensor, n_bins: int = 15) -> float:
    """``ECE = Σ_b (n_b / N) |acc_b − conf_b|`` over the non-empty bins of :func:`reliability_bins`.

    >>> p = torch.tensor([0.2, 0.9, 0.7, 0.8], dtype=torch.float64)
    >>> ece = expected_calibration_error(p, torch.tensor([False, True, False, True]), n_bins=2)
    >>> round(ece, 12)  # 1/4 · |0 − 0.2| + 3/4 · |2/3 − 0.8|
    0.15
    """
    bins = reliability_bins(confidences, correct, n_bins)
    used = bins.count > 0
    weight = bins.count[used].double() / bins.count.sum()  # int / int would be float32
    gap = (bins.accuracy[used] - bins.confidence[used]).abs()
    return float((weight * gap).sum())


def _nll(z: Tensor, y: Tensor, log_t: float) -> float:
    return float(F.cross_entropy(z / math.exp(log_t), y))


def fit_temperature(
    logits: Tensor, labels: Tensor, bounds: tuple[float, float] = (0.01, 100.0)
) -> float:
    """The ``T`` in ``bounds`` minimising ``mean_n −log softmax(z_n / T)[y_n]``: fit on validation.

    With ``β = 1/T`` the loss ``−β z_y + log Σ_j exp(β z_j)`` is convex in ``β``, so it has a
    single minimum along ``u = log T`` too; a golden-section search on ``u`` finds it to
    ``1e-9`` (deterministic, in float64). A minimum at a bound (a set the model never gets
    wrong wants ``T → 0``) raises ``ValueError``. Never fit ``T`` on the test logits.

    >>> z = torch.tensor([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0], [2.0, 0.0]])
    >>> t = fit_temperature(z, torch.tensor([0, 1, 0, 1]))  # 3 of 4 right, margin 2
    >>> round(t, 6), round(2 / math.log(3), 6)  # where sigmoid(2/T) = 3/4
    (1.820478, 1.820478)
    """
    z, y = _logits(logits, labels)
    require_type(
        isinstance(bounds, tuple) and len(bounds) == 2,
        f"bounds must be a pair (low, high) of temperatures, got {bounds!r}",
    )
    low = math.log(number(bounds[0], "bounds[0]", above=0))
    high = math.log(number(bounds[1], "bounds[1]", above=bounds[0]))
    ratio = (math.sqrt(5) - 1) / 2  # golden section: each step keeps 0.618 of the bracket
    a = high - ratio * (high - low)  # two inner points, low < a < b < high
    b = low + ratio * (high - low)
    fa, fb = _nll(z, y, a), _nll(z, y, b)
    while high - low > 1e-9:
        if fa <= fb:  # the minimum lies in [low, b]: a becomes the new b
            high = b
            b, fb = a, fa
            a = high - ratio * (high - low)
            fa = _nll(z, y, a)
        else:  # the minimum lies in [a, high]: b becomes the new a
            low = a
            a, fa = b, fb
            b = low + ratio * (high - low)
            fb = _nll(z, y, b)
    u = (low + high) / 2
    require(
        math.log(bounds[0]) + 1e-6 < u < math.log(bounds[1]) - 1e-6,
        f"the NLL is smallest at the bound T = {math.exp(u):.4g}: no minimum inside {bounds} "
        "(does the model get every example right?); widen bounds or check the logits",
    )
    return math.exp(u)


def macro_f1(pred: Tensor, labels: Tensor, classes: int) -> float:
    """The mean over classes of ``F1_k = 2 TP_k / (2 TP_k + FP_k + FN_k)``.

    Every class counts equally, however rare; a class that neither occurs nor is predicted
    (``0/0``) is left out of the mean.

    >>> macro_f1(torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1, 1, 1]), 2)
    0.7333333333333334
    """
    k = positive_int(classes, "classes")
    for value, name in ((pred, "pred"), (labels, "labels")):
        tensor(value, name, shape="(N,)", ndims=(1,), integers="class labels")
        low, high = (int(value.min()), int(value.max())) if len(value) else (0, 0)
        require(low >= 0 and high < k, f"{name} must hold classes in 0..{k - 1}, got {low}..{high}")
    require(len(pred) == len(labels), f"{len(pred)} predictions but {len(labels)} labels")
    cm = confusion_matrix(labels, pred, k).to(torch.float64)
    tp = cm.diagonal()
    denominator = 2 * tp + (cm.sum(dim=0) - tp) + (cm.sum(dim=1) - tp)
    seen = denominator > 0
    require(bool(seen.any()), "pred and labels are empty: macro-F1 needs at least one example")
    return float((2 * tp[seen] / denominator[seen]).mean())
