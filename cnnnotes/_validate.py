"""Argument checks shared by every public function of the package (private module).

Each check returns the value it accepted (as a plain ``int``, ``float`` or pair) or
raises with a message that names the argument, what it got and what is allowed.
A wrong *type* raises :class:`WrongTypeError`, which is both a ``TypeError`` and a
``ValueError`` (functions that used to raise ``ValueError`` for ``2.5`` or ``True``
still do); a wrong *value* raises ``ValueError``.

The names here are public within the package: modules import them from
``cnnnotes._validate``, never another module's ``_private`` helpers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any

__all__ = [
    "WrongTypeError",
    "boolean",
    "check_pool_padding",
    "choice",
    "int_pair",
    "integer",
    "labelled",
    "nonnegative_int",
    "number",
    "positive_int",
    "window_count",
]


class WrongTypeError(TypeError, ValueError):
    """An argument of the wrong type (a ``TypeError`` that is also a ``ValueError``)."""


def integer(value: object, name: str, minimum: int, maximum: int | None = None) -> int:
    """``value`` as an int, or raise unless it is an integer in ``minimum..maximum``.

    ``bool`` is refused although Python counts it as an int.

    >>> integer(3, "epochs", 1)
    3
    >>> integer(0, "epochs", 1)
    Traceback (most recent call last):
    ...
    ValueError: epochs must be an int >= 1, got 0
    """
    allowed = f"an int >= {minimum}" if maximum is None else f"an int from {minimum} to {maximum}"
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise WrongTypeError(f"{name} must be {allowed}, got {value!r} ({type(value).__name__})")
    if value < minimum or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be {allowed}, got {value}")
    return int(value)


def positive_int(value: object, name: str) -> int:
    """An int >= 1 (a count, a size, a batch size)."""
    return integer(value, name, 1)


def nonnegative_int(value: object, name: str) -> int:
    """An int >= 0 (a padding, an offset, a seed)."""
    return integer(value, name, 0)


def int_pair(value: object, name: str, minimum: int) -> tuple[int, int]:
    """An int or a 2-sequence of ints as an ``(h, w)`` pair, each ``>= minimum``.

    >>> int_pair(3, "stride", 1), int_pair((1, 2), "padding", 0)
    ((3, 3), (1, 2))
    """
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(
                f"{name} must be an int >= {minimum} or a pair (h, w) of them, "
                f"got {len(value)} values {tuple(value)!r}"
            )
        return (integer(value[0], f"{name}[0]", minimum), integer(value[1], f"{name}[1]", minimum))
    v = integer(value, name, minimum)
    return (v, v)


def number(
    value: object, name: str, *, above: float | None = None, at_least: float | None = None
) -> float:
    """A finite real number ``> above`` (or ``>= at_least``), as a float.

    >>> number(1e-3, "lr", above=0)
    0.001
    >>> number(-1, "weight_decay", at_least=0)
    Traceback (most recent call last):
    ...
    ValueError: weight_decay must be a number >= 0, got -1
    """
    allowed = (
        f"a number > {above}" if above is not None
        else f"a number >= {at_least}" if at_least is not None
        else "a finite number"
    )  # fmt: skip
    if isinstance(value, bool) or not isinstance(value, Real):
        raise WrongTypeError(f"{name} must be {allowed}, got {value!r} ({type(value).__name__})")
    bad = not math.isfinite(value)
    bad = bad or (above is not None and not value > above)
    bad = bad or (at_least is not None and not value >= at_least)
    if bad:
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return float(value)


def boolean(value: object, name: str) -> bool:
    """``True`` or ``False`` exactly (not 0/1, not a string)."""
    if not isinstance(value, bool):
        raise WrongTypeError(f"{name} must be True or False, got {value!r}")
    return value


def choice(value: object, name: str, options: Sequence[str]) -> str:
    """One of the strings ``options``.

    >>> choice("max", "kind", ("max", "avg"))
    'max'
    >>> choice("min", "kind", ("max", "avg"))
    Traceback (most recent call last):
    ...
    ValueError: kind must be 'max' or 'avg', got 'min'
    """
    if value in options and isinstance(value, str):
        return value
    quoted = [repr(o) for o in options]
    allowed = " or ".join(quoted) if len(quoted) <= 2 else f"one of {', '.join(quoted)}"
    raise ValueError(f"{name} must be {allowed}, got {value!r}")


def labelled(value: object, name: str) -> tuple[Any, Any]:
    """A non-empty ``(x, y)`` pair of tensors with one label per example."""
    import torch

    if not (isinstance(value, (tuple, list)) and len(value) == 2):
        raise WrongTypeError(f"{name} must be a pair (x, y) of tensors, got {type(value).__name__}")
    x, y = value
    if not (isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor)):
        raise WrongTypeError(f"{name} must be a pair (x, y) of tensors")
    if len(x) == 0 or len(x) != len(y):
        raise ValueError(
            f"{name} must hold one label per image and at least one image, "
            f"got {len(x)} images and {len(y)} labels"
        )
    return x, y


def window_count(
    size: int, k: int, s: int, p: int, d: int, *, ceil_mode: bool = False, where: str = ""
) -> int:
    """Number of sliding windows (PyTorch's rule) for validated ints; raise if none fit.

    >>> window_count(28, 3, 1, 1, 1), window_count(5, 2, 2, 0, 1, ceil_mode=True)
    (28, 3)
    """
    eff = d * (k - 1) + 1
    span = size + 2 * p - eff
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1  # the last window must start inside the input or the left padding
    if out < 1:
        extra = f" plus the stride-1 = {s - 1} overhang that ceil_mode allows" if ceil_mode else ""
        raise ValueError(
            f"kernel_size {k} (dilated {eff}) is larger than the padded input "
            f"{size + 2 * p} (size {size} + 2*padding {p}){extra}{where}; "
            "the dilated kernel dilation*(kernel_size-1)+1 must fit"
        )
    return out


def check_pool_padding(k: int, p: int, where: str = "") -> None:
    """Raise unless ``p <= k // 2`` (PyTorch's pooling padding rule)."""
    if p > k // 2:
        raise ValueError(
            f"padding {p} is more than half of kernel_size {k}{where}; "
            f"pooling allows padding <= kernel_size // 2 = {k // 2}"
        )
