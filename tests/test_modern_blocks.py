"""cnnnotes.modern.blocks and .cost: GAP against PyTorch, the blocks' shapes and gradients, and
the parameter and MAC formulas against real modules and FlopCounterMode."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cnnnotes.conv.shapes import conv_output_size
from cnnnotes.modern import cost
from cnnnotes.modern.blocks import DepthwiseSeparable, ResidualBlock, global_avg_pool
from cnnnotes.oracle import agree
from cnnnotes.oracle.cases import Case, Draw

F64 = torch.float64
META = "meta"  # shapes only: no memory, no arithmetic, but FlopCounterMode still counts

pytestmark = pytest.mark.usefixtures("one_thread")


def params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def flops(module: nn.Module, shape: tuple[int, ...]) -> int:
    with FlopCounterMode(display=False) as counter:
        module.eval()(torch.zeros(shape, device=META))
    return counter.get_total_flops()


# ---------------------------------------------------------------- global average pooling


def test_global_avg_pool_matches_adaptive_avg_pool2d():
    def make(draw: Draw) -> Case:
        shape = [draw.int(1, 3), draw.int(1, 4), draw.int(1, 9), draw.int(1, 9)]
        return {"x": draw.tensor(*(shape if draw.int(0, 4) else shape[1:]))}

    result = agree(global_avg_pool, lambda x: F.adaptive_avg_pool2d(x, 1), make, n_cases=600,
                   claim="global_avg_pool")  # fmt: skip
    assert result.ok, str(result)


def test_global_avg_pool_on_one_batch():
    x = torch.randn(4, 8, 7, 5, generator=torch.Generator().manual_seed(0), dtype=F64)
    torch.testing.assert_close(global_avg_pool(x), nn.AdaptiveAvgPool2d(1)(x))
    torch.testing.assert_close(global_avg_pool(x).flatten(1), x.mean(dim=(2, 3)))


# ---------------------------------------------------------------- grouped and separable cost


def grouped_case(draw: Draw) -> Case:
    """A grouped convolution PyTorch accepts: groups 1-8 dividing both channel counts,
    kernel 1-5 (or a pair), stride 1-3, padding 0-2, on a 1-12 square input."""
    g = draw.int(1, 8)
    k = draw.int(1, 5) if draw.flag() else (draw.int(1, 5), draw.int(1, 5))
    kh, kw = (k, k) if isinstance(k, int) else k
    size, stride, pad = draw.int(1, 12), draw.int(1, 3), draw.int(0, 2)
    if kh > size + 2 * pad or kw > size + 2 * pad:
        return None
    return {"c_in": g * draw.int(1, 6), "c_out": g * draw.int(1, 6), "k": k, "groups": g,
            "bias": draw.flag(), "size": size, "stride": stride, "padding": pad,
            "n": draw.int(1, 3)}  # fmt: skip


def test_grouped_conv_formulas_match_conv2d_and_flop_counter():
    def ours(c_in, c_out, k, g, bias, size, stride, pad, n):
        kh, kw = (k, k) if isinstance(k, int) else k
        oh, ow = conv_output_size(size, kh, stride, pad), conv_output_size(size, kw, stride, pad)
        return (cost.grouped_conv_params(c_in, c_out, k, g, bias),
                2 * n * cost.grouped_conv_macs(c_in, c_out, k, oh, ow, g))  # fmt: skip

    def pytorch(c_in, c_out, k, g, bias, size, stride, pad, n):
        conv = nn.Conv2d(c_in, c_out, k, stride, pad, groups=g, bias=bias, device=META)
        return params(conv), flops(conv, (n, c_in, size, size))

    result = agree(ours, pytorch, grouped_case, n_cases=600, claim="grouped conv cost")
    assert result.ok, str(result)


def separable_case(draw: Draw) -> Case:
    k = draw.pick([1, 3, 5, 7])
    return {"c_in": draw.int(1, 64), "c_out": draw.int(1, 64), "k": k, "stride": draw.int(1, 2),
            "size": draw.int(k, 16), "bias": draw.flag(), "n": draw.int(1, 2)}  # fmt: skip


def test_depthwise_separable_formulas_match_the_module_and_flop_counter():
    def ours(c_in, c_out, k, stride, size, bias, n):
        out = conv_output_size(size, k, stride, k // 2)
        return (cost.depthwise_separable_params(c_in, c_out, k, bias),
                2 * n * cost.depthwise_separable_macs(c_in, c_out, k, out, out))  # fmt: skip

    def pytorch(c_in, c_out, k, stride, size, bias, n):
        with torch.device(META):
            block = DepthwiseSeparable(c_in, c_out, k, stride, norm=False, bias=bias)
        return params(block), flops(block, (n, c_in, size, size))

    result = agree(ours, pytorch, separable_case, n_cases=500, seed=1, claim="separable cost")
    assert result.ok, str(result)


def test_separable_ratio_is_one_over_c_out_plus_one_over_k_squared():
    def ours(c_in, c_out, k, stride, size, bias, n):
        return cost.separable_cost_ratio(c_out, k)

    def measured(c_in, c_out, k, stride, size, bias, n):
        out = conv_output_size(size, k, stride, k // 2)
        full = cost.grouped_conv_macs(c_in, c_out, k, out, out)
        return cost.depthwise_separable_macs(c_in, c_out, k, out, out) / full

    result = agree(ours, measured, separable_case, n_cases=500, seed=2, claim="cost ratio")
    assert result.ok, str(result)


def test_depthwise_separable_block_with_batch_norm():
    block = DepthwiseSeparable(16, 32, 3, stride=2)
    assert [type(m).__name__ for m in block] == [
        "Conv2d", "BatchNorm2d", "ReLU", "Conv2d", "BatchNorm2d", "ReLU"]  # fmt: skip
    assert block.depthwise.bias is None and block.pointwise.bias is None  # BN's β instead
    assert params(block) == cost.depthwise_separable_params(16, 32, 3, bias=False) + 2 * (16 + 32)
    full = nn.Conv2d(16, 32, 3, 2, 1)
    assert block(torch.zeros(2, 16, 9, 9)).shape == full(torch.zeros(2, 16, 9, 9)).shape


# ---------------------------------------------------------------- residual block


def residual_case(draw: Draw) -> Case:
    return {"c_in": draw.int(1, 24), "c_out": draw.int(1, 24), "stride": draw.int(1, 3),
            "residual": draw.flag(), "size": draw.int(1, 12), "n": draw.int(1, 2)}  # fmt: skip


def test_residual_block_formulas_match_the_module_and_flop_counter():
    def ours(c_in, c_out, stride, residual, size, n):
        return (cost.residual_block_params(c_in, c_out, stride, residual),
                2 * n * cost.residual_block_macs(c_in, c_out, size, size, stride, residual),
                conv_output_size(size, 3, stride, 1))  # fmt: skip

    def pytorch(c_in, c_out, stride, residual, size, n):
        block = ResidualBlock(c_in, c_out, stride, residual).eval()  # small: the CPU is quicker
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            out = block(torch.zeros(n, c_in, size, size))  # than meta's batch-norm decomposition
        return params(block), counter.get_total_flops(), out.shape[-1]

    result = agree(ours, pytorch, residual_case, n_cases=500, seed=3, claim="residual block cost")
    assert result.ok, str(result)


def test_residual_block_shortcuts():
    assert isinstance(ResidualBlock(8, 8).shortcut, nn.Identity)
    for args in [(8, 16), (8, 8, 2)]:
        conv, bn = ResidualBlock(*args).shortcut
        assert (
            conv.kernel_size == (1, 1) and conv.stride == (args[-1] if len(args) == 3 else 1,) * 2
        )
        assert isinstance(bn, nn.BatchNorm2d)
    assert ResidualBlock(8, 16, residual=False).shortcut is None


def test_the_identity_path_passes_the_gradient_unchanged():
    """With the body silenced (last BN scale 0) a residual block is ReLU(x): for positive
    inputs its Jacobian is the identity, however the body's weights look. The plain twin
    then passes no gradient at all."""
    torch.manual_seed(0)
    x = torch.rand(2, 4, 5, 5, dtype=F64) + 0.1
    for residual in (True, False):
        block = ResidualBlock(4, 4, residual=residual).double().eval()
        nn.init.zeros_(block.body[-1].weight)  # the last BN's γ
        x_ = x.clone().requires_grad_()
        grad_out = torch.randn_like(x)
        block(x_).backward(grad_out)
        expected = grad_out if residual else torch.zeros_like(grad_out)
        torch.testing.assert_close(x_.grad, expected, rtol=0, atol=0)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: global_avg_pool(torch.zeros(2, 3)), ValueError, r"shape \(N, C, H, W\)"),
        (
            lambda: global_avg_pool(torch.zeros(1, 2, 3, 3, dtype=torch.long)),
            TypeError,
            r"floating",
        ),
        (lambda: global_avg_pool(torch.zeros(1, 2, 0, 3)), ValueError, r"no empty dimension"),
        (lambda: cost.grouped_conv_params(6, 4, 3, groups=4), ValueError, r"divisible by groups=4"),
        (lambda: cost.grouped_conv_params(6, 4, 0), ValueError, r"kernel_size"),
        (lambda: cost.grouped_conv_macs(4, 4, 3, 0, 3), ValueError, r"out_h"),
        (lambda: cost.depthwise_separable_params(4, 4, 3, bias=1), TypeError, r"bias"),
        (lambda: cost.residual_block_params(4, 4, stride=0), ValueError, r"stride"),
        (lambda: cost.residual_block_macs(4, 4, 0, 3), ValueError, r"size"),
        (lambda: cost.separable_cost_ratio(0, 3), ValueError, r"c_out"),
        (lambda: ResidualBlock(4, 4, residual="yes"), TypeError, r"residual must be True or False"),
        (lambda: DepthwiseSeparable(0, 4), ValueError, r"c_in"),
        (lambda: DepthwiseSeparable(4, 4, kernel_size=2.5), TypeError, r"kernel_size"),
    ],
)
def test_bad_input_is_refused(call, error, match):
    with pytest.raises(error, match=match):
        call()
