"""Chapter 2's claims over many random cases, with PyTorch (or the definition) as oracle.

The chapter shows one check per formula (the Riemann bound, the discrete
convolution, cross-correlation as convolution with the flipped kernel); the
properties it states briefly, and the repetitions of its checks, live here.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from cnnnotes.conv import ops
from cnnnotes.conv.kernels import apply_kernel, classic_kernels
from cnnnotes.conv.shift import shift
from cnnnotes.oracle import agree
from cnnnotes.oracle.cases import Draw, conv_tensors, draw_cases
from cnnnotes.oracle.sweep import sweep_conv2d

pytestmark = pytest.mark.usefixtures("one_thread")


# ---------------------------------------------------------------- the definitions


def convolve1d_by_definition(f: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """(f*g)[n] = sum over m of f[m] g[n-m], literally, for n = 0 .. len(f)+len(g)-2."""
    f_, g_ = f.tolist(), g.tolist()
    out = [0.0] * (len(f_) + len(g_) - 1)
    for n in range(len(out)):
        for m in range(len(f_)):
            if 0 <= n - m < len(g_):
                out[n] += f_[m] * g_[n - m]
    return torch.tensor(out, dtype=f.dtype)


def convolve1d_torch(f: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """True convolution from F.conv1d: kernel reversed, len(g) - 1 zeros each side."""
    return F.conv1d(f[None, None], g.flip(0)[None, None], padding=len(g) - 1)[0, 0]


def convolve2d_torch(f: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """True 2-D convolution from F.conv2d: kernel rotated 180°, all overlaps."""
    gh, gw = g.shape
    return F.conv2d(f[None, None], g.flip(0, 1)[None, None], padding=(gh - 1, gw - 1))[0, 0]


def corr2d(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Valid cross-correlation of plain (H, W) and (kh, kw) tensors with F.conv2d."""
    return F.conv2d(x[None, None], w[None, None])[0, 0]


def corr2d_full(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Full cross-correlation: every offset at which x and w overlap."""
    kh, kw = w.shape
    return F.conv2d(x[None, None], w[None, None], padding=(kh - 1, kw - 1))[0, 0]


def two_sequences(draw: Draw) -> dict:
    lf, lg = draw.ints(2, 1, 10)
    return {"f": draw.tensor(lf), "g": draw.tensor(lg)}


def two_arrays(draw: Draw) -> dict:
    fh, fw, gh, gw = draw.ints(4, 1, 7)
    return {"f": draw.tensor(fh, fw), "g": draw.tensor(gh, gw)}


def image_and_kernel(draw: Draw) -> dict:
    kh, kw = draw.ints(2, 1, 5)
    return {"x": draw.tensor(draw.int(kh, 10), draw.int(kw, 10)), "w": draw.tensor(kh, kw)}


# ---------------------------------------------------------------- integral and Riemann sum


def box_ramp(x: float) -> float:
    """(f*g)(x) for chapter 2's pair, the box f = 1 on [0, 1) and the ramp g(t) = t on
    [0, 1), integrated by hand: x²/2 on [0, 1], x − x²/2 on [1, 2], 0 elsewhere."""
    if x <= 0 or x >= 2:
        return 0.0
    return x * x / 2 if x <= 1 else x - x * x / 2


def riemann_box_ramp(x: float, dt: float) -> float:
    """eq-conv-riemann for the same pair: Δt · Σ_a f(aΔt) g(x − aΔt)."""
    t = torch.arange(round(1 / dt), dtype=torch.float64) * dt  # the box's grid in [0, 1)
    shifted = x - t
    return float((shifted * ((shifted >= 0) & (shifted < 1))).sum() * dt)


def position(draw: Draw) -> dict:
    return {"x": 1 + float(draw.tensor(1))}


@pytest.mark.parametrize("dt", [0.1, 0.01, 0.001])
def test_the_riemann_sum_is_within_dt_of_the_integral(dt: float) -> None:
    """eq-conv-riemann: on the chapter's box and ramp the error is at most Δt."""
    result = agree(
        lambda x: riemann_box_ramp(x, dt),
        box_ramp,
        position,
        n_cases=2000,
        tol=dt * (1 + 1e-9),
        claim=f"Riemann sum (dt = {dt})",
    )
    assert result.ok, str(result)


def test_the_riemann_sum_converges_as_dt_shrinks() -> None:
    """ "As Δt shrinks, the sum converges to the integral": the worst error over 2,000
    positions falls at least fivefold for every tenfold smaller Δt."""
    cases = draw_cases(position, 2000)
    worst = [
        max(abs(riemann_box_ramp(c["x"], dt) - box_ramp(c["x"])) for c in cases)
        for dt in (0.1, 0.01, 0.001)
    ]
    assert worst[0] > 5 * worst[1] > 25 * worst[2] > 0, worst


def test_the_hand_integral_is_the_integral() -> None:
    """A fine midpoint rule of the convolution integral itself checks the hand formula."""
    t = (torch.arange(100_000, dtype=torch.float64) + 0.5) * 1e-5  # midpoints in [0, 1)

    def integral(x: float) -> float:
        shifted = x - t
        return float((shifted * ((shifted >= 0) & (shifted < 1))).double().mean())

    result = agree(integral, box_ramp, position, n_cases=200, tol=2e-5)
    assert result.ok, str(result)


# ---------------------------------------------------------------- discrete convolution


def test_hand_example_1d() -> None:
    f, g = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([2.0, 1.0])
    assert convolve1d_by_definition(f, g).tolist() == [2.0, 5.0, 8.0, 3.0]
    assert ops.convolve1d(f, g).tolist() == [2.0, 5.0, 8.0, 3.0]


@pytest.mark.parametrize("ours", [ops.convolve1d, convolve1d_torch])
def test_convolution_1d_matches_the_definition(ours) -> None:
    result = agree(ours, convolve1d_by_definition, two_sequences, n_cases=1000, seed=1)
    assert result.ok, str(result)


def test_ops_convolve2d_matches_torch() -> None:
    result = agree(ops.convolve2d, convolve2d_torch, two_arrays, n_cases=500, seed=2)
    assert result.ok, str(result)


# ---------------------------------------------------------------- cross-correlation and the flip


def test_unflipped_kernel_agrees_only_for_one_by_one_kernels() -> None:
    """Without the flip, F.conv2d equals true convolution only where flip(w) = w: for a
    random kernel, exactly the 1x1 ones."""
    cases = draw_cases(image_and_kernel, 1000, seed=3)
    result = agree(corr2d, lambda x, w: ops.convolve2d(x, w, mode="valid"), cases)
    one_by_one = sum(c["w"].numel() == 1 for c in cases)
    assert one_by_one > 0
    assert result.mismatches == len(cases) - one_by_one, str(result)


def test_kernels_unchanged_by_rotation_give_the_same_answer() -> None:
    def symmetric(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return ops.convolve2d(x, (w + w.flip(0, 1)) / 2, mode="valid")

    result = agree(
        lambda x, w: corr2d(x, (w + w.flip(0, 1)) / 2),
        symmetric,
        image_and_kernel,
        n_cases=500,
        seed=4,
    )
    assert result.ok, str(result)


def test_flipping_twice_gives_the_kernel_back() -> None:
    """flip(flip(w)) = w, so F.conv2d(x, flip(w)) is the valid part of x * w."""
    result = agree(
        lambda x, w: corr2d(x, w.flip(0, 1)),
        lambda x, w: ops.convolve2d(x, w, mode="valid"),
        image_and_kernel,
        n_cases=500,
        seed=11,
    )
    assert result.ok, str(result)


def test_classic_kernels_under_a_half_turn() -> None:
    """Blurs, sharpen and Laplacian are unchanged by a 180° rotation; Sobel kernels negate."""
    kernels = classic_kernels()
    for name, k in kernels.items():
        expected = -k if name.startswith("sobel") else k
        assert torch.equal(k.flip(0, 1), expected), name


def test_flat_image_answer_is_the_sum_of_weights() -> None:
    """Replicate padding: a flat image of value c gives c times the sum of the weights."""
    flat = torch.full((12, 12), 0.5)
    for name, k in classic_kernels().items():
        out = apply_kernel(flat, k, padding_mode="replicate")
        assert torch.allclose(out, torch.full_like(out, 0.5 * float(k.sum())), atol=1e-6), name


# ---------------------------------------------------------------- properties


def test_linearity_in_the_input_and_in_the_kernel() -> None:
    def case(draw: Draw) -> dict:
        c = conv_tensors(draw)
        x, w = c["input"], c["weight"]
        return {
            "x": x,
            "y": draw.tensor(*x.shape),
            "w": w,
            "v": draw.tensor(*w.shape),
            "ab": draw.tensor(2),
            "spd": (c["stride"], c["padding"], c["dilation"]),
        }

    def conv(x: torch.Tensor, w: torch.Tensor, spd: tuple) -> torch.Tensor:
        return F.conv2d(x, w, None, *spd)

    def lhs(x, y, w, v, ab, spd):
        a, b = ab.tolist()
        return conv(a * x + b * y, w, spd), conv(x, a * v + b * w, spd)

    def rhs(x, y, w, v, ab, spd):
        a, b = ab.tolist()
        return (
            a * conv(x, w, spd) + b * conv(y, w, spd),
            a * conv(x, v, spd) + b * conv(x, w, spd),
        )

    result = agree(lhs, rhs, case, n_cases=500, seed=4, tol=1e-9)
    assert result.ok, str(result)


def equivariance_case(draw: Draw) -> dict:
    fh, fw = draw.ints(2, 1, 4)
    u, v, p = draw.int(0, 3), draw.int(0, 3), draw.int(0, 2)
    h, w = draw.int(max(fh, u + 1), 12), draw.int(max(fw, v + 1), 12)
    return {"x": draw.tensor(1, 1, h, w), "k": draw.tensor(1, 1, fh, fw), "uvp": (u, v, p)}


def _equivariance_sides(x, k, uvp, *, inside: bool):
    """(shift then filter, filter then shift) on the region of the theorem, or outside it."""
    (u, v, p), (h, w), (fh, fw) = uvp, x.shape[-2:], k.shape[-2:]
    a = F.conv2d(shift(x, u, v), k, padding=p)[0, 0]
    b = shift(F.conv2d(x, k, padding=p), u, v)[0, 0]
    region = torch.zeros_like(a, dtype=torch.bool)
    region[u : h - fh + p + 1, v : w - fw + p + 1] = True  # u <= i <= H - F + P, ...
    keep = region if inside else ~region
    keep[:u, :] = False  # only where y[i - u, j - v] exists
    keep[:, :v] = False
    return a[keep], b[keep]


def equivariance(*, inside: bool):
    """Shift-then-filter against filter-then-shift, inside the theorem's region or outside it."""
    return agree(
        lambda x, k, uvp: _equivariance_sides(x, k, uvp, inside=inside)[0],
        lambda x, k, uvp: _equivariance_sides(x, k, uvp, inside=inside)[1],
        equivariance_case,
        n_cases=1000,
        seed=5,
    )


def test_translation_equivariance_holds_inside_the_region() -> None:
    """y'[i, j] = y[i - u, j - v] for u <= i <= H - F_h + P and v <= j <= W - F_w + P."""
    result = equivariance(inside=True)
    assert result.ok, str(result)


def test_translation_equivariance_fails_just_outside_the_region() -> None:
    """The border condition is not a formality: outside the region many cases differ."""
    result = equivariance(inside=False)
    assert result.mismatches > 300, str(result)


def test_convolution_commutes() -> None:
    one = agree(
        lambda f, g: ops.convolve1d(f, g),
        lambda f, g: ops.convolve1d(g, f),
        two_sequences,
        n_cases=500,
        seed=6,
    )
    two = agree(
        lambda f, g: ops.convolve2d(f, g),
        lambda f, g: ops.convolve2d(g, f),
        two_arrays,
        n_cases=500,
        seed=6,
    )
    assert one.ok, str(one)
    assert two.ok, str(two)


def test_cross_correlation_mirrors_when_swapped() -> None:
    """c_{f,g}[n] = c_{g,f}[-n], in 1-D (ops) and 2-D (F.conv2d, full padding)."""
    one = agree(
        lambda f, g: ops.cross_correlate1d(f, g, "full"),
        lambda f, g: ops.cross_correlate1d(g, f, "full").flip(0),
        two_sequences,
        n_cases=500,
        seed=6,
    )
    two = agree(
        corr2d_full, lambda f, g: corr2d_full(g, f).flip(0, 1), two_arrays, n_cases=500, seed=6
    )
    assert one.ok, str(one)
    assert two.ok, str(two)


def test_cross_correlation_does_not_commute() -> None:
    """Swapping changes the result except where mirroring cannot: both of length 1."""
    cases = draw_cases(two_sequences, 500, seed=6)
    result = agree(
        lambda f, g: ops.cross_correlate1d(f, g, "full"),
        lambda f, g: ops.cross_correlate1d(g, f, "full"),
        cases,
    )
    singletons = sum(len(c["f"]) == len(c["g"]) == 1 for c in cases)
    assert result.mismatches == len(cases) - singletons, str(result)
    assert ops.cross_correlate1d(
        torch.tensor([1.0, 2, 3]), torch.tensor([0.0, 1]), "full"
    ).tolist() == [1, 2, 3, 0]


def three_arrays(draw: Draw) -> dict:
    s = draw.ints(6, 1, 4)
    return {
        "x": draw.tensor(s[0] + 8, s[1] + 8),
        "a": draw.tensor(s[2], s[3]),
        "b": draw.tensor(s[4], s[5]),
    }


def test_convolution_is_associative() -> None:
    result = agree(
        lambda x, a, b: ops.convolve2d(ops.convolve2d(x, a), b),
        lambda x, a, b: ops.convolve2d(x, ops.convolve2d(a, b)),
        three_arrays,
        n_cases=500,
        seed=7,
    )
    assert result.ok, str(result)


def test_two_stacked_layers_are_one_layer_with_kernel_a_conv_b() -> None:
    """(x ⋆ a) ⋆ b = x ⋆ (a * b), with the true convolution a * b of the kernels."""
    result = agree(
        lambda x, a, b: corr2d(corr2d(x, a), b),
        lambda x, a, b: corr2d(x, ops.convolve2d(a, b)),
        three_arrays,
        n_cases=500,
        seed=7,
    )
    assert result.ok, str(result)


def test_two_box_blurs_make_a_pyramid() -> None:
    pyramid = ops.convolve2d(torch.ones(3, 3) / 9, torch.ones(3, 3) / 9) * 81
    row = torch.tensor([1.0, 2, 3, 2, 1])
    torch.testing.assert_close(pyramid, torch.outer(row, row))


# ---------------------------------------------------------------- layers: loops and im2col


def test_conv2d_loops_matches_f_conv2d() -> None:
    result = agree(ops.conv2d_loops, F.conv2d, conv_tensors, n_cases=300, seed=8)
    assert result.ok, str(result)


def test_im2col_matches_f_unfold() -> None:
    def columns(x, w, s, p, d):
        return ops.im2col(x, tuple(w.shape[2:]), s, p, d)

    def unfold(x, w, s, p, d):
        return F.unfold(x, tuple(w.shape[2:]), d, p, s)

    def case(draw: Draw) -> dict:
        c = conv_tensors(draw)
        return {
            "x": c["input"],
            "w": c["weight"],
            "s": c["stride"],
            "p": c["padding"],
            "d": c["dilation"],
        }

    result = agree(columns, unfold, case, n_cases=1000, seed=10, tol=0)
    assert result.ok, str(result)


def test_matrix_product_convolution_matches_f_conv2d() -> None:
    result = sweep_conv2d(1000, seed=0)
    assert result.ok, str(result)
