"""Claims of chapters 5 (sizes, parameters, cost) and 6 (pooling) checked beyond the chapter.

Each chapter states a claim once and checks it once, visibly; the repetitions and the
secondary claims live here, each as one :func:`cnnnotes.oracle.agree` call against
PyTorch (other seeds, other ranges, the notes' slips, the pooling rules).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cnnnotes.analysis.summary import check_layer_table, layer_table
from cnnnotes.conv import ops
from cnnnotes.conv.shapes import conv_macs, conv_output_size, conv_param_count, pool_output_size
from cnnnotes.conv.shift import shift
from cnnnotes.oracle import agree, cases
from cnnnotes.oracle.cases import pool_grid
from cnnnotes.oracle.sweep import sweep_output_sizes, sweep_pool2d, sweep_pool_sizes

# ------------------------------------------------------------- chapter 5: one layer


def conv_layer(draw):
    """A random convolution layer and an ``H x W`` input it fits (as in chapter 5)."""
    H, W, D, N = draw.ints(2, 1, 40) + draw.ints(2, 1, 4)
    F_, S, P, d = draw.int(1, 7), draw.int(1, 4), draw.int(0, 3), draw.int(1, 3)
    if d * (F_ - 1) + 1 > min(H, W) + 2 * P:
        return None
    return {"H": H, "W": W, "D": D, "N": N, "F": F_, "S": S, "P": P, "d": d}


def real_shape(H, W, D, N, F_, S, P, d):
    conv = nn.Conv2d(D, N, F_, stride=S, padding=P, dilation=d, device="meta")
    return tuple(conv(torch.empty(1, D, H, W, device="meta")).shape[1:])


def test_layer_table_row_on_another_seed():
    """(D', H', W') of the corrected table, on other random layers than the chapter's."""
    result = agree(
        lambda H, W, D, N, F_, S, P, d: (
            N,
            conv_output_size(H, F_, S, P, d),
            conv_output_size(W, F_, S, P, d),
        ),
        real_shape,
        conv_layer,
        n_cases=1_000,
        seed=1,
    )
    assert result.ok, str(result)


def test_notes_height_formula_fails_on_rectangular_inputs():
    """The notes' H' (computed from W) is wrong on many rectangular inputs, right on square ones."""

    def notes_shape(H, W, D, N, F_, S, P, d):
        notes = (W + 2 * P - d * (F_ - 1) - 1) // S + 1  # W where H belongs
        return (N, notes, conv_output_size(W, F_, S, P, d))

    rectangular = agree(notes_shape, real_shape, conv_layer, n_cases=500)
    assert rectangular.mismatches > rectangular.cases // 2, str(rectangular)

    def square(draw):
        case = conv_layer(draw)
        return case and {**case, "W": case["H"]}

    assert agree(notes_shape, real_shape, square, n_cases=300).ok


def test_one_dimension_with_dilation():
    """Chapter 5 used to repeat chapter 4's one-axis sweep; it lives here."""
    result = sweep_output_sizes(500, seed=2)
    assert result.ok, str(result)


def parameter_layer(draw):
    return {"D": draw.int(1, 64), "N": draw.int(1, 64), "F": draw.int(1, 7), "bias": draw.flag()}


def real_params(D, N, F_, bias):
    return sum(p.numel() for p in nn.Conv2d(D, N, F_, bias=bias, device="meta").parameters())


def test_parameter_count_with_and_without_bias():
    result = agree(
        lambda D, N, F_, bias: conv_param_count(D, N, F_, bias=bias),
        real_params,
        parameter_layer,
        n_cases=2_000,
    )
    assert result.ok, str(result)
    formula = agree(
        lambda D, N, F_, bias: N * (F_ * F_ * D + bias), real_params, parameter_layer, n_cases=500
    )
    assert formula.ok, str(formula)


def test_notes_parameter_count_is_right_only_for_one_channel():
    """N(F²D + D): one bias per input channel agrees with PyTorch exactly when D = 1."""

    def notes(D, N, F_, bias):
        return N * (F_ * F_ * D + D)

    def with_depth(low, high):
        return lambda draw: {**parameter_layer(draw), "D": draw.int(low, high), "bias": True}

    assert agree(notes, real_params, with_depth(1, 1), n_cases=200).ok
    deeper = agree(notes, real_params, with_depth(2, 64), n_cases=200)
    assert deeper.mismatches == deeper.cases, str(deeper)


def test_macs_on_another_seed_with_rectangular_kernels():
    """2·MACs = FlopCounterMode, for (kh, kw) kernels and strides too."""

    def layer(draw):
        kh, kw = draw.int(1, 5), draw.int(1, 5)
        return {
            "B": draw.int(1, 3), "D": draw.int(1, 6), "N": draw.int(1, 6), "kh": kh, "kw": kw,
            "S": draw.int(1, 3), "H": draw.int(kh, 20), "W": draw.int(kw, 20),
        }  # fmt: skip

    def formula(B, D, N, kh, kw, S, H, W):
        h, w = conv_output_size(H, kh, S), conv_output_size(W, kw, S)
        return 2 * B * conv_macs(D, N, (kh, kw), h, w)

    def counted(B, D, N, kh, kw, S, H, W):
        conv = nn.Conv2d(D, N, (kh, kw), stride=S, device="meta")
        with FlopCounterMode(display=False) as counter:
            conv(torch.empty(B, D, H, W, device="meta"))
        return counter.get_total_flops()

    result = agree(formula, counted, layer, n_cases=500, seed=1)
    assert result.ok, str(result)


def test_layer_table_of_random_chains():
    """layer_table agrees with a real forward pass on random conv/pool/linear chains."""

    def chain(draw):
        size, channels = draw.int(8, 20), draw.int(1, 3)
        shape, layers = (2, channels, size, size), []
        for _ in range(draw.int(1, 3)):
            k = draw.int(1, 3)
            if draw.flag():
                out, pad = draw.int(1, 4), draw.int(0, k // 2)
                layers += [nn.Conv2d(channels, out, k, padding=pad), nn.ReLU()]
                channels, size = out, size + 2 * pad - k + 1
            else:
                layers.append(nn.MaxPool2d(k))
                size //= k
            if size < 1:
                return None  # the chain shrank the input away: draw again
        return {"model": nn.Sequential(*layers), "shape": shape}

    def problems(model, shape):
        return check_layer_table(model, layer_table(model, shape), shape)

    result = agree(problems, lambda model, shape: [], chain, n_cases=40)
    assert result.ok, str(result)


# ------------------------------------------------------------------ chapter 6: pooling


def test_pooled_sizes_on_another_seed():
    result = sweep_pool_sizes(2_000, seed=3)
    assert result.ok, str(result)


def torch_ceil(w, k, s, p):
    pool = nn.MaxPool2d((k, 1), (s, 1), (p, 0), ceil_mode=True)
    return pool(torch.zeros(1, 1, w, 1)).shape[2]


def test_ceil_mode_with_the_correction_matches_every_small_case():
    result = agree(
        lambda w, k, s, p: pool_output_size(w, k, s, p, ceil_mode=True), torch_ceil, pool_grid()
    )
    assert result.ok and result.cases == 1_035, str(result)


def test_ceil_mode_without_the_correction_fails_only_past_the_input():
    """Plain rounding up is wrong exactly when its last window would start at or after W + P."""

    def naive(w, k, s, p):
        return -(-(w + 2 * p - k) // s) + 1

    def predicted(w, k, s, p):
        n = naive(w, k, s, p)
        return n - 1 if (n - 1) * s >= w + p else n

    assert agree(predicted, torch_ceil, pool_grid()).ok
    result = agree(naive, torch_ceil, pool_grid())
    assert result.mismatches == 242, str(result)


def test_pooling_by_hand_each_kind_on_another_seed():
    for kind in ("max", "avg"):
        result = sweep_pool2d(300, seed=1, kind=kind)
        assert result.ok, str(result)


def test_all_negative_input_with_padding():
    """-inf padding: the max over the real cells, even when they are all negative."""

    def negative(draw):
        case = cases.pool_tensors(draw)
        return {**case, "input": -case["input"].abs() - 1.0}

    result = agree(ops.max_pool2d, F.max_pool2d, negative, n_cases=300)
    assert result.ok, str(result)


def test_each_channel_is_pooled_alone():
    """D' = D: pooling the batch equals pooling each channel separately."""

    def per_channel(kind, x, kernel_size, stride, padding):
        pool = F.max_pool2d if kind == "max" else F.avg_pool2d
        parts = [pool(x[:, c : c + 1], kernel_size, stride, padding) for c in range(x.shape[1])]
        return torch.cat(parts, dim=1)

    def whole(kind, x, kernel_size, stride, padding):
        pool = F.max_pool2d if kind == "max" else F.avg_pool2d
        return pool(x, kernel_size, stride, padding)

    def case(draw):
        return {"kind": draw.pick(["max", "avg"]), **cases.pool_tensors(draw)}

    result = agree(whole, per_channel, case, n_cases=300)
    assert result.ok, str(result)


def test_shift_by_whole_windows_is_a_shift_of_the_pooled_map():
    """pool(shift(x, qF)) = shift(pool(x), q) for S = F, no padding, max and average."""

    def case(draw):
        k = draw.int(1, 4)
        size = k * draw.int(2, 6)
        return {
            "kind": draw.pick(["max", "avg"]),
            "x": draw.tensor(draw.int(1, 2), draw.int(1, 3), size, size),
            "k": k,
            "q": draw.int(0, size // k - 1),
        }

    def pool(kind, x, k):
        return (F.max_pool2d if kind == "max" else F.avg_pool2d)(x, k)

    result = agree(
        lambda kind, x, k, q: pool(kind, shift(x, 0, q * k), k),
        lambda kind, x, k, q: shift(pool(kind, x, k), 0, q),
        case,
        n_cases=300,
    )
    assert result.ok, str(result)


def test_pooling_layers_have_no_parameters():
    layers = [nn.MaxPool2d(2), nn.AvgPool2d(3, 1, 1), nn.MaxPool2d(3, 2, 1, ceil_mode=True)]
    assert all(not list(layer.parameters()) for layer in layers)
