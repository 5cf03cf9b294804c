"""What the network looks at: gradient saliency, occlusion and Grad-CAM, from scratch.

Each method gives one map per image for a chosen class ``t`` and its **logit** ``z_t`` (the
score before the softmax, which also depends on every other class):

* :func:`saliency` (Simonyan et al. 2014): ``S[i, j] = max_c |∂z_t / ∂x[c, i, j]|``;
* :func:`occlusion` (Zeiler & Fergus 2014): how much ``z_t`` drops when a patch of a fill
  value (the background) covers each place;
* :func:`grad_cam` (Selvaraju et al. 2017): a layer's channels ``A_k`` weighted by
  ``α_k = mean_ij ∂z_t / ∂A_k[i, j]``, summed, rectified and upsampled to the image.

Images are ``(N, C, H, W)``; maps are ``(N, H, W)``. ``target`` is one class for every
image or an ``(N,)`` tensor of classes. The model runs in eval mode and gets its modes back
afterwards; gradients go to the input only (no parameter's ``.grad`` changes) and hooks are
removed even when the forward pass fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from numbers import Integral

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnnotes._validate import instance, int_pair, number, require, require_type, tensor

__all__ = [
    "class_scores", "evaluating", "grad_cam", "grad_cam_weights", "layer_gradient", "occlusion",
    "saliency",
]  # fmt: skip


def _images(x: object) -> Tensor:
    return tensor(x, "x", shape="(N, C, H, W)", ndims=(4,), floating=True)


def _targets(target: object, n: int) -> Tensor:
    """``target`` as an int64 ``(n,)`` tensor: one class per image."""
    if isinstance(target, Tensor):
        tensor(target, "target", shape="(N,)", ndims=(1,), integers="class indices")
        require(len(target) == n, f"target has {len(target)} classes for {n} images")
        return target.to(torch.int64)
    require_type(
        isinstance(target, Integral) and not isinstance(target, bool),
        f"target must be a class index (int) or an (N,) tensor of them, got {target!r}",
    )
    return torch.full((n,), int(target), dtype=torch.int64)


def _pick(logits: Tensor, t: Tensor) -> Tensor:
    """``logits[n, t[n]]`` for every image ``n``."""
    require(
        logits.ndim == 2 and len(logits) == len(t),
        f"the model must return (N, K) logits, got shape {tuple(logits.shape)}",
    )
    k = logits.shape[1]
    require(
        int(t.min()) >= 0 and int(t.max()) < k,
        f"target must be a class in 0..{k - 1}, got {t.unique().tolist()}",
    )
    return logits.gather(1, t.to(logits.device)[:, None])[:, 0]


@contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """Put every module of ``model`` in eval mode for the ``with`` block, then restore each."""
    instance(model, "model", nn.Module, "a torch.nn.Module")
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, mode in modes:
            module.training = mode


def class_scores(model: nn.Module, x: Tensor, target: int | Tensor) -> Tensor:
    """``(N,)``: the logit ``z_t(x_n)`` of each image's target class, in eval mode, no gradient.

    >>> net = nn.Sequential(nn.Flatten(), nn.Linear(2, 2, bias=False))
    >>> _ = net[1].weight.data.copy_(torch.tensor([[1.0, -1.0], [2.0, 0.0]]))
    >>> class_scores(net, torch.tensor([[[[3.0, 1.0]]]]), torch.tensor([1]))
    tensor([6.])
    """
    x = _images(x)
    t = _targets(target, len(x))
    with evaluating(model), torch.no_grad():
        return _pick(model(x), t)


def saliency(model: nn.Module, x: Tensor, target: int | Tensor) -> Tensor:
    """``(N, H, W)``: ``max_c |∂z_t / ∂x[n, c, i, j]|``, the gradient of the logit, not the softmax.

    For a model whose logit is linear in the pixels, ``z_t = Σ w_t·x + b_t``, the map is
    ``max_c |w_t[c, i, j]|`` whatever the image.

    >>> net = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    >>> _ = net[1].weight.data.copy_(torch.tensor([[1.0, -2.0, 3.0, -4.0], [0, 1, 0, 1]]))
    >>> saliency(net, torch.ones(1, 1, 2, 2), 0)
    tensor([[[1., 2.],
             [3., 4.]]])
    """
    x = _images(x)
    t = _targets(target, len(x))
    with evaluating(model), torch.enable_grad():
        inp = x.detach().clone().requires_grad_(True)
        # Images are independent in eval mode, so the gradient of the sum gives each its own.
        (grad,) = torch.autograd.grad(_pick(model(inp), t).sum(), inp)
    return grad.abs().amax(dim=1)


def occlusion(
    model: nn.Module,
    x: Tensor,
    target: int | Tensor,
    patch: int | tuple[int, int],
    stride: int | tuple[int, int],
    fill: float,
) -> Tensor:
    """``(N, H, W)``: each pixel's mean score drop over the patches of ``fill`` that cover it.

    For a patch ``P`` (top-left corners ``0, stride, …`` in each direction), the drop is
    ``d_P = z_t(x) − z_t(x with P set to fill)``; pixel ``(i, j)`` gets the mean of ``d_P``
    over the patches containing it. Patches must tile the image: ``(H − patch) % stride == 0``
    and likewise for ``W``. ``fill`` should be the background value (after normalisation),
    not 0: an image made only of background then gives an all-zero map.

    >>> net = nn.Sequential(nn.Flatten(), nn.Linear(4, 1, bias=False))
    >>> _ = net[1].weight.data.copy_(torch.tensor([[1.0, -2.0, 3.0, -4.0]]))
    >>> occlusion(net, torch.ones(1, 1, 2, 2), 0, patch=1, stride=1, fill=0.0)
    tensor([[[ 1., -2.],
             [ 3., -4.]]])
    """
    x = _images(x)
    ph, pw = int_pair(patch, "patch", 1)
    sh, sw = int_pair(stride, "stride", 1)
    fill = number(fill, "fill")
    height, width = x.shape[2:]
    require(
        ph <= height and pw <= width,
        f"patch must fit the {height}x{width} image, got {ph}x{pw}",
    )
    require(
        (height - ph) % sh == 0 and (width - pw) % sw == 0,
        f"patches of {ph}x{pw} with stride {sh}x{sw} must tile the {height}x{width} image: "
        "(H - patch) % stride == 0 in each direction",
    )
    base = class_scores(model, x, target)
    t = _targets(target, len(x))
    total = torch.zeros(len(x), height, width, dtype=base.dtype, device=base.device)
    count = torch.zeros(height, width, dtype=base.dtype, device=base.device)
    with evaluating(model), torch.no_grad():
        for top in range(0, height - ph + 1, sh):
            for left in range(0, width - pw + 1, sw):
                covered = x.clone()
                covered[:, :, top : top + ph, left : left + pw] = fill
                drop = base - _pick(model(covered), t)
                total[:, top : top + ph, left : left + pw] += drop[:, None, None]
                count[top : top + ph, left : left + pw] += 1
    return total / count


def layer_gradient(
    model: nn.Module, layer: str, x: Tensor, target: int | Tensor
) -> tuple[Tensor, Tensor]:
    """``(A, ∂z_t/∂A)``: the output ``A`` of the sub-module named ``layer`` and its gradient.

    Names are those of ``model.named_modules()``; the layer must run once per forward pass
    (hook ``pool``, not a ``relu`` module the model reuses after every layer).

    >>> net = nn.Sequential(nn.Identity(), nn.Flatten(), nn.Linear(2, 1, bias=False))
    >>> _ = net[2].weight.data.copy_(torch.tensor([[3.0, -1.0]]))
    >>> layer_gradient(net, "0", torch.tensor([[[[1.0, 2.0]]]]), 0)[1]
    tensor([[[[ 3., -1.]]]])
    """
    x = _images(x)
    t = _targets(target, len(x))
    modules = dict(instance(model, "model", nn.Module, "a torch.nn.Module").named_modules())
    names = ", ".join(repr(n) for n in modules if n)
    require(
        isinstance(layer, str) and layer in modules and layer != "",
        f"unknown layer {layer!r}; this model has {names}",
    )
    outputs: list[object] = []
    handle = modules[layer].register_forward_hook(lambda _m, _i, out: outputs.append(out))
    try:
        with evaluating(model), torch.enable_grad():
            score = _pick(model(x.detach().clone().requires_grad_(True)), t)
            require(
                len(outputs) == 1 and isinstance(outputs[0], Tensor),
                f"layer {layer!r} must give one tensor per forward pass, got {len(outputs)} "
                "outputs; hook a layer that runs once",
            )
            (grad,) = torch.autograd.grad(score.sum(), outputs[0])
    finally:
        handle.remove()
    return outputs[0].detach(), grad


def grad_cam_weights(
    model: nn.Module, layer: str, x: Tensor, target: int | Tensor
) -> tuple[Tensor, Tensor]:
    """``(A, α)``: a layer's ``(N, K, h, w)`` output and ``α[n, k] = mean_ij ∂z_t/∂A[n,k,i,j]``.

    ``α_k`` is the spatial mean of the gradient (not its maximum): how much channel ``k``,
    spread evenly over the map, raises the logit.

    >>> net = nn.Sequential(nn.Identity(), nn.Flatten(), nn.Linear(2, 1, bias=False))
    >>> _ = net[2].weight.data.copy_(torch.tensor([[3.0, -1.0]]))
    >>> grad_cam_weights(net, "0", torch.tensor([[[[1.0, 2.0]]]]), 0)[1]
    tensor([[1.]])
    """
    activations, grad = layer_gradient(model, layer, x, target)
    require(
        activations.ndim == 4,
        f"layer {layer!r} must give (N, K, h, w) maps, got shape {tuple(activations.shape)}",
    )
    return activations, grad.mean(dim=(2, 3))


def grad_cam(model: nn.Module, layer: str, x: Tensor, target: int | Tensor) -> Tensor:
    """``(N, H, W)``: ``ReLU(Σ_k α_k A_k)`` upsampled bilinearly to the image size.

    ``A`` and ``α`` are those of :func:`grad_cam_weights`; the ReLU keeps the places that
    raise the class score. The upsampling is ``F.interpolate(mode="bilinear",
    align_corners=False)``.

    >>> net = nn.Sequential(nn.Identity(), nn.Flatten(), nn.Linear(2, 1, bias=False))
    >>> _ = net[2].weight.data.copy_(torch.tensor([[3.0, -1.0]]))
    >>> grad_cam(net, "0", torch.tensor([[[[1.0, -2.0]]]]), 0)
    tensor([[[1., 0.]]])
    """
    activations, weights = grad_cam_weights(model, layer, x, target)
    cam = torch.relu((weights[:, :, None, None] * activations).sum(dim=1))
    size = tuple(x.shape[2:])
    return F.interpolate(cam[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]
