"""Each code exercise's self-check covers every argument its statement names.

A check's case grid is a tuple of cases keyed by the argument names of the
exercise's function; the statement is read from the chapter's markdown, so a
statement that grows an argument the grid never varies fails here.
"""

from __future__ import annotations

import json
import re

from conftest import ROOT

from cnnnotes.check import optim as optim_checks
from cnnnotes.check import training as training_checks

CH08_EXERCISE = re.compile(
    r"\{exercise-start\}\s*\n:label: ([\w-]+)\s*\n```\n(.*?)```\{exercise-end\}", re.S
)
CH08_SIGNATURE = re.compile(r"write\s+`(\w+)\(([^)]*)\)`", re.I)
CH08_CHECK_NAMED = re.compile(r"`(check_\w+|compare)\(")


def _ch08_statements() -> dict[str, str]:
    """Exercise label → statement text, from chapter 8's markdown cells."""
    nb = json.loads((ROOT / "book" / "08_optimisers_and_loop.ipynb").read_text(encoding="utf-8"))
    md = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    return dict(CH08_EXERCISE.findall(md))


CH08_GRIDS = {
    "check_train_loop": training_checks.TRAIN_LOOP_CASES,
    "check_accumulate_step": training_checks.ACCUMULATE_CASES,
    "check_momentum_steps": optim_checks.MOMENTUM_CASES,
}


def test_ch08_every_exercise_names_the_call_that_checks_it():
    statements = _ch08_statements()
    assert len(statements) >= 3, sorted(statements)
    for label, text in statements.items():
        assert CH08_CHECK_NAMED.search(text) or "`check_answer`" in text, f"{label} names no check"


def test_ch08_case_grids_cover_every_argument_of_the_exercise():
    code = {k: v for k, v in _ch08_statements().items() if v.lstrip().startswith("*(Code.)*")}
    assert len(code) >= 3, sorted(code)
    for label, text in code.items():
        signature = CH08_SIGNATURE.search(text)
        assert signature, f"{label}: the statement shows no `name(arguments)` to write"
        arguments = [a.strip() for a in signature.group(2).split(",")]
        check = CH08_CHECK_NAMED.search(text).group(1)
        assert check in CH08_GRIDS, f"{label}: {check} has no case grid"
        grid = CH08_GRIDS[check]
        for argument in arguments:
            assert all(argument in case for case in grid), f"{label}: {argument} not in {check}"
            values = {repr(case[argument]) for case in grid}
            assert len(values) >= 2, f"{label}: {check} never varies {argument}"


# ---------------------------------------------------------------- chapter 7
# Each grid is a tuple of NamedTuples whose fields are the arguments of the learner's function;
# ``drawn`` lists the arguments drawn at random for each case (an upstream gradient, labels).

CH07_EXERCISE = re.compile(
    r"\{exercise-start\}\s*\n:label: ([\w-]+)\s*\n```\n(.*?)```\{exercise-end\}", re.S
)
CH07_CALL = re.compile(r"`(check_\w+|my_\w+)\(([^`]*)\)`")
CH07_PINNED = {"ex-lb-conv-back-s1": {"stride"}}
"""Arguments a statement fixes to one value ("for stride 1, no padding and dilation 1")."""


def _ch07_statements() -> dict[str, str]:
    nb = json.loads((ROOT / "book" / "07_loss_and_backprop.ipynb").read_text(encoding="utf-8"))
    md = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    return dict(CH07_EXERCISE.findall(md))


def _ch07_grid(check: str, options: dict) -> tuple:
    """The cases ``check(fn, **options)`` runs."""
    from cnnnotes.check import backprop, conv_backward, sizes

    if check == "check_conv2d_backward":
        return conv_backward.cases_for(options.get("stride", 1))
    grids = {
        "check_cross_entropy_grad": backprop.CROSS_ENTROPY_CASES,
        "check_max_pool_backward": backprop.POOL_BACKWARD_CASES,
        "check_conv_transpose_size": sizes.CONV_TRANSPOSE_SIZE_CASES,
    }
    assert check in grids, f"{check} has no case grid"
    return grids[check]


def _ch07_code_exercises() -> list[tuple[str, list[str], str, dict]]:
    """(label, arguments of the function to write, check, its options) of each statement."""
    import ast

    found = []
    for label, text in _ch07_statements().items():
        calls = CH07_CALL.findall(text)
        mine = [(name, args) for name, args in calls if name.startswith("my_")]
        if not mine:
            continue
        name, args = mine[-1]
        arguments = [a.split("=")[0].strip() for a in args.split(",")]
        check = next((c, a) for c, a in calls if c.startswith("check_") and name in a)
        options = {}
        for part in check[1].split(",")[1:]:
            key, value = part.split("=")
            options[key.strip()] = ast.literal_eval(value.strip())
        found.append((label, arguments, check[0], options))
    return found


def test_ch07_every_exercise_names_the_call_that_checks_it():
    statements = _ch07_statements()
    assert len(statements) >= 5, sorted(statements)
    for label, text in statements.items():
        assert re.search(r"`check_\w+\(", text), f"{label} names no check call"


def test_ch07_case_grids_cover_every_argument_of_the_exercise():
    exercises = _ch07_code_exercises()
    assert len(exercises) >= 5, [e[0] for e in exercises]
    for label, arguments, check, options in exercises:
        grid = _ch07_grid(check, options)
        fields, drawn = type(grid[0])._fields, getattr(type(grid[0]), "drawn", ())
        for argument in arguments:
            assert argument in fields or argument in drawn, f"{label}: {check} lacks {argument}"
            if argument in drawn:
                continue
            values = {repr(getattr(case, argument)) for case in grid}
            if argument in CH07_PINNED.get(label, ()):
                assert len(values) == 1, f"{label}: {argument} is fixed, {check} varies it"
            else:
                assert len(values) >= 2, f"{label}: {check} never varies {argument}"


# ---------------------------------------------------------------- chapters 4 to 6
#
# Here the grid is read off the check itself: the check is run on a spy, a right answer
# that records every call, so the test sees exactly the arguments the check passes.

CH04_06_STATEMENT = re.compile(r":label: ([\w-]+)\s*\n```\n(.*?)```\{exercise-end\}", re.S)
CH04_06_SIGNATURE = re.compile(r"write `(my_\w+)\(([^)]*)\)`", re.I)
CH04_06_RANGE = re.compile(
    r"\b(size|kernel|stride|padding|dilation)s?\s+(?:up\s+to|\d+\s+to)\s+(\d+)"
)
"""A grid claim in a statement, e.g. "kernels 1 to 4" or "stride up to 4"."""


def _ch04_06_code_statements(chapter: str) -> dict[str, str]:
    """Label → statement of each exercise that asks for a function (`Write `my_...(...)``)."""
    nb = json.loads((ROOT / "book" / f"{chapter}.ipynb").read_text(encoding="utf-8"))
    md = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    found = CH04_06_STATEMENT.findall(md)
    return {label: text for label, text in found if CH04_06_SIGNATURE.search(text)}


def _rf(layers):
    r, j = 1, 1
    for k, s in layers:
        r, j = r + (k - 1) * j, j * s
    return r


def _ch04_06_cases():
    """(chapter, label, check, a right answer) of every code exercise of chapters 4-6."""
    import torch.nn.functional as F

    from cnnnotes.check import (
        check_avg_pool2d,
        check_output_size,
        check_pool2d,
        check_receptive_field,
    )
    from cnnnotes.conv.shapes import conv_output_size

    def avg(x, k, s, p, c):
        return F.avg_pool2d(x, k, s, p, count_include_pad=c)

    return [
        ("04_padding_stride", "ex-pad-own-function", check_output_size, conv_output_size),
        ("05_sizes_params_cost", "ex-sizes-rf", check_receptive_field, _rf),
        ("06_pooling", "ex-pool-max", check_pool2d, F.max_pool2d),
        ("06_pooling", "ex-pool-avg", check_avg_pool2d, avg),
    ]


def _seen(value) -> object:
    """What distinguishes one value of an argument: a tensor's shape, else the value."""
    return tuple(value.shape) if hasattr(value, "shape") else repr(value)


def test_ch04_06_every_code_exercise_has_a_grid_check():
    labels = {label for chapter in ("04_padding_stride", "05_sizes_params_cost", "06_pooling")
              for label in _ch04_06_code_statements(chapter)}  # fmt: skip
    assert labels == {label for _, label, _, _ in _ch04_06_cases()}


def test_ch04_06_case_grids_cover_every_argument_of_the_exercise():
    for chapter, label, check, right in _ch04_06_cases():
        text = _ch04_06_code_statements(chapter)[label]
        assert f"`{check.__name__}(" in text, f"{label}: the statement does not name {check}"
        signature = CH04_06_SIGNATURE.search(text)
        assert signature, f"{label}: the statement shows no `my_name(arguments)` to write"
        arguments = [a.strip() for a in signature.group(2).split(",")]
        calls = []

        def spy(*args, right=right, calls=calls):
            calls.append(args)
            return right(*args)

        assert check(spy).startswith("All"), f"{label}: a right answer fails {check.__name__}"
        assert {len(args) for args in calls} == {len(arguments)}, label
        for i, argument in enumerate(arguments):
            values = {_seen(args[i]) for args in calls}
            assert len(values) >= 2, f"{label}: {check.__name__} never varies {argument}"
        # the grid the statement describes is the grid the check runs
        named = {"size": "size", "kernel": "kernel_size", "stride": "stride",
                 "padding": "padding", "dilation": "dilation"}  # fmt: skip
        for word, top in CH04_06_RANGE.findall(text):
            if arguments == ["layers"]:  # receptive field: look inside the (kernel, stride) pairs
                column = {"kernel": 0, "stride": 1}[word]
                seen = {pair[column] for args in calls for pair in args[0]}
            else:
                seen = {args[arguments.index(named[word])] for args in calls}
            assert max(seen) == int(top), f"{label}: the statement says {word} up to {top}"


# ---------------------------------------------------------------- chapters 1 to 3
#
# The spy of chapters 4-6 again: a right answer that records every call shows the grid the
# check runs. Beyond "every argument takes two values", each exercise lists what its
# statement promises the grid holds (a non-square kernel, a batch, ...).

CH01_03 = ("01_images_as_tensors", "02_convolution", "03_conv_layer")
CH01_03_STATEMENT = re.compile(r":label: ([\w-]+)\s*\n```\n(.*?)```\{exercise-end\}", re.S)
CH01_03_SIGNATURE = re.compile(r"[Ww]rite `(\w+)\(([^)]*)\)`")
CH01_03_CHECK = re.compile(r"`(check_\w+|compare)\b")


def _ch01_03_statements() -> dict[str, str]:
    """Label → statement of every exercise of chapters 1-3."""
    found: dict[str, str] = {}
    for chapter in CH01_03:
        nb = json.loads((ROOT / "book" / f"{chapter}.ipynb").read_text(encoding="utf-8"))
        md = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
        found.update(CH01_03_STATEMENT.findall(md))
    return found


def _ch01_03_functions() -> dict[str, tuple]:
    """Label → (check, a right answer, what the grid must hold) of each exercise that asks
    for a function. Each promise is a test on the list of argument tuples the check passed."""
    import torch.nn.functional as F

    from cnnnotes.check import (
        check_1x1_as_linear,
        check_conv2d,
        check_corr2d,
        check_normalize,
        check_param_count,
        check_to_tensor,
    )

    def corr2d(x, w):
        return F.conv2d(x[None, None], w[None, None])[0, 0]

    return {
        "ex-images-to-tensor": (
            check_to_tensor,
            lambda image: image[None].float() / 255,
            {
                "an image that is not square": lambda calls: any(
                    a[0].shape[0] != a[0].shape[1] for a in calls
                ),
                "a white image (255 must give exactly 1)": lambda calls: any(
                    bool((a[0] == 255).all()) for a in calls
                ),
            },
        ),
        "ex-images-normalize": (
            check_normalize,
            lambda x, mean, std: (x - mean) / std,
            {
                "a batch of several images": lambda calls: any(a[0].shape[0] > 1 for a in calls),
                "images that are not square": lambda calls: any(
                    a[0].shape[2] != a[0].shape[3] for a in calls
                ),
            },
        ),
        "ex-conv-loops": (
            check_corr2d,
            corr2d,
            {
                "a kernel that is not square": lambda calls: any(
                    a[1].shape[0] != a[1].shape[1] for a in calls
                ),
                "an image that is not square": lambda calls: any(
                    a[0].shape[0] != a[0].shape[1] for a in calls
                ),
                "a kernel as large as the image": lambda calls: any(
                    a[0].shape == a[1].shape for a in calls
                ),
            },
        ),
        "ex-conv-layer-count": (
            check_param_count,
            lambda d, n, k: n * (k * k * d + 1),
            {
                "several input channels (the notes' slip shows)": lambda calls: any(
                    a[0] > 1 for a in calls
                ),
            },
        ),
        "ex-conv-layer-conv2d": (
            check_conv2d,
            F.conv2d,
            {
                "a batch of several images": lambda calls: any(a[0].shape[0] > 1 for a in calls),
                "several input channels": lambda calls: any(a[0].shape[1] > 1 for a in calls),
                "a kernel that is not square": lambda calls: any(
                    a[1].shape[2] != a[1].shape[3] for a in calls
                ),
                "a stride above 1": lambda calls: any(a[3] > 1 for a in calls),
                "padding": lambda calls: any(a[4] > 0 for a in calls),
            },
        ),
        "ex-conv-layer-1x1-linear": (
            check_1x1_as_linear,
            lambda conv: conv.weight[:, :, 0, 0],
            {
                "D different from N (a transposed weight has the wrong shape)": lambda calls: any(
                    a[0].in_channels != a[0].out_channels for a in calls
                ),
                "D equal to N (a transposed weight has the right shape)": lambda calls: any(
                    a[0].in_channels == a[0].out_channels > 1 for a in calls
                ),
                "one channel in or out (squeeze() drops it)": lambda calls: any(
                    1 in (a[0].in_channels, a[0].out_channels) for a in calls
                ),
            },
        ),
    }


def _ch01_03_seen(value) -> object:
    """What distinguishes one value of an argument: a tensor's shape, a layer's weight shape,
    else the value."""
    if hasattr(value, "weight"):
        return tuple(value.weight.shape)
    return tuple(value.shape) if hasattr(value, "shape") else repr(value)


def test_ch01_03_every_exercise_names_the_call_that_checks_it():
    statements = _ch01_03_statements()
    assert len(statements) >= 12, sorted(statements)
    for label, text in statements.items():
        assert CH01_03_CHECK.search(text), f"{label} names no check"


def test_ch01_03_every_function_exercise_has_a_grid_check():
    asked = {label for label, text in _ch01_03_statements().items()
             if CH01_03_SIGNATURE.search(text)}  # fmt: skip
    assert asked == set(_ch01_03_functions())


def test_ch01_03_case_grids_cover_every_argument_of_the_exercise():
    statements = _ch01_03_statements()
    for label, (check, right, promises) in _ch01_03_functions().items():
        text = statements[label]
        assert f"`{check.__name__}(" in text, f"{label}: the statement does not call {check}"
        arguments = [a.strip() for a in CH01_03_SIGNATURE.search(text).group(2).split(",")]
        calls = []

        def spy(*args, right=right, calls=calls):
            calls.append(args)
            return right(*args)

        assert check(spy).startswith("All"), f"{label}: a right answer fails {check.__name__}"
        assert {len(args) for args in calls} == {len(arguments)}, label
        for i, argument in enumerate(arguments):
            values = {_ch01_03_seen(args[i]) for args in calls}
            assert len(values) >= 2, f"{label}: {check.__name__} never varies {argument}"
        for promise, holds in promises.items():
            assert holds(calls), f"{label}: {check.__name__}'s grid has no case with {promise}"


def test_ch01_03_edge_kernel_grid_holds_what_the_statement_names():
    """ex-conv-horizontal designs a kernel, not a function: its grid is the test images."""
    from cnnnotes.check.convolution import EDGE_IMAGES

    text = _ch01_03_statements()["ex-conv-horizontal"]
    assert "`check_edge_kernel(" in text
    assert "flat regions" in text and "edges of both directions" in text
    flat = [img for _, _, img, _ in EDGE_IMAGES if bool((img == img[0, 0]).all())]
    rows = [s for _, _, img, s in EDGE_IMAGES if bool((img[:, 0] != img[0, 0]).any())]
    cols = [s for _, _, img, s in EDGE_IMAGES if bool((img[0] != img[0, 0]).any())]
    assert len(flat) >= 2, "flat images of two brightnesses"
    assert set(rows) == {1, -1}, "horizontal edges getting brighter and getting darker"
    assert cols and set(cols) == {0}, "vertical edges, to which the response must be 0"
    rising = [img for _, _, img, s in EDGE_IMAGES if bool((img[0] != img[0, 0]).any())]
    assert {bool(img[0, -1] > img[0, 0]) for img in rising} == {True, False}, "both directions"
