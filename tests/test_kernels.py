"""cnnnotes.conv.kernels: the classic kernels' properties, and apply_kernel against PyTorch."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnnotes.conv.kernels import (
    PADDING_MODES,
    apply_kernel,
    box_blur,
    classic_kernels,
    gaussian,
    identity,
    laplacian,
    prewitt,
    sharpen,
    sobel,
)
from cnnnotes.oracle import agree
from cnnnotes.oracle.cases import Case, Draw

EDGE = {
    "sobel_x": sobel("x"),
    "sobel_y": sobel("y"),
    "prewitt_x": prewitt("x"),
    "prewitt_y": prewitt("y"),
    "laplacian": laplacian(),
    "laplacian_8": laplacian(diagonals=True),
}
AVERAGING = {
    **{f"box_{n}": box_blur(n) for n in range(1, 8)},
    **{f"gauss_{n}_{s}": gaussian(n, s) for n in (1, 3, 5, 7, 9) for s in (0.3, 1.0, 2.5, 10.0)},
}


def _rand(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# ---------------------------------------------------------------- the kernels themselves


@pytest.mark.parametrize("name", list(classic_kernels()))
def test_classic_kernels_are_square_float32(name):
    k = classic_kernels()[name]
    assert k.dtype == torch.float32 and k.ndim == 2 and k.shape[0] == k.shape[1]


def test_classic_kernels_are_fresh_copies():
    first = classic_kernels()
    first["sobel_x"].zero_()
    assert torch.equal(classic_kernels()["sobel_x"], sobel("x"))


@pytest.mark.parametrize("name", list(AVERAGING))
def test_averaging_kernels_sum_to_one_and_are_nonnegative(name):
    k = AVERAGING[name]
    torch.testing.assert_close(k.sum(), torch.tensor(1.0))
    assert (k >= 0).all() and k[k.shape[0] // 2, k.shape[1] // 2] == k.max() > 0


@pytest.mark.parametrize("k", [identity(1), identity(3), identity(7), sharpen()])
def test_identity_and_sharpen_sum_to_one(k):
    assert k.sum().item() == 1.0


@pytest.mark.parametrize("name", list(EDGE))
def test_edge_kernels_sum_to_zero(name):
    assert EDGE[name].sum().item() == 0.0


def test_named_kernels_have_the_textbook_values():
    assert sobel("y").tolist() == [[-1, -2, -1], [0, 0, 0], [1, 2, 1]]
    assert prewitt("x").tolist() == [[-1, 0, 1]] * 3
    assert laplacian(diagonals=True).tolist() == [[1, 1, 1], [1, -8, 1], [1, 1, 1]]
    assert torch.equal(sharpen(), identity(3) - laplacian())
    assert torch.equal(sobel("y"), sobel("x").T) and torch.equal(prewitt("y"), prewitt("x").T)


@pytest.mark.parametrize("size", [1, 3, 5, 9])
@pytest.mark.parametrize("sigma", [0.5, 1.0, 3.0])
def test_gaussian_is_symmetric_peaked_and_matches_the_formula(size, sigma):
    k = gaussian(size, sigma)
    assert torch.equal(k, k.T) and torch.equal(k, k.flip(0)) and torch.equal(k, k.flip(1))
    c = size // 2
    assert k[c, c] == k.max()
    i = torch.arange(size, dtype=torch.float64)[:, None] - c
    j = torch.arange(size, dtype=torch.float64)[None, :] - c
    ref = torch.exp(-(i**2 + j**2) / (2 * sigma**2))
    torch.testing.assert_close(k, (ref / ref.sum()).float())


def test_gaussian_tends_to_box_blur_for_large_sigma():
    torch.testing.assert_close(gaussian(3, 1e4), box_blur(3))


def test_point_symmetry_decides_whether_flipping_matters():
    for k in (identity(5), box_blur(4), gaussian(5), sharpen(), laplacian(), laplacian(True)):
        assert torch.equal(k.flip(0, 1), k)
    for k in (sobel("x"), sobel("y"), prewitt("x"), prewitt("y")):
        assert torch.equal(k.flip(0, 1), -k)  # true convolution flips the edge's sign


# ---------------------------------------------------------------- applying a kernel


def test_apply_kernel_matches_conv2d_same_padding():
    def ours(image, kernel):
        return apply_kernel(image, kernel), apply_kernel(image[None], kernel)

    def pytorch(image, kernel):
        with warnings.catch_warnings():  # PyTorch warns about even kernels with padding="same"
            warnings.simplefilter("ignore", UserWarning)
            ref = F.conv2d(image[None, None], kernel[None, None], padding="same")[0, 0]
        return ref, ref[None]

    def make(draw: Draw) -> Case:
        image, kernel = draw.tensor(*draw.ints(2, 1, 12)), draw.tensor(*draw.ints(2, 1, 6))
        return {"image": image, "kernel": kernel}

    result = agree(ours, pytorch, make, n_cases=200, tol=1e-12, claim="apply_kernel, 'same'")
    assert result.ok, str(result)


@pytest.mark.parametrize("mode", PADDING_MODES)
def test_apply_kernel_matches_conv2d_layer_padding_modes(mode):
    def pytorch(image, kernel, mode):
        size = kernel.shape[0]
        layer = nn.Conv2d(1, 1, size, padding=size // 2, padding_mode=mode, bias=False).double()
        with torch.no_grad():
            layer.weight.copy_(kernel[None, None])
            return layer(image[None, None])[0, 0]

    def make(draw: Draw) -> Case:
        size = draw.pick((1, 3, 5))
        return {"image": draw.tensor(7, 9), "kernel": draw.tensor(size, size), "mode": mode}

    result = agree(
        apply_kernel, pytorch, make, n_cases=20, tol=1e-12, claim=f"apply_kernel, {mode}"
    )
    assert result.ok, str(result)


@pytest.mark.parametrize("mode", PADDING_MODES)
def test_identity_kernel_returns_the_image(mode):
    image = _rand(6, 5).float()
    assert torch.equal(apply_kernel(image, identity(3), mode), image)


@pytest.mark.parametrize("name", list(EDGE))
def test_edge_kernels_are_zero_on_constant_images(name):
    image = torch.full((8, 10), 0.75, dtype=torch.float64)  # exact in binary: sums are exact
    assert apply_kernel(image, EDGE[name], "replicate").abs().max() == 0
    inside = apply_kernel(image, EDGE[name])[1:-1, 1:-1]  # zero padding: the border sees a step
    assert inside.abs().max() == 0


@pytest.mark.parametrize("name", list(AVERAGING)[::3])
def test_averaging_kernels_keep_constant_images(name):
    image = torch.full((10, 11), 0.3)
    torch.testing.assert_close(apply_kernel(image, AVERAGING[name], "replicate"), image)


def test_sobel_sign_follows_the_brightness_change():
    ramp_right = torch.arange(6.0).repeat(5, 1)  # brighter to the right
    inner = (slice(1, -1), slice(1, -1))
    assert (apply_kernel(ramp_right, sobel("x"))[inner] == 8).all()
    assert (apply_kernel(ramp_right, sobel("y"))[inner] == 0).all()
    assert (apply_kernel(ramp_right.T.contiguous(), sobel("y"))[inner] == 8).all()


def test_laplacian_is_zero_on_linear_ramps():
    x = torch.arange(7.0)
    ramp = 2 * x[:, None] - 3 * x[None, :] + 1
    assert (apply_kernel(ramp, laplacian())[1:-1, 1:-1] == 0).all()


def test_apply_kernel_keeps_dtype_and_converts_the_kernel():
    image = _rand(5, 5)
    result = apply_kernel(image, sobel("x"))  # a float32 kernel on a float64 image
    assert result.dtype == torch.float64
    ref = F.conv2d(image[None, None], sobel("x").double()[None, None], padding=1)[0, 0]
    torch.testing.assert_close(result, ref, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- clear errors


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: identity(2), ValueError, "odd int >= 1"),
        (lambda: identity(0), ValueError, "odd int >= 1"),
        (lambda: gaussian(4), ValueError, "odd int >= 1"),
        (lambda: box_blur(0), ValueError, r"int >= 1, got 0"),
        (lambda: box_blur(3.0), TypeError, r"int >= 1, got 3\.0 \(float\)"),
        (lambda: identity(True), TypeError, "size must be an int"),
        (lambda: gaussian(5, 0.0), ValueError, "sigma must be a number > 0"),
        (lambda: gaussian(5, -1), ValueError, "sigma"),
        (lambda: gaussian(5, math.nan), ValueError, "sigma"),
        (lambda: gaussian(5, "1"), TypeError, "sigma"),
        (lambda: sobel("z"), ValueError, "axis must be 'x'"),
        (lambda: prewitt("X"), ValueError, "axis must be 'x'"),
        (lambda: laplacian(1), TypeError, "diagonals must be True or False"),
        (lambda: apply_kernel(torch.zeros(4, 4, dtype=torch.uint8), sobel()), TypeError, "image"),
        (lambda: apply_kernel([[0.0]], sobel()), TypeError, "image"),
        (lambda: apply_kernel(torch.zeros(2, 4, 4), sobel()), ValueError, r"\(H, W\) or"),
        (lambda: apply_kernel(torch.zeros(1, 1, 4, 4), sobel()), ValueError, r"\(1, H, W\)"),
        (
            lambda: apply_kernel(torch.zeros(4, 4), sobel()[None]),
            ValueError,
            "kernel must have shape",
        ),
        (
            lambda: apply_kernel(torch.zeros(4, 4), torch.ones(3, 3, dtype=torch.int64)),
            TypeError,
            "kernel must be",
        ),
        (lambda: apply_kernel(torch.zeros(4, 4), sobel(), "same"), ValueError, "padding_mode"),
        (lambda: apply_kernel(torch.zeros(2, 2), gaussian(5), "reflect"), ValueError, "reflect"),
        (lambda: apply_kernel(torch.zeros(1, 1), gaussian(5), "circular"), ValueError, "circular"),
    ],
)
def test_bad_arguments_raise_clear_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()
