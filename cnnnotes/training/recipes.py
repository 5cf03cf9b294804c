"""Named training recipes: a model plus the hyper-parameters and data handling it trains with.

One recipe runs the same way from a chapter, the command line and the benchmark
script (:func:`run`), so their numbers are comparable.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

import torch
from torch import nn

from cnnnotes._validate import boolean
from cnnnotes.repro import seed_everything
from cnnnotes.training.augment import mean_and_std, normalize, shift_and_flip
from cnnnotes.training.data import as_tensors, fashion_mnist
from cnnnotes.training.loop import History, TrainConfig, fit
from cnnnotes.training.models import MODELS, build_model


@dataclass(frozen=True)
class Recipe:
    """Everything that defines a training run except the seed and the device.

    The model's name, the data handling (``normalize``, ``augment``) and the fields of
    the :class:`~cnnnotes.training.loop.TrainConfig` it trains with (all but ``max_batches``),
    which check them.
    """

    model: str = "notes"
    epochs: int = 5
    lr: float = 1e-3
    batch_size: int = 64
    shuffle: bool = True
    normalize: bool = True
    augment: bool = False
    schedule: str = "constant"
    weight_decay: float = 0.0
    channels_last: bool = False

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(
                f"unknown model {self.model!r}; choose one of {', '.join(sorted(MODELS))}"
            )
        self.train_config()  # checks the training fields
        boolean(self.normalize, "normalize")
        boolean(self.augment, "augment")

    def train_config(self) -> TrainConfig:
        """The training fields as :func:`~cnnnotes.training.loop.fit` takes them.

        >>> Recipe(epochs=2).train_config().epochs
        2
        """
        names = [f.name for f in fields(TrainConfig) if f.name != "max_batches"]
        return TrainConfig(**{name: getattr(self, name) for name in names})

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def with_(self, **changes: object) -> Recipe:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)


RECIPES: dict[str, Recipe] = {
    # The notes exactly: no shuffling, raw [0, 1] inputs.
    "notes-original": Recipe(shuffle=False, normalize=False),
    # The same network and hyper-parameters with the corrections of the training chapter.
    "notes-corrected": Recipe(),
    # The notes' layers with pooling before the expensive convolution: fast to 91 %.
    "fast": Recipe(
        model="pool-first",
        epochs=3,
        lr=2e-3,
        batch_size=128,
        schedule="onecycle",
        channels_last=True,
    ),
    # The improving chapter's best: a deeper VGG-style net with batch norm and dropout,
    # augmentation, a one-cycle schedule and weight decay.
    "best": Recipe(
        model="wide",
        epochs=20,
        lr=3e-3,
        batch_size=128,
        augment=True,
        schedule="onecycle",
        weight_decay=5e-4,
        channels_last=True,
    ),
}


def load_data(
    normalize: bool, root: str | None = None
) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """Train and test tensors, normalised with the training set's statistics if asked."""
    return load_data_with_stats(normalize, root)[0]


def load_data_with_stats(
    normalize: bool, root: str | None = None
) -> tuple[tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]], dict]:
    """:func:`load_data`'s result and the ``{"mean", "std"}`` it normalised with.

    Without ``normalize`` the statistics are ``{"mean": 0.0, "std": 1.0}`` (raw inputs), so a
    checkpoint always records the normalisation its model expects.
    """
    train = as_tensors(fashion_mnist(train=True, root=root))
    test = as_tensors(fashion_mnist(train=False, root=root))
    if not normalize:
        return (train, test), {"mean": 0.0, "std": 1.0}
    mean, std = mean_and_std(train[0])
    return normalized(train, test), {"mean": mean, "std": std}


def normalized(
    train: tuple[torch.Tensor, torch.Tensor], test: tuple[torch.Tensor, torch.Tensor]
) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """Both splits normalised with the *training* set's mean and std (labels unchanged).

    >>> x = torch.tensor([[0.0], [2.0]])
    >>> (xn, _), (tn, _) = normalized((x, torch.tensor([0, 1])), (x + 1, torch.tensor([1, 0])))
    >>> xn.flatten().tolist(), tn.flatten().tolist()
    ([-0.7071067690849304, 0.7071067690849304], [0.0, 1.4142135381698608])
    """
    mean, std = mean_and_std(train[0])
    return (normalize(train[0], mean, std), train[1]), (normalize(test[0], mean, std), test[1])


def run(
    recipe: Recipe,
    seed: int = 0,
    device: torch.device | str = "cpu",
    progress: bool = True,
    data: tuple | None = None,
    max_batches: int | None = None,
) -> tuple[nn.Module, History]:
    """Seed, build the recipe's model, train it; return the model and its history.

    ``data`` may pass ``load_data(recipe.normalize)``'s result to avoid reloading.
    ``max_batches`` ends each epoch early (a quick smoke run, never a recorded result).
    """
    config = replace(recipe.train_config(), max_batches=max_batches)
    train, test = data if data is not None else load_data(recipe.normalize)
    seed_everything(seed)
    model = build_model(recipe.model)
    augment = shift_and_flip if recipe.augment else None
    history = fit(
        model, train, test, config, seed=seed, augment=augment, device=device, progress=progress
    )
    return model, history
