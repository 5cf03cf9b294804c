"""analysis.saliency: each map against an independent computation, and each check against a
planted bug (saliency of the softmax, occlusion filled with 0, Grad-CAM with the maximum of
the gradient or without its ReLU) that it must catch."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnnotes.analysis.saliency import (
    class_scores,
    evaluating,
    grad_cam,
    grad_cam_weights,
    layer_gradient,
    occlusion,
    saliency,
)

pytestmark = pytest.mark.usefixtures("one_thread")

BACKGROUND = -0.8102  # FashionMNIST's 0 after normalisation: (0 − 0.2860) / 0.3530


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randomise(model: nn.Module, seed: int) -> nn.Module:
    """Float64 weights drawn from a seeded generator (no global randomness)."""
    g = _gen(seed)
    model = model.double()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) * 0.5)
    return model


def tiny_cnn(seed: int = 0) -> nn.Sequential:
    """conv → ReLU → max-pool → conv → ReLU → linear, on (N, 2, 6, 4) images."""
    layers = OrderedDict(
        conv1=nn.Conv2d(2, 3, 3, padding=1),
        relu1=nn.ReLU(),
        pool=nn.MaxPool2d(2),
        conv2=nn.Conv2d(3, 4, 3, padding=1),
        relu2=nn.ReLU(),
        flatten=nn.Flatten(),
        fc=nn.Linear(4 * 3 * 2, 5),
    )
    return _randomise(nn.Sequential(layers), seed)


def linear_net(seed: int = 0, shape: tuple[int, int, int] = (2, 6, 4), k: int = 5) -> nn.Module:
    c, h, w = shape
    return _randomise(nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, k)), seed)


def conv_gap_linear(seed: int = 0) -> nn.Module:
    """A logit linear in the input with weight sharing: conv, global average pool, linear."""
    net = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    return _randomise(nn.Sequential(*net, nn.Linear(3, 5)), seed)


def images(n: int = 3, seed: int = 1) -> Tensor:
    return torch.randn(n, 2, 6, 4, generator=_gen(seed), dtype=torch.float64)


TARGETS = torch.tensor([0, 3, 4])


# ---------------------------------------------------------------- saliency


def softmax_saliency(model: nn.Module, x: Tensor, target: Tensor) -> Tensor:
    """Planted bug: the gradient of the softmax probability instead of the logit."""
    inp = x.detach().clone().requires_grad_(True)
    prob = model.eval()(inp).softmax(dim=1).gather(1, target[:, None]).sum()
    return torch.autograd.grad(prob, inp)[0].abs().amax(dim=1)


def weight_pattern(model: nn.Module, shape: tuple[int, ...], target: Tensor) -> Tensor:
    """``max_c |w_t|`` of a model linear in its input, read off one pixel at a time."""
    with torch.no_grad():
        zero = model(torch.zeros(1, *shape, dtype=torch.float64))[0]
        basis = torch.eye(torch.Size(shape).numel(), dtype=torch.float64).reshape(-1, *shape)
        columns = model(basis) - zero  # (pixels, K): column t is w_t, pixel by pixel
    return columns[:, target].T.reshape(len(target), *shape).abs().amax(dim=1)


def linear_saliency_check(method: Callable[..., Tensor], model: nn.Module) -> bool:
    """The check: on a logit linear in the input, the map is ``|weight pattern|``."""
    x = images()
    expected = weight_pattern(model, tuple(x.shape[1:]), TARGETS)
    return torch.allclose(method(model, x, TARGETS), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("make", [linear_net, conv_gap_linear])
@pytest.mark.parametrize(("method", "passes"), [(saliency, True), (softmax_saliency, False)])
def test_saliency_of_a_linear_logit_is_the_weight_pattern(make, method, passes) -> None:
    assert linear_saliency_check(method, make()) is passes


def test_saliency_of_a_single_linear_layer_is_its_weight_row_exactly() -> None:
    net = linear_net(seed=3)
    expected = net[1].weight[TARGETS].reshape(3, 2, 6, 4).abs().amax(dim=1)
    assert torch.equal(saliency(net, images(), TARGETS), expected)


def test_saliency_takes_each_image_alone_and_one_target_for_all() -> None:
    net, x = tiny_cnn(), images()
    together = saliency(net, x, TARGETS)
    alone = torch.cat([saliency(net, x[i : i + 1], int(TARGETS[i])) for i in range(3)])
    torch.testing.assert_close(together, alone, rtol=0, atol=1e-12)
    assert saliency(net, x, 2).shape == (3, 6, 4)


# ---------------------------------------------------------------- occlusion


def zero_fill_occlusion(model, x, target, patch, stride, fill) -> Tensor:
    """Planted bug: the patch is filled with 0, whatever the background."""
    return occlusion(model, x, target, patch, stride, 0.0)


def background_check(method: Callable[..., Tensor]) -> bool:
    """The check: occluding an all-background image with background changes nothing."""
    x = torch.full((2, 2, 6, 4), BACKGROUND, dtype=torch.float64)
    drop = method(tiny_cnn(), x, torch.tensor([1, 2]), 2, 1, BACKGROUND)
    return torch.equal(drop, torch.zeros(2, 6, 4, dtype=torch.float64))


@pytest.mark.parametrize(("method", "passes"), [(occlusion, True), (zero_fill_occlusion, False)])
def test_occluding_background_with_background_changes_nothing(method, passes) -> None:
    assert background_check(method) is passes


@pytest.mark.parametrize(("patch", "stride"), [(1, 1), (2, 2), ((3, 2), (1, 2)), ((2, 4), 2)])
def test_occlusion_of_a_linear_logit_is_the_mean_patch_contribution(patch, stride) -> None:
    net, x = linear_net(seed=4), images()
    got = occlusion(net, x, TARGETS, patch, stride, BACKGROUND)
    ph, pw = (patch, patch) if isinstance(patch, int) else patch
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    w = net[1].weight[TARGETS].reshape(3, 2, 6, 4)
    contribution = (w * (x - BACKGROUND)).sum(dim=1).detach()  # per pixel, all channels
    total, count = torch.zeros(3, 6, 4, dtype=torch.float64), torch.zeros(6, 4)
    for top in range(0, 6 - ph + 1, sh):
        for left in range(0, 4 - pw + 1, sw):
            window = (slice(None), slice(top, top + ph), slice(left, left + pw))
            total[window] += contribution[window].sum(dim=(1, 2))[:, None, None]
            count[window[1:]] += 1
    torch.testing.assert_close(got, total / count, rtol=0, atol=1e-12)


# ---------------------------------------------------------------- Grad-CAM


def manual_forward(model: nn.Sequential, x: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """``relu2``'s output A and ∂z_t/∂A, from a forward pass written out by hand (no hooks)."""
    h = F.max_pool2d(F.relu(F.conv2d(x, model.conv1.weight, model.conv1.bias, padding=1)), 2)
    a = F.relu(F.conv2d(h, model.conv2.weight, model.conv2.bias, padding=1))
    logits = F.linear(a.flatten(1), model.fc.weight, model.fc.bias)
    (grad,) = torch.autograd.grad(logits.gather(1, target[:, None]).sum(), a)
    return a.detach(), grad


def max_weights(model, layer, x, target) -> tuple[Tensor, Tensor]:
    """Planted bug: channel weights from the maximum of the gradient, not its mean."""
    activations, grad = layer_gradient(model, layer, x, target)
    return activations, grad.amax(dim=(2, 3))


def unrectified_cam(model, layer, x, target) -> Tensor:
    """Planted bug: Grad-CAM without its ReLU."""
    activations, weights = grad_cam_weights(model, layer, x, target)
    cam = (weights[:, :, None, None] * activations).sum(dim=1, keepdim=True)
    return F.interpolate(cam, size=x.shape[2:], mode="bilinear", align_corners=False)[:, 0]


def weights_check(method: Callable[..., tuple[Tensor, Tensor]]) -> bool:
    """The check: α is the spatial mean of a gradient computed without the package."""
    net, x = tiny_cnn(), images()
    a, grad = manual_forward(net, x, TARGETS)
    got_a, got_alpha = method(net, "relu2", x, TARGETS)
    same = torch.allclose(got_a, a, rtol=0, atol=0)
    return same and torch.allclose(got_alpha, grad.mean(dim=(2, 3)), rtol=0, atol=1e-12)


def map_check(method: Callable[..., Tensor]) -> bool:
    """The check: the map is ReLU(Σ α_k A_k), bilinearly upsampled, from the manual pass."""
    net, x = tiny_cnn(), images()
    a, grad = manual_forward(net, x, TARGETS)
    weighted = (grad.mean(dim=(2, 3))[:, :, None, None] * a).sum(dim=1, keepdim=True)
    assert (weighted < 0).any(), "the case must have places that lower the score"
    expected = F.interpolate(weighted.clamp(min=0), size=(6, 4), mode="bilinear")[:, 0]
    got = method(net, "relu2", x, TARGETS)
    return bool((got >= 0).all()) and torch.allclose(got, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize(("method", "passes"), [(grad_cam_weights, True), (max_weights, False)])
def test_grad_cam_weights_are_the_spatial_mean_of_the_gradient(method, passes) -> None:
    assert weights_check(method) is passes


@pytest.mark.parametrize(("method", "passes"), [(grad_cam, True), (unrectified_cam, False)])
def test_grad_cam_is_the_rectified_weighted_sum_upsampled(method, passes) -> None:
    assert map_check(method) is passes


def test_grad_cam_upsamples_a_coarse_map_to_the_image() -> None:
    cam = grad_cam(tiny_cnn(), "relu2", images(), TARGETS)
    assert cam.shape == (3, 6, 4)
    assert grad_cam(tiny_cnn(), "pool", images(), 1).shape == (3, 6, 4)


# ---------------------------------------------------------------- no state left behind


METHODS = {
    "saliency": lambda m, x: saliency(m, x, TARGETS),
    "occlusion": lambda m, x: occlusion(m, x, TARGETS, 2, 2, BACKGROUND),
    "grad_cam": lambda m, x: grad_cam(m, "relu2", x, TARGETS),
    "class_scores": lambda m, x: class_scores(m, x, TARGETS),
}


@pytest.mark.parametrize("name", sorted(METHODS))
def test_methods_run_in_eval_mode_and_leave_the_model_as_it_was(name) -> None:
    net = tiny_cnn()
    net.add_module("drop", nn.Dropout(0.5))  # after fc: eval mode makes it the identity
    net.train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    first = METHODS[name](net, images())
    assert torch.equal(first, METHODS[name](net, images())), "dropout ran: not in eval mode"
    assert all(m.training for m in net.modules())
    assert all(p.grad is None for p in net.parameters())
    assert all(not m._forward_hooks for m in net.modules())
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())


def test_hooks_are_removed_and_modes_restored_when_the_layer_fails() -> None:
    shared = nn.ReLU()  # one module called twice: no single output to explain
    net = _randomise(nn.Sequential(nn.Conv2d(2, 2, 1), shared, shared, nn.Flatten()), 0)
    net = nn.Sequential(*net, nn.Linear(48, 3).double()).train()
    with pytest.raises(ValueError, match="one tensor per forward pass"):
        grad_cam(net, "1", images(), 0)
    assert all(not m._forward_hooks for m in net.modules())
    assert all(m.training for m in net.modules())
    with evaluating(net):
        assert not any(m.training for m in net.modules())
    assert all(m.training for m in net.modules())


# ---------------------------------------------------------------- bad input


BAD = [
    (lambda: saliency(tiny_cnn(), [[1.0]], 0), TypeError, "x must be a torch.Tensor"),
    (lambda: saliency(tiny_cnn(), torch.zeros(2, 6, 4), 0), ValueError, r"\(N, C, H, W\)"),
    (lambda: saliency(tiny_cnn(), images().long(), 0), TypeError, "floating"),
    (lambda: saliency(tiny_cnn(), images(), 5), ValueError, r"class in 0\.\.4"),
    (lambda: saliency(tiny_cnn(), images(), 1.0), TypeError, "class index"),
    (lambda: saliency(tiny_cnn(), images(), torch.tensor([1, 2])), ValueError, "2 classes for 3"),
    (lambda: saliency("net", images(), 0), TypeError, "torch.nn.Module"),
    (lambda: occlusion(tiny_cnn(), images(), 0, 3, 2, 0.0), ValueError, "must tile"),
    (lambda: occlusion(tiny_cnn(), images(), 0, 7, 1, 0.0), ValueError, "must fit"),
    (lambda: occlusion(tiny_cnn(), images(), 0, 0, 1, 0.0), ValueError, "patch must be an int"),
    (lambda: occlusion(tiny_cnn(), images(), 0, 2, 1, "bg"), TypeError, "fill must be"),
    (lambda: grad_cam(tiny_cnn(), "conv9", images(), 0), ValueError, "unknown layer 'conv9'"),
    (lambda: grad_cam(tiny_cnn(), "fc", images(), 0), ValueError, r"\(N, K, h, w\)"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "error", "match"), BAD)
def test_bad_input_is_refused_with_what_is_allowed(call, error, match) -> None:
    with pytest.raises(error, match=match):
        call()
