"""Eight-bit weights with one scale per row: how the reference model fits in a small file.

A weight matrix ``W`` (or any weight whose first dim is the output unit) is stored as
integers ``q`` in ``-127..127`` and one float scale per row::

    s_i = max_j |W_ij| / 127,     q_ij = round(W_ij / s_i),     Ŵ_ij = s_i · q_ij

Rounding moves each weight by at most half a step, ``|W_ij - Ŵ_ij| <= s_i / 2``, and the
largest magnitude of each row becomes ±127 steps. A row of zeros gets scale 1 and stays
zero. ``dequantize_rows`` is one correctly rounded multiply per weight, so the
weights it rebuilds are the same bits on every CPU.

>>> import torch
>>> w = torch.tensor([[0.5, -1.27, 0.0]])
>>> q, s = quantize_rows(w)
>>> q.tolist(), round(s.item(), 6)
([[50, -127, 0]], 0.01)
>>> bool(((dequantize_rows(q, s) - w).abs() <= s / 2).all())
True
"""

from __future__ import annotations

import torch

from cnnnotes._validate import require, require_type, tensor

LEVELS = 127
"""The largest stored magnitude: the symmetric range -127..127 of a signed byte."""


def quantize_rows(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(q, scale)``: ``weight`` as ``int8`` of the same shape, and one float32 scale per row.

    A row is everything that shares the first index (an output unit of a linear layer,
    a filter of a convolution). Each row's largest magnitude becomes ±127.
    """
    w = tensor(weight, "weight", floating=True)
    require(
        w.ndim >= 1 and w.shape[0] > 0, f"weight must have at least one row, got {tuple(w.shape)}"
    )
    require(bool(torch.isfinite(w).all()), "weight must be finite (no inf or nan)")
    rows = w.detach().to(torch.float32).reshape(w.shape[0], -1)
    peak = rows.abs().amax(dim=1)
    scale = torch.where(peak > 0, peak / LEVELS, torch.ones_like(peak))
    q = torch.round(rows / scale[:, None]).clamp(-LEVELS, LEVELS).to(torch.int8)
    return q.reshape(w.shape), scale


def dequantize_rows(q: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """The float32 weight that ``(q, scale)`` stands for: ``scale[i] * q[i, ...]``."""
    tensor(q, "q", integers="quantised weights")
    require_type(q.dtype == torch.int8, f"q must be torch.int8, got {q.dtype}")
    tensor(scale, "scale", floating=True, ndims=(1,))
    require(
        q.ndim >= 1 and scale.shape[0] == q.shape[0],
        f"scale must hold one value per row of q: q has shape {tuple(q.shape)}, "
        f"scale has {tuple(scale.shape)}",
    )
    require(
        bool((scale > 0).all() and torch.isfinite(scale).all()),
        "every scale must be positive and finite",
    )
    view = (-1,) + (1,) * (q.ndim - 1)
    return q.to(torch.float32) * scale.to(torch.float32).reshape(view)
