"""Sanity checks for saliency maps that can fail: model randomisation and deletion.

* :func:`cascading_randomisation` (Adebayo et al. 2018): re-initialise a copy of the model
  layer by layer from the top down and measure, with the Spearman rank correlation
  :func:`spearman`, how much each image's map changes. A map that explains the model must
  change once its weights are random (correlation near 0); one that barely changes shows the
  image (edges), not what the network learned.
* :func:`deletion_test`: set the pixels a map ranks highest to a fill value (the background),
  a few at a time, and follow the class logit. A faithful map lowers it faster than random
  orderings of the same pixels; the area between the two curves summarises each image.

An *explainer* is any function ``(model, x, target) -> (N, H, W)`` maps, e.g.
``lambda m, x, t: grad_cam(m, "pool", x, t)``. Randomness comes from a ``torch.Generator``;
the model passed in is never changed (the randomisation works on a deep copy).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from cnnnotes._validate import function, instance, number, positive_int, require, tensor
from cnnnotes.analysis.saliency import class_scores

__all__ = ["cascading_randomisation", "deletion_curve", "deletion_test", "ranks", "reinitialise",
           "spearman"]  # fmt: skip

Explainer = Callable[[nn.Module, Tensor, "int | Tensor"], Tensor]


def ranks(values: Tensor) -> Tensor:
    """Ranks ``1..M`` along the last dim (float64); tied values share the mean of their ranks.

    >>> ranks(torch.tensor([[10.0, 30.0, 20.0, 30.0]]))
    tensor([[1.0000, 3.5000, 2.0000, 3.5000]], dtype=torch.float64)
    """
    v = tensor(values, "values", shape="(..., M)", floating=True).detach().to(torch.float64)
    require(v.ndim >= 1 and v.shape[-1] > 0, "values must have at least one element per row")
    require(bool(torch.isfinite(v).all()), "values must be finite (no nan or inf)")
    order = v.argsort(dim=-1, stable=True)
    ordered = v.gather(-1, order)
    starts = torch.ones_like(ordered, dtype=torch.bool)
    starts[..., 1:] = ordered[..., 1:] != ordered[..., :-1]
    group = starts.long().cumsum(dim=-1) - 1  # the tie group of each sorted position
    position = torch.arange(1, v.shape[-1] + 1, dtype=torch.float64).expand_as(ordered)
    total = torch.zeros_like(ordered).scatter_add_(-1, group, position)
    size = torch.zeros_like(ordered).scatter_add_(-1, group, torch.ones_like(ordered))
    mean_rank = (total / size.clamp(min=1)).gather(-1, group)
    return torch.empty_like(ordered).scatter_(-1, order, mean_rank)


def spearman(a: Tensor, b: Tensor) -> Tensor:
    """``(N,)``: per image, the Pearson correlation of the ranks of ``a[n]`` and ``b[n]``.

    Every dim after the first is flattened. Without ties this equals
    ``1 − 6 Σ d² / (M (M² − 1))``, ``d`` the rank differences of the ``M`` values; a map
    whose values are all equal has no ranking, and its correlation is ``nan``.

    >>> spearman(torch.tensor([[1.0, 2.0, 3.0, 4.0]]), torch.tensor([[10.0, 20.0, 40.0, 30.0]]))
    tensor([0.8000], dtype=torch.float64)
    """
    tensor(a, "a", shape="(N, ...)", floating=True)
    tensor(b, "b", shape="(N, ...)", floating=True)
    require(
        a.shape == b.shape and a.ndim >= 2,
        f"a and b must have the same shape (N, ...), got {tuple(a.shape)} and {tuple(b.shape)}",
    )
    ra = ranks(a.reshape(len(a), -1))
    rb = ranks(b.reshape(len(b), -1))
    ra = ra - ra.mean(dim=1, keepdim=True)
    rb = rb - rb.mean(dim=1, keepdim=True)
    spread = ((ra * ra).sum(dim=1) * (rb * rb).sum(dim=1)).sqrt()
    return torch.where(spread > 0, (ra * rb).sum(dim=1) / spread.clamp(min=1e-300), torch.nan)


def reinitialise(module: nn.Module, generator: torch.Generator) -> None:
    """Draw each of ``module``'s own parameters from ``U(−1/√fan_in, 1/√fan_in)``, in place.

    ``fan_in = weight[0].numel()`` (inputs × kernel size), PyTorch's default bound for
    ``Linear`` and ``Conv``; the module needs a ``weight`` of at least 2 dims.

    >>> lin = nn.Linear(4, 1)
    >>> reinitialise(lin, torch.Generator().manual_seed(0))
    >>> bool(lin.weight.abs().max() <= 0.5) and bool(lin.bias.abs().max() <= 0.5)
    True
    """
    instance(module, "module", nn.Module, "a torch.nn.Module")
    instance(generator, "generator", torch.Generator, "a torch.Generator (CPU)")
    weight = getattr(module, "weight", None)
    require(
        isinstance(weight, Tensor) and weight.ndim >= 2,
        f"only a layer with a weight of 2 or more dims (Linear, Conv) can be re-initialised, "
        f"got {type(module).__name__}",
    )
    bound = 1 / math.sqrt(weight[0].numel())
    with torch.no_grad():
        for p in module.parameters(recurse=False):
            draw = torch.rand(p.shape, generator=generator, dtype=torch.float64) * 2 - 1
            p.copy_(draw * bound)


def cascading_randomisation(
    model: nn.Module,
    explain: Explainer,
    x: Tensor,
    target: int | Tensor,
    generator: torch.Generator,
    layers: Sequence[str] | None = None,
) -> dict[str, Tensor]:
    """``{layer: (N,) correlations}``: the maps of a copy randomised down to ``layer``, ranked.

    Step ``l`` re-initialises ``layers[0..l]`` (top first, cumulatively) on a deep copy with
    :func:`reinitialise` and returns ``spearman(explain(model), explain(copy))`` per image.
    ``layers`` defaults to every module with a weight of 2 or more dims, in reverse order of
    ``named_modules()`` (which must then be the forward order).

    >>> net = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.Linear(3, 2))
    >>> rho = cascading_randomisation(net, lambda m, x, t: x, torch.ones(1, 1, 2, 2), 0,
    ...                               torch.Generator().manual_seed(0))
    >>> list(rho), rho["1"]  # an explainer that ignores the model: same map, correlation nan
    (['2', '1'], tensor([nan], dtype=torch.float64))
    """
    instance(model, "model", nn.Module, "a torch.nn.Module")
    function(explain, "explain", "a function (model, x, target) -> (N, H, W) maps")
    instance(generator, "generator", torch.Generator, "a torch.Generator (CPU)")
    modules = dict(model.named_modules())
    if layers is None:
        weighted = [n for n, m in modules.items() if getattr(m, "weight", None) is not None]
        layers = [n for n in reversed(weighted) if modules[n].weight.ndim >= 2]
    names = list(layers)
    require(len(names) > 0, "layers is empty; name at least one layer, top layer first")
    for name in names:
        require(name in modules and name != "", f"unknown layer {name!r}; see named_modules()")
    original = explain(model, x, target)
    randomised = copy.deepcopy(model)
    inside = dict(randomised.named_modules())
    result = {}
    for name in names:
        reinitialise(inside[name], generator)
        result[name] = spearman(original, explain(randomised, x, target))
    return result


def deletion_curve(
    model: nn.Module, x: Tensor, target: int | Tensor, order: Tensor, steps: int, fill: float
) -> Tensor:
    """``(N, steps + 1)``: the target logit after deleting the first ``c_s`` pixels of ``order``.

    ``order[n]`` lists image ``n``'s ``H·W`` pixel indices (row-major) in deletion order;
    step ``s`` sets the first ``c_s = round(s·H·W / steps)`` of them to ``fill`` in every
    channel, so column 0 is the intact image's score and the last column the all-fill one.

    >>> net = nn.Sequential(nn.Flatten(), nn.Linear(4, 1, bias=False))
    >>> _ = net[1].weight.data.copy_(torch.tensor([[1.0, 2.0, 3.0, 4.0]]))
    >>> deletion_curve(net, torch.ones(1, 1, 2, 2), 0, torch.tensor([[3, 2, 1, 0]]), 2, 0.0)
    tensor([[10.,  3.,  0.]])
    """
    x = tensor(x, "x", shape="(N, C, H, W)", ndims=(4,), floating=True)
    tensor(order, "order", shape="(N, H*W)", ndims=(2,), integers="pixel indices")
    steps = positive_int(steps, "steps")
    fill = number(fill, "fill")
    n, _, height, width = x.shape
    pixels = height * width
    wanted = torch.arange(pixels).expand(n, pixels)
    require(
        order.shape == (n, pixels) and bool((order.sort(dim=1).values == wanted).all()),
        f"order must hold, for each of the {n} images, each pixel index 0..{pixels - 1} once",
    )
    scores = []
    for s in range(steps + 1):
        deleted = torch.zeros(n, pixels, dtype=torch.bool)
        deleted.scatter_(1, order[:, : round(s * pixels / steps)], True)
        mask = deleted.reshape(n, 1, height, width).to(x.device)
        scores.append(class_scores(model, torch.where(mask, fill, x), target))
    return torch.stack(scores, dim=1)


def deletion_test(
    model: nn.Module,
    x: Tensor,
    target: int | Tensor,
    maps: Tensor,
    *,
    steps: int,
    fill: float,
    generator: torch.Generator,
    repeats: int = 1,
) -> dict[str, Tensor]:
    """Deletion by ``maps`` (highest first) against random orderings of the same pixels.

    Returns ``fractions`` ``(steps + 1,)`` (share of pixels deleted), ``map_curve`` and
    ``random_curve`` (mean target logit over the images; the random one also over
    ``repeats`` orderings) and ``area_between`` ``(N,)``: per image, the trapezoid area of
    ``random − map`` over the fractions, positive when the map's pixels matter more. Tied map
    values are ordered at random, so a flat region is not deleted top-left first.

    >>> net = nn.Sequential(nn.Flatten(), nn.Linear(4, 1, bias=False))
    >>> _ = net[1].weight.data.copy_(torch.tensor([[1.0, 2.0, 3.0, 4.0]]))
    >>> out = deletion_test(net, torch.ones(1, 1, 2, 2), 0, net[1].weight.data.reshape(1, 2, 2),
    ...                     steps=4, fill=0.0, generator=torch.Generator().manual_seed(0))
    >>> out["map_curve"]
    tensor([10.,  6.,  3.,  1.,  0.])
    """
    x = tensor(x, "x", shape="(N, C, H, W)", ndims=(4,), floating=True)
    tensor(maps, "maps", shape="(N, H, W)", ndims=(3,), floating=True)
    require(
        maps.shape == (x.shape[0], *x.shape[2:]),
        f"maps must have shape (N, H, W) = {(x.shape[0], *x.shape[2:])}, got {tuple(maps.shape)}",
    )
    instance(generator, "generator", torch.Generator, "a torch.Generator (CPU)")
    repeats = positive_int(repeats, "repeats")
    n, pixels = len(x), maps[0].numel()
    flat = maps.detach().cpu().reshape(n, pixels)
    shuffle = torch.stack([torch.randperm(pixels, generator=generator) for _ in range(n)])
    by_map = shuffle.gather(1, flat.gather(1, shuffle).argsort(dim=1, descending=True, stable=True))
    curve = deletion_curve(model, x, target, by_map, steps, fill)
    randoms = []
    for _ in range(repeats):
        order = torch.stack([torch.randperm(pixels, generator=generator) for _ in range(n)])
        randoms.append(deletion_curve(model, x, target, order, steps, fill))
    random_curve = torch.stack(randoms).mean(dim=0)
    counts = [round(s * pixels / steps) for s in range(steps + 1)]  # as deletion_curve
    fractions = torch.tensor(counts, dtype=curve.dtype) / pixels
    gap = (random_curve - curve).cpu()
    area = ((gap[:, 1:] + gap[:, :-1]) / 2 * fractions.diff()).sum(dim=1)
    return {
        "fractions": fractions,
        "map_curve": curve.mean(dim=0),
        "random_curve": random_curve.mean(dim=0),
        "area_between": area,
    }
