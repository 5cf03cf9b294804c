"""One rule for bad arguments across the package (issue #15, item 9).

A wrong *type* (``lr="x"``, ``seed=1.5``, a list where a tensor is needed, an integer
tensor where floats are needed) raises ``TypeError``; a wrong *value* of the right type
(``lr=-1``, ``seed=-1``, a tensor of the wrong shape) raises ``ValueError`` and no
``TypeError``. Each message names the argument. The table samples the public
functions of every subpackage; every check goes through :mod:`cnnnotes._validate`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest
import torch
from torch import nn

from cnnnotes import _validate, repro
from cnnnotes._validate import MAX_SEED
from cnnnotes.analysis import features, metrics
from cnnnotes.check.core import check_answer, compare
from cnnnotes.conv import backprop, dense, kernels, ops, shapes, shift
from cnnnotes.learn import losses, optim
from cnnnotes.report import approx, verdict
from cnnnotes.training import augment, cache
from cnnnotes.training.loop import TrainConfig, fit

X = torch.zeros(1, 3, 5, 5)
W = torch.zeros(2, 3, 3, 3)
Z = torch.zeros(2, 3)  # logits: 2 examples, 3 classes
Y = torch.tensor([0, 2])
CM = torch.tensor([[3, 1], [0, 4]])
P = [torch.zeros(2)]
G = [torch.ones(2)]
NET = nn.Sequential(nn.Identity())
FIT_NET = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
F32 = torch.zeros(4, 1, 2, 2)
Y4 = torch.tensor([0, 1, 0, 1])
FEATURES = torch.tensor([[0.0], [2.0], [10.0], [12.0]])


def enter(cm: contextlib.AbstractContextManager) -> None:
    """Enter and leave a context manager (its checks run on entry)."""
    with cm:
        pass


WRONG_TYPE: list[tuple[str, Callable[[], object], str]] = [
    # (what, call, the argument the message must name)
    ("seed_everything seed=1.5", lambda: repro.seed_everything(1.5), "seed"),
    ("seed_everything seed='0'", lambda: repro.seed_everything("0"), "seed"),
    ("seeded_run seed=1.5", lambda: enter(repro.seeded_run(1.5)), "seed"),
    ("seeded_run device=3", lambda: enter(repro.seeded_run(0, 3)), "device"),
    ("setup threads='2'", lambda: repro.setup(0, threads="2"), "threads"),
    ("pick_device 1", lambda: repro.pick_device(1), "device"),
    ("verdict tol='x'", lambda: verdict([1.0], [1.0], tol="x"), "tol"),
    ("verdict actual=object()", lambda: verdict(object(), [1.0]), "actual"),
    ("approx value='0.5'", lambda: approx("0.5"), "value"),
    ("approx sig=2.5", lambda: approx(1.0, 2.5), "sig"),
    ("check_answer tol='x'", lambda: check_answer(1, 1, tol="x"), "tol"),
    ("compare tol=True", lambda: compare(Z, Z, tol=True), "tol"),
    ("sgd_step lr='x'", lambda: optim.sgd_step(P, G, lr="x"), "lr"),
    ("sgd_step momentum=None", lambda: optim.sgd_step(P, G, 0.1, momentum=None), "momentum"),
    ("sgd_step params=tensor", lambda: optim.sgd_step(P[0], G, lr=0.1), "params"),
    ("sgd_step grads=[None]", lambda: optim.sgd_step(P, [None], lr=0.1), "grads"),
    ("Adam lr='x'", lambda: optim.Adam(P, lr="x"), "lr"),
    ("Adam betas=0.9", lambda: optim.Adam(P, betas=0.9), "betas"),
    ("TrainConfig lr='x'", lambda: TrainConfig(lr="x"), "lr"),
    ("fit seed=1.5", lambda: fit(FIT_NET, (F32, Y4), (F32, Y4), seed=1.5, progress=False), "seed"),
    ("cross_entropy logits=list", lambda: losses.cross_entropy([[0.0]], Y), "logits"),
    ("cross_entropy float target", lambda: losses.cross_entropy(Z, Y.float()), "target"),
    ("one_hot num_classes=2.0", lambda: losses.one_hot(Y, 3.0), "num_classes"),
    ("one_hot y=list", lambda: losses.one_hot([0], 3), "y"),
    ("conv2d stride=1.5", lambda: ops.conv2d(X, W, stride=1.5), "stride"),
    ("conv2d x=list", lambda: ops.conv2d([[1.0]], W), "x"),
    ("conv2d integer x", lambda: ops.conv2d(X.long(), W), "x"),
    ("max_pool2d kernel_size='2'", lambda: ops.max_pool2d(X, "2"), "kernel_size"),
    ("convolve1d mode=3", lambda: ops.convolve1d(torch.zeros(3), torch.zeros(2), 3), "mode"),
    ("conv2d_backward grad_out=list", lambda: backprop.conv2d_backward([1.0], X, W), "grad_out"),
    ("conv_output_size kernel_size=3.0", lambda: shapes.conv_output_size(28, 3.0), "kernel_size"),
    ("gaussian sigma='1'", lambda: kernels.gaussian(5, "1"), "sigma"),
    ("box_blur size=3.0", lambda: kernels.box_blur(3.0), "size"),
    ("sobel axis=1", lambda: kernels.sobel(1), "axis"),
    ("laplacian diagonals=1", lambda: kernels.laplacian(1), "diagonals"),
    ("apply_kernel image=list", lambda: kernels.apply_kernel([[0.0]], kernels.sobel()), "image"),
    ("apply_kernel padding_mode=None", lambda: kernels.apply_kernel(Z, Z, None), "padding_mode"),
    ("shift dy=1.0", lambda: shift.shift(X, 1.0, 0), "dy"),
    ("shift fill='0'", lambda: shift.shift(X, 0, 0, "0"), "fill"),
    ("pooled_change pool='max'", lambda: shift.pooled_change(X, 0, 1, "max"), "pool"),
    ("relative_l2 after=list", lambda: shift.relative_l2(Z, [0.0]), "after"),
    ("conv_as_matrix weight=list", lambda: dense.conv_as_matrix([[1.0]], 3), "weight"),
    ("conv_as_linear conv=Linear", lambda: dense.conv_as_linear(nn.Linear(2, 2), 3), "conv"),
    (
        "confusion_matrix num_classes=2.0",
        lambda: metrics.confusion_matrix(Y, Y, 3.0),
        "num_classes",
    ),
    ("confusion_matrix y_true=list", lambda: metrics.confusion_matrix([0], Y[:1], 3), "y_true"),
    ("accuracy cm=float", lambda: metrics.accuracy(CM.float()), "cm"),
    (
        "most_confused_pairs symmetric=1",
        lambda: metrics.most_confused_pairs(CM, symmetric=1),
        "symmetric",
    ),
    ("top_k_accuracy scores=list", lambda: metrics.top_k_accuracy([[0.5]], Y[:1], 1), "scores"),
    ("format_confusion names='ab'", lambda: metrics.format_confusion(CM, "ab"), "names"),
    ("dc_share integer filters", lambda: features.dc_share(CM), "filters"),
    ("feature_maps model='m'", lambda: features.feature_maps("m", F32, ["0"]), "model"),
    ("feature_maps layer_names='0'", lambda: features.feature_maps(NET, F32, "0"), "layer_names"),
    ("top_activating k=1.5", lambda: features.top_activating(NET, F32, "0", 0, 1.5), "k"),
    ("mean_activations relu=1", lambda: features.mean_activations(NET, F32, "0", relu=1), "relu"),
    ("scatter_ratio float labels", lambda: features.scatter_ratio(FEATURES, Y.float()), "labels"),
    ("normalize std='1'", lambda: augment.normalize(Z, 0.0, "1"), "std"),
    ("normalize x=list", lambda: augment.normalize([1.0], 0.0, 1.0), "x"),
    ("mean_and_std integer x", lambda: augment.mean_and_std(Y), "x"),
    ("shift_and_flip generator=None", lambda: augment.shift_and_flip(X, None), "generator"),
    ("trained seed=1.5", lambda: cache.trained("fast", 1.5), "seed"),
    ("trained name=3", lambda: cache.trained(3), "name"),
]

WRONG_VALUE: list[tuple[str, Callable[[], object], str]] = [
    ("seed_everything seed=-1", lambda: repro.seed_everything(-1), "seed"),
    ("seed_everything seed=MAX_SEED+1", lambda: repro.seed_everything(MAX_SEED + 1), "seed"),
    ("seeded_run seed=-1", lambda: enter(repro.seeded_run(-1)), "seed"),
    ("seeded_run seed=MAX_SEED+1", lambda: enter(repro.seeded_run(MAX_SEED + 1)), "seed"),
    ("seeded_run device='gpu'", lambda: enter(repro.seeded_run(0, "gpu")), "device"),
    ("setup threads=0", lambda: repro.setup(0, threads=0), "threads"),
    ("pick_device 'tpu'", lambda: repro.pick_device("tpu"), "device"),
    ("verdict tol=-1", lambda: verdict([1.0], [1.0], tol=-1), "tol"),
    ("approx sig=0", lambda: approx(1.0, 0), "sig"),
    ("approx decimals=-1", lambda: approx(1.0, decimals=-1), "decimals"),
    ("approx tensor value", lambda: approx(torch.ones(2)), "value"),
    ("check_answer tol=-1", lambda: check_answer(1, 1, tol=-1), "tol"),
    ("sgd_step lr=-1", lambda: optim.sgd_step(P, G, lr=-1), "lr"),
    ("sgd_step lr=0", lambda: optim.sgd_step(P, G, lr=0), "lr"),
    ("sgd_step momentum=1", lambda: optim.sgd_step(P, G, 0.1, momentum=1.0), "momentum"),
    ("sgd_step grads shape", lambda: optim.sgd_step(P, [torch.ones(3)], lr=0.1), "grads"),
    ("sgd_step velocity count", lambda: optim.sgd_step(P, G, 0.1, velocity=[]), "velocity"),
    ("Adam lr=0", lambda: optim.Adam(P, lr=0), "lr"),
    ("Adam eps=-1", lambda: optim.Adam(P, eps=-1.0), "eps"),
    ("Adam betas=(0.9,)", lambda: optim.Adam(P, betas=(0.9,)), "betas"),
    ("Adam beta2=1", lambda: optim.Adam(P, betas=(0.9, 1.0)), "beta2"),
    ("TrainConfig lr=-1", lambda: TrainConfig(lr=-1), "lr"),
    ("fit seed=MAX_SEED+1", lambda: fit(FIT_NET, (F32, Y4), (F32, Y4), seed=MAX_SEED + 1), "seed"),
    ("cross_entropy logits 1-D", lambda: losses.cross_entropy(torch.zeros(3), Y), "logits"),
    ("cross_entropy label 3", lambda: losses.cross_entropy(Z, torch.tensor([0, 3])), "target"),
    ("one_hot num_classes=0", lambda: losses.one_hot(Y, 0), "num_classes"),
    ("one_hot label 2 of 2", lambda: losses.one_hot(Y, 2), "y"),
    ("conv2d stride=0", lambda: ops.conv2d(X, W, stride=0), "stride"),
    ("conv2d x 2-D", lambda: ops.conv2d(torch.zeros(5, 5), W), "x"),
    ("conv2d padding=-1", lambda: ops.conv2d(X, W, padding=-1), "padding"),
    ("max_pool2d kernel_size=0", lambda: ops.max_pool2d(X, 0), "kernel_size"),
    (
        "convolve1d mode='same'",
        lambda: ops.convolve1d(torch.zeros(3), torch.zeros(2), "same"),
        "mode",
    ),
    (
        "conv_transpose2d output_padding=-1",
        lambda: backprop.conv_transpose2d(X, W.transpose(0, 1), output_padding=-1),
        "output_padding",
    ),
    ("conv_output_size size=0", lambda: shapes.conv_output_size(0, 3), "size"),
    ("gaussian sigma=0", lambda: kernels.gaussian(5, 0.0), "sigma"),
    ("gaussian sigma=nan", lambda: kernels.gaussian(5, float("nan")), "sigma"),
    ("gaussian size=4", lambda: kernels.gaussian(4), "size"),
    ("sobel axis='z'", lambda: kernels.sobel("z"), "axis"),
    ("apply_kernel kernel 3-D", lambda: kernels.apply_kernel(Z, Z[None]), "kernel"),
    (
        "apply_kernel padding_mode='same'",
        lambda: kernels.apply_kernel(Z, Z, "same"),
        "padding_mode",
    ),
    ("shift dy=5", lambda: shift.shift(X, 5, 0), "dy"),
    ("shift x 3-D", lambda: shift.shift(X[0], 0, 0), "x"),
    (
        "pooled_change measure='l1'",
        lambda: shift.pooled_change(X, 0, 1, nn.Identity(), "l1"),
        "measure",
    ),
    ("conv_as_matrix input_size=0", lambda: dense.conv_as_matrix(W, 0), "input_size"),
    ("conv_as_matrix empty weight", lambda: dense.conv_as_matrix(W[:0], 3), "weight"),
    ("confusion_matrix num_classes=0", lambda: metrics.confusion_matrix(Y, Y, 0), "num_classes"),
    ("confusion_matrix label 2 of 2", lambda: metrics.confusion_matrix(Y, Y, 2), "y_true"),
    ("accuracy cm 2x3", lambda: metrics.accuracy(torch.ones(2, 3, dtype=torch.long)), "cm"),
    ("most_confused_pairs k=0", lambda: metrics.most_confused_pairs(CM, 0), "k"),
    ("top_k_accuracy scores 1-D", lambda: metrics.top_k_accuracy(torch.rand(2), Y, 1), "scores"),
    ("format_confusion width=1", lambda: metrics.format_confusion(CM, ["a", "b"], 1), "width"),
    ("dc_share filters 1-D", lambda: features.dc_share(torch.zeros(9)), "filters"),
    ("feature_maps layer_names=[]", lambda: features.feature_maps(NET, F32, []), "layer_names"),
    ("top_activating k=0", lambda: features.top_activating(NET, F32, "0", 0, 0), "k"),
    ("top_activating channel=-1", lambda: features.top_activating(NET, F32, "0", -1, 1), "channel"),
    ("scatter_ratio features 1-D", lambda: features.scatter_ratio(FEATURES[:, 0], Y), "features"),
    ("normalize std=0", lambda: augment.normalize(Z, 0.0, 0.0), "std"),
    ("normalize mean=inf", lambda: augment.normalize(Z, float("inf"), 1.0), "mean"),
    (
        "shift_and_flip max_shift=-1",
        lambda: augment.shift_and_flip(X, torch.Generator(), -1),
        "max_shift",
    ),
    ("shift_and_flip x 3-D", lambda: augment.shift_and_flip(X[0], torch.Generator()), "x"),
    ("trained name='nope'", lambda: cache.trained("nope"), "name"),
    ("trained seed=-1", lambda: cache.trained("fast", -1), "seed"),
]


@pytest.mark.parametrize(("what", "call", "name"), WRONG_TYPE, ids=[r[0] for r in WRONG_TYPE])
def test_a_wrong_type_raises_type_error_naming_the_argument(what, call, name):
    with pytest.raises(TypeError) as info:
        call()
    assert name in str(info.value), str(info.value)


@pytest.mark.parametrize(("what", "call", "name"), WRONG_VALUE, ids=[r[0] for r in WRONG_VALUE])
def test_a_wrong_value_raises_value_error_naming_the_argument(what, call, name):
    with pytest.raises(ValueError) as info:
        call()
    assert not isinstance(info.value, TypeError), f"{what}: a wrong value is no TypeError"
    assert name in str(info.value), str(info.value)


def test_the_table_is_a_good_sample() -> None:
    assert len(WRONG_TYPE) >= 30 and len(WRONG_VALUE) >= 30


# ---------------------------------------------------------------- one mistake, one type


SEEDED: list[Callable[[object], object]] = [
    repro.seed_everything,
    lambda s: enter(repro.seeded_run(s)),
    lambda s: repro.setup(s, threads=1),
    lambda s: fit(FIT_NET, (F32, Y4), (F32, Y4), seed=s, progress=False),
    lambda s: cache.trained("fast", s),
    _validate.seed,
]


@pytest.mark.parametrize("fn", SEEDED)
@pytest.mark.parametrize(
    ("seed", "error"), [(1.5, TypeError), (True, TypeError), (-1, ValueError), (2**32, ValueError)]
)
def test_every_seed_has_the_same_bounds_and_errors(threads, fn, seed, error):
    with pytest.raises(error, match="seed must be an int") as info:
        fn(seed)
    assert isinstance(info.value, TypeError) == (error is TypeError)


def test_the_largest_seed_is_accepted_everywhere(threads) -> None:
    repro.seed_everything(MAX_SEED)
    enter(repro.seeded_run(MAX_SEED))
    assert _validate.seed(MAX_SEED) == MAX_SEED == 2**32 - 1
    repro.seed_everything(0)


LEARNING_RATES: list[Callable[[object], object]] = [
    lambda lr: optim.sgd_step(P, G, lr=lr),
    lambda lr: optim.Adam(P, lr=lr),
    lambda lr: TrainConfig(lr=lr),
]


@pytest.mark.parametrize("fn", LEARNING_RATES)
@pytest.mark.parametrize(
    ("lr", "error"), [("x", TypeError), (None, TypeError), (-1, ValueError), (0, ValueError)]
)
def test_every_learning_rate_has_the_same_rule(fn, lr, error):
    with pytest.raises(error, match="lr must be a number > 0") as info:
        fn(lr)
    assert isinstance(info.value, TypeError) == (error is TypeError)


@pytest.mark.parametrize(
    "call",
    [
        lambda: ops.conv2d([[1.0]], W),
        lambda: losses.cross_entropy([[0.0]], Y),
        lambda: metrics.accuracy([[1, 0], [0, 1]]),
        lambda: features.dc_share([[1.0]]),
        lambda: shift.shift([[1.0]], 0, 0),
        lambda: dense.conv_as_matrix([[1.0]], 3),
        lambda: kernels.apply_kernel([[1.0]], kernels.sobel()),
        lambda: augment.normalize([1.0], 0.0, 1.0),
        lambda: optim.sgd_step([[1.0]], G, lr=0.1),
    ],
)
def test_a_list_where_a_tensor_is_needed_is_a_type_error(call):
    with pytest.raises(TypeError, match=r"must be a torch\.Tensor"):
        call()
