"""Printing results that hold on every machine: verdicts and rounded aggregates.

Float results change in their last bits with the CPU, its kernels and the thread
count. What the book prints must not: a comparison prints a *verdict* against a
fixed tolerance (never the size of the round-off), and an aggregate of float
arithmetic (a loss, a mean, a statistic) is printed with few enough significant
digits that a change of kernels does not reach them. A number glued into the
prose is rounded the same way, since nbval compares the glued value too. Every
chapter and self-check formats through :func:`verdict`, :func:`approx` and
:func:`glue`.
"""

from __future__ import annotations

import math

import torch

from cnnnotes._validate import WrongTypeError, nonnegative_int, number, positive_int, require

DEFAULT_TOL: dict[torch.dtype, float] = {
    torch.float64: 1e-10,
    torch.float32: 1e-5,
    torch.float16: 1e-2,
    torch.bfloat16: 1e-2,
}
"""Tolerance of :func:`verdict` per floating dtype (the coarser of the two compared)."""


def _as_tensor(value: object, name: str) -> torch.Tensor:
    try:
        t = torch.as_tensor(value)
        if not isinstance(value, torch.Tensor) and t.dtype == torch.float32:
            t = torch.as_tensor(value, dtype=torch.float64)  # a Python float is a double
        return t
    except (TypeError, ValueError, RuntimeError) as exc:
        raise WrongTypeError(
            f"{name} must be a tensor or something torch.as_tensor accepts "
            f"(a number or nested lists of numbers), got {type(value).__name__}"
        ) from exc


def _tolerance(a: torch.Tensor, b: torch.Tensor, tol: float | None) -> float:
    if tol is not None:
        return number(tol, "tol", at_least=0)  # 0 asks for exact equality
    floats = [t.dtype for t in (a, b) if t.is_floating_point()]
    if not floats:
        return 0.0  # integers and booleans are compared exactly
    return max(DEFAULT_TOL.get(d, 1e-5) for d in floats)


def verdict(actual: object, expected: object, tol: float | None = None) -> str:
    """One line that says whether ``actual`` agrees with ``expected``, the same on every CPU.

    Integer and boolean values, and any values with ``tol=0``, are compared exactly:
    ``exact`` or ``DIFFERENT``. Floats agree to ``tol`` when every element satisfies
    ``|actual - expected| <= tol * max(1, |expected|)`` (absolute for small values,
    relative for large ones); ``tol`` defaults to :data:`DEFAULT_TOL` for the dtype.
    A float comparison never says ``exact``: whether the last bits agree depends on
    the machine. NaNs agree with NaNs, infinities with equal infinities; a NaN or an
    infinity never agrees with a finite number.

    >>> verdict([1, 2], [1, 2])
    'exact'
    >>> verdict(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0 + 1e-7]))
    'agree to 1e-05'
    >>> verdict([1.0, 2.0], [1.0, 2.3])
    'DIFFERENT: max |Δ| = 0.3 at (1,)'
    >>> verdict([1.0, 2.0], [1.0, 2.0, 3.0])
    'DIFFERENT: shape (2,) vs (3,)'
    """
    a, b = _as_tensor(actual, "actual"), _as_tensor(expected, "expected")
    if a.shape != b.shape:
        return f"DIFFERENT: shape {tuple(a.shape)} vs {tuple(b.shape)}"
    limit = _tolerance(a, b, tol)
    a64, b64 = a.detach().cpu().to(torch.float64), b.detach().cpu().to(torch.float64)
    same = (a64 == b64) | (a64.isnan() & b64.isnan())
    diff = torch.where(same, 0.0, (a64 - b64).abs()).nan_to_num(nan=math.inf, posinf=math.inf)
    allowed = limit * b64.abs().clamp(min=1.0).nan_to_num(nan=1.0, posinf=1.0)
    bad = diff > allowed
    if not bool(bad.any()):
        return "exact" if limit == 0.0 else f"agree to {limit:.0e}"
    worst = torch.where(bad, diff, -1.0)
    flat = int(worst.argmax())
    index = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), a.shape))
    return f"DIFFERENT: max |Δ| = {float(diff.flatten()[flat]):.2g} at {index}"


def approx(value: float, sig: int = 3, *, decimals: int | None = None) -> str:
    """``value`` rounded to ``sig`` significant digits, in plain (not scientific) notation.

    Use it for every printed aggregate of float arithmetic: three significant
    digits survive the round-off of any CPU kernel, the full ``repr`` does not.
    ``decimals`` rounds to a fixed number of decimals instead, for a value that is
    zero up to round-off (a mean after normalising): it never prints ``-0.0``.

    >>> approx(0.232641)
    '0.233'
    >>> approx(92.3912, 4)
    '92.39'
    >>> approx(-0.000123456, 2)
    '-0.00012'
    >>> approx(1234567.0)
    '1,230,000'
    >>> approx(-3e-9, decimals=4)
    '0.0000'
    """
    if isinstance(value, torch.Tensor):
        require(
            value.numel() == 1,
            f"value must be a single number, got a tensor of shape {tuple(value.shape)}",
        )
        value = value.item()
    value = number(value, "value", finite=False)
    positive_int(sig, "sig")
    if not math.isfinite(value):
        return str(value)
    if decimals is not None:
        nonnegative_int(decimals, "decimals")
        return f"{round(value, decimals) + 0.0:,.{decimals}f}"  # + 0.0 turns -0.0 into 0.0
    if value == 0.0:
        return "0"
    exponent = math.floor(math.log10(abs(value)))
    decimals = sig - 1 - exponent
    rounded = round(value, decimals)
    if rounded != 0.0 and math.floor(math.log10(abs(rounded))) > exponent:
        decimals -= 1  # 0.9996 rounds up to 1.000: keep sig digits, not sig + 1
    return f"{rounded:,.{max(decimals, 0)}f}"


def rounded(value: float, sig: int = 4) -> float:
    """``value`` rounded to ``sig`` significant digits, as a float (see :func:`approx`).

    >>> rounded(0.28604057431221)
    0.286
    >>> rounded(92.38999999999999)
    92.39
    """
    return float(approx(value, sig).replace(",", ""))


def glue(name: str, value: object, display: bool = False, sig: int = 4) -> None:
    """``myst_nb.glue`` with floats rounded to ``sig`` significant digits first.

    nbval compares a glued value's full ``repr``, so an unrounded float glued into
    the prose would make the page depend on the CPU. Ints, strings and Markdown
    pass through unchanged. Format the number in the prose, e.g.
    ``{glue:text}`name:.2f```, with no more digits than ``sig``.
    """
    from myst_nb import glue as myst_glue  # the notebooks extra; imported when used

    if isinstance(value, torch.Tensor):
        require(
            value.numel() == 1,
            f"glue {name!r}: value must be a single number, got shape {tuple(value.shape)}",
        )
        value = value.item()
    if isinstance(value, float):
        value = rounded(value, sig)
    myst_glue(name, value, display=display)
