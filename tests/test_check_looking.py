"""The self-checks of chapter 11 (``check.looking``, ``check.embedding``): right answers pass,
each classic mistake fails and is named.

The answers below are written the way a learner would write them (``model.eval()`` and
``.backward()``, loops over patches, an SVD), independently of the check's own reference and
of the wrong versions it names.
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from cnnnotes.analysis.embedding import pca
from cnnnotes.analysis.saliency import occlusion, saliency
from cnnnotes.check import check_grad_cam, check_occlusion, check_pca, check_saliency
from cnnnotes.check.embedding import PCA_CASES
from cnnnotes.check.looking import GRAD_CAM_CASES, OCCLUSION_CASES, SALIENCY_CASES

pytestmark = pytest.mark.usefixtures("one_thread")


def _classes(target: object, n: int) -> Tensor:
    return torch.as_tensor(target).long().expand(n)


# ---------------------------------------------------------------- saliency


def learner_saliency(model, x, target, *, score="logit", evaluate=True, reduce="max"):
    model.train(not evaluate)
    x = x.clone().requires_grad_(True)
    z = model(x)
    if score == "softmax":
        z = torch.softmax(z, dim=1)
    elif score == "log_softmax":
        z = torch.log_softmax(z, dim=1)
    z.gather(1, _classes(target, len(x))[:, None]).sum().backward()
    grad = x.grad
    if reduce == "signed":
        return grad.amax(dim=1)
    return grad.abs().sum(dim=1) if reduce == "sum" else grad.abs().amax(dim=1)


def per_image_saliency(model, x, target):
    model.eval()
    t = _classes(target, len(x))
    maps = []
    for n in range(len(x)):
        image = x[n : n + 1].clone().requires_grad_(True)
        model(image)[0, t[n]].backward()
        maps.append(image.grad[0].abs().max(dim=0).values)
    return torch.stack(maps)


@pytest.mark.parametrize("answer", [saliency, learner_saliency, per_image_saliency])
def test_saliency_right_answers_pass(answer) -> None:
    assert check_saliency(answer) == (
        f"All {len(SALIENCY_CASES)} cases match cnnnotes.analysis.saliency.saliency."
    )


@pytest.mark.parametrize(
    ("options", "mistake"),
    [
        ({"score": "softmax"}, "took the gradient of the softmax probability instead of the logit"),
        ({"score": "log_softmax"}, "took the gradient of the log-probability"),
        ({"evaluate": False}, "forgot model.eval()"),
        ({"reduce": "signed"}, "kept the sign of the gradient (no absolute value)"),
        ({"reduce": "sum"}, "summed |gradient| over the colour channels"),
    ],
)
def test_saliency_mistakes_are_named(options: dict, mistake: str) -> None:
    msg = check_saliency(lambda m, x, t: learner_saliency(m, x, t, **options))
    assert msg.startswith("Mismatch for x of shape (") and f"It looks like you {mistake}" in msg


def test_saliency_wrong_shape_and_errors_are_reported() -> None:
    keepdim = check_saliency(lambda m, x, t: saliency(m, x, t)[:, None])
    assert "your output has shape (3, 1, 6, 4)" in keepdim and "gives (3, 6, 4)" in keepdim
    raised = check_saliency(lambda m, x, t: 1 / 0)
    assert raised.startswith("Your function raised ZeroDivisionError")


# ---------------------------------------------------------------- occlusion


def learner_occlusion(model, x, target, patch, fill, *, value=None, what="drop", evaluate=True,
                      softmax=False):  # fmt: skip
    model.train(not evaluate)
    t = _classes(target, len(x))[:, None]

    def score(images):
        z = model(images)
        return (z.softmax(dim=1) if softmax else z).gather(1, t)[:, 0]

    out = torch.empty(len(x), *x.shape[2:], dtype=x.dtype)
    with torch.no_grad():
        before = score(x)
        for i in range(0, x.shape[2], patch):
            for j in range(0, x.shape[3], patch):
                hidden = x.clone()
                hidden[:, :, i : i + patch, j : j + patch] = fill if value is None else value
                after = score(hidden)
                result = {"drop": before - after, "rise": after - before, "after": after}[what]
                out[:, i : i + patch, j : j + patch] = result[:, None, None]
    return out


@pytest.mark.parametrize(
    "answer", [lambda m, x, t, p, f: occlusion(m, x, t, p, p, f), learner_occlusion]
)
def test_occlusion_right_answers_pass(answer) -> None:
    assert check_occlusion(answer) == (
        f"All {len(OCCLUSION_CASES)} cases match cnnnotes.analysis.saliency.occlusion."
    )


@pytest.mark.parametrize(
    ("options", "mistake"),
    [
        ({"value": 0.0}, "filled the patch with 0 instead of fill"),
        ({"what": "after"}, "returned the occluded score instead of the drop"),
        ({"what": "rise"}, "flipped the sign"),
        ({"softmax": True}, "measured the softmax probability instead of the logit"),
        ({"evaluate": False}, "forgot model.eval()"),
    ],
)
def test_occlusion_mistakes_are_named(options: dict, mistake: str) -> None:
    msg = check_occlusion(lambda m, x, t, p, f: learner_occlusion(m, x, t, p, f, **options))
    assert msg.startswith("Mismatch for x of shape (") and f"It looks like you {mistake}" in msg


# ---------------------------------------------------------------- Grad-CAM


def learner_grad_cam(a, g, *, weights="mean", relu="after"):
    alpha = {
        "mean": g.mean(dim=(2, 3)),
        "max": g.amax(dim=(2, 3)),
        "sum": g.sum(dim=(2, 3)),
        "activations": a.mean(dim=(2, 3)),
    }[weights]
    terms = alpha[:, :, None, None] * a
    if relu == "each":
        return torch.relu(terms).sum(dim=1)
    total = terms.sum(dim=1)
    return torch.relu(total) if relu == "after" else total


@pytest.mark.parametrize(
    "answer",
    [learner_grad_cam, lambda a, g: torch.clamp((a * g.mean((2, 3), keepdim=True)).sum(1), 0)],
)
def test_grad_cam_right_answers_pass(answer) -> None:
    assert check_grad_cam(answer) == (
        f"All {len(GRAD_CAM_CASES)} cases match cnnnotes.analysis.saliency.grad_cam."
    )


@pytest.mark.parametrize(
    ("answer", "mistake"),
    [
        (lambda a, g: learner_grad_cam(a, g, relu="none"), "left out the ReLU"),
        (lambda a, g: torch.relu((g * a).sum(dim=1)), "did not average the gradient over space"),
        (
            lambda a, g: learner_grad_cam(a, g, weights="activations"),
            "weighted the channels by the mean of the activations instead of the gradients",
        ),
        (
            lambda a, g: learner_grad_cam(a, g, weights="max"),
            "took the spatial maximum of the gradient",
        ),
        (lambda a, g: learner_grad_cam(a, g, weights="sum"), "summed the gradient over space"),
        (lambda a, g: learner_grad_cam(a, g, relu="each"), "applied the ReLU to each channel"),
    ],
)
def test_grad_cam_mistakes_are_named(answer, mistake: str) -> None:
    msg = check_grad_cam(answer)
    assert msg.startswith("Mismatch for activations and gradients of shape (")
    assert f"It looks like you {mistake}" in msg, msg


# ---------------------------------------------------------------- PCA


def svd_pca(x, k):
    centred = x - x.mean(dim=0)
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    return centred @ vh[:k].T


def eigh_pca(x, k, *, centre=True, shift=False, order="descending", rows=False):
    centred = x - x.mean(dim=0) if centre else x
    _, vectors = torch.linalg.eigh(centred.T @ centred / (len(x) - 1))
    if order == "descending":
        vectors = vectors.flip(1)
    basis = vectors[:k].T if rows else vectors[:, :k]
    return (x if shift else centred) @ basis


@pytest.mark.parametrize(
    "answer",
    [svd_pca, eigh_pca, lambda x, k: -pca(x, k).projections],  # any sign is right
)
def test_pca_right_answers_pass(answer) -> None:
    assert check_pca(answer) == f"All {len(PCA_CASES)} cases match cnnnotes.analysis.embedding.pca."


@pytest.mark.parametrize(
    ("answer", "mistake"),
    [
        (lambda x, k: eigh_pca(x, k, centre=False), "did not subtract the mean first"),
        (lambda x, k: eigh_pca(x, k, shift=True), "projected the raw rows x"),
        (lambda x, k: eigh_pca(x, k, order="ascending"), "took the last k eigenvectors"),
        (lambda x, k: eigh_pca(x, k, rows=True), "took rows of the eigenvector matrix"),
        (
            lambda x, k: torch.linalg.svd(x - x.mean(0), full_matrices=False).U[:, :k],
            "returned U[:, :k] of the SVD",
        ),
    ],
)
def test_pca_mistakes_are_named(answer, mistake: str) -> None:
    msg = check_pca(answer)
    assert msg.startswith("Mismatch for x of shape (") and f"It looks like you {mistake}" in msg


def test_checks_give_the_same_message_every_time() -> None:
    """The grid is fixed and each case gets a fresh model: a learner's function that leaves
    a model in train mode (or eval mode) cannot change the next call's message."""
    wrong = lambda m, x, t: learner_saliency(m, x, t, evaluate=False)  # noqa: E731
    assert check_saliency(wrong) == check_saliency(wrong)
    assert check_occlusion(learner_occlusion) == check_occlusion(learner_occlusion)
