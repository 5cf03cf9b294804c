"""Looking inside a trained network: feature maps, top-activating images, filter statistics.

:func:`feature_maps` records layer outputs with forward hooks (removed
afterwards); :func:`top_activating` ranks images by a channel's
:func:`mean_activations`; :func:`dc_share` says how much of a filter is a plain
average (1) rather than an edge/texture detector (0); :func:`scatter_ratio`
and :func:`nearest_mean_accuracy` say how well features separate the classes.
Nothing here changes a model's weights or its train/eval mode. Bad arguments
raise ``TypeError`` or ``ValueError`` naming what was wrong and what is allowed.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from cnnnotes._validate import (
    boolean,
    instance,
    nonnegative_int,
    positive_int,
    require,
    require_type,
    tensor,
)

__all__ = [
    "class_means", "dc_share", "feature_maps", "mean_activations", "nearest_mean_accuracy",
    "scatter_ratio", "top_activating",
]  # fmt: skip


def _images(x: object) -> Tensor:
    """``x`` if it is a floating-point batch (its first dim indexes images)."""
    return tensor(x, "x", shape="(N, ...), e.g. (N, C, H, W)", floating=True)


def feature_maps(model: nn.Module, x: Tensor, layer_names: Sequence[str]) -> dict[str, Tensor]:
    """Run ``model(x)`` once and return the outputs of the named sub-modules.

    Names are those of ``model.named_modules()`` (``"conv1"``, ``"0"``,
    ``"block.conv"``…). The outputs are detached and computed without gradients;
    the hooks are removed even if the forward pass fails, and the model keeps its
    mode (call ``model.eval()`` first for inference behaviour). A module that
    runs more than once per forward pass (one ``nn.ReLU`` reused after every
    layer) has no single output, so asking for it raises ``ValueError``.

    >>> net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    >>> with torch.no_grad():
    ...     _ = net[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]))
    ...     _ = net[0].bias.zero_()
    >>> maps = feature_maps(net, torch.tensor([[1.0, -2.0]]), ["0", "1"])
    >>> maps["0"], maps["1"]
    (tensor([[ 1., -2.,  1.]]), tensor([[1., 0., 1.]]))
    >>> feature_maps(net, torch.zeros(1, 2), ["fc"])
    Traceback (most recent call last):
    ...
    ValueError: unknown layer name 'fc'; this model has '0', '1', '2'
    """
    instance(model, "model", nn.Module, "a torch.nn.Module")
    x = _images(x)
    require_type(
        isinstance(layer_names, Sequence) and not isinstance(layer_names, str),
        f"layer_names must be a list of module names such as ['conv1'], got {layer_names!r}",
    )
    names = list(layer_names)
    require(len(names) > 0, "layer_names is empty; give at least one module name")
    modules = dict(model.named_modules())
    available = ", ".join(repr(n) for n in modules if n)
    for name in names:
        require(
            isinstance(name, str) and name != "" and name in modules,
            f"unknown layer name {name!r}; this model has {available}",
        )
        require(names.count(name) == 1, f"layer_names repeats {name!r}: {names}")
    outputs: dict[str, list[object]] = {name: [] for name in names}

    def recorder(name: str):  # a hook gets (module, inputs, output)
        return lambda _module, _inputs, output: outputs[name].append(output)

    handles = [modules[name].register_forward_hook(recorder(name)) for name in names]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    for name, outs in outputs.items():
        require(
            len(outs) == 1,
            f"layer {name!r} ran {len(outs)} times in one forward pass, so it has no single "
            "output; hook the layer before it and apply this one yourself",
        )
        require_type(
            isinstance(outs[0], Tensor),
            f"layer {name!r} returned {type(outs[0]).__name__}, not a Tensor",
        )
    return {name: outs[0].detach() for name, outs in outputs.items()}


def mean_activations(
    model: nn.Module, x: Tensor, layer: str, *, relu: bool = False, batch_size: int = 500
) -> Tensor:
    """``(N, C)``: each image's mean over positions of each channel of ``layer``'s output.

    ``relu=True`` applies a ReLU first (for models that reuse one ReLU module).

    >>> x = torch.tensor([[[1.0, 1.0]], [[3.0, -1.0]], [[0.0, 4.0]]])  # (3, 1, 2)
    >>> mean_activations(nn.Sequential(nn.Identity()), x, "0", relu=True)
    tensor([[1.0000],
            [1.5000],
            [2.0000]])
    """
    x = _images(x)
    boolean(relu, "relu")
    positive_int(batch_size, "batch_size")
    parts = []
    for start in range(0, len(x), batch_size):
        out = feature_maps(model, x[start : start + batch_size], [layer])[layer]
        require(out.ndim >= 2, f"layer {layer!r} gives shape {tuple(out.shape)}, no channel axis")
        act = out.clamp(min=0) if relu else out
        parts.append(act.reshape(*act.shape[:2], -1).mean(dim=2))
    return torch.cat(parts)


def top_activating(
    model: nn.Module,
    x: Tensor,
    layer: str,
    channel: int | Sequence[int],
    k: int,
    *,
    relu: bool = False,
    batch_size: int = 500,
) -> tuple[Tensor, Tensor]:
    """The ``k`` images of ``x`` with the largest :func:`mean_activations` of ``channel``.

    Returns ``(indices, scores)``, highest first, ties in the order of ``x``:
    shape ``(k,)`` for one channel, ``(len(channel), k)`` for a list of channels
    (one forward pass serves them all).

    >>> net = nn.Sequential(nn.Identity())
    >>> x = torch.tensor([[[1.0, 1.0]], [[3.0, -1.0]], [[0.0, 4.0]]])  # (3, 1, 2)
    >>> top_activating(net, x, "0", channel=0, k=2)
    (tensor([2, 0]), tensor([2., 1.]))
    >>> top_activating(net, x, "0", channel=[0], k=2, relu=True)
    (tensor([[2, 1]]), tensor([[2.0000, 1.5000]]))
    """
    single = not isinstance(channel, Sequence)
    channels = [channel] if single else list(channel)
    n = len(_images(x))
    positive_int(k, "k")
    channels = [nonnegative_int(c, "channel") for c in channels]
    require(
        len(channels) > 0 and k <= n,
        f"need at least one channel and k <= {n} images, got k = {k}",
    )
    scores = mean_activations(model, x, layer, relu=relu, batch_size=batch_size)
    require(
        max(channels) < scores.shape[1],
        f"channel must be < {scores.shape[1]} for {layer!r}, got {max(channels)}",
    )
    chosen = scores[:, channels].T  # (channels, N)
    order = torch.sort(chosen, dim=1, descending=True, stable=True).indices[:, :k]
    top = torch.gather(chosen, 1, order)
    return (order[0], top[0]) if single else (order, top)


def dc_share(filters: Tensor) -> Tensor:
    """For each filter ``w`` (a row of ``filters``), ``(Σw)² / (n·Σw²)`` with ``n`` weights.

    This is the share of ``‖w‖²`` in the constant part ``mean(w)·1``: 0 for a
    zero-sum filter (edges, Laplacian), 1 for a constant one (box blur). The
    first dimension indexes filters, e.g. a conv weight ``(out, in, kh, kw)``;
    an all-zero filter gets 0.

    >>> dc_share(torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, -1.0], [2.0, 0.0, 0.0]]))
    tensor([1.0000, 0.0000, 0.3333])
    """
    tensor(filters, "filters", shape="(out, in, kh, kw)", floating=True)
    require(
        filters.ndim >= 2,
        f"filters must have shape (out, ...), e.g. (out, in, kh, kw), got {tuple(filters.shape)}",
    )
    w = filters.detach().reshape(len(filters), -1)
    energy = (w * w).sum(dim=1)
    dc = w.sum(dim=1) ** 2 / w.shape[1]
    return torch.where(energy > 0, dc / energy.clamp(min=torch.finfo(w.dtype).tiny), 0.0)


def _features(f: object, y: object) -> tuple[Tensor, Tensor]:
    """Check a ``(samples, features)`` float tensor and one int64 class label per sample."""
    tensor(f, "features", shape="(samples, features)", ndims=(2,), floating=True)
    tensor(y, "labels", shape="(samples,)", ndims=(1,), integers="class labels")
    require_type(y.dtype == torch.int64, f"labels must be torch.int64, got {y.dtype}")
    require(
        len(y) == len(f) and len(y) > 0 and int(y.min()) >= 0,
        f"{len(f)} feature rows but {len(y)} labels (non-empty, >= 0 needed)",
    )
    return f.detach(), y


def class_means(features: Tensor, labels: Tensor) -> Tensor:
    """The mean feature vector of each class ``0..max(labels)``: ``(classes, features)``.

    >>> class_means(torch.tensor([[0.0, 2.0], [2.0, 4.0], [5.0, 5.0]]), torch.tensor([0, 0, 1]))
    tensor([[1., 3.],
            [5., 5.]])
    """
    f, y = _features(features, labels)
    counts = torch.bincount(y)
    missing = torch.nonzero(counts == 0)[:, 0].tolist()
    require(not missing, f"classes {missing} have no samples, so they have no mean")
    sums = torch.zeros(len(counts), f.shape[1], dtype=f.dtype).index_add_(0, y, f)
    return sums / counts[:, None].to(f.dtype)


def scatter_ratio(features: Tensor, labels: Tensor) -> float:
    """Between-class over within-class scatter, ``V_b / V_w`` (trace form, per sample).

    ``V_b = (1/n) Σ_c n_c ‖μ_c − μ‖²`` and ``V_w = (1/n) Σ_i ‖x_i − μ_{y_i}‖²``; their
    sum is the total variance. Large means tight, well-separated classes; the
    ratio does not change when all features are scaled by the same factor.

    >>> scatter_ratio(torch.tensor([[0.0], [2.0], [10.0], [12.0]]), torch.tensor([0, 0, 1, 1]))
    25.0
    """
    f, y = _features(features, labels)
    means = class_means(f, y)
    within = ((f - means[y]) ** 2).sum(dim=1).mean()
    centred = means - f.mean(dim=0)
    between = (torch.bincount(y).to(f.dtype) * (centred**2).sum(dim=1)).sum() / len(f)
    require(
        bool(within != 0), "every class is a single point (within-class scatter 0): ratio undefined"
    )
    return float(between / within)


def nearest_mean_accuracy(features: Tensor, labels: Tensor, means: Tensor) -> float:
    """Share of samples whose nearest class mean (Euclidean) is their own class's.

    ``means`` is ``(classes, features)``, e.g. :func:`class_means` of other samples.

    >>> means = torch.tensor([[0.0, 0.0], [4.0, 0.0]])
    >>> nearest_mean_accuracy(torch.tensor([[1.0, 1.0], [3.0, 0.0], [1.0, 0.0]]),
    ...                       torch.tensor([0, 1, 1]), means)
    0.6666666666666666
    """
    f, y = _features(features, labels)
    tensor(means, "means", shape=f"(classes, {f.shape[1]})", floating=True)
    require(
        means.ndim == 2 and means.shape[1] == f.shape[1],
        f"means must have shape (classes, {f.shape[1]}), got {tuple(means.shape)}",
    )
    require(
        int(y.max()) < len(means),
        f"labels go up to {int(y.max())} but there are {len(means)} means",
    )
    diff = f.to(means.dtype)[:, None, :] - means[None, :, :]
    dist = (diff * diff).sum(dim=2)  # squared distances, exact (cdist may use a matmul shortcut)
    return float((dist.argmin(dim=1) == y).double().mean())
