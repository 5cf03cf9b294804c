"""A layer-by-layer table of a model: shapes, parameters, MACs, activation bytes, receptive field.

:func:`layer_table` computes every number from :mod:`cnnnotes.conv.shapes` formulas, layer after
layer; :func:`check_layer_table` lists every disagreement with a real forward pass.

Order: ``forward`` may call the leaf modules (modules without children) in another order
than they were registered, and one module several times (``NotesCNN`` registers ``relu``
first and calls it three times), so :func:`forward_order` *traces* the calls with pre-hooks
on a ``meta``-device copy (no arithmetic, the model untouched) and keeps only the order.
The table assumes a chain, each leaf consuming the previous leaf's output; for any other
forward (skips, ``torch.flatten`` between leaves) pass an ``nn.Sequential`` of the chain.

Conventions: shapes include the batch; MACs and bytes are for the whole batch; a module
called twice counts its parameters once. Pooling and element-wise layers count 0 MACs, as in
``FlopCounterMode`` (2 FLOPs per multiply-accumulate of convolutions and matrix products).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cnnnotes._validate import positive_int
from cnnnotes.conv import shapes

__all__ = ["LayerRow", "check_layer_table", "format_table", "forward_order", "layer_table"]

Shape = tuple[int, ...]
ELEMENTWISE = (*shapes.SHAPE_KEEPING, nn.BatchNorm1d, nn.Dropout1d, nn.Softmax, nn.LogSoftmax)
"""Layers whose output has the input's shape (parameters only for batch norm and PReLU)."""


@dataclass(frozen=True)
class LayerRow:
    """One call of one leaf module; shapes include the batch, counts are for the batch."""

    name: str
    kind: str
    in_shape: Shape
    out_shape: Shape
    params: int
    macs: int
    activation_bytes: int
    receptive_field: int | None  # input pixels per side; None once the layer is not spatial


def _shape(value: object) -> Shape:
    if not isinstance(value, (tuple, list, torch.Size)):
        raise TypeError(f"input_shape must be a tuple of ints like (1, 1, 28, 28), got {value!r}")
    if len(value) < 2 or any(isinstance(v, bool) or not isinstance(v, Integral) for v in value):
        raise ValueError(f"input_shape must hold 2 or more ints (batch first), got {value!r}")
    if min(value) < 1:
        raise ValueError(f"every size in input_shape must be >= 1, got {tuple(value)!r}")
    return tuple(int(v) for v in value)


def _two(value: object) -> tuple:  # PyTorch stores an int or an (h, w) pair
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def _nchw(shape: Shape, where: str, channels: int | None = None) -> Shape:
    if len(shape) != 4 or channels not in (None, shape[1]):
        need = "(N, C, H, W)" if channels is None else f"(N, {channels}, H, W)"
        raise ValueError(f"{where} needs an {need} input, but the previous layer gives {shape}")
    return shape


def _step(m: nn.Module, shape: Shape, where: str) -> tuple[Shape, int, int]:
    """``(output shape, parameters, MACs)`` of one layer, from the formulas."""
    if isinstance(m, nn.Conv2d):  # each filter sees D/groups channels at each output cell
        n, c, h, w = _nchw(shape, where, m.in_channels)
        k = m.kernel_size
        sh, sw = m.stride
        dh, dw = m.dilation
        ph, pw = (0, 0) if m.padding in ("same", "valid") else _two(m.padding)
        same = m.padding == "same"  # stride 1, size kept
        oh = h if same else shapes.conv_output_size(h, k[0], sh, ph, dh)
        ow = w if same else shapes.conv_output_size(w, k[1], sw, pw, dw)
        d = c // m.groups
        params = shapes.conv_param_count(d, m.out_channels, k, bias=m.bias is not None)
        macs = n * shapes.conv_macs(d, m.out_channels, k, oh, ow)
        return (n, m.out_channels, oh, ow), params, macs
    if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
        n, c, h, w = _nchw(shape, where)
        kh, kw = _two(m.kernel_size)
        sh, sw = _two(m.stride)
        ph, pw = _two(m.padding)
        dh, dw = _two(getattr(m, "dilation", 1))
        oh = shapes.pool_output_size(h, kh, sh, ph, dh, m.ceil_mode)
        ow = shapes.pool_output_size(w, kw, sw, pw, dw, m.ceil_mode)
        return (n, c, oh, ow), 0, 0
    if isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):  # None keeps that side
        n, c, h, w = _nchw(shape, where)
        oh, ow = _two(m.output_size)
        return (n, c, h if oh is None else oh, w if ow is None else ow), 0, 0
    if isinstance(m, nn.Linear):  # one MAC per weight per row
        if shape[-1] != m.in_features:
            hint = "flatten with nn.Flatten or pass the chain as an nn.Sequential"
            raise ValueError(f"{where} expects {m.in_features} features, got {shape} ({hint})")
        params = shapes.linear_param_count(m.in_features, m.out_features, m.bias is not None)
        macs = math.prod(shape[:-1]) * m.in_features * m.out_features
        return (*shape[:-1], m.out_features), params, macs
    if isinstance(m, nn.Flatten):
        start, end = m.start_dim % len(shape), m.end_dim % len(shape)
        return (*shape[:start], math.prod(shape[start : end + 1]), *shape[end + 1 :]), 0, 0
    if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):  # a scale and a shift per channel
        if shape[1] != m.num_features:
            raise ValueError(f"{where} expects {m.num_features} channels, but gets shape {shape}")
        return shape, 2 * m.num_features if m.affine else 0, 0
    if isinstance(m, ELEMENTWISE):
        return shape, m.num_parameters if isinstance(m, nn.PReLU) else 0, 0
    raise TypeError(
        f"layer_table cannot handle {where}; allowed: Conv2d, MaxPool2d, AvgPool2d, "
        "AdaptiveAvgPool2d, AdaptiveMaxPool2d, Linear, Flatten, BatchNorm1d/2d and "
        "element-wise layers (activations, Dropout, Identity, Softmax)"
    )


def _receptive_fields(layers: Sequence[nn.Module]) -> list[int | None]:
    """The receptive field after each layer, the recurrence run once along the chain.

    Alone, a layer has the field ``k_eff = d(k−1)+1`` and the jump ``s`` (its stride); after
    it the chain's field grows by ``(k_eff − 1)·j`` and its jump ``j`` becomes ``j·s``.
    ``None`` from the first layer :func:`~cnnnotes.conv.shapes.receptive_field_steps` refuses
    (Flatten, Linear, adaptive pooling, a non-square kernel) on: no longer a map of the input.
    """
    fields: list[int | None] = []
    r = j = 1
    for layer in layers:
        try:
            ((k_eff, s),) = shapes.receptive_field_steps([layer])  # the layer alone
        except (TypeError, ValueError):
            break
        r += (k_eff - 1) * j
        j *= s
        fields.append(r)
    return fields + [None] * (len(layers) - len(fields))


def _leaves(model: nn.Module) -> dict[nn.Module, str]:
    return {m: n or type(m).__name__ for n, m in model.named_modules() if not any(m.children())}


def forward_order(model: nn.Module, input_shape: Sequence[int]) -> list[tuple[str, nn.Module]]:
    """``(name, module)`` of each leaf call of ``model``'s forward, in order, repeats kept.

    >>> from cnnnotes.training.models import NotesCNN  # registers relu first, calls it three times
    >>> print(*(name for name, _ in forward_order(NotesCNN(), (1, 1, 28, 28))))
    conv1 relu conv2 relu pool flatten fc1 relu fc2
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    shape = _shape(input_shape)
    probe = copy.deepcopy(model).to("meta").eval()
    pairs = zip(probe.named_modules(), model.named_modules(), strict=True)
    real = {copied: m for (_, copied), (_, m) in pairs}
    names = _leaves(model)
    calls: list[nn.Module] = []
    for leaf in _leaves(probe):  # the probe is thrown away, so its hooks need no removing
        leaf.register_forward_pre_hook(lambda c, _: calls.append(real[c]))
    dtype = next(model.parameters(), torch.zeros(())).dtype
    try:
        with torch.no_grad():
            probe(torch.zeros(shape, dtype=dtype, device="meta"))
    except RuntimeError as e:
        raise ValueError(f"the model cannot run on input_shape {shape}: {e}") from e
    return [(names[m], m) for m in calls]


def layer_table(
    model: nn.Module, input_shape: Sequence[int] = (1, 1, 28, 28), *, bytes_per_element: int = 4
) -> list[LayerRow]:
    """One :class:`LayerRow` per layer call, from the formulas; ``bytes_per_element=4``: float32.

    >>> net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 3))
    >>> for r in layer_table(net, (1, 1, 4, 4)):
    ...     print(r.name, r.kind, r.out_shape, r.params, r.macs, r.receptive_field)
    0 Conv2d (1, 2, 2, 2) 20 72 3
    1 ReLU (1, 2, 2, 2) 0 0 3
    2 Flatten (1, 8) 0 0 None
    3 Linear (1, 3) 27 24 None
    """
    shape = _shape(input_shape)
    positive_int(bytes_per_element, "bytes_per_element")
    pairs = forward_order(model, shape)
    fields = _receptive_fields([m for _, m in pairs])
    seen: set[int] = set()
    rows: list[LayerRow] = []
    for i, ((name, m), rf) in enumerate(zip(pairs, fields, strict=True)):
        out, params, macs = _step(m, shape, f"layer {i} '{name}' ({type(m).__name__})")
        params = 0 if id(m) in seen else params  # a reused module's parameters count once
        seen.add(id(m))
        nbytes = math.prod(out) * bytes_per_element
        rows.append(LayerRow(name, type(m).__name__, shape, out, params, macs, nbytes, rf))
        shape = out
    return rows


def check_layer_table(
    model: nn.Module, rows: Sequence[LayerRow], input_shape: Sequence[int] = (1, 1, 28, 28)
) -> list[str]:
    """Compare ``rows`` with a real forward pass of ``model``; the problems found (``[]``: none).

    Per call (forward hooks): name, shapes, output bytes, ``sum(p.numel())`` at a module's first
    call; in total: parameters, and ``2·MACs`` against ``FlopCounterMode``. Zeros in, eval mode.

    >>> net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(8, 3))
    >>> check_layer_table(net, layer_table(net, (2, 1, 4, 4)), (2, 1, 4, 4))
    []
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    shape = _shape(input_shape)
    names = _leaves(model)
    calls: list[tuple[str, Shape, Shape, int, int]] = []
    seen: set[nn.Module] = set()

    def record(m: nn.Module, args: tuple, out: torch.Tensor) -> None:
        params = 0 if m in seen else sum(p.numel() for p in m.parameters())
        seen.add(m)
        nbytes = out.numel() * out.element_size()
        calls.append((names[m], tuple(args[0].shape), tuple(out.shape), params, nbytes))

    first = next(model.parameters(), torch.zeros(()))
    was_training = model.training
    hooks = [m.register_forward_hook(record) for m in names]
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model.eval()(torch.zeros(shape, dtype=first.dtype, device=first.device))
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    problems = [] if len(rows) == len(calls) else [f"{len(rows)} rows, {len(calls)} calls"]
    for i, (row, real) in enumerate(zip(rows, calls, strict=False)):
        ours = (row.name, row.in_shape, row.out_shape, row.params, row.activation_bytes)
        if ours != real:
            problems.append(f"row {i}: table (name, in, out, params, bytes) {ours}, model {real}")
    params = sum(r.params for r in rows)
    macs = sum(r.macs for r in rows)
    if params != sum(p.numel() for p in model.parameters()):
        problems.append(f"the table counts {params:,} parameters, the model another number")
    if 2 * macs != counter.get_total_flops():
        problems.append(f"2 x {macs:,} MACs != {counter.get_total_flops():,} FLOPs counted")
    return problems


def format_table(rows: Sequence[LayerRow]) -> str:
    """A text table (header, input, rows, totals); ``bytes``: activation memory, ``RF``: field.

    >>> net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.MaxPool2d(2))
    >>> print(format_table(layer_table(net, (1, 1, 4, 4))))
    layer  kind       output shape  params  MACs  bytes  RF
    input             (1, 1, 4, 4)                        1
    0      Conv2d     (1, 2, 2, 2)      20    72     32   3
    1      MaxPool2d  (1, 2, 1, 1)       0     0      8   4
    total                               20    72     40
    """
    if not isinstance(rows, (list, tuple)) or not all(isinstance(r, LayerRow) for r in rows):
        raise TypeError(f"rows must be a list of LayerRow, as layer_table returns, got {rows!r}")
    if not rows:
        raise ValueError("rows is empty; format_table needs at least one LayerRow")
    keys = ("params", "macs", "activation_bytes")
    cells = [("layer", "kind", "output shape", "params", "MACs", "bytes", "RF")]
    cells.append(("input", "", str(rows[0].in_shape), "", "", "", "1"))
    for r in rows:
        rf = "" if r.receptive_field is None else str(r.receptive_field)
        cells.append((r.name, r.kind, str(r.out_shape), *(f"{getattr(r, k):,}" for k in keys), rf))
    cells.append(("total", "", "", *(f"{sum(getattr(r, k) for r in rows):,}" for k in keys), ""))
    widths = [max(len(row[i]) for row in cells) for i in range(7)]
    just = [str.ljust, str.ljust, *[str.rjust] * 5]  # names left, numbers right
    out = ["  ".join(f(c, w) for f, c, w in zip(just, row, widths, strict=True)) for row in cells]
    return "\n".join(s.rstrip() for s in out)
