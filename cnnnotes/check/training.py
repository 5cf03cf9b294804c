"""Self-checks for a hand-written training loop and gradient accumulation, against
``training.loop.train_epoch`` on a fixed grid of tiny models, batches and optimisers.

Each grid (``TRAIN_LOOP_CASES``, ``ACCUMULATE_CASES``) is a tuple of cases keyed by
the argument names of the exercise's function, so a test can see that every
argument the exercise mentions takes several values. A check names a classic
mistake by running a planted wrong version on the failing case and comparing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnnotes._validate import function
from cnnnotes._validate import seed as a_seed
from cnnnotes.check.core import as_number
from cnnnotes.report import verdict
from cnnnotes.training.loop import train_epoch

Loop = Callable[[nn.Module, list, torch.optim.Optimizer], object]
"""A learner's function ``fn(model, batches, optimizer)``."""

MODELS: Mapping[str, Callable[[], nn.Module]] = {
    "a linear model": lambda: nn.Sequential(nn.Flatten(), nn.Linear(16, 3)),
    "an MLP": lambda: nn.Sequential(nn.Flatten(), nn.Linear(16, 6), nn.ReLU(), nn.Linear(6, 3)),
    "an MLP with batch norm": lambda: nn.Sequential(
        nn.Flatten(), nn.Linear(16, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 3)
    ),
    "an MLP with dropout": lambda: nn.Sequential(
        nn.Flatten(), nn.Linear(16, 6), nn.ReLU(), nn.Dropout(0.5), nn.Linear(6, 3)
    ),
}
"""The checks' tiny models (4×4 one-channel images, 3 classes), by the name a message uses."""

SGD_MOMENTUM = "SGD(lr=0.1, momentum=0.9)"
OPTIMIZERS: Mapping[str, Callable[[list], torch.optim.Optimizer]] = {
    "SGD(lr=0.1)": lambda params: torch.optim.SGD(params, lr=0.1),
    SGD_MOMENTUM: lambda params: torch.optim.SGD(params, lr=0.1, momentum=0.9),
    "Adam(lr=0.01)": lambda params: torch.optim.Adam(params, lr=0.01),
}

TRAIN_LOOP_CASES: tuple[dict, ...] = (
    {"model": "an MLP with batch norm", "batches": (5, 5, 5, 5, 3), "optimizer": SGD_MOMENTUM},
    {"model": "an MLP with dropout", "batches": (4, 4, 2), "optimizer": "Adam(lr=0.01)"},
    {"model": "an MLP", "batches": (2, 6, 1), "optimizer": "SGD(lr=0.1)"},
)
"""Cases of :func:`check_train_loop`: the model, the batch sizes of the epoch, the optimiser."""


def _model(case: Mapping, seed: int) -> tuple[nn.Module, torch.optim.Optimizer]:
    """The case's model (float64, random weights, in eval mode) and its optimiser."""
    g = torch.Generator().manual_seed(seed)
    model = MODELS[case["model"]]().double()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=g, dtype=torch.float64))
    model.eval()  # as after evaluating the previous epoch: the loop must switch training on
    return model, OPTIMIZERS[case["optimizer"]](list(model.parameters()))


def _batches(sizes: tuple[int, ...], seed: int) -> list[tuple[Tensor, Tensor]]:
    """Random 4×4 images and labels of 3 classes, one batch per size."""
    g = torch.Generator().manual_seed(seed)
    return [
        (
            torch.randn(n, 1, 4, 4, generator=g, dtype=torch.float64),
            torch.randint(0, 3, (n,), generator=g),
        )
        for n in sizes
    ]


def _weights(model: nn.Module) -> Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def _run(fn: Callable, case: Mapping, sizes: tuple[int, ...], seed: int, calls: int = 1) -> tuple:
    """``fn(model, batches, optimizer)`` ``calls`` times (new batches each time) on a fresh
    model, with the global RNG (dropout's) seeded and restored: the last result, the weights."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model, optimizer = _model(case, seed)
        result = None
        for call in range(calls):
            result = fn(model, _batches(sizes, seed + 1 + call), optimizer)
        return result, _weights(model)


def _differs(a: object, b: object) -> bool:
    return verdict(a, b).startswith("DIFFERENT")


def _named(got: Tensor, mistakes: Mapping[str, Tensor]) -> str:
    """`` It looks like you <mistake>.`` for the first planted mistake that gives ``got``."""
    for mistake, theirs in mistakes.items():
        if not _differs(got, theirs):
            return f" It looks like you {mistake}."
    return ""


def _loop(*, train: bool = True, zero_grad: bool = True) -> Loop:
    """The training loop, or one of its classic wrong versions; returns each batch's loss."""

    def loop(model: nn.Module, batches: list, optimizer: torch.optim.Optimizer) -> list:
        if train:
            model.train()
        losses = []
        for xb, yb in batches:
            loss = F.cross_entropy(model(xb), yb)
            if zero_grad:
                optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        return losses

    return loop


LOOP_MISTAKES: Mapping[str, Loop] = {
    "forgot optimizer.zero_grad(): without it the gradients of earlier batches add up in .grad":
        _loop(zero_grad=False),
    "trained in evaluation mode: call model.train() at the start of the epoch (the model may "
    "arrive in eval mode), because dropout and batch norm behave differently in the two modes":
        _loop(train=False),
}  # fmt: skip
"""Classic wrong loops that leave other weights than ``train_epoch``, by their message."""

LOSS_MISTAKES: Mapping[str, Callable[[Tensor, Tensor], Tensor]] = {
    "averaged the batch means; weight each batch by its size (the last is smaller)":
        lambda losses, sizes: losses.mean(),
    "forgot to divide the summed loss by the number of examples":
        lambda losses, sizes: (losses * sizes).sum(),
    "returned the loss of the last batch only": lambda losses, sizes: losses[-1],
}  # fmt: skip
"""Classic wrong ways to average an epoch's loss, from the batch means and the batch sizes."""


def _loop_case_text(case: Mapping) -> str:
    sizes = ", ".join(map(str, case["batches"]))
    return f"for {case['model']}, batches of {sizes} and {case['optimizer']}"


def check_train_loop(fn: Callable, *, seed: int = 0) -> str:
    """Check ``fn(model, batches, optimizer)`` → the epoch's mean loss per example.

    ``fn`` runs one epoch of training: the model in training mode, then for every
    batch ``(x, y)`` forward, mean cross-entropy, ``optimizer.zero_grad()``,
    ``loss.backward()``, ``optimizer.step()``; it returns the average loss over all
    examples (a batch of 5 counts 5 times). For each case of ``TRAIN_LOOP_CASES`` the
    weights it leaves and the number it returns are compared with
    :func:`cnnnotes.training.loop.train_epoch`. The model arrives in evaluation mode,
    as after the previous epoch's evaluation.

    >>> check_train_loop(lambda model, batches, opt: train_epoch(model, batches, opt)[0])
    'Correct: the weights after the epoch and the mean loss match train_epoch in all 3 cases.'
    >>> msg = check_train_loop(_loop(zero_grad=False))
    >>> msg[:34], "It looks like you forgot optimizer.zero_grad()" in msg
    ('Not yet: for an MLP with batch nor', True)
    """
    function(fn, "fn", "your function fn(model, batches, optimizer)")
    a_seed(seed)
    for case in TRAIN_LOOP_CASES:
        message = _check_loop_case(fn, case, seed)
        if message:
            return message
    n = len(TRAIN_LOOP_CASES)
    what = "the weights after the epoch and the mean loss match train_epoch"
    return f"Correct: {what} in all {n} cases."


def _check_loop_case(fn: Callable, case: Mapping, seed: int) -> str | None:
    """None if ``fn`` agrees with ``train_epoch`` on ``case``, else what differs and why."""
    sizes, where = case["batches"], _loop_case_text(case)
    want, w_want = _run(lambda m, b, o: train_epoch(m, b, o)[0], case, sizes, seed)
    try:
        got, w_got = _run(fn, case, sizes, seed)
    except Exception as e:  # the learner's code may raise anything
        return f"Your function raised {type(e).__name__}: {e} ({where})."
    if _differs(w_got, w_want):
        msg = f"Not yet: {where}, the weights after the epoch differ from train_epoch's"
        msg = f"{msg} ({verdict(w_got, w_want)})."
        if not _differs(w_got, _run(lambda m, b, o: None, case, sizes, seed)[1]):
            return (
                f"{msg} They did not change at all, so no gradient reached step(): did "
                "zero_grad() run between backward() and step(), or was step() not called?"
            )
        wrong = {k: _run(f, case, sizes, seed)[1] for k, f in LOOP_MISTAKES.items()}
        return msg + _named(w_got, wrong)
    got = as_number(got)
    if not isinstance(got, (int, float)) or isinstance(got, bool):
        return f"Not yet: return the mean loss as one number, not {type(got).__name__}."
    if not _differs(torch.tensor(float(got)), torch.tensor(want)):
        return None
    msg = f"Not yet: {where}, the weights are right, but you returned {got:.4g}"
    msg = f"{msg}, train_epoch {want:.4g}."
    per_batch = torch.tensor(_run(_loop(), case, sizes, seed)[0], dtype=torch.float64)
    counts = torch.tensor(sizes, dtype=torch.float64)
    wrong = {k: f(per_batch, counts) for k, f in LOSS_MISTAKES.items()}
    return msg + _named(torch.tensor(float(got), dtype=torch.float64), wrong)


# ---------------------------------------------------------------- gradient accumulation

ACCUMULATE_CASES: tuple[dict, ...] = (
    {"model": "an MLP", "micro_batches": (5, 2, 1), "optimizer": "SGD(lr=0.1)"},
    {"model": "a linear model", "micro_batches": (3, 3), "optimizer": SGD_MOMENTUM},
    {"model": "an MLP", "micro_batches": (6,), "optimizer": "Adam(lr=0.01)"},
    {"model": "a linear model", "micro_batches": (1, 4, 2, 2), "optimizer": "Adam(lr=0.01)"},
)
"""Cases of :func:`check_accumulate_step`: the model, the micro-batch sizes, the optimiser."""


def _accumulate(*, scale: str = "share", zero: str = "once", step_each: bool = False) -> Loop:
    """One accumulated step, or one of its classic wrong versions (see ``ACCUMULATE_MISTAKES``).

    ``scale``: each micro-batch's mean loss times ``"share"`` (N_k/N), ``"count"``
    (1/k) or ``"none"``; ``zero``: ``zero_grad`` ``"once"``, before ``"each"``
    backward, or ``"never"``.
    """

    def step(model: nn.Module, micro_batches: list, optimizer: torch.optim.Optimizer) -> None:
        total = sum(len(yb) for _, yb in micro_batches)
        if zero == "once":
            optimizer.zero_grad()
        for xb, yb in micro_batches:
            factor = {"share": len(yb) / total, "count": 1 / len(micro_batches), "none": 1}[scale]
            if zero == "each":
                optimizer.zero_grad()
            (F.cross_entropy(model(xb), yb) * factor).backward()
            if step_each:
                optimizer.step()
        if not step_each:
            optimizer.step()

    return step


def _whole_batch(model: nn.Module, micro_batches: list, optimizer: torch.optim.Optimizer) -> None:
    """The reference: one ordinary step on the micro-batches joined into one batch."""
    x = torch.cat([xb for xb, _ in micro_batches])
    y = torch.cat([yb for _, yb in micro_batches])
    train_epoch(model, [(x, y)], optimizer)


ACCUMULATE_MISTAKES = {
    "did not scale the micro-batch losses: the step used the sum of their means, not the mean "
    "over all examples": _accumulate(scale="none"),
    "divided each micro-batch's loss by the number of micro-batches; when their sizes differ, "
    "weight each by its share of the examples, N_k / N": _accumulate(scale="count"),
    "called zero_grad() before every backward(): only the last micro-batch's gradient reached "
    "step()": _accumulate(zero="each"),
    "called step() after every micro-batch instead of once": _accumulate(step_each=True),
    "never cleared .grad between two steps: the first step's gradient was added to the second's; "
    "call optimizer.zero_grad() once per step": _accumulate(zero="never"),
}  # fmt: skip
"""Classic wrong versions of :func:`check_accumulate_step`'s exercise, by their message."""


def check_accumulate_step(fn: Callable, *, seed: int = 0) -> str:
    """Check ``fn(model, micro_batches, optimizer)``: one step on all their examples at once.

    For each case of ``ACCUMULATE_CASES`` the check calls ``fn`` twice (two steps, new
    data each time) and compares the weights with two ordinary steps on the
    micro-batches joined into one batch (mean cross-entropy over all examples).

    >>> check_accumulate_step(_accumulate())
    'Correct: in all 4 cases two accumulated steps give the weights of two whole-batch steps.'
    >>> check_accumulate_step(_accumulate(zero="each")).endswith("reached step().")
    True
    """
    function(fn, "fn", "your function fn(model, micro_batches, optimizer)")
    a_seed(seed)
    for case in ACCUMULATE_CASES:
        sizes = case["micro_batches"]
        sizes_text = ", ".join(map(str, sizes))
        where = f"for {case['model']}, micro-batches of {sizes_text} and {case['optimizer']}"
        want = _run(_whole_batch, case, sizes, seed, calls=2)[1]
        try:
            got = _run(fn, case, sizes, seed, calls=2)[1]
        except Exception as e:  # the learner's code may raise anything
            return f"Your function raised {type(e).__name__}: {e} ({where})."
        if _differs(got, want):
            msg = f"Not yet: {where}, the weights after two steps differ from two whole-batch steps"
            wrong = {
                k: _run(f, case, sizes, seed, calls=2)[1] for k, f in ACCUMULATE_MISTAKES.items()
            }
            return f"{msg} ({verdict(got, want)}).{_named(got, wrong)}"
    n = len(ACCUMULATE_CASES)
    what = "two accumulated steps give the weights of two whole-batch steps"
    return f"Correct: in all {n} cases {what}."
