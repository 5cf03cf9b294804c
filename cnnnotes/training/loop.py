"""Training and evaluation: seeded, reproducible, CPU by default and CUDA when present.

The data are held as whole tensors (see :func:`cnnnotes.training.data.as_tensors`) and cut
into batches by index, which gives the same batches as a ``DataLoader`` over
``ToTensor`` images at a fraction of the cost.

Reproducibility: everything random in :func:`fit` comes from its ``seed``, through
:func:`cnnnotes.repro.seeded_run` (which says what is and is not
reproducible on CUDA); the model's initialisation is the caller's.

The command line (``cnnnotes train``, :mod:`cnnnotes.training.cli`) imports this module;
this module never imports the command line.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from itertools import islice

import torch
from torch import nn
from tqdm import tqdm

from cnnnotes._validate import boolean, choice, integer, labelled, number, positive_int
from cnnnotes.repro import seeded_run
from cnnnotes.training.schedule import SCHEDULES, scheduler_step

Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


@dataclass
class History:
    """Per-epoch metrics of one training run (losses are means over examples).

    ``train_*`` are measured during the epoch's training pass (the model changing as it
    goes), ``val_*`` on the validation set after it. A history never holds test metrics:
    the test set is evaluated once per finished run, for the report
    (:func:`cnnnotes.training.recipes.report_on_test`).
    ``seconds[e]`` (wall clock) and ``cpu_seconds[e]`` (process CPU time) time epoch
    ``e``'s training loop alone, evaluation excluded; per epoch, not cumulative.
    """

    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[float]]:
        return asdict(self)


def batches(
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    generator: torch.Generator | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Consecutive batches of ``(x, y)``; shuffled by ``generator`` when one is given.

    >>> [tuple(b.tolist()) for b, _ in batches(torch.arange(5), torch.arange(5), 2)]
    [(0, 1), (2, 3), (4,)]
    """
    positive_int(batch_size, "batch_size")
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} items but y has {len(y)}")
    order = torch.randperm(len(x), generator=generator) if generator is not None else None
    for start in range(0, len(x), batch_size):
        if order is None:
            yield x[start : start + batch_size], y[start : start + batch_size]
        else:
            idx = order[start : start + batch_size]
            yield x[idx], y[idx]


@torch.no_grad()
def evaluate(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int = 1000,
    device: torch.device | str = "cpu",
) -> tuple[float, float]:
    """Mean cross-entropy loss and accuracy (0..1) of ``model`` in eval mode, without gradients."""
    positive_int(batch_size, "batch_size")
    if len(x) == 0:
        raise ValueError("x is empty: evaluate needs at least one example")
    was_training = model.training
    model.eval()
    total_loss, correct = 0.0, 0
    try:
        for xb, yb in batches(x, y, batch_size):
            xb, yb = xb.to(device), yb.to(device)
            logits = model(xb)
            total_loss += nn.functional.cross_entropy(logits, yb, reduction="sum").item()
            correct += int((logits.argmax(1) == yb).sum())
    finally:
        model.train(was_training)
    return total_loss / len(x), correct / len(x)


@torch.no_grad()
def predict(
    model: nn.Module, x: torch.Tensor, batch_size: int = 1000, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """Softmax probabilities ``(N, classes)`` on the CPU, model in eval mode."""
    positive_int(batch_size, "batch_size")
    was_training = model.training
    model.eval()
    try:
        out = [model(xb.to(device)).softmax(1).cpu() for xb, _ in batches(x, x, batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(out)


def train_epoch(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    optimizer: torch.optim.Optimizer,
    *,
    after_step: Callable[[], object] | None = None,
    label_smoothing: float = 0.0,
) -> tuple[float, float]:
    """One pass of the training loop over ``batches``; mean loss per example and accuracy.

    The loop every chapter means by "training": forward, cross-entropy loss,
    ``zero_grad``, ``backward``, ``step`` (then ``after_step``, e.g. a scheduler's
    step), with the model in training mode.

    >>> _ = torch.manual_seed(0)
    >>> net = nn.Linear(2, 2)
    >>> opt = torch.optim.SGD(net.parameters(), lr=0.1)
    >>> data = [(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 1]))] * 50
    >>> first, _ = train_epoch(net, data[:1], opt)
    >>> later, _ = train_epoch(net, data, opt)
    >>> later < first
    True
    """
    model.train()
    total = 0.0  # summed loss
    correct = 0
    seen = 0
    for xb, yb in batches:
        logits = model(xb)
        loss = nn.functional.cross_entropy(logits, yb, label_smoothing=label_smoothing)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if after_step is not None:
            after_step()
        total += loss.item() * len(yb)
        correct += int((logits.argmax(1) == yb).sum())
        seen += len(yb)
    if seen == 0:
        raise ValueError("batches was empty: train_epoch needs at least one batch")
    return total / seen, correct / seen


@dataclass(frozen=True)
class TrainConfig:
    """How :func:`fit` trains; checked once, when made.

    Adam at ``lr`` (AdamW, decoupled decay, when ``weight_decay`` > 0), ``epochs`` passes
    over batches of ``batch_size``, reshuffled every epoch if ``shuffle``, cross-entropy
    with ``label_smoothing``, and a learning-rate ``schedule`` stepped per batch over the
    batches actually run: ``"constant"``; ``"onecycle"`` (warm up to ``lr`` over the first
    30 %, then anneal, Adam's β₁ left alone); ``"onecycle-momentum"`` (the same, with
    PyTorch's default ``cycle_momentum=True``, which also cycles β₁ between 0.85 and 0.95);
    ``"cosine"`` (from ``lr`` down to 0 along half a cosine).
    ``max_batches`` ends each epoch early (for quick comparisons); ``channels_last`` stores
    the model and batches in NHWC order, which CPU convolutions run faster on.

    >>> TrainConfig(batch_size=0)
    Traceback (most recent call last):
    ...
    ValueError: batch_size must be an int >= 1, got 0
    """

    epochs: int = 5
    lr: float = 1e-3
    batch_size: int = 64
    shuffle: bool = True
    weight_decay: float = 0.0
    schedule: str = "constant"
    label_smoothing: float = 0.0
    max_batches: int | None = None
    channels_last: bool = False

    def __post_init__(self) -> None:
        positive_int(self.epochs, "epochs")
        number(self.lr, "lr", above=0)
        positive_int(self.batch_size, "batch_size")
        boolean(self.shuffle, "shuffle")
        number(self.weight_decay, "weight_decay", at_least=0)
        choice(self.schedule, "schedule", SCHEDULES)
        number(self.label_smoothing, "label_smoothing", at_least=0, below=1)
        if self.max_batches is not None:
            positive_int(self.max_batches, "max_batches")
        boolean(self.channels_last, "channels_last")


def _prepared(
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    n: int,
    augment: Augment | None,
    generator: torch.Generator,
    device: torch.device,
    layout: torch.memory_format,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The first ``n`` of ``batches``, augmented (drawing from ``generator``), on ``device``."""
    for xb, yb in islice(batches, n):
        if augment is not None:
            xb = augment(xb, generator)
        yield xb.to(device, memory_format=layout), yb.to(device)


def fit(
    model: nn.Module,
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor],
    config: TrainConfig = TrainConfig(),
    *,
    seed: int = 0,
    augment: Augment | None = None,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> History:
    """Train ``model`` with cross-entropy as ``config`` says; return the per-epoch history.

    After every epoch the model is evaluated on ``val``, the validation set (see
    :mod:`cnnnotes.training.split`): ``fit`` never sees the test set, so nothing it
    returns can steer a choice towards it.

    The same ``seed`` gives the same shuffles, augmentations (``augment(x, generator)``)
    and dropout masks; seed the model's initialisation yourself before building it.
    Every argument is checked before any work (``config`` was checked when made).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    x_train, _ = labelled(train, "train")
    labelled(val, "val")
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    integer(seed, "seed", 0, 2**63 - 1)
    if augment is not None and not callable(augment):
        raise TypeError(f"augment must be None or a function (x, generator) -> x, got {augment!r}")
    boolean(progress, "progress")
    device = torch.device(device)
    n_batches = -(-len(x_train) // config.batch_size)
    if config.max_batches is not None:
        n_batches = min(n_batches, config.max_batches)  # the batches each epoch actually runs
    layout = torch.channels_last if config.channels_last else torch.contiguous_format
    model.to(device=device, memory_format=layout)
    adam = torch.optim.AdamW if config.weight_decay > 0 else torch.optim.Adam
    optimizer = adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    total = config.epochs * n_batches
    step = scheduler_step(optimizer, config.schedule, config.lr, total)  # per batch
    history = History()
    # progress=False hides the bar; with progress=True, the TQDM_DISABLE variable decides
    bar_options = {"total": n_batches, "leave": False} | ({} if progress else {"disable": True})
    with seeded_run(seed, device) as generator:
        for epoch in range(config.epochs):
            start, cpu_start = time.perf_counter(), time.process_time()
            order = generator if config.shuffle else None
            desc = f"epoch {epoch + 1}/{config.epochs}"
            bar = tqdm(batches(*train, config.batch_size, order), desc=desc, **bar_options)
            epoch_batches = _prepared(bar, n_batches, augment, generator, device, layout)
            train_loss, train_acc = train_epoch(
                model,
                epoch_batches,
                optimizer,
                after_step=step,
                label_smoothing=config.label_smoothing,
            )
            history.seconds.append(time.perf_counter() - start)
            history.cpu_seconds.append(time.process_time() - cpu_start)
            val_loss, val_acc = evaluate(model, *val, device=device)
            history.train_loss.append(train_loss)
            history.train_acc.append(train_acc)
            history.val_loss.append(val_loss)
            history.val_acc.append(val_acc)
    return history
