"""The book's FashionMNIST models, by name.

``notes`` is the network of the original course notes, layer for layer. The
others are the variants the improving chapter measures. Every model takes
``(N, 1, 28, 28)`` images and returns ``(N, 10)`` logits.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from cnnnotes._validate import boolean, number, positive_int
from cnnnotes.modern.architectures import lenet5, nin_gap, notes_gap, resnet_small, vgg_small
from cnnnotes.modern.blocks import DepthwiseSeparable
from cnnnotes.modern.init import kaiming_normal_


def _dropout(p: object) -> float:
    p = number(p, "dropout", at_least=0)
    if not p < 1:
        raise ValueError(f"dropout must be in [0, 1), got {p!r}")
    return p


class NotesCNN(nn.Module):
    """The original notes' CNN: conv 1→32, conv 32→64 (3×3, padding 1), max-pool 2, fc 12544→128→10.

    Attribute names match the notes (``conv1``, ``conv2``, ``pool``, ``fc1``, ``fc2``) so
    their state dicts line up. ``batch_norm`` and ``dropout`` add the two
    regularisers the improving chapter measures; both are off by default.

    >>> sum(p.numel() for p in NotesCNN().parameters())
    1625866
    """

    def __init__(self, batch_norm: bool = False, dropout: float = 0.0) -> None:
        super().__init__()
        boolean(batch_norm, "batch_norm")
        _dropout(dropout)
        self.relu = nn.ReLU()
        self.flatten = nn.Flatten()
        self.conv1 = nn.Conv2d(1, 32, kernel_size=3, stride=1, padding=1)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3, stride=1, padding=1)
        self.pool = nn.MaxPool2d(kernel_size=2, stride=2, padding=0)
        self.fc1 = nn.Linear(14 * 14 * 64, 128)
        self.fc2 = nn.Linear(128, 10)
        # The optional layers exist only when asked for, so the plain model has
        # exactly the notes' modules.
        self.bn1 = nn.BatchNorm2d(32) if batch_norm else None
        self.bn2 = nn.BatchNorm2d(64) if batch_norm else None
        self.drop = nn.Dropout(dropout) if dropout else None

    def forward(self, x):  # x: (N, 1, 28, 28)
        x = self.conv1(x)  # (N, 32, 28, 28)
        if self.bn1 is not None:
            x = self.bn1(x)
        x = self.relu(x)
        x = self.conv2(x)  # (N, 64, 28, 28)
        if self.bn2 is not None:
            x = self.bn2(x)
        x = self.relu(x)
        x = self.pool(x)  # (N, 64, 14, 14)
        x = self.flatten(x)  # (N, 12544)
        x = self.relu(self.fc1(x))  # (N, 128)
        if self.drop is not None:
            x = self.drop(x)
        return self.fc2(x)  # (N, 10)


def notes_kaiming() -> NotesCNN:
    """The notes' CNN with He (Kaiming) initialisation of the layers that feed a ReLU.

    ``conv1``, ``conv2`` and ``fc1`` are redrawn from ``N(0, 2/fan_in)`` with
    :func:`~cnnnotes.modern.init.kaiming_normal_` (from the global generator, after the
    default draws) and their biases set to 0; ``fc2``, which feeds the softmax, keeps
    PyTorch's default. Only the initial weights differ from :class:`NotesCNN`.
    """
    model = NotesCNN()
    for layer in (model.conv1, model.conv2, model.fc1):
        kaiming_normal_(layer.weight)
        nn.init.zeros_(layer.bias)
    return model


def notes_separable() -> NotesCNN:
    """The notes' CNN with ``conv2`` factorised: a depthwise 3×3 then a pointwise 1×1 conv.

    No ReLU or batch norm between the two (:class:`~cnnnotes.modern.blocks.DepthwiseSeparable`
    with ``norm=False``): one linear map, as ``conv2`` is, with 2,432 parameters instead of
    18,496. Every other layer gets the same initial weights as :class:`NotesCNN` under the
    same seed (they are drawn first; the factorised layer is drawn last).

    >>> sum(p.numel() for p in notes_separable().conv2.parameters())
    2432
    """
    model = NotesCNN()
    model.conv2 = DepthwiseSeparable(32, 64, norm=False)
    return model


def pool_first_cnn(first: int = 32, second: int = 64) -> nn.Sequential:
    """The notes' layers with the pooling moved before the expensive second convolution.

    conv2 then runs on 14×14 instead of 28×28 (a quarter of its multiply-adds), and a
    second pooling halves the input of fc1 to ``second``·7·7 (64·7·7 = 3136). ``first`` and
    ``second`` are the two convolutions' widths (the notes': 32 and 64).
    """
    positive_int(first, "first")
    positive_int(second, "second")
    return nn.Sequential(
        nn.Conv2d(1, first, 3, padding=1),
        nn.BatchNorm2d(first),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(first, second, 3, padding=1),
        nn.BatchNorm2d(second),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(second * 7 * 7, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
    )


def _block(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]


def wide_cnn(width: int = 32, dropout: float = 0.25) -> nn.Sequential:
    """A deeper VGG-style net: two stages of two 3×3 convolutions with batch norm, then a
    dense head.

    28×28 → (conv w)·2 → pool → 14×14 → (conv 2w)·2 → pool → 7×7 → flatten → fc 256 →
    dropout → fc 10. With ``width=32`` it has 19 M multiply-adds per image (the notes'
    net: 16 M) but half the parameters, because fc1 sees 2w·7·7 = 3136 values, not 12544.

    >>> sum(p.numel() for p in wide_cnn().parameters())
    870826
    """
    positive_int(width, "width")
    _dropout(dropout)
    w = width
    return nn.Sequential(
        *_block(1, w),
        *_block(w, w),
        nn.MaxPool2d(2),
        *_block(w, 2 * w),
        *_block(2 * w, 2 * w),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(2 * w * 7 * 7, 256),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(256, 10),
    )


MODELS: dict[str, Callable[[], nn.Module]] = {
    "notes": NotesCNN,
    "notes-bn": lambda: NotesCNN(batch_norm=True),
    "notes-dropout": lambda: NotesCNN(dropout=0.5),
    "pool-first": pool_first_cnn,
    "pool-first-small": lambda: pool_first_cnn(16, 32),
    "wide": wide_cnn,
    # the modern chapter's one-change variants and its four architectures
    "notes-gap": notes_gap,
    "notes-kaiming": notes_kaiming,
    "notes-separable": notes_separable,
    "lenet5": lenet5,
    "vgg-small": vgg_small,
    "nin-gap": nin_gap,
    "resnet-small": resnet_small,
    "plain-small": lambda: resnet_small(residual=False),
    # 26 weight layers at half width (8, 16, 32 channels): deep, and cheap enough to run
    "resnet-deep": lambda: resnet_small(width=0.5, blocks=4),
    "plain-deep": lambda: resnet_small(width=0.5, blocks=4, residual=False),
}
"""Model factories by the name the command line and the chapters use."""


def build_model(name: str) -> nn.Module:
    """A freshly initialised model by name (seed the generator first for reproducibility).

    >>> type(build_model("notes")).__name__
    'NotesCNN'
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(sorted(MODELS))}")
    return MODELS[name]()
