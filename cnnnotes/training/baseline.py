"""The original notes' training loop, as they wrote it, for side-by-side comparisons.

A ``DataLoader`` over ``ToTensor`` images (batch 64, never shuffled), Adam 1e-3,
cross-entropy, and after each epoch the test loss averaged over batches and the
accuracy. :func:`cnnnotes.training.loop.fit` with ``TrainConfig(shuffle=False)`` and raw
inputs feeds the model exactly the same batches, only faster.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from torch.utils.data import DataLoader
from torchvision import transforms
from tqdm import tqdm

from cnnnotes._validate import boolean, nonnegative_int, positive_int
from cnnnotes.repro import seed_everything
from cnnnotes.training.data import fashion_mnist
from cnnnotes.training.models import NotesCNN


@dataclass
class NotesHistory:
    """What the notes' loop measured per epoch: train metrics, then the *test* set's.

    The notes looked at the test set after every epoch; this record keeps that as a
    piece of history (the benchmark times it). The book's own loop,
    :func:`cnnnotes.training.loop.fit`, looks at a validation set instead.
    """

    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[float]]:
        return asdict(self)


def notes_loop(
    epochs: int = 5,
    seed: int = 0,
    root: str | None = None,
    progress: bool = True,
    max_batches: int | None = None,
) -> tuple[nn.Module, NotesHistory]:
    """Train :class:`~cnnnotes.training.models.NotesCNN` exactly as the notes did.

    ``max_batches`` stops each epoch early (for quick equivalence checks). The
    history's train columns hold the loss and accuracy seen during training.
    """
    positive_int(epochs, "epochs")
    nonnegative_int(seed, "seed")
    boolean(progress, "progress")
    if max_batches is not None:
        positive_int(max_batches, "max_batches")
    training_data = fashion_mnist(train=True, root=root, transform=transforms.ToTensor())
    test_data = fashion_mnist(train=False, root=root, transform=transforms.ToTensor())
    train_dataloader = DataLoader(training_data, batch_size=64)
    test_dataloader = DataLoader(test_data, batch_size=64)
    seed_everything(seed)
    model = NotesCNN()
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    history = NotesHistory()
    for epoch in range(epochs):
        start, cpu_start = time.perf_counter(), time.process_time()
        model.train()
        total = 0.0  # summed loss
        correct = 0
        seen = 0
        # progress=False hides the bar; with progress=True, the TQDM_DISABLE variable decides
        # (an explicit disable=False would override it)
        bar = tqdm(
            train_dataloader,
            desc=f"notes loop {epoch + 1}/{epochs}",
            leave=False,
            **({} if progress else {"disable": True}),
        )
        for i, (X, y) in enumerate(bar):
            if max_batches is not None and i >= max_batches:
                break
            pred = model(X)
            loss = loss_fn(pred, y)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            total += loss.item() * len(y)
            correct += int((pred.argmax(1) == y).sum())
            seen += len(y)
        history.seconds.append(time.perf_counter() - start)
        history.cpu_seconds.append(time.process_time() - cpu_start)
        model.eval()
        test_loss, hits = 0.0, 0
        with torch.no_grad():
            for X, y in test_dataloader:
                pred = model(X)
                test_loss += loss_fn(pred, y).item()
                hits += int((pred.argmax(1) == y).sum())
        history.train_loss.append(total / seen)
        history.train_acc.append(correct / seen)
        history.test_loss.append(test_loss / len(test_dataloader))
        history.test_acc.append(hits / len(test_data))
    return model, history
