"""cnnnotes.conv.shapes against PyTorch's real layers (PyTorch is the oracle)."""

from __future__ import annotations

import itertools

import pytest
import torch
from conftest import conv_height, conv_size_case, refusing
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cnnnotes.conv.shapes import (
    conv_macs,
    conv_output_size,
    conv_param_count,
    linear_param_count,
    pool_output_size,
    receptive_field,
    receptive_field_steps,
)
from cnnnotes.oracle import agree, cases
from cnnnotes.oracle.cases import Case, Draw
from cnnnotes.oracle.sweep import empirical_receptive_field, torch_output_size

pytestmark = pytest.mark.usefixtures("one_thread")


def maxpool_height(size: int, k: int, s: int | None, p: int, d: int, ceil: bool) -> int | None:
    pool = nn.MaxPool2d((k, 1), (k if s is None else s, 1), (p, 0), (d, 1), ceil_mode=ceil)
    return torch_output_size(pool, size)


def maxpool_case(draw: Draw) -> Case:
    """:func:`~cnnnotes.oracle.cases.pool_config`, a quarter of them with the default stride."""
    c = cases.pool_config(draw)
    return {**c, "stride": None if draw.int(0, 3) == 0 else c["stride"]}


def avgpool_case(draw: Draw) -> Case:
    """:func:`~cnnnotes.oracle.cases.pool_config` without dilation (an average pool has none)."""
    return {k: v for k, v in cases.pool_config(draw).items() if k != "dilation"}


OURS = refusing(pool_output_size, ValueError)
"""``pool_output_size``, with None for a refused size (as :func:`torch_output_size` gives)."""


# ---------------------------------------------------------------- output sizes


def test_conv_output_size_matches_conv2d():
    ours = refusing(conv_output_size, ValueError)
    result = agree(ours, conv_height, conv_size_case, n_cases=1500, claim="conv sizes")
    assert result.ok, str(result)


def test_conv_output_size_square_2d():
    def ours(size, k, s, p):
        n = conv_output_size(size, k, stride=s, padding=p)
        return n, n

    def conv(size, k, s, p):
        return tuple(nn.Conv2d(2, 3, k, s, p)(torch.zeros(1, 2, size, size)).shape[2:])

    def make(draw: Draw) -> Case:
        return {
            "size": draw.int(1, 20),
            "k": draw.int(1, 5),
            "s": draw.int(1, 4),
            "p": draw.int(0, 3),
        }

    result = agree(refusing(ours, ValueError), refusing(conv, RuntimeError), make, n_cases=150,
                   claim="square conv sizes")  # fmt: skip
    assert result.ok, str(result)


def test_pool_output_size_matches_maxpool():
    result = agree(OURS, maxpool_height, maxpool_case, n_cases=1500, claim="max pool sizes")
    assert result.ok, str(result)


def test_pool_output_size_matches_avgpool():
    def ours(size, k, s, p, ceil):
        return OURS(size, k, s, p, 1, ceil)

    def avgpool_height(size, k, s, p, ceil):
        return torch_output_size(nn.AvgPool2d((k, 1), (s, 1), (p, 0), ceil_mode=ceil), size)

    result = agree(ours, avgpool_height, avgpool_case, n_cases=1500, claim="avg pool sizes")
    assert result.ok, str(result)


def test_pool_output_size_exhaustive_small_grid():
    """Every small case, ceil_mode edge cases included, accepted or refused alike."""
    names = ("size", "kernel_size", "stride", "padding", "dilation", "ceil_mode")
    grid = itertools.product(
        range(1, 13), range(1, 6), range(1, 6), range(4), range(1, 4), (False, True)
    )
    grid = (dict(zip(names, c, strict=True)) for c in grid)
    result = agree(OURS, maxpool_height, grid, claim="small max pools")
    assert result.ok and result.cases == 12 * 5 * 5 * 4 * 3 * 2, str(result)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((5, 2, 2, 0, 1, True), 3),  # last window overhangs by one
        ((6, 2, 2, 0, 1, True), 3),
        ((2, 3, 2, 0, 1, True), 1),  # kernel bigger than input, still one window
        ((4, 2, 2, 1, 1, True), 3),  # a 4th window would start in the right padding
        ((5, 3, 2, 1, 1, True), 3),
        ((1, 1, 3, 0, 1, True), 1),
    ],
)
def test_pool_ceil_mode_edge_cases(args, expected):
    size, k, s, p, d, ceil = args
    pool = nn.MaxPool2d((k, 1), (s, 1), (p, 0), (d, 1), ceil_mode=ceil)
    assert pool_output_size(*args) == expected == torch_output_size(pool, size)


def test_pool_stride_defaults_to_kernel():
    assert pool_output_size(28, 2) == 14 == nn.MaxPool2d(2)(torch.zeros(1, 1, 28, 28)).shape[2]
    assert pool_output_size(7, 3) == 2 == nn.AvgPool2d(3)(torch.zeros(1, 1, 7, 7)).shape[2]


def test_pool_padding_rule_ignores_dilation():
    # PyTorch: pad <= kernel_size // 2 even when dilation makes the kernel wider.
    assert torch_output_size(nn.MaxPool2d((3, 1), 1, (2, 0), (2, 1)), 10) is None
    with pytest.raises(ValueError, match="padding 2 is more than half of kernel_size 3"):
        pool_output_size(10, 3, 1, 2, dilation=2)


# ---------------------------------------------------------------- counts


def test_conv_param_count_matches_conv2d():
    def ours(d, n, kh, kw, bias):
        as_int = conv_param_count(d, n, kh, bias) if kh == kw else None
        return conv_param_count(d, n, (kh, kw), bias=bias), as_int

    def real(d, n, kh, kw, bias):
        count = sum(
            p.numel() for p in nn.Conv2d(d, n, (kh, kw), bias=bias, device="meta").parameters()
        )
        return count, count if kh == kw else None

    def make(draw: Draw) -> Case:
        d, n, kh, kw = draw.int(1, 16), draw.int(1, 16), draw.int(1, 7), draw.int(1, 7)
        return {"d": d, "n": n, "kh": kh, "kw": kw, "bias": draw.flag()}

    result = agree(ours, real, make, n_cases=150, claim="conv parameters")
    assert result.ok, str(result)


def test_linear_param_count_matches_linear():
    def real(i, o, bias):
        return sum(p.numel() for p in nn.Linear(i, o, bias=bias, device="meta").parameters())

    def make(draw: Draw) -> Case:
        return {"i": draw.int(1, 500), "o": draw.int(1, 50), "bias": draw.flag()}

    result = agree(linear_param_count, real, make, n_cases=150, claim="linear parameters")
    assert result.ok, str(result)


def test_conv_macs_matches_flop_counter():
    def ours(c, n, kh, kw, h, w):
        return 2 * conv_macs(c, n, (kh, kw), h - kh + 1, w - kw + 1)

    def flops(c, n, kh, kw, h, w):
        # FlopCounterMode counts a multiply-accumulate as 2 FLOPs and ignores the bias.
        with FlopCounterMode(display=False) as counter:
            nn.Conv2d(c, n, (kh, kw), device="meta")(torch.empty(1, c, h, w, device="meta"))
        return counter.get_total_flops()

    def make(draw: Draw) -> Case:
        c, n, kh, kw = draw.ints(4, 1, 4)
        return {"c": c, "n": n, "kh": kh, "kw": kw, "h": draw.int(4, 12), "w": draw.int(4, 12)}

    result = agree(ours, flops, make, n_cases=150, claim="MACs")
    assert result.ok, str(result)


# ---------------------------------------------------------------- receptive field


def build(spec):
    """Real layers and the (k, s, d) of each conv/pool for the gradient measurement."""
    layers, measure = [], []
    for kind, k, s, d in spec:
        if kind == "conv":
            layers.append(nn.Conv2d(2, 2, k, s, dilation=d, device="meta"))
        elif kind == "max":
            layers.append(nn.MaxPool2d(k, s, dilation=d))
        elif kind == "avg":
            layers.append(nn.AvgPool2d(k, s))
            d = 1
        else:
            layers.append(nn.ReLU() if kind == "relu" else nn.BatchNorm2d(2, device="meta"))
            continue
        measure.append((k, s, d))
    return layers, measure


def test_receptive_field_matches_gradients():
    def ours(spec):
        layers, _ = build(spec)
        return receptive_field(layers), receptive_field(nn.Sequential(*layers))

    def gradients(spec):
        _, measure = build(spec)
        field = empirical_receptive_field(measure) if measure else 1
        return field, field

    def make(draw: Draw) -> Case:
        kinds = ("conv", "max", "avg", "relu", "bn")
        spec = [(draw.pick(kinds), draw.int(1, 5), draw.int(1, 3), draw.int(1, 3))
                for _ in range(draw.int(1, 4))]  # fmt: skip
        return {"spec": spec}

    result = agree(ours, gradients, make, n_cases=120, claim="receptive fields")
    assert result.ok, str(result)


def test_receptive_field_steps_table():
    net = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Sequential(nn.Conv2d(8, 8, 3), nn.Dropout()),
        nn.AvgPool2d((2, 2), stride=(2, 2)),
        nn.Conv2d(8, 8, (3, 3), dilation=(2, 2)),
    )
    assert receptive_field_steps(net) == [(3, 1), (3, 1), (4, 2), (8, 2), (8, 2), (10, 4), (26, 4)]
    assert receptive_field(net) == 26
    assert receptive_field([]) == 1
    assert receptive_field(nn.Conv2d(1, 1, 7)) == 7


@pytest.mark.parametrize(
    "layer", [nn.Linear(4, 2), nn.Flatten(), nn.AdaptiveAvgPool2d(1), nn.Softmax(dim=1)]
)
def test_receptive_field_rejects_other_layers(layer):
    with pytest.raises(TypeError, match=r"cannot handle layer 1 .*allowed: Conv2d, MaxPool2d"):
        receptive_field([nn.Conv2d(1, 1, 3), layer])


def test_receptive_field_rejects_non_square_and_non_layers():
    with pytest.raises(ValueError, match=r"kernel_size \(3, 5\); only square"):
        receptive_field([nn.Conv2d(1, 1, (3, 5))])
    with pytest.raises(ValueError, match=r"stride \(1, 2\); only square"):
        receptive_field([nn.MaxPool2d(2, (1, 2))])
    with pytest.raises(TypeError, match=r"layers must be an nn\.Sequential or a list"):
        receptive_field(3)


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("call", "exc", "fragment"),
    [
        (
            lambda: conv_output_size(3, 5),
            ValueError,
            "kernel_size 5 (dilated 5) is larger than the padded input 3 (size 3 + 2*padding 0)",
        ),
        (
            lambda: conv_output_size(5, 3, dilation=3),
            ValueError,
            "kernel_size 3 (dilated 7) is larger than the padded input 5",
        ),
        (lambda: conv_output_size(5, 3, stride=0), ValueError, "stride must be an int >= 1, got 0"),
        (lambda: conv_output_size(5, 0), ValueError, "kernel_size must be an int >= 1, got 0"),
        (lambda: conv_output_size(5, 3, dilation=0), ValueError, "dilation must be an int >= 1"),
        (lambda: conv_output_size(5, 3, padding=-1), ValueError, "padding must be an int >= 0"),
        (lambda: conv_output_size(0, 1), ValueError, "size must be an int >= 1, got 0"),
        (lambda: conv_output_size(3.0, 1), TypeError, "size must be an int >= 1, got 3.0 (float)"),
        (lambda: conv_output_size(True, 1), TypeError, "size must be an int >= 1, got True"),
        (lambda: conv_output_size(5, "3"), TypeError, "kernel_size must be an int"),
        (lambda: pool_output_size(5, 3, 1, 2), ValueError, "pooling allows padding <= kernel_size"),
        (lambda: pool_output_size(5, 1, 1, 1), ValueError, "padding 1 is more than half"),
        (lambda: pool_output_size(2, 3), ValueError, "is larger than the padded input 2"),
        (
            lambda: pool_output_size(2, 4, 2, ceil_mode=True),
            ValueError,
            "plus the stride-1 = 1 overhang that ceil_mode allows",
        ),
        (lambda: pool_output_size(5, 2, 0), ValueError, "stride must be an int >= 1, got 0"),
        (lambda: pool_output_size(5, 2, ceil_mode=1), TypeError, "ceil_mode must be True or False"),
        (lambda: conv_param_count(3, 8, (3,)), ValueError, "pair (h, w) of them, got 1 values"),
        (lambda: conv_param_count(3, 8, (3, 0)), ValueError, "kernel_size[1] must be an int >= 1"),
        (lambda: conv_param_count(0, 8, 3), ValueError, "in_channels must be an int >= 1, got 0"),
        (lambda: conv_param_count(3, 8, 3, bias=1), TypeError, "bias must be True or False"),
        (lambda: conv_param_count(3, 8, 3.5), TypeError, "kernel_size must be an int >= 1"),
        (lambda: linear_param_count(10, 0), ValueError, "out_features must be an int >= 1"),
        (lambda: conv_macs(1, 1, 3, 0, 4), ValueError, "out_h must be an int >= 1, got 0"),
    ],
)
def test_bad_input_is_refused_with_a_helpful_message(call, exc, fragment):
    with pytest.raises(exc) as info:
        call()
    assert fragment in str(info.value)
