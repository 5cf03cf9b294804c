"""Self-check for a hand-written training loop, against ``training.loop.train_epoch``."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnnotes.check.core import as_number
from cnnnotes.report import approx, verdict
from cnnnotes.training.loop import train_epoch

BATCH_SIZES = (5, 5, 5, 5, 3)
"""The check's epoch: five batches, the last one smaller (as at the end of a data set)."""


def _setup(seed: int) -> tuple[nn.Module, list[tuple[Tensor, Tensor]], torch.optim.Optimizer]:
    """A tiny model (4×4 images, 3 classes), its batches and an SGD optimiser, from ``seed``."""
    g = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 6), nn.ReLU(), nn.Linear(6, 3))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=g))
    batches = [
        (torch.randn(n, 1, 4, 4, generator=g), torch.randint(0, 3, (n,), generator=g))
        for n in BATCH_SIZES
    ]
    return model, batches, torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)


def _weights(model: nn.Module) -> Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def _run(loop: Callable, seed: int) -> tuple[object, Tensor]:
    """``loop(model, batches, optimizer)`` on a fresh set-up: its result and the weights after."""
    model, batches, optimizer = _setup(seed)
    result = loop(model, batches, optimizer)
    return result, _weights(model)


def _without_zero_grad(model: nn.Module, batches: list, optimizer: torch.optim.Optimizer) -> None:
    """The classic mistake: gradients of earlier batches pile up in ``.grad``."""
    for xb, yb in batches:
        F.cross_entropy(model(xb), yb).backward()
        optimizer.step()


def _batch_losses(model: nn.Module, batches: list, optimizer: torch.optim.Optimizer) -> list:
    """The correct loop, returning each batch's mean loss (to recognise wrong averages)."""
    losses = []
    for xb, yb in batches:
        loss = F.cross_entropy(model(xb), yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def check_train_loop(fn: Callable, *, seed: int = 0) -> str:
    """Check ``fn(model, batches, optimizer)`` → the epoch's mean loss per example.

    ``fn`` runs one epoch of training: for every batch ``(x, y)`` forward, mean
    cross-entropy, ``optimizer.zero_grad()``, ``loss.backward()``, ``optimizer.step()``,
    and returns the average loss over all examples (a batch of 5 counts 5 times).
    The weights it leaves and the number it returns are compared with
    :func:`cnnnotes.training.loop.train_epoch` on a tiny model; batches have 5, 5, 5, 5, 3 examples.

    >>> check_train_loop(lambda model, batches, opt: train_epoch(model, batches, opt)[0])
    'Correct: the weights after the epoch and the mean loss (2.00) match.'
    >>> msg = check_train_loop(_without_zero_grad)
    >>> msg[:49], "It looks like you forgot optimizer.zero_grad()" in msg
    ('Not yet: the weights after the epoch differ from ', True)
    """
    want, w_want = _run(lambda m, b, o: train_epoch(m, b, o)[0], seed)
    try:
        got, w_got = _run(fn, seed)
    except Exception as e:  # the learner's code may raise anything
        return f"Your function raised {type(e).__name__}: {e}."
    weights = verdict(w_got, w_want)
    if weights.startswith("DIFFERENT"):
        msg = f"Not yet: the weights after the epoch differ from train_epoch's ({weights})."
        if not verdict(_run(_without_zero_grad, seed)[1], w_got).startswith("DIFFERENT"):
            return (
                f"{msg} It looks like you forgot optimizer.zero_grad(): without it the "
                "gradients of earlier batches add up in .grad."
            )
        if torch.equal(w_got, _weights(_setup(seed)[0])):
            return f"{msg} They did not change at all: call optimizer.step() after loss.backward()."
        return msg
    got = as_number(got)
    if not isinstance(got, (int, float)) or isinstance(got, bool):
        return f"Not yet: return the mean loss as one number, not {type(got).__name__}."
    loss = verdict(torch.tensor(float(got)), torch.tensor(want))
    if loss.startswith("DIFFERENT"):
        msg = f"Not yet: the weights are right, but you returned {got:.4g}, train_epoch {want:.4g}."
        per_batch = _run(_batch_losses, seed)[0]
        sizes = torch.tensor(BATCH_SIZES, dtype=torch.float64)
        total = float((torch.tensor(per_batch, dtype=torch.float64) * sizes).sum())
        mean_of_means = sum(per_batch) / len(per_batch)
        mistakes = {
            "averaged the batch means; weight each batch by its size (the last is smaller)": (
                mean_of_means
            ),
            "forgot to divide the summed loss by the number of examples": total,
            "returned the loss of the last batch only": per_batch[-1],
        }
        for mistake, value in mistakes.items():
            if not verdict(torch.tensor(float(got)), torch.tensor(value)).startswith("DIFF"):
                return f"{msg} It looks like you {mistake}."
        return msg
    return f"Correct: the weights after the epoch and the mean loss ({approx(want)}) match."
