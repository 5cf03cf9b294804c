"""Weight decay two ways: L2 in the gradient (Adam) against decoupled decay (AdamW).

Both start from the wish to keep weights small, and for plain SGD they are the same:
adding ``(λ/2)·‖θ‖²`` to the loss adds ``λ·θ`` to the gradient, and the step
``θ ← θ − η·(g + λθ)`` shrinks every weight by the factor ``1 − ηλ`` before following
the gradient. Adam tells them apart, because it divides by ``√v̂``:

* **L2** (``torch.optim.Adam(weight_decay=λ)``, :class:`AdamL2`): ``g ← g + λ·θ``, then
  the Adam step. The decay term goes through the moment estimates, so a weight with a
  large gradient history (large ``v̂``) is hardly decayed, and one with a small one
  is decayed a lot;
* **decoupled** (Loshchilov & Hutter, 2019; ``torch.optim.AdamW(weight_decay=λ)``,
  :class:`AdamW`): ``θ ← θ − η·λ·θ``, then the Adam step on the raw gradient. Every
  weight shrinks by the same factor ``1 − ηλ`` per step, whatever its gradients.

Over a run of learning rates ``η_t`` the decoupled decay alone scales a weight by
``Π_t (1 − η_t·λ) ≈ exp(−λ·Σ_t η_t)`` (:func:`decoupled_shrink`): with ``λ = 5·10⁻⁴``
and ``Σ η_t`` of a few units, under 1 %, a decay that does almost nothing.

Both classes are the book's :class:`cnnnotes.learn.optim.Adam` (plain lists of
tensors, updated in place) with one line added.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import Tensor

from cnnnotes._validate import number, require, require_type, tensor
from cnnnotes.learn.optim import Adam

__all__ = ["AdamL2", "AdamW", "decoupled_shrink"]


def _grads(params: list[Tensor], grads: object) -> list[Tensor]:
    """``grads`` as a list, one tensor per parameter, shape for shape."""
    require_type(
        isinstance(grads, Iterable) and not isinstance(grads, Tensor),
        f"grads must be a list of tensors, got {type(grads).__name__}",
    )
    grads = [tensor(g, f"grads[{i}]") for i, g in enumerate(grads)]
    require(
        len(grads) == len(params),
        f"got {len(params)} parameters but {len(grads)} grads; pass one each",
    )
    for i, (p, g) in enumerate(zip(params, grads, strict=True)):
        require(
            p.shape == g.shape,
            f"grads[{i}] has shape {tuple(g.shape)} but its parameter has {tuple(p.shape)}",
        )
    return grads


class AdamL2(Adam):
    """Adam with L2 regularisation: ``g ← g + λ·θ``, then Adam, like ``torch.optim.Adam``.

    ``weight_decay`` is ``λ``; everything else is :class:`~cnnnotes.learn.optim.Adam`.
    The first step of Adam moves every weight by about ``lr`` whatever the gradient's
    scale, so here a weight with a zero gradient moves by ``lr`` towards 0:

    >>> w = torch.tensor([1.0, -1.0])
    >>> opt = AdamL2([w], lr=0.1, weight_decay=0.01)
    >>> opt.step([torch.zeros(2)])  # the gradient is λ·w = (0.01, −0.01)
    >>> w
    tensor([ 0.9000, -0.9000])
    """

    def __init__(
        self,
        params: Sequence[Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr, betas, eps)
        self.weight_decay = number(weight_decay, "weight_decay", at_least=0)

    @torch.no_grad()
    def step(self, grads: Sequence[Tensor]) -> None:
        """One Adam step on ``g + λ·θ`` for every parameter (same order as ``params``)."""
        grads = _grads(self.params, grads)
        pairs = zip(self.params, grads, strict=True)
        super().step([g + self.weight_decay * p for p, g in pairs])  # the L2 line


class AdamW(Adam):
    """Adam with decoupled weight decay: ``θ ← (1 − η·λ)·θ``, then Adam, like ``torch.optim.AdamW``.

    The shrink does not go through the moments: a weight with a zero gradient loses
    the fraction ``lr·λ`` of itself, here ``0.1·0.01``, and nothing else moves it.

    >>> w = torch.tensor([1.0, -1.0], dtype=torch.float64)
    >>> opt = AdamW([w], lr=0.1, weight_decay=0.01)
    >>> opt.step([torch.zeros(2, dtype=torch.float64)])
    >>> w
    tensor([ 0.9990, -0.9990], dtype=torch.float64)
    """

    def __init__(
        self,
        params: Sequence[Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
    ) -> None:
        super().__init__(params, lr, betas, eps)
        self.weight_decay = number(weight_decay, "weight_decay", at_least=0)

    @torch.no_grad()
    def step(self, grads: Sequence[Tensor]) -> None:
        """Shrink every parameter by ``1 − lr·λ``, then take an Adam step on ``grads``."""
        grads = _grads(self.params, grads)
        for p in self.params:
            p.mul_(1 - self.lr * self.weight_decay)  # the decoupled line
        super().step(grads)


def decoupled_shrink(lrs: Iterable[float], weight_decay: float) -> float:
    """``Π_t (1 − η_t·λ)``: how much decoupled decay alone scales a weight over a run.

    ``lrs`` are the learning rates of every step. Since ``log(1 − x) ≈ −x`` for small
    ``x``, the result is about ``exp(−λ·Σ_t η_t)``.

    >>> decoupled_shrink([0.1, 0.1, 0.1], 0.5)  # 0.95³
    0.8573749999999999
    >>> round(decoupled_shrink([1e-3] * 1000, 5e-4), 6)  # λ = 5·10⁻⁴, Σ η = 1: 0.05 %
    0.9995
    """
    require_type(
        isinstance(lrs, Iterable) and not isinstance(lrs, (str, Tensor)),
        f"lrs must be a list of learning rates, got {type(lrs).__name__}",
    )
    lam = number(weight_decay, "weight_decay", at_least=0)
    factor = 1.0
    for t, lr in enumerate(lrs):
        factor *= 1 - number(lr, f"lrs[{t}]", at_least=0) * lam
    return factor
