"""learn.optim and learn.notes_by_hand against torch.optim and autograd of NotesCNN (float64)."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from cnnnotes.learn.notes_by_hand import PARAM_NAMES, notes_loss_and_grads, train_notes_scratch
from cnnnotes.learn.optim import Adam, sgd_step
from cnnnotes.training.models import NotesCNN

F64 = torch.float64
TRACK = {"rtol": 1e-9, "atol": 1e-9}
"""How closely a few from-scratch training steps follow PyTorch's in float64."""


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def model() -> NotesCNN:
    torch.manual_seed(0)
    return NotesCNN().to(F64)


def _data(steps: int, n: int = 8, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return [
        (torch.rand(n, 1, 28, 28, generator=g, dtype=F64), torch.randint(0, 10, (n,), generator=g))
        for _ in range(steps)
    ]


def _torch_step(
    net: NotesCNN, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor
) -> float:
    """One step of PyTorch's own training loop; the batch's loss before the step."""
    opt.zero_grad()
    loss = F.cross_entropy(net(x), y)
    loss.backward()
    opt.step()
    return loss.item()


def test_notes_grads_match_autograd(model):
    ((x, y),) = _data(1)
    params = {k: v.detach().clone() for k, v in model.state_dict().items()}
    loss, grads = notes_loss_and_grads(params, x, y)
    net = copy.deepcopy(model)
    want = F.cross_entropy(net(x), y)
    want.backward()
    torch.testing.assert_close(loss, want.detach(), rtol=1e-12, atol=1e-12)
    assert list(grads) == list(PARAM_NAMES) == [k for k, _ in net.named_parameters()]
    for name, p in net.named_parameters():
        torch.testing.assert_close(grads[name], p.grad, rtol=1e-10, atol=1e-12, msg=name)


def test_adam_matches_torch_step_for_step(model):
    net, ours = copy.deepcopy(model), copy.deepcopy(model)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.8, 0.99), eps=1e-7)
    mine = Adam(list(ours.parameters()), lr=1e-3, betas=(0.8, 0.99), eps=1e-7)
    for x, y in _data(5, n=4, seed=2):
        _torch_step(net, opt, x, y)
        ours.zero_grad()
        F.cross_entropy(ours(x), y).backward()
        mine.step([p.grad for p in ours.parameters()])
        for (name, a), b in zip(ours.named_parameters(), net.parameters(), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12, msg=name)


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_sgd_matches_torch_step_for_step(momentum):
    g = torch.Generator().manual_seed(3)
    theirs = [torch.randn(5, 3, generator=g, dtype=F64, requires_grad=True) for _ in range(2)]
    ours = [p.detach().clone() for p in theirs]
    opt = torch.optim.SGD(theirs, lr=0.1, momentum=momentum)
    velocity = None
    for _ in range(5):
        grads = [torch.randn(5, 3, generator=g, dtype=F64) for _ in range(2)]
        for p, gr in zip(theirs, grads, strict=True):
            p.grad = gr.clone()
        opt.step()
        velocity = sgd_step(ours, grads, lr=0.1, momentum=momentum, velocity=velocity)
        for a, b in zip(ours, theirs, strict=True):
            torch.testing.assert_close(a, b.detach(), rtol=1e-14, atol=1e-14)


def test_scratch_training_tracks_autograd_and_torch_adam(model):
    data = _data(3)
    params = {k: v.detach().clone() for k, v in model.state_dict().items()}
    losses, trained = train_notes_scratch(params, data, lr=1e-3)
    net = copy.deepcopy(model)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    want = [_torch_step(net, opt, x, y) for x, y in data]
    torch.testing.assert_close(torch.tensor(losses), torch.tensor(want), **TRACK)
    for name, p in net.named_parameters():
        torch.testing.assert_close(trained[name], p.detach(), **TRACK, msg=name)
    assert all(torch.equal(params[k], v) for k, v in model.state_dict().items())  # a copy


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: sgd_step([torch.zeros(2)], [], lr=0.1), ValueError, r"1 parameters but 0 grad"),
        (lambda: sgd_step([torch.zeros(2)], [torch.zeros(3)], lr=0.1), ValueError, r"shape \(3,\)"),
        (
            lambda: sgd_step([torch.zeros(2)], [None], lr=0.1),
            TypeError,
            r"grads\[0\] must be a torch\.Tensor",
        ),
        (lambda: sgd_step([torch.zeros(2)], [torch.zeros(2)], lr=-1), ValueError, r"lr must be"),
        (
            lambda: sgd_step([torch.zeros(2)], [torch.zeros(2)], lr=0.1, momentum=1.0),
            ValueError,
            r"momentum must be a number in \[0, 1\)",
        ),
        (lambda: Adam([torch.zeros(2)], betas=(0.9,)), ValueError, r"betas must be a pair"),
        (lambda: Adam([torch.zeros(2)]).step([torch.zeros(1)]), ValueError, r"grads\[0\] has"),
        (lambda: notes_loss_and_grads({}, None, None), ValueError, r"missing \['conv1.weight'"),
        (lambda: notes_loss_and_grads([], None, None), TypeError, r"params must be a dict"),
    ],
)
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()
