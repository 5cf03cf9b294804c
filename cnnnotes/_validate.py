"""Argument checks shared by every public function of the package (private module).

Each check returns the value it accepted (as a plain ``int``, ``float``, pair or
tensor) or raises with a message that names the argument, what it got and what is
allowed. One rule holds everywhere:

* a wrong *type* (``lr="x"``, ``seed=1.5``, a list where a tensor is needed, an
  integer tensor where floats are needed) raises :class:`WrongTypeError`, a
  ``TypeError`` (also a ``ValueError``, so code that caught ``ValueError`` for
  ``2.5`` or ``True`` before still works);
* a wrong *value* of the right type (``lr=-1``, ``seed=-1``, a tensor of the wrong
  shape, a label out of range) raises ``ValueError``.

A module's own rule (a shape that must match another argument) is written where it
belongs and raised through :func:`require` or :func:`require_type`, keeping the rule.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

__all__ = [
    "MAX_SEED",
    "WrongTypeError",
    "boolean",
    "choice",
    "device",
    "function",
    "instance",
    "int_pair",
    "integer",
    "labelled",
    "nonnegative_int",
    "number",
    "positive_int",
    "require",
    "require_type",
    "seed",
    "tensor",
]

MAX_SEED = 2**32 - 1
"""Largest seed any function or command accepts: 32 bits, what every tool that may
reproduce a run takes (NumPy's ``seed``; ``torch.manual_seed`` takes 64 bits), so no
seed passes here that another tool refuses. Every seed the book records is small."""


class WrongTypeError(TypeError, ValueError):
    """An argument of the wrong type (a ``TypeError`` that is also a ``ValueError``)."""


def require(ok: bool, message: str) -> None:
    """Raise ``ValueError(message)`` unless ``ok``: a module's own rule about a value."""
    if not ok:
        raise ValueError(message)


def require_type(ok: bool, message: str) -> None:
    """Raise :class:`WrongTypeError` ``(message)`` unless ``ok``: a module's own type rule."""
    if not ok:
        raise WrongTypeError(message)


def _wrong_type(name: str, allowed: str, value: object) -> WrongTypeError:
    return WrongTypeError(f"{name} must be {allowed}, got {value!r} ({type(value).__name__})")


def integer(
    value: object, name: str, minimum: int | None = None, maximum: int | None = None
) -> int:
    """``value`` as an int, or raise unless it is an integer in ``minimum..maximum``.

    ``bool`` is refused although Python counts it as an int; a bound left as ``None``
    is not checked.

    >>> integer(0, "epochs", 1)
    Traceback (most recent call last):
    ...
    ValueError: epochs must be an int >= 1, got 0
    >>> integer(2.0, "dy")
    Traceback (most recent call last):
    ...
    cnnnotes._validate.WrongTypeError: dy must be an int, got 2.0 (float)
    """
    if minimum is not None and maximum is not None:
        allowed = f"an int from {minimum} to {maximum}"
    elif minimum is not None:
        allowed = f"an int >= {minimum}"
    else:
        allowed = "an int" if maximum is None else f"an int <= {maximum}"
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise _wrong_type(name, allowed, value)
    in_range = (minimum is None or value >= minimum) and (maximum is None or value <= maximum)
    require(in_range, f"{name} must be {allowed}, got {value}")
    return int(value)


def positive_int(value: object, name: str) -> int:
    """An int >= 1 (a count, a size, a batch size)."""
    return integer(value, name, 1)


def nonnegative_int(value: object, name: str) -> int:
    """An int >= 0 (a padding, a shift, an index)."""
    return integer(value, name, 0)


def seed(value: object, name: str = "seed") -> int:
    """A seed: an int from 0 to :data:`MAX_SEED`.

    >>> seed(-1)
    Traceback (most recent call last):
    ...
    ValueError: seed must be an int from 0 to 4294967295, got -1
    """
    return integer(value, name, 0, MAX_SEED)


def int_pair(value: object, name: str, minimum: int) -> tuple[int, int]:
    """An int or a 2-sequence of ints as an ``(h, w)`` pair, each ``>= minimum``.

    >>> int_pair(3, "stride", 1), int_pair((1, 2), "padding", 0)
    ((3, 3), (1, 2))
    """
    if isinstance(value, (tuple, list)):
        require(
            len(value) == 2,
            f"{name} must be an int >= {minimum} or a pair (h, w) of them, "
            f"got {len(value)} values {tuple(value)!r}",
        )
        return (integer(value[0], f"{name}[0]", minimum), integer(value[1], f"{name}[1]", minimum))
    v = integer(value, name, minimum)
    return (v, v)


def number(
    value: object,
    name: str,
    *,
    above: float | None = None,
    at_least: float | None = None,
    below: float | None = None,
    finite: bool = True,
) -> float:
    """A finite real number ``> above`` (or ``>= at_least``) and ``< below``, as a float.

    ``finite=False`` lets ``inf`` and ``nan`` through too (a fill value, a number to print).

    >>> number(-1, "weight_decay", at_least=0)
    Traceback (most recent call last):
    ...
    ValueError: weight_decay must be a number >= 0, got -1
    >>> number("0.1", "momentum", at_least=0, below=1)
    Traceback (most recent call last):
    ...
    cnnnotes._validate.WrongTypeError: momentum must be a number in [0, 1), got '0.1' (str)
    """
    if above is not None:
        low, left = f"> {above}", f"({above:g}, "
    elif at_least is not None:
        low, left = f">= {at_least}", f"[{at_least:g}, "
    else:
        low = left = ""
    if below is not None:
        allowed = f"a number in {left}{below:g})" if low else f"a number < {below:g}"
    elif low:
        allowed = f"a number {low}"
    else:
        allowed = "a finite number" if finite else "a number"
    if isinstance(value, bool) or not isinstance(value, Real):
        raise _wrong_type(name, allowed, value)
    bad = finite and not math.isfinite(value)
    bad = bad or (above is not None and not value > above)
    bad = bad or (at_least is not None and not value >= at_least)
    bad = bad or (below is not None and not value < below)
    require(not bad, f"{name} must be {allowed}, got {value!r}")
    return float(value)


def boolean(value: object, name: str) -> bool:
    """``True`` or ``False`` exactly (not 0/1, not a string)."""
    require_type(isinstance(value, bool), f"{name} must be True or False, got {value!r}")
    return value


def choice(value: object, name: str, options: Sequence[str]) -> str:
    """One of the strings ``options`` (a value that is not a string is a wrong type).

    >>> choice("min", "kind", ("max", "avg"))
    Traceback (most recent call last):
    ...
    ValueError: kind must be 'max' or 'avg', got 'min'
    """
    quoted = [repr(o) for o in options]
    allowed = " or ".join(quoted) if len(quoted) <= 2 else f"one of {', '.join(quoted)}"
    require_type(isinstance(value, str), f"{name} must be {allowed}, got {value!r}")
    require(value in options, f"{name} must be {allowed}, got {value!r}")
    return value


def instance(value: object, name: str, kind: type | tuple[type, ...], what: str) -> Any:
    """``value`` if it is an instance of ``kind``; ``what`` says what is allowed."""
    require_type(isinstance(value, kind), f"{name} must be {what}, got {type(value).__name__}")
    return value


def function(value: object, name: str, what: str) -> Any:
    """``value`` if it is callable; ``what`` describes the call, e.g. ``"callable (x) -> y"``."""
    require_type(callable(value), f"{name} must be {what}, got {type(value).__name__}")
    return value


def tensor(
    value: object,
    name: str,
    *,
    shape: str | None = None,
    ndims: Sequence[int] | None = None,
    floating: bool = False,
    integers: str | None = None,
) -> torch.Tensor:
    """``value`` if it is a ``torch.Tensor`` of the kind and number of dims asked for.

    ``shape`` names the layout in messages (``"(N, C, H, W)"``); ``ndims`` lists the
    numbers of dims allowed; ``floating=True`` asks for a floating-point dtype and
    ``integers`` (what they are, e.g. ``"class labels"``) for an integer one, not bool.

    >>> import torch
    >>> tensor(torch.zeros(2, 3), "x", shape="(N, C, H, W)", ndims=(4,))
    Traceback (most recent call last):
    ...
    ValueError: x must have shape (N, C, H, W), got 2 dims (2, 3)
    """
    import torch

    layout = f" of shape {shape}" if shape else ""
    kind = type(value).__name__
    require_type(
        isinstance(value, torch.Tensor), f"{name} must be a torch.Tensor{layout}, got {kind}"
    )
    require_type(
        not floating or value.is_floating_point(),
        f"{name} must be a floating-point tensor (e.g. torch.float32), got {value.dtype}; "
        "convert it with .float()",
    )
    not_integer = value.is_floating_point() or value.is_complex() or value.dtype == torch.bool
    require_type(
        integers is None or not not_integer,
        f"{name} must hold integer {integers} (e.g. torch.long), got {value.dtype}",
    )
    wanted = shape or " or ".join(f"{d} dims" for d in ndims or ())
    require(
        ndims is None or value.ndim in ndims,
        f"{name} must have shape {wanted}, got {value.ndim} dims {tuple(value.shape)}",
    )
    return value


def device(value: object, name: str = "device") -> torch.device:
    """A ``torch.device`` from a device or its name (``"cpu"``, ``"cuda"``, ``"cuda:1"``).

    >>> device("gpu")
    Traceback (most recent call last):
    ...
    ValueError: device must be a torch.device or a name such as 'cpu' or 'cuda', got 'gpu'
    """
    import torch

    allowed = "a torch.device or a name such as 'cpu' or 'cuda'"
    instance(value, name, (str, torch.device), allowed)
    try:
        return torch.device(value)
    except RuntimeError:
        raise ValueError(f"{name} must be {allowed}, got {value!r}") from None


def labelled(value: object, name: str) -> tuple[Any, Any]:
    """A non-empty ``(x, y)`` pair of tensors with one label per example."""
    import torch

    pair = isinstance(value, (tuple, list)) and len(value) == 2
    require_type(pair, f"{name} must be a pair (x, y) of tensors, got {type(value).__name__}")
    x, y = value
    tensors = isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor)
    require_type(tensors, f"{name} must be a pair (x, y) of tensors")
    require(
        len(x) > 0 and len(x) == len(y),
        f"{name} must hold one label per image and at least one image, "
        f"got {len(x)} images and {len(y)} labels",
    )
    return x, y
