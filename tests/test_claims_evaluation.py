"""The claims of chapters 10-12 that the chapters state once and check once, checked again.

Each chapter shows one visible check per claim; the repetitions, the secondary
statements of its theorems and the checks that used to be hand-written loops
live here, as ``agree`` calls (PyTorch or a direct count as the reference).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Binomial

from cnnnotes.analysis.features import dc_share, feature_maps, scatter_ratio
from cnnnotes.analysis.metrics import (
    accuracy,
    confusion_matrix,
    precision_recall,
    recall,
    top_k_accuracy,
)
from cnnnotes.analysis.summary import layer_table
from cnnnotes.conv.kernels import box_blur, laplacian, sobel
from cnnnotes.conv.shapes import conv_output_size, pool_output_size
from cnnnotes.oracle import agree
from cnnnotes.oracle.cases import Draw, label_pairs
from cnnnotes.training import results
from cnnnotes.training.models import NotesCNN, build_model
from cnnnotes.training.recipes import binomial_se

F64 = torch.float64


# --- chapter 10: the confusion matrix and what it contains ------------------------------------


def test_confusion_matrix_equals_the_literal_loop() -> None:
    """{eq}`eq-eval-confusion` read literally: add one to C[y, y_hat] per example."""

    def loop(y_true: torch.Tensor, y_pred: torch.Tensor, k: int) -> torch.Tensor:
        counts = torch.zeros(k, k, dtype=torch.int64)
        for t, p in zip(y_true.tolist(), y_pred.tolist(), strict=True):
            counts[t, p] += 1
        return counts

    result = agree(confusion_matrix, loop, label_pairs, n_cases=500)
    assert result.ok, str(result)


def test_what_the_confusion_matrix_contains() -> None:
    """{prf:ref}`thm-eval-confusion`: row sums are class counts, total N, accuracy tr C / N."""

    def from_matrix(y_true: torch.Tensor, y_pred: torch.Tensor, k: int) -> tuple:
        cm = confusion_matrix(y_true, y_pred, k)
        return cm.sum(dim=1), int(cm.sum()), torch.tensor(accuracy(cm), dtype=F64)

    def from_labels(y_true: torch.Tensor, y_pred: torch.Tensor, k: int) -> tuple:
        hits = (y_true == y_pred).to(F64)
        mean = hits.mean() if len(hits) else torch.tensor(float("nan"), dtype=F64)
        return torch.bincount(y_true, minlength=k), len(y_true), mean

    result = agree(from_matrix, from_labels, label_pairs, n_cases=500)
    assert result.ok, str(result)


def test_balanced_classes_mean_recall_is_accuracy() -> None:
    """The last statement of {prf:ref}`thm-eval-confusion`, on balanced label sets."""

    def balanced(draw: Draw) -> dict:
        k, per_class = draw.int(2, 10), draw.int(1, 20)
        y_true = torch.arange(k).repeat(per_class)
        y_pred = torch.tensor(draw.ints(len(y_true), 0, k - 1), dtype=torch.int64)
        return {"y_true": y_true, "y_pred": y_pred, "k": k}

    def mean_recall(y_true: torch.Tensor, y_pred: torch.Tensor, k: int) -> torch.Tensor:
        return recall(confusion_matrix(y_true, y_pred, k)).mean()

    def share_right(y_true: torch.Tensor, y_pred: torch.Tensor, k: int) -> torch.Tensor:
        return (y_true == y_pred).to(F64).mean()

    result = agree(mean_recall, share_right, balanced, n_cases=500)
    assert result.ok, str(result)


def test_recall_and_precision_are_their_questions_on_the_labels() -> None:
    """{eq}`eq-eval-recall-precision`: recall of i = found among class i; precision of j =
    right among the answers j (nan where there is nothing to divide by)."""

    def from_matrix(y_true: torch.Tensor, y_pred: torch.Tensor, k: int) -> tuple:
        return precision_recall(confusion_matrix(y_true, y_pred, k))

    def from_labels(y_true: torch.Tensor, y_pred: torch.Tensor, k: int) -> tuple:
        def share(hit: torch.Tensor) -> float:
            return hit.to(F64).mean().item() if len(hit) else float("nan")

        precision = [share(y_true[y_pred == j] == j) for j in range(k)]
        found = [share(y_pred[y_true == i] == i) for i in range(k)]
        return torch.tensor(precision, dtype=F64), torch.tensor(found, dtype=F64)

    result = agree(from_matrix, from_labels, label_pairs, n_cases=500)
    assert result.ok, str(result)


def test_top_2_by_argsort_is_top_k_accuracy() -> None:
    """The method of exercise ex-eval-top2 against ``top_k_accuracy`` (``torch.topk``)."""

    def scores(draw: Draw) -> dict:
        n, k = draw.int(1, 60), draw.int(2, 10)
        return {"probs": draw.tensor(n, k).softmax(dim=1), "y": draw.ints(n, 0, k - 1)}

    def by_argsort(probs: torch.Tensor, y: list) -> torch.Tensor:
        first_two = probs.argsort(dim=1, descending=True, stable=True)[:, :2]
        return (first_two == torch.tensor(y)[:, None]).any(dim=1).to(F64).mean()

    def by_topk(probs: torch.Tensor, y: list) -> torch.Tensor:
        return torch.tensor(top_k_accuracy(probs, torch.tensor(y), 2), dtype=F64)

    result = agree(by_argsort, by_topk, scores, n_cases=300)
    assert result.ok, str(result)


def test_binomial_se_is_the_sd_of_the_share_right() -> None:
    """{prf:ref}`thm-eval-binomial-se`: ``binomial_se(p, N)`` is the standard deviation of
    the share of N independent answers that are right, each with probability p, summed
    exactly over the binomial distribution of the number right (0 < p < 1, N up to 300)."""

    def case(draw: Draw) -> dict:
        return {"p": draw.int(1, 999) / 1000, "n": draw.int(1, 300)}

    def ours(p: float, n: int) -> torch.Tensor:
        return torch.tensor(binomial_se(p, n), dtype=F64)

    def by_enumeration(p: float, n: int) -> torch.Tensor:
        k = torch.arange(n + 1, dtype=F64)
        pmf = Binomial(n, torch.tensor(p, dtype=F64)).log_prob(k).exp()
        return (pmf * (k / n - p) ** 2).sum().sqrt()

    result = agree(ours, by_enumeration, case, n_cases=500)
    assert result.ok, str(result)


# --- chapter 11: filters, hooks, scatter ------------------------------------------------------


def test_hooked_shapes_follow_the_size_formulas() -> None:
    """The shapes chapter 11 predicts, for every input size 6-40 (the layers before ``fc1``
    accept any size)."""
    model = NotesCNN().eval()
    features = nn.Sequential(model.conv1, nn.ReLU(), model.conv2, nn.ReLU(), model.pool)

    def hooked(size: int) -> tuple:
        x = torch.zeros(1, 1, size, size)
        out = feature_maps(features, x, ["0", "2", "4"])
        return tuple(tuple(out[key].shape) for key in ("0", "2", "4"))

    def formulas(size: int) -> tuple:
        s1 = conv_output_size(size, 3, padding=1)
        s2 = conv_output_size(s1, 3, padding=1)
        s3 = pool_output_size(s2, 2)
        return (1, 32, s1, s1), (1, 64, s2, s2), (1, 64, s3, s3)

    result = agree(hooked, formulas, [{"size": s} for s in range(6, 41)])
    assert result.ok, str(result)


def random_filter(draw: Draw) -> dict:
    return {"w": draw.tensor(draw.int(1, 3), draw.int(1, 5), draw.int(1, 5))}


def test_dc_split_is_pythagoras() -> None:
    """{eq}`eq-inside-dc-split`: w = mean(w) 1 + e with sum(e) = 0, and the energies add."""

    def parts(w: torch.Tensor) -> tuple:
        constant = torch.full_like(w, w.mean().item())
        e = w - constant
        return e.sum(), (constant**2).sum() + (e**2).sum(), dc_share(w[None])[0]

    def whole(w: torch.Tensor) -> tuple:
        return torch.tensor(0.0, dtype=F64), (w**2).sum(), w.sum() ** 2 / (w.numel() * (w**2).sum())

    result = agree(parts, whole, random_filter, n_cases=1_000)
    assert result.ok, str(result)


def test_constant_patch_through_a_real_layer_with_bias() -> None:
    """{prf:ref}`thm-inside-dc-split`: on a constant patch c, a layer outputs c·sum(w) + b."""

    def case(draw: Draw) -> dict:
        k = draw.int(1, 5)
        return {"w": draw.tensor(1, 1, k, k), "b": draw.tensor(1), "c": draw.int(-3, 3)}

    def layer(w: torch.Tensor, b: torch.Tensor, c: int) -> torch.Tensor:
        x = torch.full((1, 1, 8, 8), float(c), dtype=F64)
        return F.conv2d(x, w, b)

    def constant_part(w: torch.Tensor, b: torch.Tensor, c: int) -> torch.Tensor:
        side = 8 - w.shape[-1] + 1
        return torch.full((1, 1, side, side), c * w.sum().item() + b.item(), dtype=F64)

    result = agree(layer, constant_part, case, n_cases=300)
    assert result.ok, str(result)


@pytest.mark.parametrize("kernel_size", [2, 3, 5])
def test_random_filters_have_dc_share_one_over_n(kernel_size: int) -> None:
    """{prf:ref}`thm-inside-random` for PyTorch's initialisation: mean DC share 1/n."""
    torch.manual_seed(kernel_size)
    weight = nn.Conv2d(1, 20_000, kernel_size).weight.detach().to(F64)
    n = kernel_size**2
    assert abs(dc_share(weight).mean().item() - 1 / n) < 0.01


def test_four_orthonormal_kernels_hold_four_ninths_of_a_random_filter() -> None:
    """{prf:ref}`thm-inside-random`: k orthonormal directions capture k/n on average; the
    classic kernels are orthogonal."""
    kernels = [sobel("x"), sobel("y"), laplacian(), box_blur(3)]
    basis = torch.stack([k.flatten().to(F64) / k.to(F64).norm() for k in kernels])
    torch.testing.assert_close(basis @ basis.T, torch.eye(4, dtype=F64))
    torch.manual_seed(0)
    flat = nn.Conv2d(1, 20_000, 3).weight.detach().to(F64).reshape(-1, 9)
    cos = (flat / flat.norm(dim=1, keepdim=True)) @ basis.T
    assert abs((cos**2).sum(dim=1).mean().item() - 4 / 9) < 0.01
    assert abs((cos[:, :3] ** 2).sum(dim=1).mean().item() - 3 / 9) < 0.01


def labelled_data(draw: Draw) -> dict:
    m, d, c = draw.int(20, 69), draw.int(1, 7), draw.int(2, 6)
    y = torch.arange(m) % c
    return {"x": draw.tensor(c, d)[y] + draw.tensor(m, d), "y": y}


def test_total_scatter_splits_into_between_and_within() -> None:
    """{eq}`eq-inside-scatter`, every term written out, against ``torch.var``."""

    def between_plus_within(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        mu = x.mean(dim=0)
        between = sum((y == c).sum() * ((x[y == c].mean(0) - mu) ** 2).sum() for c in y.unique())
        within = sum(((x[y == c] - x[y == c].mean(0)) ** 2).sum() for c in y.unique())
        return (between + within) / len(x)

    def total(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x.var(dim=0, unbiased=False).sum()

    result = agree(between_plus_within, total, labelled_data, n_cases=500)
    assert result.ok, str(result)


def test_scatter_ratio_ignores_a_common_scale() -> None:
    """Chapter 11: multiplying all features by one number leaves V_b / V_w alone."""

    def scaled(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.tensor(scatter_ratio(7.5 * x, y), dtype=F64)

    def plain(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.tensor(scatter_ratio(x, y), dtype=F64)

    result = agree(scaled, plain, labelled_data, n_cases=300)
    assert result.ok, str(result)


# --- chapter 12: predicting training time ----------------------------------------------------


def test_improve_exercises_expect_what_the_code_gives() -> None:
    """Chapter 12's exercises, done by hand, give what the code gives. ex-improve-verdict:
    means, sample standard deviations and {eq}`eq-improve-se` decide every recorded row
    against its parent exactly as ``study.verdict`` does. ex-improve-variants: with shifts
    of at most m pixels and a left-right flip, ``shift_and_flip`` makes 2·(2m + 1)² distinct
    images of an image without symmetry ({eq}`eq-improve-variants`)."""
    import math
    import statistics

    from cnnnotes.training.augment import shift_and_flip
    from cnnnotes.training.study import BY_KEY, verdict

    runs = results.load("study")["runs"]
    finals: dict[str, list[float]] = {}
    for r in runs:
        finals.setdefault(r["key"], []).append(r["history"]["val_acc"][-1])
    compared = [k for k in finals if k in BY_KEY and BY_KEY[k].parent in finals]
    assert compared, "no recorded row has its parent recorded"
    for key in compared:
        row, parent = finals[key], finals[BY_KEY[key].parent]
        delta = statistics.fmean(row) - statistics.fmean(parent)
        se = math.sqrt(
            statistics.stdev(row) ** 2 / len(row) + statistics.stdev(parent) ** 2 / len(parent)
        )
        by_hand = abs(delta) > 2 * se
        assert by_hand == (verdict(row, parent) != "within seed noise"), key
    image = torch.rand(1, 1, 12, 12, generator=torch.Generator().manual_seed(0))
    for m in range(4):
        batch = image.expand(4000, -1, -1, -1)
        out = shift_and_flip(batch, torch.Generator().manual_seed(m), max_shift=m)
        assert len(torch.unique(out.flatten(1), dim=0)) == 2 * (2 * m + 1) ** 2, m


def test_pool_first_runs_conv2_at_a_quarter_of_the_macs() -> None:
    """Chapter 12: moving the pool in front of ``conv2`` divides its MACs by four."""
    notes = layer_table(build_model("notes"), (1, 1, 28, 28))
    fast = layer_table(build_model("pool-first"), (1, 1, 28, 28))
    notes_conv2 = [r.macs for r in notes if r.kind == "Conv2d"][1]
    fast_conv2 = [r.macs for r in fast if r.kind == "Conv2d"][1]
    assert 4 * fast_conv2 == notes_conv2 == 64 * 28 * 28 * 9 * 32
