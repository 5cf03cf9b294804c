"""cnnnotes.modern.init: Kaiming's std and draws against torch.nn.init; variance through depth."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

from cnnnotes.modern.init import (
    activation_variance_through_depth,
    fan_in,
    kaiming_normal_,
    kaiming_std,
)
from cnnnotes.oracle import agree
from cnnnotes.oracle.cases import Case, Draw

pytestmark = pytest.mark.usefixtures("one_thread")


def shape_case(draw: Draw) -> Case:
    """A weight shape of 2 to 5 dims (linear, conv1d/2d/3d), sizes 1-12, and a seed."""
    shape = tuple(draw.int(1, 12) for _ in range(draw.int(2, 5)))
    return {"shape": shape, "seed": draw.int(0, 10_000)}


def test_kaiming_std_is_torch_gain_over_root_fan_in_exactly():
    def ours(shape, seed):
        return kaiming_std(fan_in(shape))

    def pytorch(shape, seed):
        fan, _ = nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
        return nn.init.calculate_gain("relu") / math.sqrt(fan)

    result = agree(ours, pytorch, shape_case, n_cases=500, tol=0, claim="kaiming std")
    assert result.ok and result.level == "exact", str(result)


def test_kaiming_normal_draws_what_torch_draws():
    def ours(shape, seed):
        return kaiming_normal_(torch.empty(shape, dtype=torch.float64),
                               torch.Generator().manual_seed(seed))  # fmt: skip

    def pytorch(shape, seed):
        w = torch.empty(shape, dtype=torch.float64)
        g = torch.Generator().manual_seed(seed)
        return nn.init.kaiming_normal_(w, mode="fan_in", nonlinearity="relu", generator=g)

    result = agree(ours, pytorch, shape_case, n_cases=500, tol=0, claim="kaiming_normal_")
    assert result.ok and result.level == "exact", str(result)


def test_kaiming_normal_has_the_std_of_the_formula():
    w = kaiming_normal_(torch.empty(256, 64, 3, 3), torch.Generator().manual_seed(0))
    torch.testing.assert_close(w.std().item(), math.sqrt(2 / (64 * 9)), rtol=0.01, atol=0)
    torch.testing.assert_close(w.mean().item(), 0.0, rtol=0, atol=1e-3)


@pytest.mark.parametrize(
    ("kind", "width", "batch", "band"),
    [("mlp", 256, 64, 2.0), ("conv", 64, 4, 4.0)],
)
def test_kaiming_keeps_the_variance_and_a_small_std_collapses_it(kind, width, batch, band):
    """Kaiming: every layer's variance, averaged over 8 networks, within a factor ``band`` of
    the expected 2 (and, for the MLP, within a factor 2 of each other); the 3×3 convolutions
    wander more per layer than the MLP, whence the wider band). std 0.01: the variance
    falls by the factor the argument predicts, layer after layer."""
    g = torch.Generator().manual_seed(1)
    he = activation_variance_through_depth(20, width, "kaiming", g, kind=kind, batch=batch,
                                           size=6, nets=8)  # fmt: skip
    small = activation_variance_through_depth(20, width, 0.01, g, kind=kind, batch=batch, size=6)
    assert len(he) == len(small) == 20
    assert all(2 / band < v < 2 * band for v in he), he
    if kind == "mlp":
        assert max(he) / min(he) < 2, he
    assert small[-1] < 1e-20 * small[0]  # orders of magnitude lost
    # each layer multiplies by about n_in·0.01²/2 (n_in = width, or 9·width for 3×3)
    n_in = width if kind == "mlp" else 9 * width
    ratios = [b / a for a, b in itertools.pairwise(small)]
    assert all(0.5 < r / (n_in * 1e-4 / 2) < 2 for r in ratios), ratios


def test_one_network_wanders_around_the_expectation():
    """One narrow network's variance drifts away from 2 more than the mean of many does."""

    def spread(nets: int) -> float:
        g = torch.Generator().manual_seed(2)
        v = activation_variance_through_depth(20, 16, "kaiming", g, batch=64, nets=nets)
        return max(v) / min(v)

    assert spread(1) > spread(16)


def test_variance_measurement_is_seeded():
    def run(seed: int) -> list[float]:
        g = torch.Generator().manual_seed(seed)
        return activation_variance_through_depth(5, 8, "kaiming", g, batch=16)

    assert run(0) == run(0) and run(0) != run(1)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: fan_in((3,)), ValueError, r"2 or more dims"),
        (lambda: fan_in("3x3"), TypeError, r"shape must be a weight shape"),
        (lambda: fan_in((3, 0)), ValueError, r"shape\[1\] must be an int >= 1"),
        (lambda: kaiming_std(0), ValueError, r"n_in must be an int >= 1"),
        (lambda: kaiming_std(4, gain=-1.0), ValueError, r"gain must be a number > 0"),
        (
            lambda: kaiming_normal_(torch.empty(3, 3, dtype=torch.long)),
            TypeError,
            r"floating-point",
        ),
        (lambda: kaiming_normal_(torch.empty(3)), ValueError, r"2 or more dims"),
        (lambda: kaiming_normal_(torch.empty(3, 3), generator=0), TypeError, r"torch.Generator"),
        (
            lambda: activation_variance_through_depth(0, 4, "kaiming", torch.Generator()),
            ValueError,
            r"depth",
        ),
        (
            lambda: activation_variance_through_depth(2, 4, "xavier", torch.Generator()),
            ValueError,
            r"init must be 'kaiming'",
        ),
        (
            lambda: activation_variance_through_depth(2, 4, -0.1, torch.Generator()),
            ValueError,
            r"init \(a std\)",
        ),
        (lambda: activation_variance_through_depth(2, 4, 0.1, None), TypeError, r"generator"),
        (
            lambda: activation_variance_through_depth(2, 4, 0.1, torch.Generator(), kind="rnn"),
            ValueError,
            r"kind",
        ),
    ],
)
def test_bad_input_is_refused(call, error, match):
    with pytest.raises(error, match=match):
        call()
