"""analysis.calibration: bins and ECE by hand (and against a planted bug that weights bins
equally), temperature scaling recovering a known temperature, macro-F1 from its definition."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from conftest import gen
from torch import Tensor

from cnnnotes.analysis.calibration import (
    confidence_and_correct,
    expected_calibration_error,
    fit_temperature,
    macro_f1,
    reliability_bins,
)
from cnnnotes.analysis.metrics import confusion_matrix, precision_recall

pytestmark = pytest.mark.usefixtures("one_thread")


def f64(*values: float) -> Tensor:
    return torch.tensor(values, dtype=torch.float64)


def test_bins_split_at_their_upper_edges() -> None:
    p = f64(0.0, 0.1, 0.10000001, 0.7, 0.70000001, 1.0)
    bins = reliability_bins(p, torch.tensor([True, False, True, True, False, True]), n_bins=10)
    assert bins.count.tolist() == [2, 1, 0, 0, 0, 0, 1, 1, 0, 1]  # (b/10, (b+1)/10]
    assert bins.accuracy[bins.count == 0].isnan().all()
    torch.testing.assert_close(bins.confidence[0], torch.tensor(0.05, dtype=torch.float64))
    assert bins.accuracy[[0, 6, 9]].tolist() == [0.5, 1.0, 1.0]
    assert torch.equal(bins.edges, torch.arange(11, dtype=torch.float64) / 10)


def equal_weight_ece(confidences: Tensor, correct: Tensor, n_bins: int = 15) -> float:
    """Planted bug: every non-empty bin counts the same, however few images it holds."""
    bins = reliability_bins(confidences, correct, n_bins)
    used = bins.count > 0
    return float((bins.accuracy[used] - bins.confidence[used]).abs().mean())


def miscalibrated_check(ece) -> bool:
    """The check: one image at 0.95 (wrong) and three at 0.55 (right), 10 bins, by hand:
    1/4 · |0 − 0.95| + 3/4 · |1 − 0.55| = 0.575."""
    p, right = f64(0.95, 0.55, 0.55, 0.55), torch.tensor([False, True, True, True])
    return math.isclose(ece(p, right, 10), 0.25 * 0.95 + 0.75 * 0.45, abs_tol=1e-12)


@pytest.mark.parametrize(
    ("ece", "passes"), [(expected_calibration_error, True), (equal_weight_ece, False)]
)
def test_ece_of_a_known_miscalibrated_set_is_the_hand_value(ece, passes) -> None:
    assert miscalibrated_check(ece) is passes


def test_ece_of_a_perfectly_calibrated_set_is_zero() -> None:
    # Confidence 0.25, 0.5, 0.75, 1 on 4, 8, 4, 2 images, of which exactly that share is right.
    p = torch.cat([torch.full((n,), c, dtype=torch.float64) for c, n in
                   ((0.25, 4), (0.5, 8), (0.75, 4), (1.0, 2))])  # fmt: skip
    right = torch.tensor([1, 0, 0, 0] + [1, 0] * 4 + [1, 1, 1, 0] + [1, 1]).bool()
    assert expected_calibration_error(p, right, n_bins=4) == 0.0
    # Sampled: correct with probability equal to the confidence; ECE is sampling noise only.
    p = torch.rand(100_000, generator=gen(0), dtype=torch.float64) * 0.9 + 0.1
    right = torch.rand(100_000, generator=gen(1), dtype=torch.float64) < p
    assert expected_calibration_error(p, right) < 0.01
    assert expected_calibration_error(p, torch.ones_like(right)) > 0.4  # all right: under by 0.45


def calibrated_logits(n: int, k: int, seed: int) -> tuple[Tensor, Tensor]:
    """Logits ``z`` and labels drawn from ``softmax(z)``: calibrated by construction."""
    z = torch.randn(n, k, generator=gen(seed), dtype=torch.float64) * 2.0
    y = torch.multinomial(z.softmax(dim=1), 1, generator=gen(seed + 1))[:, 0]
    return z, y


@pytest.mark.parametrize("t0", [0.5, 1.0, 2.5])
def test_temperature_scaling_recovers_a_known_temperature(t0: float) -> None:
    z, y = calibrated_logits(5_000, 10, seed=int(10 * t0))
    seen = z * t0  # an over- (t0 > 1) or under-confident (t0 < 1) model: softmax(seen / t0) fits
    t = fit_temperature(seen, y)
    assert abs(t - t0) / t0 < 0.05
    nll = lambda temp: float(F.cross_entropy(seen / temp, y))  # noqa: E731
    assert nll(t) <= nll(1.0) and nll(t) <= min(nll(t * 0.999), nll(t * 1.001))
    grid = torch.logspace(-2, 2, 201, dtype=torch.float64).tolist()
    assert nll(t) <= min(nll(g) for g in grid) + 1e-12  # no grid point does better
    assert fit_temperature(seen, y) == t  # deterministic
    conf, right = confidence_and_correct(seen, y)
    conf_t, right_t = confidence_and_correct(seen / t, y)
    assert torch.equal(right, right_t)  # T never changes a prediction
    if t0 != 1.0:
        assert expected_calibration_error(conf_t, right_t) < expected_calibration_error(conf, right)


def test_temperature_with_a_minimum_at_the_bound_is_refused() -> None:
    z = f64(5.0, 0.0, 0.0, 5.0).reshape(2, 2)  # both right: the NLL falls as T -> 0
    with pytest.raises(ValueError, match="no minimum inside"):
        fit_temperature(z, torch.tensor([0, 1]))


def test_macro_f1_is_the_mean_of_per_class_f1() -> None:
    g = gen(3)
    labels = torch.randint(0, 6, (300,), generator=g)
    pred = torch.where(
        torch.rand(300, generator=g) < 0.7, labels, torch.randint(0, 6, (300,), generator=g)
    )
    precision, recall = precision_recall(confusion_matrix(labels, pred, 6))
    expected = float((2 * precision * recall / (precision + recall)).mean())
    assert math.isclose(macro_f1(pred, labels, 6), expected, abs_tol=1e-12)
    # A class that neither occurs nor is predicted (class 2 of 3) leaves the mean.
    assert macro_f1(torch.tensor([0, 1]), torch.tensor([0, 1]), 3) == 1.0


def test_confidence_is_the_top_softmax_probability() -> None:
    z = torch.randn(7, 4, generator=gen(4))
    y = torch.randint(0, 4, (7,), generator=gen(5))
    conf, right = confidence_and_correct(z, y)
    torch.testing.assert_close(conf, z.double().softmax(dim=1).max(dim=1).values)
    assert torch.equal(right, z.argmax(dim=1) == y)


BAD = [
    (lambda: reliability_bins(f64(0.5), torch.tensor([1])), TypeError, "bool"),
    (lambda: reliability_bins(f64(1.5), torch.tensor([True])), ValueError, r"in \[0, 1\]"),
    (lambda: reliability_bins(f64(0.5), torch.tensor([True, False])), ValueError, "one entry"),
    (lambda: reliability_bins(f64(0.5), torch.tensor([True]), 0), ValueError, "n_bins"),
    (lambda: expected_calibration_error([0.5], torch.tensor([True])), TypeError, "torch.Tensor"),
    (lambda: fit_temperature(torch.zeros(2, 3), torch.tensor([0, 3])), ValueError, r"0\.\.2"),
    (lambda: fit_temperature(torch.zeros(2, 3), torch.tensor([0.0, 1.0])), TypeError, "integer"),
    (lambda: fit_temperature(torch.zeros(2, 3), torch.tensor([0, 1]), (1.0, 0.5)), ValueError,
     "bounds"),
    (lambda: macro_f1(torch.tensor([0, 5]), torch.tensor([0, 1]), 3), ValueError, "pred must hold"),
    (lambda: macro_f1(torch.tensor([0]), torch.tensor([0, 1]), 3), ValueError, "1 predictions"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "error", "match"), BAD)
def test_bad_input_is_refused_with_what_is_allowed(call, error, match) -> None:
    with pytest.raises(error, match=match):
        call()
