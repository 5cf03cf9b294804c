"""cnnnotes.shapes against PyTorch's real layers (PyTorch is the oracle)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cnnnotes.shapes import (
    conv_macs,
    conv_output_size,
    conv_param_count,
    linear_param_count,
    pool_output_size,
    receptive_field,
    receptive_field_steps,
)
from cnnnotes.sweep import empirical_receptive_field

FAST = settings(max_examples=1500, deadline=None, database=None, derandomize=True)
SOME = settings(max_examples=150, deadline=None, database=None, derandomize=True)


def torch_height(layer: nn.Module, size: int) -> int | None:
    """Output height of a real layer on a (1, 1, size, 1) input, or None if refused."""
    try:
        return layer(torch.zeros(1, 1, size, 1)).shape[2]
    except RuntimeError:
        return None


def ours(fn, *args, **kwargs) -> int | None:
    try:
        return fn(*args, **kwargs)
    except ValueError:
        return None


# ---------------------------------------------------------------- output sizes


@FAST
@given(
    size=st.integers(1, 80),
    k=st.integers(1, 11),
    s=st.integers(1, 8),
    p=st.integers(0, 8),
    d=st.integers(1, 5),
)
def test_conv_output_size_matches_conv2d(size, k, s, p, d):
    conv = nn.Conv2d(1, 1, (k, 1), (s, 1), (p, 0), (d, 1), bias=False)
    assert ours(conv_output_size, size, k, s, p, d) == torch_height(conv, size)


@SOME
@given(size=st.integers(1, 20), k=st.integers(1, 5), s=st.integers(1, 4), p=st.integers(0, 3))
def test_conv_output_size_square_2d(size, k, s, p):
    conv = nn.Conv2d(2, 3, k, s, p)
    x = torch.zeros(1, 2, size, size)
    expected = None if k > size + 2 * p else conv(x).shape[2:]
    got = ours(conv_output_size, size, k, stride=s, padding=p)
    assert expected is None if got is None else expected == (got, got)


@FAST
@given(
    size=st.integers(1, 60),
    k=st.integers(1, 9),
    s=st.one_of(st.none(), st.integers(1, 9)),
    p=st.integers(0, 5),
    d=st.integers(1, 4),
    ceil=st.booleans(),
)
def test_pool_output_size_matches_maxpool(size, k, s, p, d, ceil):
    pool = nn.MaxPool2d((k, 1), (k if s is None else s, 1), (p, 0), (d, 1), ceil_mode=ceil)
    assert ours(pool_output_size, size, k, s, p, d, ceil) == torch_height(pool, size)


@FAST
@given(
    size=st.integers(1, 60),
    k=st.integers(1, 9),
    s=st.integers(1, 9),
    p=st.integers(0, 5),
    ceil=st.booleans(),
)
def test_pool_output_size_matches_avgpool(size, k, s, p, ceil):
    pool = nn.AvgPool2d((k, 1), (s, 1), (p, 0), ceil_mode=ceil)
    assert ours(pool_output_size, size, k, s, p, ceil_mode=ceil) == torch_height(pool, size)


def test_pool_output_size_exhaustive_small_grid():
    """Every small case, ceil_mode edge cases included, accepted or refused alike."""
    mismatches = []
    for k in range(1, 6):
        for s in range(1, 6):
            for p in range(4):
                for d in range(1, 4):
                    for ceil in (False, True):
                        pool = nn.MaxPool2d((k, 1), (s, 1), (p, 0), (d, 1), ceil_mode=ceil)
                        for size in range(1, 13):
                            got = ours(pool_output_size, size, k, s, p, d, ceil)
                            if got != torch_height(pool, size):
                                mismatches.append((size, k, s, p, d, ceil))
    assert mismatches == []


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
    assert pool_output_size(*args) == expected == torch_height(pool, size)


def test_pool_stride_defaults_to_kernel():
    assert pool_output_size(28, 2) == 14 == nn.MaxPool2d(2)(torch.zeros(1, 1, 28, 28)).shape[2]
    assert pool_output_size(7, 3) == 2 == nn.AvgPool2d(3)(torch.zeros(1, 1, 7, 7)).shape[2]


def test_pool_padding_rule_ignores_dilation():
    # PyTorch: pad <= kernel_size // 2 even when dilation makes the kernel wider.
    assert torch_height(nn.MaxPool2d((3, 1), 1, (2, 0), (2, 1)), 10) is None
    with pytest.raises(ValueError, match="padding 2 is more than half of kernel_size 3"):
        pool_output_size(10, 3, 1, 2, dilation=2)


# ---------------------------------------------------------------- counts


@SOME
@given(
    d=st.integers(1, 16),
    n=st.integers(1, 16),
    kh=st.integers(1, 7),
    kw=st.integers(1, 7),
    bias=st.booleans(),
)
def test_conv_param_count_matches_conv2d(d, n, kh, kw, bias):
    conv = nn.Conv2d(d, n, (kh, kw), bias=bias, device="meta")
    real = sum(p.numel() for p in conv.parameters())
    assert conv_param_count(d, n, (kh, kw), bias=bias) == real
    if kh == kw:
        assert conv_param_count(d, n, kh, bias) == real


@SOME
@given(i=st.integers(1, 500), o=st.integers(1, 50), bias=st.booleans())
def test_linear_param_count_matches_linear(i, o, bias):
    real = sum(p.numel() for p in nn.Linear(i, o, bias=bias, device="meta").parameters())
    assert linear_param_count(i, o, bias) == real


@SOME
@given(
    c=st.integers(1, 4),
    n=st.integers(1, 4),
    kh=st.integers(1, 4),
    kw=st.integers(1, 4),
    h=st.integers(4, 12),
    w=st.integers(4, 12),
)
def test_conv_macs_matches_flop_counter(c, n, kh, kw, h, w):
    conv = nn.Conv2d(c, n, (kh, kw), device="meta")
    with FlopCounterMode(display=False) as counter:
        y = conv(torch.empty(1, c, h, w, device="meta"))
    # FlopCounterMode counts a multiply-accumulate as 2 FLOPs and ignores the bias.
    assert 2 * conv_macs(c, n, (kh, kw), y.shape[2], y.shape[3]) == counter.get_total_flops()


# ---------------------------------------------------------------- receptive field

LAYER = st.tuples(
    st.sampled_from(["conv", "max", "avg", "relu", "bn"]),
    st.integers(1, 5),
    st.integers(1, 3),
    st.integers(1, 3),
)


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


@settings(max_examples=120, deadline=None, database=None, derandomize=True)
@given(st.lists(LAYER, min_size=1, max_size=4))
def test_receptive_field_matches_gradients(spec):
    layers, measure = build(spec)
    expected = empirical_receptive_field(measure) if measure else 1
    assert receptive_field(layers) == expected
    assert receptive_field(nn.Sequential(*layers)) == expected


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
