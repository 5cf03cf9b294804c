"""Ours against a reference over many cases: the book's one way to check a claim.

Every "N cases, 0 mismatches" in the book, every learner self-check and every
sweep in the tests is a call to :func:`agree`. It runs two functions on the
same cases (drawn from a seeded generator, or a fixed list), compares their
results with the book's tolerance (:func:`cnnnotes.report.verdict`) and returns
an :class:`Agreement`: how many cases, how many disagreed, the first case that
did, and one line in the book's wording.

>>> from cnnnotes.conv.shapes import conv_output_size
>>> def config(draw):
...     W, F, S = draw.int(1, 30), draw.int(1, 5), draw.int(1, 3)
...     return {"W": W, "F": F, "S": S} if F <= W else None  # None: draw again
>>> print(agree(
...     lambda W, F, S: conv_output_size(W, F, S),
...     lambda W, F, S: (W - F) // S + 1,
...     config, n_cases=200, claim="W' formula"))
W' formula: 200 random cases, all exact
>>> print(agree(
...     lambda W, F, S: conv_output_size(W, F, S),
...     lambda W, F, S: (W - F) / S + 1,
...     config, n_cases=200, claim="no floor"))  # doctest: +ELLIPSIS
no floor: 200 random cases, 77 DIFFERENT; first: W=15, F=5, S=3: ours 4, reference 4.333...
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from numbers import Real

import torch

from cnnnotes.oracle.cases import Case, Draw, draw_cases
from cnnnotes.report import verdict

__all__ = ["Agreement", "Disagreement", "Refused", "agree", "matches"]


@dataclass(frozen=True)
class Refused:
    """A function raised instead of returning: refusing the same case agrees."""

    error: Exception

    def __str__(self) -> str:
        return f"raised {type(self.error).__name__}: {self.error}"


@dataclass(frozen=True)
class Disagreement:
    """The first case on which the two functions disagreed, and what each gave."""

    case: Case
    ours: object
    reference: object

    def describe(self) -> str:
        """``W=7, F=3: ours 2, reference 3``."""
        args = ", ".join(f"{k}={_short(v)}" for k, v in self.case.items()) or "no arguments"
        ours, ref = self.ours, self.reference
        pairs = isinstance(ours, (tuple, list)) and isinstance(ref, (tuple, list))
        if pairs and len(ours) == len(ref):  # name the first element that differs, and how
            pairs = enumerate(zip(ours, ref, strict=True))
            i = next((i for i, (a, b) in pairs if not matches(a, b)), None)
            if i is not None:  # None: the tuples differ only to a custom comparison
                ours = ours[i]
                ref = ref[i]
                args = f"{args}, element {i}"
                if _numeric(ours) and _numeric(ref):
                    return f"{args}: {verdict(ours, ref)}"
        return f"{args}: ours {_short(ours)}, reference {_short(ref)}"


@dataclass(frozen=True)
class Agreement:
    """The report of :func:`agree`; ``str()`` gives the one-line verdict."""

    claim: str
    cases: int
    mismatches: int
    first: Disagreement | None = None
    level: str = "agree"  # "exact", or "agree to 1e-10" (the loosest tolerance used)
    random: bool = True
    refused: int = 0  # cases both functions refused (they count as agreeing)

    @property
    def ok(self) -> bool:
        """Every case agreed."""
        return self.mismatches == 0

    def __str__(self) -> str:
        kind = "random cases" if self.random else "cases"
        head = f"{self.claim}: {self.cases:,} {kind}"
        if self.ok:
            both = f" ({self.refused:,} refused by both)" if self.refused else ""
            return f"{head}, all {self.level}{both}"
        return f"{head}, {self.mismatches:,} DIFFERENT; first: {self.first.describe()}"


def matches(actual: object, expected: object, tol: float | None = None) -> str | None:
    """The verdict if ``actual`` agrees with ``expected`` (``exact``/``agree to …``), else None.

    Numbers and tensors are compared by :func:`~cnnnotes.report.verdict` (ints
    exactly, floats to the dtype's tolerance), tuples element by element, anything
    else with ``==``. Two refusals of the same case agree.

    >>> matches(3, 3), matches((1.0, torch.ones(2)), (1.0, torch.ones(2))), matches(3, 4)
    ('exact', 'agree to 1e-05', None)
    """
    if isinstance(actual, Refused) or isinstance(expected, Refused):
        return "exact" if isinstance(actual, Refused) and isinstance(expected, Refused) else None
    if isinstance(actual, (tuple, list)) and isinstance(expected, (tuple, list)):
        if len(actual) != len(expected):
            return None
        levels = [matches(a, e, tol) for a, e in zip(actual, expected, strict=True)]
        if None in levels:
            return None
        return _loosest(levels)
    if _numeric(actual) and _numeric(expected):
        if isinstance(actual, bool) != isinstance(expected, bool):
            return None
        result = verdict(actual, expected, tol)
        return None if result.startswith("DIFFERENT") else result
    return "exact" if actual == expected else None


def agree(
    ours: Callable[..., object],
    reference: Callable[..., object],
    cases: Callable[[Draw], Case | None] | Iterable[Case],
    *,
    n_cases: int | None = None,
    seed: int = 0,
    claim: str | None = None,
    tol: float | None = None,
    same: Callable[[object, object], bool] | None = None,
) -> Agreement:
    """Run ``ours`` and ``reference`` on every case and report where they disagree.

    ``cases`` is a case function ``make(draw)`` (then ``n_cases`` random cases are
    drawn from ``seed``) or a fixed iterable of cases. Each case is a mapping of
    argument names to values; both functions get the values positionally, tensors
    and lists as fresh copies. A function that raises *refuses* the case; two refusals agree.
    Results are compared by :func:`matches` with ``tol``, or by ``same(ours,
    reference)`` when given.
    """
    if not callable(ours) or not callable(reference):
        raise TypeError("ours and reference must be functions")
    if callable(cases):
        if n_cases is None:
            raise ValueError("n_cases is required when cases is a case function")
        case_list, random = draw_cases(cases, n_cases, seed), True
    else:
        if n_cases is not None:
            raise ValueError("n_cases goes with a case function, not a list of cases")
        case_list, random = [dict(c) for c in cases], False
    claim = claim or f"{_name(ours)} vs {_name(reference)}"
    bad = 0  # cases that disagree
    first: Disagreement | None = None  # the first of them
    levels: set[str] = set()  # how closely the others agree
    refused = 0  # cases both sides refused
    for case in case_list:
        a, b = _outcome(ours, case), _outcome(reference, case)
        level = _same(a, b, tol, same)
        if level is None:
            bad += 1
            first = first or Disagreement(case, a, b)
        else:
            levels.add(level)
            refused += isinstance(a, Refused) and isinstance(b, Refused)
    return Agreement(claim, len(case_list), bad, first, _loosest(levels), random, refused)


def _same(
    a: object, b: object, tol: float | None, same: Callable[[object, object], bool] | None
) -> str | None:
    if same is None:
        return matches(a, b, tol)
    if isinstance(a, Refused) or isinstance(b, Refused):
        return matches(a, b)
    return "agree" if same(a, b) else None


def _outcome(fn: Callable[..., object], case: Case) -> object:
    args = [_fresh(v) for v in case.values()]
    try:
        return fn(*args)
    except Exception as error:  # a refusal is a result too; it is compared, not hidden
        return Refused(error)


def _fresh(value: object) -> object:
    """A copy the called function may change without spoiling the case."""
    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, (list, dict, set)):
        return copy.deepcopy(value)
    return value


def _numeric(value: object) -> bool:
    return isinstance(value, (Real, torch.Tensor))


def _loosest(levels: Iterable[str]) -> str:
    """The loosest of some verdicts: ``exact`` < ``agree to 1e-10`` < … < ``agree``."""

    def tolerance(level: str) -> float:
        if level == "exact":
            return 0.0
        try:
            return float(level.rsplit(" ", 1)[1])  # "agree to 1e-05"
        except (IndexError, ValueError):
            return float("inf")  # "agree": a custom comparison

    return max(levels, key=tolerance, default="exact")


def _name(fn: Callable[..., object]) -> str:
    name = getattr(fn, "__qualname__", None) or type(fn).__name__
    return "a lambda" if "<lambda>" in name else name


def _short(value: object) -> str:
    if isinstance(value, torch.Tensor):
        if value.numel() <= 6:
            return repr(value.tolist())
        return f"tensor of shape {tuple(value.shape)}"
    text = str(value) if isinstance(value, Refused) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
