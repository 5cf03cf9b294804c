"""Chapter 10's self-checks (check.calibration, check.scores): right answers written the
learner's way pass, and each classic mistake, planted the learner's way, fails and is named."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from cnnnotes.analysis.calibration import expected_calibration_error, fit_temperature
from cnnnotes.check import check_ece, check_macro_f1, check_standard_error, check_temperature
from cnnnotes.check.calibration import ECE_MISTAKES, T_MISTAKES
from cnnnotes.check.scores import F1_MISTAKES, SE_MISTAKES

pytestmark = pytest.mark.usefixtures("one_thread")


# ---------------------------------------------------------------- ECE


def loop_ece(probs: Tensor, labels: Tensor, n_bins: int, *, weight: str = "count",
             gap: str = "abs", conf: str = "top", edges: str = "(a, b]") -> float:  # fmt: skip
    """The ECE as a learner writes it, bin by bin with masks, or with one classic slip."""
    top, pred = probs.max(dim=1)
    c = top if conf == "top" else probs.gather(1, labels[:, None])[:, 0]
    right = (pred == labels).double()
    total, gaps = 0.0, []
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        left_open = edges == "(a, b]"
        inside = (c > lo) & (c <= hi) if left_open else (c >= lo) & (c < hi)
        if inside.any():
            d = right[inside].mean() - c[inside].mean()
            d = d.abs() if gap == "abs" else d
            total += float(inside.sum()) / len(labels) * float(d)
            gaps.append(float(d))
        else:
            gaps.append(0.0)
    if weight == "non-empty":
        return sum(gaps) / sum(1 for g in gaps if g != 0.0)
    if weight == "all":
        return sum(gaps) / n_bins
    return total


def test_check_ece_passes_a_right_ece() -> None:
    assert check_ece(loop_ece).startswith("Correct: ")
    assert check_ece(lambda p, y, b: torch.tensor(loop_ece(p, y, b))).startswith("Correct: ")


ECE_SLIPS = {
    "averaged the bins without weighting by their counts": dict(weight="non-empty"),
    "averaged over all bins, empty ones included": dict(weight="all"),
    "used the probability of the true class instead of the top confidence": dict(conf="true"),
    "added the signed gaps": dict(gap="signed"),
    "put a confidence on an edge into the bin above": dict(edges="[a, b)"),
}


@pytest.mark.parametrize("slip", sorted(ECE_SLIPS))
def test_check_ece_names_each_classic_mistake(slip: str) -> None:
    message = check_ece(lambda p, y, b: loop_ece(p, y, b, **ECE_SLIPS[slip]))
    assert message.startswith("Not yet: for "), message
    assert f"It looks like you {slip}" in message, message


def test_every_named_ece_mistake_is_planted() -> None:
    assert len(ECE_MISTAKES) == len(ECE_SLIPS)
    assert all(any(k.startswith(slip) for slip in ECE_SLIPS) for k in ECE_MISTAKES)


# ---------------------------------------------------------------- temperature scaling


def grid_temperature(z: Tensor, y: Tensor, *, multiply: bool = False) -> float:
    """T by a fine grid search on the NLL, as a learner might; ``multiply`` plants the slip."""
    grid = torch.logspace(-1.3, 1.3, 1_000, dtype=torch.float64)
    nll = [F.cross_entropy(z * t if multiply else z / t, y) for t in grid]
    return float(grid[int(torch.stack(nll).argmin())])


def ece_of(z: Tensor, y: Tensor) -> float:
    conf, pred = z.softmax(dim=1).max(dim=1)
    return expected_calibration_error(conf, pred == y)


def calibrate(zv, yv, zt, yt, *, fit_on: str = "val", multiply: bool = False,
              after_on: str = "test", apply: str = "divide") -> tuple:  # fmt: skip
    z, y = (zv, yv) if fit_on == "val" else (zt, yt)
    t = grid_temperature(z, y, multiply=multiply)
    za, ya = (zt, yt) if after_on == "test" else (zv, yv)
    scaled = za * t if multiply or apply == "multiply" else za / t
    return t, ece_of(zt, yt), ece_of(scaled, ya)


def test_check_temperature_passes_a_grid_search_and_the_package_fit() -> None:
    assert check_temperature(calibrate).startswith("Correct: ")

    def exact(zv, yv, zt, yt):
        t = fit_temperature(zv, yv)
        return torch.tensor(t), ece_of(zt, yt), ece_of(zt / t, yt)

    assert check_temperature(exact).startswith("Correct: ")


TEMPERATURE_SLIPS = {
    "fitted T on the test set; fit it on validation": dict(fit_on="test"),
    "multiplied the logits by T instead of dividing them": dict(multiply=True),
    "fitted T on the test set and multiplied": dict(fit_on="test", multiply=True),
    "multiplied the test logits by T instead of dividing": dict(apply="multiply"),
    "measured it on the validation logits": dict(after_on="val"),
}


@pytest.mark.parametrize("slip", sorted(TEMPERATURE_SLIPS))
def test_check_temperature_names_each_classic_mistake(slip: str) -> None:
    message = check_temperature(lambda *a: calibrate(*a, **TEMPERATURE_SLIPS[slip]))
    assert message.startswith("Not yet: for 10 classes"), message
    assert f"It looks like you {slip}" in message, message


def test_the_temperature_check_can_tell_the_splits_apart() -> None:
    """Each case's validation and test fits differ by far more than the 1 % the check allows,
    and neither is near 1 / the other, so "fitted on test" and "multiplied" are told apart."""
    from cnnnotes.check.calibration import TEMPERATURE_CASES

    for case in TEMPERATURE_CASES:
        zv, yv, zt, yt = case.args
        fits = [fit_temperature(zv, yv), fit_temperature(zt, yt)]
        fits += [1 / f for f in fits]
        assert all(abs(a - b) > 0.05 * b for i, a in enumerate(fits) for b in fits[i + 1 :])
    assert len(T_MISTAKES) == 3


def test_checks_report_a_raising_or_wrongly_shaped_answer() -> None:
    def broken(*args):
        raise RuntimeError("boom")

    assert check_temperature(broken).startswith("Your function raised RuntimeError: boom (for ")
    assert check_ece(broken).startswith("Your function raised RuntimeError: boom (for probs=")
    assert "return three numbers" in check_temperature(lambda *a: 1.5)
    assert "return one number, not list" in check_ece(lambda p, y, b: [0.1])


# ---------------------------------------------------------------- macro-F1


def loop_f1(pred: Tensor, labels: Tensor, k: int, how: str = "macro") -> float:
    """Macro-F1 class by class as a learner writes it, or with one classic slip."""
    scores, sizes, ps, rs = [], [], [], []
    for c in range(k):
        tp = int(((pred == c) & (labels == c)).sum())
        fp = int(((pred == c) & (labels != c)).sum())
        fn = int(((pred != c) & (labels == c)).sum())
        if tp + fp + fn == 0 and how != "all":
            continue
        p = tp / (tp + fp) if tp + fp else (math.nan if how == "nan" else 0.0)
        r = tp / (tp + fn) if tp + fn else 0.0
        ps.append(p)
        rs.append(r)
        scores.append(
            (p + r) / 2 if how == "arithmetic" else (2 * p * r / (p + r) if p + r else 0.0)
        )
        sizes.append(tp + fn)
    if how == "micro":
        return float((pred == labels).double().mean())
    if how == "means":
        p, r = sum(ps) / len(ps), sum(rs) / len(rs)
        return 2 * p * r / (p + r)
    if how == "weighted":
        return sum(s * n for s, n in zip(scores, sizes, strict=True)) / sum(sizes)
    return sum(scores) / len(scores)


F1_SLIPS = {
    "averaged over images (micro-F1": "micro",
    "took the F1 of the mean precision and the mean recall": "means",
    "averaged precision and recall arithmetically": "arithmetic",
    "weighted each class by its number of images": "weighted",
    "got nan from a class never predicted": "nan",
    "counted a class that neither occurs nor is predicted as F1 = 0": "all",
}


def test_check_macro_f1_passes_a_right_answer() -> None:
    assert check_macro_f1(loop_f1) == "Correct: your macro-F1 matches macro_f1 in all 4 cases."


@pytest.mark.parametrize("slip", sorted(F1_SLIPS))
def test_check_macro_f1_names_each_classic_mistake(slip: str) -> None:
    message = check_macro_f1(lambda p, y, k: loop_f1(p, y, k, F1_SLIPS[slip]))
    assert message.startswith("Not yet: for pred=["), message
    assert f"It looks like you {slip}" in message, message
    assert len(F1_MISTAKES) == len(F1_SLIPS)


# ---------------------------------------------------------------- standard error


SE_SLIPS = {
    "forgot the square root": lambda h: h.double().mean() * (1 - h.double().mean()) / len(h),
    "divided by N outside the root": lambda h: (h.double().mean() * (1 - h.double().mean()))
    .sqrt() / len(h),
    "returned the spread of one answer": lambda h: h.double().std(correction=0),
    "used torch.std's default N - 1": lambda h: h.double().std() / math.sqrt(len(h)),
    "returned percentage points": lambda h: 100 * h.double().std(correction=0) / len(h) ** 0.5,
}  # fmt: skip


def test_check_standard_error_passes_right_answers() -> None:
    right = [
        lambda h: math.sqrt(h.float().mean().item() * (1 - h.float().mean().item()) / len(h)),
        lambda h: h.double().std(correction=0) / math.sqrt(len(h)),
    ]
    for fn in right:
        assert check_standard_error(fn).startswith("Correct: "), check_standard_error(fn)


@pytest.mark.parametrize("slip", sorted(SE_SLIPS))
def test_check_standard_error_names_each_classic_mistake(slip: str) -> None:
    message = check_standard_error(SE_SLIPS[slip])
    assert message.startswith("Not yet: for hits=[True, True, True, False]"), message
    assert f"It looks like you {slip}" in message, message
    assert len(SE_MISTAKES) == len(SE_SLIPS)


@pytest.mark.parametrize("check", [check_ece, check_temperature, check_macro_f1,
                                   check_standard_error])  # fmt: skip
def test_checks_refuse_what_is_not_a_function(check) -> None:
    with pytest.raises(TypeError, match="your function"):
        check(0.5)
