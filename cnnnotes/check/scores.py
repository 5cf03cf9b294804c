"""Self-checks for chapter 10's exercises on the scores that summarise a classifier: macro-F1
and the standard error of an accuracy.

Each check calls a learner's function on a fixed grid of cases, hand-sized ones first (so a
message shows a case small enough to redo on paper), compares it with the package's function
and names a planted classic mistake when one gives the learner's number on the failing case.
:func:`check_number` and :class:`Case` are that machinery, shared with
:mod:`cnnnotes.check.calibration`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from functools import partial
from numbers import Real
from typing import NamedTuple

import torch
from torch import Tensor

from cnnnotes._validate import function
from cnnnotes.analysis.calibration import macro_f1
from cnnnotes.analysis.metrics import confusion_matrix
from cnnnotes.check.core import as_number
from cnnnotes.training.recipes import binomial_se

__all__ = [
    "Case", "check_macro_f1", "check_number", "check_standard_error", "close", "named", "value_of",
]  # fmt: skip


class Case(NamedTuple):
    """One case: how a message names it, and the arguments the learner's function gets."""

    text: str
    args: tuple


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def value_of(got: object) -> float | None:
    """``got`` as a float if it is one real number (a 1-element tensor too), else None."""
    got = as_number(got)
    return None if not isinstance(got, Real) or isinstance(got, bool) else float(got)


def close(a: float, b: float, tol: float) -> bool:
    return abs(a - b) <= tol or (math.isnan(a) and math.isnan(b))


def named(got: float, wrong: Mapping[str, Callable[[], float]], close: Callable) -> str:
    """`` It looks like you <mistake>.`` for the first planted mistake that gives ``got``."""
    for mistake, theirs in wrong.items():
        try:
            if close(got, float(theirs())):
                return f" It looks like you {mistake}."
        except Exception:  # a wrong formula may fail on some cases; it explains nothing there
            continue
    return ""


def check_number(fn, cases, expected, mistakes, what: str, tol: float) -> str:
    """The first case where ``fn`` is not ``expected`` (with the mistake that explains it)."""
    for case in cases:
        try:
            got = fn(*[a.clone() if isinstance(a, Tensor) else a for a in case.args])
        except Exception as e:  # the learner's code may raise anything
            return f"Your function raised {type(e).__name__}: {e} ({case.text})."
        value, want = value_of(got), float(expected(*case.args))
        if value is None:
            return f"Not yet: return one number, not {type(got).__name__} ({case.text})."
        if not close(value, want, tol):
            wrong = {k: partial(f, *case.args) for k, f in mistakes.items()}
            hint = named(value, wrong, partial(close, tol=tol))
            return f"Not yet: {case.text}, you returned {value:.6g}, expected {want:.6g}.{hint}"
    return f"Correct: {what} in all {len(cases)} cases."


def _labels_case(pred: list, labels: list, k: int) -> Case:
    text = f"for pred={pred}, labels={labels}, num_classes={k}"
    return Case(text, (torch.tensor(pred), torch.tensor(labels), k))


def _random_labels(n: int, k: int, seed: int) -> Case:
    """Imbalanced classes (class c about twice as common as c + 1), about 70 % right."""
    g = _gen(seed)
    labels = torch.multinomial(0.5 ** torch.arange(k, dtype=torch.float64), n, True, generator=g)
    guess = torch.randint(0, k, (n,), generator=g)
    pred = torch.where(torch.rand(n, generator=g) < 0.7, labels, guess)
    return Case(f"for {n} random imbalanced labels of {k} classes (seed {seed})", (pred, labels, k))


F1_CASES: tuple[Case, ...] = (
    _labels_case([0, 0, 0, 0, 1, 2, 1, 0, 2, 1], [0, 0, 0, 0, 0, 0, 1, 1, 2, 2], 3),
    _labels_case([0, 0, 1, 1, 0, 1], [0, 0, 1, 1, 2, 2], 3),
    _labels_case([0, 1, 1, 0], [0, 1, 0, 0], 4),
    _random_labels(300, 5, seed=0),
)
"""Cases of :func:`check_macro_f1`, ``(pred, labels, num_classes)``: in the second, class 2 is
never predicted (precision 0/0, F1 0); in the third, classes 2 and 3 never occur at all."""


def _wrong_f1(pred: Tensor, labels: Tensor, k: int, how: str) -> float:
    """A classic wrong macro-F1: the F1 of the ``"mean p and r"``, the ``"arithmetic"`` mean
    of p and r, ``"weighted"`` by class size, or over ``"all"`` classes (absent ones as 0)."""
    cm = confusion_matrix(labels, pred, k).double()
    tp, size = cm.diagonal(), cm.sum(dim=1)
    p, r = tp / cm.sum(dim=0), tp / size
    f1 = 2 * tp / (cm.sum(dim=0) + size).clamp(min=1)
    seen = (cm.sum(dim=0) + size) > 0
    if how == "mean p and r":
        return float(2 * p[seen].mean() * r[seen].mean() / (p[seen].mean() + r[seen].mean()))
    if how == "arithmetic":
        return float(((p + r) / 2)[seen].mean())
    return float((f1 * size).sum() / size.sum() if how == "weighted" else f1.mean())


F1_MISTAKES: Mapping[str, Callable[[Tensor, Tensor, int], float]] = {
    "got nan from a class never predicted (precision 0/0); 2 TP / (2 TP + FP + FN) is 0 there":
        lambda pred, labels, k: math.nan,
    "averaged over images (micro-F1, which is the accuracy here); macro-F1 averages the classes":
        lambda pred, labels, k: float((pred == labels).double().mean()),
    "took the F1 of the mean precision and the mean recall; average the per-class F1":
        partial(_wrong_f1, how="mean p and r"),
    "averaged precision and recall arithmetically; F1 is their harmonic mean 2pr / (p + r)":
        partial(_wrong_f1, how="arithmetic"),
    "weighted each class by its number of images (weighted F1); macro-F1 counts classes equally":
        partial(_wrong_f1, how="weighted"),
    "counted a class that neither occurs nor is predicted as F1 = 0; leave it out of the mean":
        partial(_wrong_f1, how="all"),
}  # fmt: skip
"""Classic wrong macro-F1s, by the message that names them."""


def check_macro_f1(fn: Callable[[Tensor, Tensor, int], object]) -> str:
    """Check ``fn(pred, labels, num_classes)`` → the mean over classes of ``F1_k``, against
    :func:`~cnnnotes.analysis.calibration.macro_f1` to 1e-6.

    >>> check_macro_f1(macro_f1)
    'Correct: your macro-F1 matches macro_f1 in all 4 cases.'
    >>> "(weighted F1)" in check_macro_f1(partial(_wrong_f1, how="weighted"))
    True
    """
    function(fn, "fn", "your function fn(pred, labels, num_classes)")
    what = "your macro-F1 matches macro_f1"
    return check_number(fn, F1_CASES, macro_f1, F1_MISTAKES, what, tol=1e-6)


SE_CASES: tuple[Case, ...] = (
    Case("for hits=[True, True, True, False]", (torch.tensor([True, True, True, False]),)),
    Case("for hits=[True] * 9 + [False]", (torch.tensor([True] * 9 + [False]),)),
    Case("for hits=[True] * 5", (torch.ones(5, dtype=torch.bool),)),
    Case("for 1,000 hits, each True with probability 0.9 (seed 0)",
         (torch.rand(1_000, generator=_gen(0)) < 0.9,)),
)  # fmt: skip
"""Cases of :func:`check_standard_error`, ``(hits,)``: a bool tensor of right answers."""


def _se(hits: Tensor, how: str = "right") -> float:
    """``sqrt(p (1 − p) / N)``, or a classic wrong standard error."""
    p, n = float(hits.double().mean()), len(hits)
    spread = {"right": n, "variance": n, "one answer": 1, "N - 1": n - 1, "percent": n}[how]
    se = binomial_se(p, spread) if spread else math.nan
    return {"variance": se**2, "percent": 100 * se}.get(how, se)


SE_MISTAKES: Mapping[str, Callable[[Tensor], float]] = {
    "forgot the square root: p(1 - p) / N is the variance": partial(_se, how="variance"),
    "divided by N outside the root; the standard error is sqrt(p(1 - p) / N)":
        lambda hits: _se(hits, "one answer") / len(hits),
    "returned the spread of one answer, sqrt(p(1 - p)), not of the mean of N answers":
        partial(_se, how="one answer"),
    "used torch.std's default N - 1 (Bessel's correction); the binomial standard error divides "
    "by N (correction=0)": partial(_se, how="N - 1"),
    "returned percentage points; return a proportion, as p is one": partial(_se, how="percent"),
}  # fmt: skip
"""Classic wrong standard errors, by the message that names them."""


def check_standard_error(fn: Callable[[Tensor], object]) -> str:
    """Check ``fn(hits)`` → ``sqrt(p (1 − p) / N)`` for a bool tensor of ``N`` right-or-wrong
    answers (``p`` the share right), against :func:`~cnnnotes.training.recipes.binomial_se` to 1e-6.

    >>> check_standard_error(_se)
    'Correct: your standard error matches binomial_se in all 4 cases.'
    >>> "forgot the square root" in check_standard_error(partial(_se, how="variance"))
    True
    """
    function(fn, "fn", "your function fn(hits)")
    what = "your standard error matches binomial_se"
    return check_number(fn, SE_CASES, _se, SE_MISTAKES, what, tol=1e-6)
