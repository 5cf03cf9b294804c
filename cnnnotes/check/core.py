"""The common core of the self-checks: honest comparisons and calling a learner's function."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from numbers import Real

import torch

from cnnnotes.report import verdict


def compare(actual: object, expected: object, tol: float | None = None) -> str:
    """Does ``actual`` agree with ``expected``? One line, the same on every CPU.

    The learner's name for :func:`cnnnotes.report.verdict`: ``exact`` for integers
    (or ``tol=0``), ``agree to 1e-05`` for floats within the dtype's tolerance,
    else ``DIFFERENT`` with the worst difference and where it is.

    >>> compare(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0]))
    'agree to 1e-05'
    >>> compare(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.3]))
    'DIFFERENT: max |Δ| = 0.3 at (1,)'
    """
    return verdict(actual, expected, tol)


def check_answer(value: object, expected: float, name: str = "answer", *, tol: float = 0.0) -> str:
    """Check a pen-and-paper number (``tol`` is the allowed absolute error).

    >>> check_answer(13, 13, "output width")
    'Correct: output width = 13.'
    >>> check_answer(12, 13, "output width")
    'Not yet: output width = 12, expected 13.'
    """
    if not (isinstance(tol, Real) and tol >= 0):
        raise ValueError(f"tol must be a number >= 0, got {tol!r}")
    got = _number(value)
    if isinstance(got, Real) and not isinstance(got, bool) and abs(got - expected) <= tol:
        return f"Correct: {name} = {got}."
    return f"Not yet: {name} = {got!r}, expected {expected}."


def _number(value: object) -> object:
    return value.item() if isinstance(value, torch.Tensor) and value.numel() == 1 else value


def _same_number(got: object, expected: int) -> bool:
    got = _number(got)
    return isinstance(got, Real) and not isinstance(got, bool) and got == expected


def _call_text(fn: Callable, names: Sequence[str], args: Sequence[object]) -> str:
    name = getattr(fn, "__name__", "fn")
    name = name if name.isidentifier() else "fn"  # a lambda is called "<lambda>"
    return f"{name}(" + ", ".join(f"{n}={a!r}" for n, a in zip(names, args, strict=True)) + ")"


def _check_scalars(
    fn: Callable, names: Sequence[str], cases: Iterator[tuple], oracle: Callable[..., int]
) -> str:
    """Run ``fn`` on each case; return the first mismatch or the all-clear message."""
    count = 0
    for args in cases:
        expected, call = oracle(*args), _call_text(fn, names, args)
        try:
            got = fn(*[list(a) if isinstance(a, list) else a for a in args])
        except Exception as e:  # the learner's code may raise anything
            error = f"{type(e).__name__}: {e}"
            return f"Your function raised {error} for {call}; PyTorch gives {expected}."
        if not _same_number(got, expected):
            return f"Mismatch: {call} returned {got!r}, PyTorch gives {expected}."
        count += 1
    return f"All {count:,} cases match PyTorch."


def _check_tensors(
    fn: Callable, cases: Iterable[tuple[str, tuple, torch.Tensor]], what: str
) -> str:
    """Call ``fn`` on each ``(case text, args, expected)`` (tensors passed as copies);
    return the first failure or the all-clear message."""
    count = 0
    for case, args, expected in cases:
        try:
            got = fn(*[a.clone() if isinstance(a, torch.Tensor) else a for a in args])
        except Exception as e:  # the learner's code may raise anything
            return f"Your function raised {type(e).__name__}: {e} for {case}."
        problem = _tensor_mismatch(got, expected, what)
        if problem:
            return f"Mismatch for {case}: {problem}."
        count += 1
    return f"All {count} cases match {what}."


def _tensor_mismatch(got: object, expected: torch.Tensor, what: str) -> str | None:
    """None if ``got`` is close to ``expected``, else one concrete difference."""
    if not isinstance(got, torch.Tensor):
        return f"your function returned {type(got).__name__}, expected a torch.Tensor"
    if got.shape != expected.shape:
        return f"your output has shape {tuple(got.shape)}, {what} gives {tuple(expected.shape)}"
    if got.dtype != expected.dtype:
        return f"your output has dtype {got.dtype}, {what} gives {expected.dtype}"
    try:
        torch.testing.assert_close(got, expected)
    except AssertionError as e:
        diff = (got.detach() - expected).abs().nan_to_num(nan=math.inf, posinf=math.inf)
        if not diff.numel():
            return str(e).splitlines()[0]
        idx = tuple(int(i) for i in torch.unravel_index(diff.argmax(), diff.shape))
        return (
            f"at index {idx} your output is {got[idx].item():.6g}, "
            f"{what} gives {expected[idx].item():.6g}"
        )
    return None
