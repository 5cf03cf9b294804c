"""Self-checks for what the network looks at: saliency, occlusion and Grad-CAM.

Each check runs the learner's function on a fixed grid of small cases and compares it with
:mod:`cnnnotes.analysis` (float64, seeded). The models are small CNNs with batch norm, handed
over in *training* mode, as a model is right after training: a method must switch to eval
mode itself. A mismatch shows one case and names the classic mistake that explains it; each
mistake is one setting of a wrong version of the method (the ``*_MISTAKES`` tables).
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import Tensor, nn

from cnnnotes._validate import function
from cnnnotes._validate import seed as a_seed
from cnnnotes.analysis.saliency import grad_cam, occlusion, saliency
from cnnnotes.check.core import check_tensors

F64 = torch.float64
SALIENCY_CASES = (
    {"x": (3, 1, 6, 4), "target": 2},
    {"x": (2, 3, 4, 4), "target": (0, 4)},
    {"x": (4, 3, 6, 6), "target": 1},
    {"x": (2, 1, 8, 6), "target": (3, 3)},
)
"""Cases of :func:`check_saliency`: the shape of ``x`` and the target class (one for every
image, or one per image); each gets a fresh :func:`bn_cnn`."""

OCCLUSION_CASES = (
    {"x": (2, 1, 6, 4), "target": 1, "patch": 2, "fill": -0.8},
    {"x": (3, 1, 6, 6), "target": (0, 2, 4), "patch": 3, "fill": 0.5},
    {"x": (2, 3, 4, 4), "target": 3, "patch": 1, "fill": -1.0},
    {"x": (2, 1, 8, 8), "target": 0, "patch": 4, "fill": 0.25},
)  # fmt: skip
"""Cases of :func:`check_occlusion`: ``patch × patch`` squares that tile the image (stride =
patch). No fill is 0, so a patch of zeros is told apart from a patch of ``fill``."""

GRAD_CAM_CASES = ({"activations": (2, 3, 4, 4)}, {"activations": (1, 5, 3, 6)},
                  {"activations": (3, 1, 2, 2)}, {"activations": (2, 4, 7, 7)})  # fmt: skip
"""Cases of :func:`check_grad_cam`: the shape ``(N, K, h, w)`` of the rectified maps ``A``
(the gradients have the same shape)."""


def bn_cnn(shape: tuple[int, int, int], g: torch.Generator) -> nn.Module:
    """conv → batch norm → ReLU → 2×2 max-pool → linear to 5 classes, float64, in train mode;
    its running statistics are far from a batch's, so eval mode changes every output."""
    c, h, w = shape
    layers = [nn.Conv2d(c, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(), nn.MaxPool2d(2)]
    net = nn.Sequential(*layers, nn.Flatten(), nn.Linear(3 * (h // 2) * (w // 2), 5)).double()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=F64))
        net[1].running_mean.copy_(torch.randn(3, generator=g, dtype=F64))
        net[1].running_var.copy_(torch.rand(3, generator=g, dtype=F64) + 0.5)
    return net.train()


def _classes(target: object, n: int) -> Tensor:
    return torch.as_tensor(target).long().expand(n)


def _saliency(
    model: nn.Module,
    x: Tensor,
    target: object,
    *,
    score: str = "logit",
    train: bool = False,
    reduce: str = "max",
) -> Tensor:
    """The saliency map on a copy of ``model``, right (the defaults) or with one slip."""
    net = copy.deepcopy(model).train(train)
    inp = x.detach().clone().requires_grad_(True)
    z = net(inp)
    z = z if score == "logit" else getattr(z, score)(dim=1)
    picked = z.gather(1, _classes(target, len(x))[:, None]).sum()
    grad = torch.autograd.grad(picked, inp)[0]
    return {"max": grad.abs().amax(1), "signed": grad.amax(1), "sum": grad.abs().sum(1)}[reduce]


SALIENCY_MISTAKES = {
    "took the gradient of the softmax probability instead of the logit": {"score": "softmax"},
    "took the gradient of the log-probability (minus the loss) instead of the logit":
        {"score": "log_softmax"},
    "forgot model.eval(): batch norm used the batch's statistics": {"train": True},
    "kept the sign of the gradient (no absolute value)": {"reduce": "signed"},
    "summed |gradient| over the colour channels instead of taking the maximum":
        {"reduce": "sum"},
}  # fmt: skip
"""Classic wrong saliency maps: the message's words, and the slip in :func:`_saliency`."""


def _model_input_target(
    shape: tuple[int, ...], target: object, g: torch.Generator
) -> tuple[nn.Module, Tensor, object]:
    """A case's small batch-norm CNN, its random float64 input of ``shape`` and its target
    (a tuple of classes becomes a tensor, one per image)."""
    model, x = bn_cnn(shape[1:], g), torch.randn(shape, generator=g, dtype=F64)
    return model, x, torch.tensor(target) if isinstance(target, tuple) else target


def check_saliency(fn: Callable, *, seed: int = 0) -> str:
    """Check ``fn(model, x, target)`` → ``(N, H, W)`` maps ``max_c |∂z_t/∂x[c, i, j]|``
    against :func:`cnnnotes.analysis.saliency.saliency` on :data:`SALIENCY_CASES`.

    >>> check_saliency(saliency)
    'All 4 cases match cnnnotes.analysis.saliency.saliency.'
    >>> check_saliency(lambda m, x, t: _saliency(m, x, t, reduce="signed")).split("you ")[-1]
    'kept the sign of the gradient (no absolute value).'
    """
    function(fn, "fn", "your function fn(model, x, target)")
    g = torch.Generator().manual_seed(a_seed(seed))

    def cases():
        for case in SALIENCY_CASES:
            shape, target = case["x"], case["target"]
            model, x, t = _model_input_target(shape, target, g)
            text = f"x of shape {shape}, target {target} (a small CNN with batch norm, "
            text += "handed over in training mode)"
            hints = [(k, _saliency(model, x, t, **v)) for k, v in SALIENCY_MISTAKES.items()]
            yield text, (model, x, t), saliency(model, x, t), hints

    return check_tensors(fn, cases(), "cnnnotes.analysis.saliency.saliency")


def _occlusion(
    model: nn.Module,
    x: Tensor,
    target: object,
    patch: int,
    fill: float,
    *,
    value: float | None = None,
    score: str = "drop",
    softmax: bool = False,
    train: bool = False,
) -> Tensor:
    """Occlusion with non-overlapping patches, right (the defaults) or with one slip."""
    net = copy.deepcopy(model).train(train)
    t = _classes(target, len(x))[:, None]

    def class_score(images: Tensor) -> Tensor:
        z = net(images)
        return (z.softmax(dim=1) if softmax else z).gather(1, t)[:, 0]

    out = torch.zeros(len(x), *x.shape[2:], dtype=x.dtype)
    with torch.no_grad():
        base = class_score(x)
        for top in range(0, x.shape[2], patch):
            for left in range(0, x.shape[3], patch):
                covered = x.clone()
                covered[:, :, top : top + patch, left : left + patch] = (
                    fill if value is None else value
                )
                now = class_score(covered)
                drop = {"drop": base - now, "rise": now - base, "score": now}[score]
                out[:, top : top + patch, left : left + patch] = drop[:, None, None]
    return out


OCCLUSION_MISTAKES = {
    "filled the patch with 0 instead of fill (the background value)": {"value": 0.0},
    "returned the occluded score instead of the drop z_t(x) − z_t(occluded x)":
        {"score": "score"},
    "flipped the sign: the drop is z_t(x) − z_t(occluded x), not the other way round":
        {"score": "rise"},
    "measured the softmax probability instead of the logit": {"softmax": True},
    "forgot model.eval(): batch norm used the batch's statistics": {"train": True},
}  # fmt: skip
"""Classic wrong occlusion maps: the message's words, and the slip in :func:`_occlusion`."""


def check_occlusion(fn: Callable, *, seed: int = 0) -> str:
    """Check ``fn(model, x, target, patch, fill)`` → ``(N, H, W)``: the logit's drop when the
    ``patch × patch`` square (stride ``patch``) holding each pixel is set to ``fill``, against
    :func:`cnnnotes.analysis.saliency.occlusion` on :data:`OCCLUSION_CASES`.

    >>> check_occlusion(lambda m, x, t, p, f: occlusion(m, x, t, p, p, f))
    'All 4 cases match cnnnotes.analysis.saliency.occlusion.'
    >>> zeros = lambda m, x, t, p, f: _occlusion(m, x, t, p, f, value=0.0)
    >>> check_occlusion(zeros).split("you ")[-1]
    'filled the patch with 0 instead of fill (the background value).'
    """
    function(fn, "fn", "your function fn(model, x, target, patch, fill)")
    g = torch.Generator().manual_seed(a_seed(seed))

    def cases():
        for case in OCCLUSION_CASES:
            shape, target = case["x"], case["target"]
            model, x, t = _model_input_target(shape, target, g)
            args = (model, x, t, case["patch"], case["fill"])
            text = f"x of shape {shape}, target {target}, patch {args[3]}, fill {args[4]} "
            text += "(a small CNN with batch norm, handed over in training mode)"
            hints = [(k, _occlusion(*args, **v)) for k, v in OCCLUSION_MISTAKES.items()]
            yield text, args, occlusion(*args[:4], args[3], args[4]), hints

    return check_tensors(fn, cases(), "cnnnotes.analysis.saliency.occlusion")


class _Scored(nn.Module):
    """A model of the maps ``A`` whose score ``z_0 = Σ G·A`` has the gradient ``G``:
    :func:`~cnnnotes.analysis.saliency.grad_cam` on it is Grad-CAM of ``(A, G)``."""

    def __init__(self, gradients: Tensor) -> None:
        super().__init__()
        self.maps, self.gradients = nn.Identity(), gradients

    def forward(self, a: Tensor) -> Tensor:
        return (self.maps(a) * self.gradients).sum(dim=(1, 2, 3))[:, None]


def _grad_cam(a: Tensor, g: Tensor, *, weights: str = "mean", relu: str = "sum") -> Tensor:
    """Grad-CAM from ``(A, G)``, right (the defaults) or with one slip."""
    if weights == "each place":
        return (g * a).sum(dim=1).relu()
    source, pool = (a, "mean") if weights == "activations" else (g, weights)
    alpha = getattr(source, {"mean": "mean", "max": "amax", "sum": "sum"}[pool])(dim=(2, 3))
    terms = alpha[:, :, None, None] * a
    cam = terms.relu().sum(dim=1) if relu == "each" else terms.sum(dim=1)
    return cam if relu == "none" else cam.relu()


GRAD_CAM_MISTAKES = {
    "left out the ReLU, so places that lower the class score stay in the map": {"relu": "none"},
    "did not average the gradient over space: weighted each place by its own gradient "
    "(Σ_k ∂z/∂A_k · A_k)": {"weights": "each place"},
    "weighted the channels by the mean of the activations instead of the gradients":
        {"weights": "activations"},
    "took the spatial maximum of the gradient instead of its mean": {"weights": "max"},
    "summed the gradient over space instead of averaging it (h·w times too large)":
        {"weights": "sum"},
    "applied the ReLU to each channel before summing": {"relu": "each"},
}  # fmt: skip
"""Classic wrong Grad-CAM maps: the message's words, and the slip in :func:`_grad_cam`."""


def check_grad_cam(fn: Callable, *, seed: int = 0) -> str:
    """Check ``fn(activations, gradients)`` → ``(N, h, w)`` maps ``ReLU(Σ_k α_k A_k)``,
    ``α_k`` the spatial mean of the gradient, at the layer's resolution: against
    :func:`cnnnotes.analysis.saliency.grad_cam` of a model whose score has exactly those
    gradients, on :data:`GRAD_CAM_CASES`.

    >>> check_grad_cam(_grad_cam)
    'All 4 cases match cnnnotes.analysis.saliency.grad_cam.'
    >>> check_grad_cam(lambda a, g: _grad_cam(a, g, relu="none")).split("you ")[-1]
    'left out the ReLU, so places that lower the class score stay in the map.'
    """
    function(fn, "fn", "your function fn(activations, gradients)")
    g = torch.Generator().manual_seed(a_seed(seed))

    def cases():
        for case in GRAD_CAM_CASES:
            shape = case["activations"]
            a = torch.randn(shape, generator=g, dtype=F64).relu()
            grads = torch.randn(shape, generator=g, dtype=F64)
            hints = [(k, _grad_cam(a, grads, **v)) for k, v in GRAD_CAM_MISTAKES.items()]
            expected = grad_cam(_Scored(grads), "maps", a, 0)
            yield f"activations and gradients of shape {shape}", (a, grads), expected, hints

    return check_tensors(fn, cases(), "cnnnotes.analysis.saliency.grad_cam")
