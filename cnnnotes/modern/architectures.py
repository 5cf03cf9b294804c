"""Four classic CNN designs for 28×28 images, and the notes' CNN with a GAP head.

Each builder takes ``num_classes`` and a width multiplier ``width`` (every channel
count is ``max(1, round(width·c))`` of the ``c`` given here; ``width=1`` is the net
described) and returns an ``(N, 1, 28, 28) → (N, num_classes)`` model, initialised
from PyTorch's global generator (seed it first, as for
:func:`cnnnotes.training.models.build_model`):

* :func:`lenet5`: LeCun et al. (1998): tanh, average pooling, 6-16-120-84;
* :func:`vgg_small`: VGG's idea (Simonyan & Zisserman, 2015): stages of 3×3
  convolutions, each with batch norm and ReLU, halved by max pooling, then a dense head;
* :func:`nin_gap`: Network in Network (Lin et al., 2014): each 3×3 convolution
  followed by two 1×1 ones, the last producing one map per class, averaged by
  global average pooling (GAP): no dense head at all;
* :func:`resnet_small`: a small ResNet (He et al., 2016): a stem, three stages of
  :class:`~cnnnotes.modern.blocks.ResidualBlock`, GAP and one linear layer;
  ``residual=False`` gives its plain twin of equal depth;
* :func:`notes_gap`: the notes' CNN with ``fc1`` replaced by GAP and a small linear layer.

All but :func:`resnet_small` are plain chains of standard layers, so
:func:`cnnnotes.analysis.summary.layer_table` gives their parameters and MACs;
:func:`resnet_small_cost` counts the ResNet's.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from cnnnotes._validate import boolean, instance, number, positive_int, require
from cnnnotes.modern.blocks import ResidualBlock
from cnnnotes.modern.cost import residual_block_macs, residual_block_params

__all__ = [
    "lenet5",
    "nin_gap",
    "notes_gap",
    "parameter_count",
    "parameter_share",
    "resnet_small",
    "resnet_small_cost",
    "vgg_small",
]


def _widths(width: float, *channels: int) -> list[int]:
    """``max(1, round(width·c))`` for each ``c``: the channel counts at this width."""
    w = number(width, "width", above=0)
    return [max(1, round(w * c)) for c in channels]


def _conv_bn_relu(c_in: int, c_out: int, k: int = 3) -> list[nn.Module]:
    conv = nn.Conv2d(c_in, c_out, k, padding=k // 2, bias=False)  # BN's β replaces the bias
    return [conv, nn.BatchNorm2d(c_out), nn.ReLU()]


def lenet5(num_classes: int = 10, width: float = 1.0) -> nn.Sequential:
    """LeNet-5 as published, adapted to 28×28 FashionMNIST.

    conv 6@5×5 (padding 2) → tanh → avg-pool 2 → conv 16@5×5 → tanh → avg-pool 2 →
    fc 120 → tanh → fc 84 → tanh → fc ``num_classes``. The adaptations: padding 2
    instead of the paper's 32×32 inputs (the 28×28 maps of C1 are the same);
    plain average pooling, where S2 and S4 had a trainable scale and bias; every C3 map
    sees all 6 maps of S2 (the paper's table connected each to 3 to 6 of them); tanh,
    not the scaled ``1.7159·tanh(2x/3)``; C5 (a 5×5 convolution on a 5×5 map) written
    as the linear layer it is; and a linear output for softmax cross-entropy instead
    of the Euclidean RBF units.

    >>> sum(p.numel() for p in lenet5().parameters())
    61706
    """
    classes = positive_int(num_classes, "num_classes")
    c1, c2, f1, f2 = _widths(width, 6, 16, 120, 84)
    return nn.Sequential(
        nn.Conv2d(1, c1, 5, padding=2),
        nn.Tanh(),
        nn.AvgPool2d(2),  # 28 → 14
        nn.Conv2d(c1, c2, 5),
        nn.Tanh(),
        nn.AvgPool2d(2),  # 14 → 10 → 5
        nn.Flatten(),
        nn.Linear(c2 * 5 * 5, f1),
        nn.Tanh(),
        nn.Linear(f1, f2),
        nn.Tanh(),
        nn.Linear(f2, classes),
    )


def vgg_small(num_classes: int = 10, width: float = 1.0) -> nn.Sequential:
    """Three VGG stages of two 3×3 conv-BN-ReLU each (32, 64, 128 channels), each halved
    by a 2×2 max pool (28 → 14 → 7 → 3), then a dense head 128·3·3 → 256 → ``num_classes``.

    >>> sum(p.numel() for p in vgg_small().parameters())
    584618
    """
    classes = positive_int(num_classes, "num_classes")
    c1, c2, c3, hidden = _widths(width, 32, 64, 128, 256)
    return nn.Sequential(
        *_conv_bn_relu(1, c1),
        *_conv_bn_relu(c1, c1),
        nn.MaxPool2d(2),
        *_conv_bn_relu(c1, c2),
        *_conv_bn_relu(c2, c2),
        nn.MaxPool2d(2),
        *_conv_bn_relu(c2, c3),
        *_conv_bn_relu(c3, c3),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(c3 * 3 * 3, hidden),
        nn.ReLU(),
        nn.Linear(hidden, classes),
    )


def nin_gap(num_classes: int = 10, width: float = 1.0) -> nn.Sequential:
    """Three NiN blocks (a 3×3 conv, then two 1×1 convs, each with BN and ReLU) of 32, 64
    and 128 channels, max-pooled 28 → 14 → 7; the last 1×1 convolution gives one 7×7 map
    per class, and global average pooling turns each map into its class's logit.

    The 1×1 convolutions are a small fully connected network applied at every pixel
    (the "network in network"). The original has no batch norm; it is added here
    so that the comparison with the other nets is about the head.

    >>> sum(p.numel() for p in nin_gap().parameters())
    121450
    """
    classes = positive_int(num_classes, "num_classes")
    c1, c2, c3 = _widths(width, 32, 64, 128)

    def block(c_in: int, c_out: int) -> list[nn.Module]:
        return [*_conv_bn_relu(c_in, c_out), *_conv_bn_relu(c_out, c_out, 1)]

    return nn.Sequential(
        *block(1, c1),
        *_conv_bn_relu(c1, c1, 1),
        nn.MaxPool2d(2),
        *block(c1, c2),
        *_conv_bn_relu(c2, c2, 1),
        nn.MaxPool2d(2),
        *block(c2, c3),
        nn.Conv2d(c3, classes, 1),  # one map per class: the logits
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    )


def resnet_small(
    num_classes: int = 10, width: float = 1.0, blocks: int = 2, residual: bool = True
) -> nn.Sequential:
    """A stem conv-BN-ReLU (16 channels), three stages of ``blocks`` residual blocks
    (16, 32 and 64 channels; the first block of stages 2 and 3 has stride 2: 28 → 14 →
    7), global average pooling and one linear layer.

    Depth: ``1 + 6·blocks + 1`` weight layers (14 for ``blocks=2``). ``residual=False``
    removes every shortcut: the plain twin, same depth and layers but the projections.

    >>> net = resnet_small()
    >>> sum(p.numel() for p in net.parameters()) == resnet_small_cost()[0]
    True
    """
    classes = positive_int(num_classes, "num_classes")
    n = positive_int(blocks, "blocks")
    boolean(residual, "residual")
    c1, c2, c3 = _widths(width, 16, 32, 64)
    layers: list[nn.Module] = _conv_bn_relu(1, c1)
    for c_in, c_out, stride in ((c1, c1, 1), (c1, c2, 2), (c2, c3, 2)):
        layers.append(ResidualBlock(c_in, c_out, stride, residual))
        layers += [ResidualBlock(c_out, c_out, 1, residual) for _ in range(n - 1)]
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c3, classes)]
    return nn.Sequential(*layers)


def resnet_small_cost(
    num_classes: int = 10,
    width: float = 1.0,
    blocks: int = 2,
    residual: bool = True,
    size: int = 28,
) -> tuple[int, int]:
    """``(parameters, MACs per image)`` of :func:`resnet_small` on ``size × size`` inputs.

    The stem (``9·c₁`` weights, ``2·c₁`` batch norm, ``9·c₁`` MACs per pixel), the
    blocks by :func:`~cnnnotes.modern.cost.residual_block_params` and
    :func:`~cnnnotes.modern.cost.residual_block_macs`, the head ``c₃·K + K`` (GAP and
    the additions cost no MACs).

    >>> resnet_small_cost()
    (174970, 20183936)
    """
    classes = positive_int(num_classes, "num_classes")
    n = positive_int(blocks, "blocks")
    size = positive_int(size, "size")
    c1, c2, c3 = _widths(width, 16, 32, 64)
    params = 9 * c1 + 2 * c1  # the stem: conv weights and a scale and shift per channel
    macs = size * size * 9 * c1
    for c_in, c_out, stride in ((c1, c1, 1), (c1, c2, 2), (c2, c3, 2)):
        for i in range(n):
            args = (c_in if i == 0 else c_out, c_out)
            s = stride if i == 0 else 1
            params += residual_block_params(*args, s, residual)
            macs += residual_block_macs(*args, size, size, s, residual)
            size = (size - 1) // s + 1  # a 3×3 convolution with padding 1 and stride s
    return params + c3 * classes + classes, macs + c3 * classes


def notes_gap() -> nn.Sequential:
    """The notes' CNN with ``fc1`` (12,544 → 128) replaced by GAP and a linear 64 → 128.

    conv1 1→32 → ReLU → conv2 32→64 → ReLU → max-pool 2 → **GAP** → fc1 **64**→128 →
    ReLU → fc2 128→10: one change against :class:`~cnnnotes.training.models.NotesCNN`,
    whose layer names it keeps.

    >>> from cnnnotes.training.models import NotesCNN
    >>> parameter_count(notes_gap()), parameter_count(NotesCNN())
    (28426, 1625866)
    """
    return nn.Sequential(
        OrderedDict(
            conv1=nn.Conv2d(1, 32, 3, padding=1),
            relu1=nn.ReLU(),
            conv2=nn.Conv2d(32, 64, 3, padding=1),
            relu2=nn.ReLU(),
            pool=nn.MaxPool2d(2),  # (N, 64, 14, 14)
            gap=nn.AdaptiveAvgPool2d(1),
            flatten=nn.Flatten(),  # (N, 64)
            fc1=nn.Linear(64, 128),
            relu3=nn.ReLU(),
            fc2=nn.Linear(128, 10),
        )
    )


def parameter_count(model: nn.Module) -> int:
    """``Σ p.numel()`` over the model's parameters.

    >>> parameter_count(nn.Linear(3, 2))  # 2·3 weights + 2 biases
    8
    """
    instance(model, "model", nn.Module, "a torch.nn.Module")
    return sum(p.numel() for p in model.parameters())


def parameter_share(model: nn.Module, name: str) -> float:
    """The fraction of ``model``'s parameters that sit in its submodule ``name``.

    >>> from cnnnotes.training.models import NotesCNN
    >>> round(100 * parameter_share(NotesCNN(), "fc1"), 1)  # percent
    98.8
    """
    total = parameter_count(model)
    instance(name, "name", str, "a submodule name such as 'fc1'")
    names = dict(model.named_modules())
    require(name in names and name != "", f"model has no submodule {name!r}")
    require(total > 0, "model has no parameters")
    return parameter_count(names[name]) / total
