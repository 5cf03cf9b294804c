"""Named training recipes: a model plus the hyper-parameters and data handling it trains with.

One recipe runs the same way from a chapter, the command line and the benchmark
script (:func:`run`), so their numbers are comparable.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import NamedTuple

import torch
from torch import nn

from cnnnotes._validate import boolean, number, positive_int, require, require_type
from cnnnotes.repro import seed_everything
from cnnnotes.training.augment import augmenter, mean_and_std, normalize
from cnnnotes.training.data import as_tensors, fashion_mnist
from cnnnotes.training.loop import History, TrainConfig, evaluate, fit
from cnnnotes.training.models import MODELS, build_model
from cnnnotes.training.split import split_data


@dataclass(frozen=True)
class Recipe:
    """Everything that defines a training run except the seed and the device.

    The model's name, the data handling (``normalize``; ``augment``: shifts and flips;
    ``erase``: the probability of random erasing per image) and the fields of
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
    erase: float = 0.0
    schedule: str = "constant"
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    channels_last: bool = False

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(
                f"unknown model {self.model!r}; choose one of {', '.join(sorted(MODELS))}"
            )
        self.train_config()  # checks the training fields
        boolean(self.normalize, "normalize")
        boolean(self.augment, "augment")
        augmenter(self.augment, self.erase)  # checks erase

    @classmethod
    def from_dict(cls, recorded: dict[str, object]) -> Recipe:
        """The recipe a record describes; a field the record lacks had its default then
        (it was added to the class later), an unknown field is an error.

        >>> Recipe.from_dict({"model": "notes", "lr": 0.01}) == Recipe(lr=0.01)
        True
        """
        require_type(isinstance(recorded, dict), f"recorded must be a dict, got {recorded!r}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(recorded) - known)
        require(not unknown, f"unknown recipe fields {unknown}; known: {', '.join(sorted(known))}")
        return cls(**recorded)

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
    # The notes' layers at half width with pooling before the second convolution: fast
    # to 91 %. Width, rate and batch were chosen on the validation split (3 seeds).
    "fast": Recipe(
        model="pool-first-small",
        epochs=3,
        lr=4e-3,
        batch_size=128,
        schedule="onecycle",
        channels_last=True,
    ),
    # A longer recipe for the command line (`--recipe best`): a deeper VGG-style net with
    # batch norm and dropout, augmentation, a one-cycle schedule and weight decay. Not a
    # study row: nothing in the book chooses it or reports it.
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


Pair = tuple[torch.Tensor, torch.Tensor]

N_VAL = 5000  # validation images, 500 per class, carved once out of the 60,000
SPLIT_SEED = 0  # the one validation split every run of the book uses


class Splits(NamedTuple):
    """Training (55,000), validation (5,000) and test (10,000) images with their labels."""

    train: Pair
    val: Pair
    test: Pair


def load_data(normalize: bool, root: str | None = None) -> Splits:
    """The three splits: :func:`~cnnnotes.training.split.split_data` of the training set.

    Normalised, if asked, with the mean and std of the 55,000 training images only.
    """
    return load_data_with_stats(normalize, root)[0]


def load_data_with_stats(normalize: bool, root: str | None = None) -> tuple[Splits, dict]:
    """:func:`load_data`'s result and the ``{"mean", "std"}`` it normalised with.

    Without ``normalize`` the statistics are ``{"mean": 0.0, "std": 1.0}`` (raw inputs), so a
    checkpoint always records the normalisation its model expects.
    """
    x, y = as_tensors(fashion_mnist(train=True, root=root))
    train, val = split_data(x, y, N_VAL, SPLIT_SEED)
    test = as_tensors(fashion_mnist(train=False, root=root))
    if not normalize:
        return Splits(train, val, test), {"mean": 0.0, "std": 1.0}
    mean, std = mean_and_std(train[0])
    return normalized(train, val, test), {"mean": mean, "std": std}


def normalized(train: Pair, *others: Pair) -> Splits:
    """Every split normalised with the *training* set's mean and std (labels unchanged).

    >>> x = torch.tensor([[0.0], [2.0]])
    >>> y = torch.tensor([0, 1])
    >>> (xn, _), (vn, _), (tn, _) = normalized((x, y), (x + 1, y), (x - 1, y))
    >>> xn.flatten().tolist(), vn.flatten().tolist(), tn.flatten().tolist()[0]
    ([-0.7071067690849304, 0.7071067690849304], [0.0, 1.4142135381698608], -1.4142135381698608)
    """
    require(len(others) == 2, f"normalized takes train, val and test, got {1 + len(others)} splits")
    mean, std = mean_and_std(train[0])
    return Splits(*((normalize(x, mean, std), y) for x, y in (train, *others)))


def run(
    recipe: Recipe,
    seed: int = 0,
    device: torch.device | str = "cpu",
    progress: bool = True,
    data: Splits | None = None,
    max_batches: int | None = None,
) -> tuple[nn.Module, History]:
    """Seed, build the recipe's model, train it; return the model and its history.

    Trains on ``data.train`` and validates on ``data.val``; ``data.test`` is not read
    (report it once, with :func:`test_report`, when the run is finished).
    ``data`` may pass ``load_data(recipe.normalize)``'s result to avoid reloading.
    ``max_batches`` ends each epoch early (a quick smoke run, never a recorded result).
    """
    config = replace(recipe.train_config(), max_batches=max_batches)
    splits = data if data is not None else load_data(recipe.normalize)
    require_type(isinstance(splits, Splits), f"data must be a Splits, got {type(data).__name__}")
    seed_everything(seed)
    model = build_model(recipe.model)
    augment = augmenter(recipe.augment, recipe.erase)
    history = fit(
        model,
        splits.train,
        splits.val,
        config,
        seed=seed,
        augment=augment,
        device=device,
        progress=progress,
    )
    return model, history


def binomial_se(accuracy: float, n: int) -> float:
    """Standard error of an accuracy measured on ``n`` independent images: √(p(1−p)/n).

    >>> round(100 * binomial_se(0.925, 10_000), 2)  # points, at 92.5 % on 10,000 images
    0.26
    """
    accuracy = number(accuracy, "accuracy", at_least=0)
    require(accuracy <= 1, f"accuracy must be a fraction in [0, 1], got {accuracy}")
    positive_int(n, "n")
    return math.sqrt(accuracy * (1 - accuracy) / n)


def report_on_test(
    model: nn.Module, test: Pair, device: torch.device | str = "cpu"
) -> dict[str, float]:
    """The finished model's test loss, accuracy and the accuracy's binomial standard error.

    Call it once per finished run, for the report; never to choose anything.
    """
    loss, acc = evaluate(model, *test, device=device)
    return {"test_loss": loss, "test_acc": acc, "test_se": binomial_se(acc, len(test[1]))}
