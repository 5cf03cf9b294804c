"""conv.shift: shifting without wrap-around and measuring pooled changes (PyTorch as oracle)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from cnnnotes.conv.shift import changed_fraction, pooled_change, relative_l2, shift

pytestmark = pytest.mark.usefixtures("one_thread")

MANY = settings(max_examples=300, deadline=None, database=None, derandomize=True)


def padded_crop(x: torch.Tensor, dy: int, dx: int, fill: float) -> torch.Tensor:
    """Oracle: pad with F.pad on the side the content moves to, then crop back to (H, W)."""
    h, w = x.shape[-2:]
    pad = (max(dx, 0), max(-dx, 0), max(dy, 0), max(-dy, 0))  # left, right, top, bottom
    xp = F.pad(x, pad, value=fill)
    top, left = max(-dy, 0), max(-dx, 0)
    return xp[..., top : top + h, left : left + w]


@st.composite
def shift_case(draw):
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    h, w = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    dy, dx = draw(st.integers(-(h - 1), h - 1)), draw(st.integers(-(w - 1), w - 1))
    fill = draw(st.sampled_from([0.0, -1.5, 2.0]))
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**31)))
    return torch.randn(n, c, h, w, generator=g, dtype=torch.float64), dy, dx, fill


@MANY
@given(shift_case())
def test_shift_matches_pad_and_crop(case):
    x, dy, dx, fill = case
    before = x.clone()
    torch.testing.assert_close(shift(x, dy, dx, fill), padded_crop(x, dy, dx, fill), rtol=0, atol=0)
    assert torch.equal(x, before), "shift must not modify its input"


@MANY
@given(shift_case())
def test_shift_matches_roll_where_nothing_wrapped(case):
    x, dy, dx, _ = case
    h, w = x.shape[-2:]
    rows = (torch.arange(h) - dy >= 0) & (torch.arange(h) - dy < h)
    cols = (torch.arange(w) - dx >= 0) & (torch.arange(w) - dx < w)
    keep = rows[:, None] & cols[None, :]
    expected = torch.where(keep, torch.roll(x, (dy, dx), dims=(2, 3)), torch.zeros(()).double())
    assert torch.equal(shift(x, dy, dx), expected)


def test_shift_there_and_back_loses_one_border_row():
    x = torch.randn(2, 3, 5, 6, generator=torch.Generator().manual_seed(0))
    back = shift(shift(x, 1, 0), -1, 0)
    assert torch.equal(back[..., :-1, :], x[..., :-1, :])
    assert torch.equal(back[..., -1, :], torch.zeros(2, 3, 6))
    back = shift(shift(x, 0, -2), 0, 2)
    assert torch.equal(back[..., 2:], x[..., 2:])
    assert not back[..., :2].any()


def test_shift_by_zero_is_a_copy():
    x = torch.randn(1, 1, 3, 3, generator=torch.Generator().manual_seed(1))
    out = shift(x, 0, 0)
    assert torch.equal(out, x) and out.data_ptr() != x.data_ptr()


def test_max_pool_invariant_to_shifts_inside_one_window():
    """All content inside one 4×4 window: shifts that keep it there leave the max-pooled map."""
    x = torch.zeros(1, 1, 8, 8)
    x[0, 0, 1:3, 1:3] = torch.tensor([[0.5, 2.0], [1.0, 0.25]])  # inside the top-left window
    pooled = F.max_pool2d(x, 4)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            assert torch.equal(F.max_pool2d(shift(x, dy, dx), 4), pooled)
            assert pooled_change(x, dy, dx, nn.MaxPool2d(4)).item() == 0.0
    # leaving the window changes the map; the unpooled image changes for any shift
    assert pooled_change(x, 0, 2, nn.MaxPool2d(4)).item() > 0
    assert pooled_change(x, 0, 1, nn.Identity()).item() > 0


@MANY
@given(
    st.integers(1, 4), st.integers(1, 3), st.integers(1, 12), st.integers(0, 2**31), st.booleans()
)
def test_shift_by_whole_windows_shifts_the_pooled_map(k, q, extra, seed, use_max):
    """pool(shift(x, 0, q·k)) = shift(pool(x), 0, q) when stride = kernel (any width)."""
    w = q * k + extra  # so the pooled map is wider than q
    if w // k <= q:
        return
    x = torch.randn(2, 2, 5, w, generator=torch.Generator().manual_seed(seed))
    pool = F.max_pool2d if use_max else F.avg_pool2d
    torch.testing.assert_close(pool(shift(x, 0, q * k), k), shift(pool(x, k), 0, q))
    xt = x.transpose(2, 3)  # the same along the height
    torch.testing.assert_close(pool(shift(xt, q * k, 0), k), shift(pool(xt, k), q, 0))


def test_relative_l2_and_changed_fraction_by_hand():
    a = torch.tensor([[3.0, 4.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    b = torch.tensor([[3.0, 0.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    r = relative_l2(a, b)
    assert r.dtype == torch.float64
    assert (
        r[0].item() == pytest.approx(4 / 5) and r[1].item() == 0.0 and r[2].item() == float("inf")
    )
    f = changed_fraction(a, b)
    assert f.tolist() == pytest.approx([0.5, 0.0, 1.0])


def test_pooled_change_matches_a_direct_computation():
    g = torch.Generator().manual_seed(2)
    x = torch.rand(4, 2, 10, 10, generator=g)
    pool = nn.MaxPool2d(2)
    a, b = F.max_pool2d(x, 2), F.max_pool2d(shift(x, 0, 1), 2)
    expected = (b - a).flatten(1).double().norm(dim=1) / a.flatten(1).double().norm(dim=1)
    torch.testing.assert_close(pooled_change(x, 0, 1, pool), expected)
    frac = ((a != b).flatten(1).double().sum(1)) / ((a != 0) | (b != 0)).flatten(1).sum(1)
    torch.testing.assert_close(pooled_change(x, 0, 1, pool, "changed_fraction"), frac)
    assert not pooled_change(x, 0, 0, pool).any()


def test_pooled_change_with_a_learnable_layer_builds_no_graph():
    conv = nn.Conv2d(1, 2, 3, padding=1)
    x = torch.rand(3, 1, 6, 6, generator=torch.Generator().manual_seed(3))
    out = pooled_change(x, 1, 0, lambda t: F.max_pool2d(F.relu(conv(t)), 2))
    assert out.shape == (3,) and not out.requires_grad


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        (([[1.0]], 0, 0), TypeError, r"torch\.Tensor"),
        ((torch.zeros(1, 1, 3, 3, dtype=torch.int64), 0, 0), TypeError, "floating-point"),
        ((torch.zeros(1, 3, 3), 0, 0), ValueError, r"\(N, C, H, W\)"),
        ((torch.zeros(1, 1, 3, 4), 3, 0), ValueError, "-2 <= dy <= 2"),
        ((torch.zeros(1, 1, 3, 4), 0, -4), ValueError, "-3 <= dx <= 3"),
        ((torch.zeros(1, 1, 3, 3), True, 0), TypeError, "dy must be an int"),
        ((torch.zeros(1, 1, 3, 3), 0, 1.0), TypeError, "dx must be an int"),
        ((torch.zeros(1, 1, 3, 3), 0, 1, "0"), TypeError, "fill must be a number"),
    ],
)
def test_shift_rejects_bad_arguments(args, error, match):
    with pytest.raises(error, match=match):
        shift(*args)


def test_pooled_change_rejects_bad_arguments():
    x = torch.zeros(1, 1, 4, 4)
    with pytest.raises(TypeError, match="pool must be callable"):
        pooled_change(x, 0, 1, "max")
    with pytest.raises(ValueError, match="measure must be 'relative_l2' or"):
        pooled_change(x, 0, 1, nn.MaxPool2d(2), measure="l1")
    with pytest.raises(ValueError, match="same shape"):
        relative_l2(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(TypeError, match=r"after must be a torch\.Tensor"):
        changed_fraction(torch.zeros(2, 3), [0.0])
