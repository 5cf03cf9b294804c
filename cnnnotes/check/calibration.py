"""Self-checks for chapter 10's calibration exercises: the expected calibration error and
temperature scaling, against :mod:`cnnnotes.analysis.calibration`.

The cases are a fixed grid, hand-sized ones first; a failure names its case and, when a
planted classic mistake gives the learner's number there, the mistake (the machinery of
:mod:`cnnnotes.check.scores`). The temperature check gives validation and test logits
different best temperatures, so it can see which split a fit read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial

import torch
from torch import Tensor

from cnnnotes._validate import function
from cnnnotes.analysis.calibration import (
    confidence_and_correct,
    expected_calibration_error,
    fit_temperature,
)
from cnnnotes.check.scores import Case, check_number, close, named, value_of

__all__ = ["check_ece", "check_temperature"]


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- expected calibration error


def _probs_case(rows: list, labels: list, n_bins: int) -> Case:
    text = f"for probs={rows}, labels={labels}, n_bins={n_bins}"
    return Case(text, (torch.tensor(rows, dtype=torch.float64), torch.tensor(labels), n_bins))


def _random_probs(n: int, k: int, n_bins: int, seed: int) -> Case:
    """An overconfident model: labels drawn from softmax(z / 2), confidences from softmax(z)."""
    z = 3 * torch.randn(n, k, generator=_gen(seed), dtype=torch.float64)
    labels = torch.multinomial((z / 2).softmax(dim=1), 1, generator=_gen(seed + 1))[:, 0]
    text = f"for {n} random images of {k} classes (seed {seed}), n_bins={n_bins}"
    return Case(text, (z.softmax(dim=1), labels, n_bins))


ECE_CASES: tuple[Case, ...] = (
    _probs_case([[0.4, 0.3, 0.2, 0.1], [0.9, 0.05, 0.05, 0.0], [0.8, 0.1, 0.1, 0.0],
                 [0.1, 0.7, 0.1, 0.1]], [1, 0, 0, 2], 4),
    _probs_case([[0.75, 0.25, 0.0, 0.0], [0.5, 0.25, 0.25, 0.0], [1.0, 0.0, 0.0, 0.0],
                 [0.6, 0.4, 0.0, 0.0]], [0, 1, 0, 0], 4),
    _random_probs(60, 10, 15, seed=0),
    _random_probs(500, 3, 10, seed=2),
)  # fmt: skip
"""Cases of :func:`check_ece`, ``(probs, labels, n_bins)``; the second puts confidences on
bin edges (0.5, 0.75 and 1.0)."""


def _ece(probs: Tensor, labels: Tensor, n_bins: int) -> float:
    confidence, predicted = probs.max(dim=1)
    return expected_calibration_error(confidence, predicted == labels, n_bins)


def _wrong_ece(probs: Tensor, labels: Tensor, n_bins: int, how: str) -> float:
    """A classic wrong ECE: bins weighted equally (``"non-empty"``, ``"all"`` bins), signed
    gaps, the true class's probability, or bins closed on the left (``"[a, b)"``)."""
    top, predicted = probs.max(dim=1)
    p = probs[torch.arange(len(labels)), labels] if how == "true class" else top
    index = (p * n_bins).floor() if how == "[a, b)" else (p * n_bins).ceil() - 1
    index = index.long().clamp(0, n_bins - 1)
    count = torch.bincount(index, minlength=n_bins)
    signed = torch.bincount(index, (predicted == labels).double() - p, n_bins)  # n_b (acc - conf)
    gaps = signed.abs() / count.clamp(min=1)
    if how == "signed":
        return float(signed.sum()) / len(labels)
    if how in ("non-empty", "all"):
        return float(gaps[count > 0].mean() if how == "non-empty" else gaps.mean())
    return float((count * gaps).sum()) / len(labels)


ECE_MISTAKES: Mapping[str, Callable[[Tensor, Tensor, int], float]] = {
    "averaged the bins without weighting by their counts: bin b counts n_b / N":
        partial(_wrong_ece, how="non-empty"),
    "averaged over all bins, empty ones included; weight bin b by n_b / N":
        partial(_wrong_ece, how="all"),
    "used the probability of the true class instead of the top confidence max_k p_k":
        partial(_wrong_ece, how="true class"),
    "added the signed gaps acc_b - conf_b, so bins cancel; add |acc_b - conf_b|":
        partial(_wrong_ece, how="signed"),
    "put a confidence on an edge into the bin above: bins are (a, b], 0.75 is in (0.5, 0.75]":
        partial(_wrong_ece, how="[a, b)"),
}  # fmt: skip
"""Classic wrong ECEs, by the message that names them."""


def check_ece(fn: Callable[[Tensor, Tensor, int], object]) -> str:
    """Check ``fn(probs, labels, n_bins)`` → ``Σ_b (n_b / N) |acc_b − conf_b|``.

    ``probs`` is ``(N, K)`` softmax probabilities, ``labels`` the true classes; the confidence
    is the top probability, bin ``b`` is ``(b/B, (b + 1)/B]``. Compared with
    :func:`~cnnnotes.analysis.calibration.expected_calibration_error` to 1e-6.

    >>> check_ece(_ece)
    'Correct: your ECE matches expected_calibration_error in all 4 cases.'
    >>> message = check_ece(partial(_wrong_ece, how="non-empty"))
    >>> message[:43], "without weighting by their counts" in message
    ('Not yet: for probs=[[0.4, 0.3, 0.2, 0.1], [', True)
    """
    function(fn, "fn", "your function fn(probs, labels, n_bins)")
    what = "your ECE matches expected_calibration_error"
    return check_number(fn, ECE_CASES, _ece, ECE_MISTAKES, what, tol=1e-6)


# ---------------------------------------------------------------- temperature scaling


def _scaled(n: int, k: int, t0: float, seed: int) -> tuple[Tensor, Tensor]:
    """Logits that ``T = t0`` calibrates: labels drawn from ``softmax(z)``, logits ``t0 · z``."""
    z = 2 * torch.randn(n, k, generator=_gen(seed), dtype=torch.float64)
    labels = torch.multinomial(z.softmax(dim=1), 1, generator=_gen(seed + 1))[:, 0]
    return t0 * z, labels


def _splits(k: int, t_val: float, t_test: float, seed: int) -> Case:
    """Validation and test logits whose best temperatures differ on purpose, so the check can
    see which split a fit read."""
    text = (
        f"for {k} classes, validation logits that T = {t_val} calibrates, test logits T = {t_test}"
    )
    return Case(text, (*_scaled(2_000, k, t_val, seed), *_scaled(2_000, k, t_test, seed + 2)))


TEMPERATURE_CASES: tuple[Case, ...] = (
    _splits(10, 2.5, 1.5, seed=0),
    _splits(5, 0.6, 1.2, seed=10),
    _splits(3, 1.8, 3.0, seed=20),
)
"""Cases of :func:`check_temperature`, ``(val_logits, val_labels, test_logits, test_labels)``
(2,000 images each): an overconfident, an underconfident and a 3-class model."""


def _test_ece(logits: Tensor, labels: Tensor) -> float:
    return expected_calibration_error(*confidence_and_correct(logits, labels))


def _calibrate(val_logits, val_labels, test_logits, test_labels) -> tuple[float, float, float]:
    """The reference: ``T`` fitted on validation, the test ECE before and after ``z / T``."""
    t = fit_temperature(val_logits, val_labels)
    return t, _test_ece(test_logits, test_labels), _test_ece(test_logits / t, test_labels)


T_MISTAKES: Mapping[str, Callable[..., float]] = {
    "fitted T on the test set; fit it on validation, only apply it to test":
        lambda zv, yv, zt, yt: fit_temperature(zt, yt),
    "multiplied the logits by T instead of dividing them":
        lambda zv, yv, zt, yt: 1 / fit_temperature(zv, yv),
    "fitted T on the test set and multiplied the logits by it":
        lambda zv, yv, zt, yt: 1 / fit_temperature(zt, yt),
}  # fmt: skip
"""Classic wrong temperatures, from the case's ``(val_logits, val_labels, test_logits,
test_labels)``."""

ON_VAL = "measured it on the validation logits"
ECE_AFTER_MISTAKES: Mapping[str, Callable[..., float]] = {
    "multiplied the test logits by T instead of dividing":
        lambda zv, yv, zt, yt, t: _test_ece(zt * t, yt),
    ON_VAL: lambda zv, yv, zt, yt, t: _test_ece(zv / t, yv),
    "returned the ECE before scaling": lambda zv, yv, zt, yt, t: _test_ece(zt, yt),
}  # fmt: skip
"""Classic wrong test ECEs after scaling, from the case and the learner's ``T``."""


def _temperature_case(fn: Callable, case: Case) -> str | None:
    """None if ``fn`` gets ``case`` right, else what differs and the mistake that explains it."""
    zv, yv, zt, yt = case.args
    try:
        got = fn(zv.clone(), yv.clone(), zt.clone(), yt.clone())
    except Exception as e:  # the learner's code may raise anything
        return f"Your function raised {type(e).__name__}: {e} ({case.text})."
    values = [value_of(v) for v in got] if isinstance(got, (tuple, list)) else []
    if len(values) != 3 or None in values:
        return f"Not yet: return three numbers, (T, ece_before, ece_after) ({case.text})."
    t, before, after = values
    t_val = fit_temperature(zv, yv)
    if not abs(t - t_val) <= 0.01 * t_val:  # a fine grid of T passes
        wrong = {k: partial(f, *case.args) for k, f in T_MISTAKES.items()}
        hint = named(t, wrong, lambda a, b: abs(a - b) <= 0.01 * b)
        return f"Not yet: {case.text}: you returned T = {t:.4g}, fitted T = {t_val:.4g}.{hint}"
    before_wrong = {ON_VAL: partial(_test_ece, zv, yv)}
    after_wrong = {k: partial(f, *case.args, t) for k, f in ECE_AFTER_MISTAKES.items()}
    for name, value, want, wrong in (
        ("before", before, _test_ece(zt, yt), before_wrong),
        ("after", after, _test_ece(zt / t, yt), after_wrong),
    ):
        if not close(value, want, 1e-6):
            hint = named(value, wrong, partial(close, tol=1e-6))
            where = f"{case.text}: your test ECE {name} scaling is {value:.6g}"
            return f"Not yet: {where}, expected {want:.6g}.{hint}"
    return None


def check_temperature(fn: Callable[[Tensor, Tensor, Tensor, Tensor], object]) -> str:
    """Check ``fn(val_logits, val_labels, test_logits, test_labels)`` → ``(T, before, after)``.

    ``T`` minimises the mean NLL of ``softmax(z / T)`` on the **validation** split (to 1 %, so a
    fine grid passes); ``before`` and ``after`` are the test ECE (15 bins) of the test logits
    and of the test logits divided by your ``T`` (to 1e-6).

    >>> check_temperature(_calibrate)
    'Correct: T fitted on validation and the test ECE before and after match in all 3 cases.'
    >>> on_test = lambda zv, yv, zt, yt: _calibrate(zt, yt, zt, yt)
    >>> "It looks like you fitted T on the test set" in check_temperature(on_test)
    True
    """
    function(fn, "fn", "your function fn(val_logits, val_labels, test_logits, test_labels)")
    for case in TEMPERATURE_CASES:
        message = _temperature_case(fn, case)
        if message:
            return message
    what = "T fitted on validation and the test ECE before and after match"
    return f"Correct: {what} in all {len(TEMPERATURE_CASES)} cases."
