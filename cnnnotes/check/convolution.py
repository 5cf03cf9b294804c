"""Self-checks for the exercises of chapters 2 and 3: a convolution by loops, an edge kernel,
a 1×1 convolution read as a dense layer.

Each check runs the learner's answer on a fixed grid of cases and compares it with PyTorch
(or, for a kernel the learner designs, with what an edge detector must do). A failure shows
one case and, when a classic mistake explains it, names the mistake.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnnotes._validate import choice, require, tensor
from cnnnotes.check.core import check_tensors

CORR2D_CASES: tuple[tuple[tuple[int, int], tuple[int, int]], ...] = (
    ((4, 4), (3, 3)),
    ((5, 7), (3, 3)),
    ((7, 5), (2, 3)),
    ((6, 6), (1, 1)),
    ((3, 3), (3, 3)),
    ((5, 5), (1, 4)),
    ((8, 6), (4, 2)),
    ((1, 5), (1, 2)),
    ((6, 1), (3, 1)),
    ((9, 9), (5, 5)),
)
"""``(image shape (H, W), kernel shape (F_h, F_w))`` cases of :func:`check_corr2d`."""


def _corr2d(x: Tensor, w: Tensor, padding: tuple[int, int] = (0, 0)) -> Tensor:
    """Cross-correlation of one ``(H, W)`` image with one kernel, by ``F.conv2d``."""
    return F.conv2d(x[None, None], w[None, None], padding=padding)[0, 0]


CORR2D_MISTAKES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "flipping the kernel (that is true convolution; conv2d cross-correlates)": lambda x, w: _corr2d(
        x, w.flip(0, 1)
    ),
    "stopping one window early in each direction (range(H - F_h) instead of "
    "range(H - F_h + 1))": lambda x, w: _corr2d(x, w)[:-1, :-1],
    "padding the image with F // 2 zeros per side (no padding here: the output shrinks)": (
        lambda x, w: _corr2d(x, w, (w.shape[0] // 2, w.shape[1] // 2))
    ),
}
"""Classic slips in a valid cross-correlation written with loops."""


def check_corr2d(fn: Callable[[Tensor, Tensor], Tensor], *, seed: int = 0) -> str:
    """Check ``fn(x, w)``, the valid cross-correlation of an ``(H, W)`` image with an
    ``(F_h, F_w)`` kernel (stride 1, no padding), against ``F.conv2d`` (float32).

    >>> check_corr2d(lambda x, w: F.conv2d(x[None, None], w[None, None])[0, 0])
    'All 10 cases match F.conv2d.'
    >>> check_corr2d(lambda x, w: F.conv2d(x[None, None], w.flip(0, 1)[None, None])[0, 0])[-69:]
    'the kernel (that is true convolution; conv2d cross-correlates) gives.'
    """
    g = torch.Generator().manual_seed(seed)

    def cases() -> Iterator[tuple]:
        for xs, ws in CORR2D_CASES:
            x, w = torch.randn(xs, generator=g), torch.randn(ws, generator=g)
            yield f"x of shape {xs}, w of shape {ws}", (x, w), _corr2d(x, w)

    return check_tensors(fn, cases(), "F.conv2d", CORR2D_MISTAKES)


def _step(at: int, first: float, second: float) -> Tensor:
    """An 8×8 image whose rows ``>= at`` have brightness ``second``, the others ``first``."""
    image = torch.full((8, 8), first, dtype=torch.float64)
    image[at:] = second
    return image


EDGE_IMAGES: tuple[tuple[str, str, Tensor, int], ...] = (
    ("flat, brightness 0.3", "flat, brightness 0.3", _step(0, 0.3, 0.3), 0),
    ("flat, white", "flat, white", _step(0, 1.0, 1.0), 0),
    ("dark above, bright from row 4", "dark left, bright from column 4", _step(4, 0, 1), 1),
    ("bright above, dark from row 4", "bright left, dark from column 4", _step(4, 1, 0), -1),
    ("grey above, lighter from row 2", "grey left, lighter from column 2", _step(2, 0.25, 0.75), 1),
    ("light above, dark from row 6", "light left, dark from column 6", _step(6, 0.9, 0.1), -1),
    ("dark left, bright from column 4", "dark above, bright from row 4", _step(4, 0, 1).T, 0),
    ("bright left, dark from column 3", "bright above, dark from row 3", _step(3, 1, 0).T, 0),
)
"""``(the 8×8 image as a horizontal-edge detector sees it, the same for a vertical one, the
image, the sign of a horizontal-edge detector's response)``. A vertical-edge detector gets
each image transposed. Sign 0: the response must be 0 everywhere; 1 (-1): >= 0 (<= 0)
everywhere and non-zero somewhere."""


def _edge_failure(kernel: Tensor, image: Tensor, sign: int) -> str | None:
    """None if ``kernel`` (cross-correlated, no padding) responds to ``image`` with ``sign``."""
    response = F.conv2d(image[None, None], kernel[None, None])[0, 0]
    tol = 1e-6 * max(1.0, float(kernel.abs().sum()))
    if sign == 0:
        bad, must = response.abs() > tol, "0 everywhere"
    else:
        bad = sign * response < -tol
        must = "positive or 0" if sign > 0 else "negative or 0"
        if not bad.any() and not (sign * response > tol).any():
            return "your kernel gives 0 everywhere, but an edge detector responds to this edge"
    if not bad.any():
        return None
    i, j = (int(k) for k in torch.nonzero(bad)[0])
    value = float(response[i, j])
    return f"at the window of row {i}, column {j} your kernel gives {value:.3g}; it must be {must}"


def check_edge_kernel(kernel: Tensor, direction: str = "horizontal") -> str:
    """Check that ``kernel`` detects ``"horizontal"`` (or ``"vertical"``) edges.

    A horizontal-edge detector is positive where the image gets brighter from top to
    bottom, negative where it gets darker, and 0 on flat regions and on vertical
    edges; a vertical-edge detector is the same from left to right. The kernel is
    applied by cross-correlation, without padding, to eight 8×8 test images.

    >>> check_edge_kernel(torch.tensor([[-1.0, -2, -1], [0, 0, 0], [1, 2, 1]]))
    'All 8 test images give the responses of a horizontal-edge detector.'
    >>> check_edge_kernel(torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]]))[-63:]
    'It looks like your kernel detects vertical edges: transpose it.'
    """
    choice(direction, "direction", ("horizontal", "vertical"))
    kernel = tensor(kernel, "kernel", shape="(F_h, F_w)", ndims=(2,))
    require(
        min(kernel.shape) >= 1 and max(kernel.shape) <= 5,
        f"kernel must be at most 5×5, got shape {tuple(kernel.shape)}",
    )
    kernel = kernel.detach().to(torch.float64)
    vertical = direction == "vertical"

    def first_failure(k: Tensor) -> str | None:
        for horizontal_view, vertical_view, image, sign in EDGE_IMAGES:
            failure = _edge_failure(k, image.T if vertical else image, sign)
            if failure is not None:
                return f"the image {vertical_view if vertical else horizontal_view}: {failure}"
        return None

    found = first_failure(kernel)
    if found is None:
        images = f"All {len(EDGE_IMAGES)} test images"
        return f"{images} give the responses of a {direction}-edge detector."
    message = f"Mismatch for {found}."
    other = "horizontal" if vertical else "vertical"
    if first_failure(kernel.T) is None:
        return f"{message} It looks like your kernel detects {other} edges: transpose it."
    if first_failure(-kernel) is None:
        return f"{message} It looks like the signs are reversed: negate your kernel."
    total = float(kernel.sum())
    if abs(total) > 1e-6 * max(1.0, float(kernel.abs().sum())):
        return (
            f"{message} Your weights sum to {total:.3g}, so a flat region responds; "
            "an edge detector's weights sum to 0."
        )
    return message


ONE_BY_ONE_CASES: tuple[tuple[int, int], ...] = ((3, 2), (2, 3), (4, 4), (1, 1), (64, 16), (1, 5))
"""``(in_channels D, out_channels N)`` of the ``nn.Conv2d(D, N, 1)`` layers of
:func:`check_1x1_as_linear`."""

ONE_BY_ONE_MISTAKES: dict[str, Callable[[nn.Conv2d], Tensor]] = {
    "transposing it (nn.Linear stores its weight as (out, in), here (N, D))": (
        lambda conv: conv.weight[:, :, 0, 0].T
    ),
    "keeping the two 1×1 axes, shape (N, D, 1, 1)": lambda conv: conv.weight,
    "flattening it to one vector of N·D numbers": lambda conv: conv.weight.flatten(),
    "squeeze(), which also drops the axis of D or N when it is 1": lambda conv: (
        conv.weight.squeeze()
    ),
}
"""Classic slips when reading a 1×1 convolution's weight as a dense layer's."""


def check_1x1_as_linear(fn: Callable[[nn.Conv2d], Tensor], *, seed: int = 0) -> str:
    """Check ``fn(conv)``: the ``(N, D)`` weight of the ``nn.Linear(D, N)`` that does at every
    pixel what the 1×1 convolution ``conv = nn.Conv2d(D, N, 1)`` does.

    >>> check_1x1_as_linear(lambda conv: conv.weight[:, :, 0, 0])
    'All 6 cases match the weight of the equivalent nn.Linear.'
    >>> "That is what transposing it" in check_1x1_as_linear(lambda c: c.weight[:, :, 0, 0].T)
    True
    """
    g = torch.Generator().manual_seed(seed)

    def cases() -> Iterator[tuple]:
        for d, n in ONE_BY_ONE_CASES:
            conv = nn.Conv2d(d, n, 1)
            with torch.no_grad():
                conv.weight.copy_(torch.randn(n, d, 1, 1, generator=g))
            expected = conv.weight.detach()[:, :, 0, 0].clone()
            yield f"nn.Conv2d({d}, {n}, 1)", (conv,), expected

    return check_tensors(fn, cases(), "the weight of the equivalent nn.Linear", ONE_BY_ONE_MISTAKES)
