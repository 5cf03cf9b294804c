"""The common core of the self-checks: honest comparisons and calling a learner's function."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from numbers import Real

import torch

from cnnnotes._validate import number
from cnnnotes.oracle import Refused, agree
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


def check_answer(value: object, expected: object, name: str = "answer", *, tol: float = 0.0) -> str:
    """Check a pen-and-paper number, or a tuple of numbers such as a shape.

    ``tol`` is the allowed absolute error of each number. Every natural form of a
    right answer passes: ints or floats, a one-element tensor, and for a shape a
    tuple, a list or a ``torch.Size``.

    >>> check_answer(13, 13, "output width")
    'Correct: output width = 13.'
    >>> check_answer(12, 13, "output width")
    'Not yet: output width = 12, expected 13.'
    >>> check_answer(torch.Size([6, 28, 28]), (6, 28, 28), "shape after conv1")
    'Correct: shape after conv1 = (6, 28, 28).'
    >>> check_answer([6, 14], (6, 28, 28), "shape")
    'Not yet: shape = (6, 14), expected (6, 28, 28).'
    """
    tol = number(tol, "tol", at_least=0)
    if isinstance(expected, (tuple, list, torch.Size)):
        want = tuple(as_number(e) for e in expected)
        got = tuple(as_number(v) for v in value) if _is_sequence(value) else as_number(value)
        ok = (
            isinstance(got, tuple)
            and len(got) == len(want)
            and all(_within(g, e, tol) for g, e in zip(got, want, strict=True))
        )
    else:
        want, got = expected, as_number(value)
        ok = _within(got, expected, tol)
    if ok:
        return f"Correct: {name} = {got}."
    return f"Not yet: {name} = {got!r}, expected {want}."


def _is_sequence(value: object) -> bool:
    return isinstance(value, (tuple, list, torch.Size)) or (
        isinstance(value, torch.Tensor) and value.dim() == 1
    )


def _within(got: object, expected: object, tol: float) -> bool:
    """``got`` is a real number (not a bool) within ``tol`` of ``expected``."""
    if not isinstance(got, Real) or isinstance(got, bool) or not isinstance(expected, Real):
        return False
    return abs(got - expected) <= tol


def as_number(value: object) -> object:
    return value.item() if isinstance(value, torch.Tensor) and value.numel() == 1 else value


def same_number(got: object, expected: int) -> bool:
    got = as_number(got)
    return isinstance(got, Real) and not isinstance(got, bool) and got == expected


def _call_text(fn: Callable, names: Sequence[str], args: Sequence[object]) -> str:
    name = getattr(fn, "__name__", "fn")
    name = name if name.isidentifier() else "fn"  # a lambda is called "<lambda>"
    return f"{name}(" + ", ".join(f"{n}={a!r}" for n, a in zip(names, args, strict=True)) + ")"


Mistakes = Mapping[str, Callable[..., object]]
"""Classic wrong versions of a formula or op, by the name a message gives them."""


def _named_mistake(mistakes: Mistakes | None, args: tuple, got: object) -> str:
    """`` That is what <mistake> gives.`` when a known wrong version explains ``got``."""
    for name, wrong in (mistakes or {}).items():
        try:
            theirs = wrong(*args)
        except Exception:  # a wrong formula may fail on some cases; it explains nothing there
            continue
        if isinstance(theirs, torch.Tensor):
            same = isinstance(got, torch.Tensor) and got.shape == theirs.shape
            # the tolerance that makes a right answer pass: loops round differently
            same = same and _tensor_mismatch(got.detach().to(theirs.dtype), theirs, "") is None
        else:
            same = as_number(got) == theirs
        if same:
            return f" That is what {name} gives."
    return ""


def check_scalars(
    fn: Callable,
    names: Sequence[str],
    cases: Iterable[tuple],
    oracle: Callable[..., int],
    mistakes: Mistakes | None = None,
) -> str:
    """:func:`~cnnnotes.oracle.agree` ``fn`` with ``oracle`` on each case; the first
    mismatch (naming the classic mistake that explains it, if one does) or the all-clear."""
    result = agree(
        fn,
        oracle,
        (dict(zip(names, args, strict=True)) for args in cases),
        same=lambda got, expected: same_number(got, expected),
    )
    if result.ok:
        return f"All {result.cases:,} cases match PyTorch."
    args = tuple(result.first.case.values())
    call = _call_text(fn, names, args)
    got = result.first.ours
    expected = result.first.reference
    if isinstance(got, Refused):
        error = f"{type(got.error).__name__}: {got.error}"
        return f"Your function raised {error} for {call}; PyTorch gives {expected}."
    hint = _named_mistake(mistakes, args, got)
    return f"Mismatch: {call} returned {got!r}, PyTorch gives {expected}.{hint}"


def check_tensors(
    fn: Callable,
    cases: Iterable[tuple],
    what: str,
    mistakes: Mistakes | None = None,
) -> str:
    """:func:`~cnnnotes.oracle.agree` ``fn`` with the expected tensor of each
    ``(case text, args, expected[, hints])``; the first failure (naming a classic
    mistake that explains it) or the all-clear. ``hints`` are ``(mistake, output
    it gives)`` pairs for that case, named as "It looks like you <mistake>."."""
    items = list(cases)
    result = agree(
        lambda i, *args: fn(*args),
        lambda i, *args: items[i][2],
        (
            {"case": i, **{f"arg{j}": a for j, a in enumerate(args)}}
            for i, (_, args, *_) in enumerate(items)
        ),
        same=lambda got, expected: _tensor_mismatch(got, expected, what) is None,
    )
    if result.ok:
        return f"All {result.cases} cases match {what}."
    case, args, expected, *hints = items[result.first.case["case"]]
    got = result.first.ours
    if isinstance(got, Refused):
        return f"Your function raised {type(got.error).__name__}: {got.error} for {case}."
    message = f"Mismatch for {case}: {_tensor_mismatch(got, expected, what)}."
    for mistake, wrong in hints[0] if hints else ():
        if isinstance(got, torch.Tensor) and verdict(got, wrong, 1e-4)[0] != "D":
            return f"{message} It looks like you {mistake}."
    return message + _named_mistake(mistakes, args, got)


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
