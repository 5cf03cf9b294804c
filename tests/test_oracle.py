"""oracle.agree and oracle.cases.Draw: ours against a reference, the book's one check.

Every test here can fail: each plants the difference (a bug, a refusal, a mutation,
a changed seed) that the oracle must notice, or checks a count computed independently.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnnotes.oracle import Agreement, Disagreement, Refused, agree, matches
from cnnnotes.oracle.cases import Draw, draw_cases

SOME = settings(max_examples=100, deadline=None, database=None, derandomize=True)


def pair(draw: Draw) -> dict[str, int]:
    return {"a": draw.int(0, 9), "b": draw.int(0, 9)}


def add(a: int, b: int) -> int:
    return a + b


def add_badly(a: int, b: int) -> int:
    """``add`` with a planted bug: wrong whenever ``a`` is 7."""
    return a + b + (a == 7)


# ---------------------------------------------------------------- agreeing and disagreeing


def test_identical_functions_agree_exactly():
    result = agree(add, add, pair, n_cases=200, claim="sum")
    assert result == Agreement("sum", 200, 0, None, "exact", True)
    assert result.ok and str(result) == "sum: 200 random cases, all exact"


def test_a_planted_bug_is_counted_and_its_first_case_reported():
    result = agree(add_badly, add, pair, n_cases=200, claim="sum")
    drawn = draw_cases(pair, 200)
    bad = [c for c in drawn if c["a"] == 7]
    assert 0 < len(bad) < 200  # the cases both hit and miss the bug
    assert not result.ok and result.mismatches == len(bad) and result.cases == 200
    first = bad[0]
    want = first["a"] + first["b"]
    assert result.first == Disagreement(first, want + 1, want)
    assert str(result) == (
        f"sum: 200 random cases, {len(bad)} DIFFERENT; "
        f"first: a=7, b={first['b']}: ours {want + 1}, reference {want}"
    )


def test_the_first_failing_case_is_the_earliest_in_a_fixed_list():
    cases = [{"a": 1, "b": 1}, {"a": 7, "b": 2}, {"a": 7, "b": 5}, {"a": 3, "b": 3}]
    result = agree(add_badly, add, cases)
    assert (result.cases, result.mismatches, result.random) == (4, 2, False)
    assert result.first == Disagreement({"a": 7, "b": 2}, 10, 9)
    assert str(result) == (
        "add_badly vs add: 4 cases, 2 DIFFERENT; first: a=7, b=2: ours 10, reference 9"
    )


def test_cases_may_be_any_iterable_of_mappings():
    result = agree(add, add, ({"a": i, "b": -i} for i in range(5)))
    assert result.ok and result.cases == 5 and str(result) == "add vs add: 5 cases, all exact"


def test_lambdas_are_named_in_the_default_claim():
    result = agree(lambda a, b: a * b, add, [{"a": 2, "b": 2}])
    assert str(result) == "a lambda vs add: 1 cases, all exact"


# ---------------------------------------------------------------- refusals


def refuse_odd(a: int, b: int) -> int:
    if a % 2:
        raise ValueError(f"a={a} is odd")
    return a + b


def test_two_refusals_of_the_same_cases_agree():
    other = lambda a, b: a + b if a % 2 == 0 else 1 // 0  # noqa: E731 (a ZeroDivisionError)
    result = agree(refuse_odd, other, pair, n_cases=100)
    odd = sum(c["a"] % 2 for c in draw_cases(pair, 100))
    assert result.ok and result.level == "exact" and 0 < result.refused == odd < 100
    assert (
        str(result)
        == f"refuse_odd vs a lambda: 100 random cases, all exact ({odd} refused by both)"
    )


def test_one_refusal_disagrees_and_says_what_was_raised():
    result = agree(refuse_odd, add, [{"a": 2, "b": 0}, {"a": 3, "b": 4}])
    assert result.mismatches == 1
    assert isinstance(result.first.ours, Refused) and result.first.reference == 7
    assert str(result.first.ours) == "raised ValueError: a=3 is odd"
    assert str(result).endswith("first: a=3, b=4: ours raised ValueError: a=3 is odd, reference 7")
    backwards = agree(add, refuse_odd, [{"a": 3, "b": 4}])
    assert str(backwards).endswith("ours 7, reference raised ValueError: a=3 is odd")


def test_a_refusal_never_matches_a_value():
    assert matches(Refused(ValueError("no")), Refused(RuntimeError("no"))) == "exact"
    assert matches(Refused(ValueError("no")), None) is None
    assert matches(0, Refused(ValueError("no"))) is None


# ---------------------------------------------------------------- comparing results


def test_tuples_of_tensors_are_compared_element_by_element():
    x = torch.arange(6.0, dtype=torch.float64)
    good = agree(lambda t: (t, t * 2), lambda t: (t, t + t), [{"t": x}])
    assert good.ok and good.level == "agree to 1e-10"
    for bad in (lambda t: (t, t * 2 + 1e-6), lambda t: (t + 1e-6, t * 2), lambda t: (t,)):
        result = agree(bad, lambda t: (t, t + t), [{"t": x}])
        assert result.mismatches == 1, bad


def test_ints_are_exact_and_float64_agrees_to_1e10():
    ints = agree(lambda t: t * 3, lambda t: t + t + t, [{"t": torch.arange(5)}])
    assert ints.ok and ints.level == "exact"
    x = torch.linspace(0, 1, 7, dtype=torch.float64)
    assert str(agree(lambda t: t * 3, lambda t: t + t + t, [{"t": x}])).endswith(
        "all agree to 1e-10"
    )
    assert not agree(lambda t: t + 1e-8, lambda t: t, [{"t": x}]).ok
    assert not agree(lambda n: n + 1, lambda n: n, [{"n": 10**9}]).ok  # an int off by one


def test_the_loosest_tolerance_used_is_reported():
    x64 = torch.ones(3, dtype=torch.float64)
    cases = [{"t": x64}, {"t": x64.float()}, {"t": torch.ones(3, dtype=torch.long)}]
    assert agree(lambda t: t, lambda t: t, cases).level == "agree to 1e-05"
    assert agree(lambda t: t, lambda t: t, cases[::2]).level == "agree to 1e-10"


def test_tol_widens_or_narrows_the_comparison():
    x = torch.ones(4, dtype=torch.float64)
    loose = agree(lambda t: t + 1e-8, lambda t: t, [{"t": x}], tol=1e-6)
    assert loose.ok and loose.level == "agree to 1e-06"
    assert not agree(lambda t: t * (1 + 1e-12), lambda t: t, [{"t": 3 * x}], tol=0).ok


def test_a_custom_same_decides_and_refusals_still_count():
    def near(a: int, b: int) -> bool:
        return abs(a - b) <= 1

    result = agree(add_badly, add, pair, n_cases=100, same=near)
    assert result.ok and result.level == "agree"
    assert str(result).endswith("all agree")
    assert not agree(lambda a, b: a + b + 2, add, pair, n_cases=100, same=near).ok
    refused = agree(refuse_odd, add, [{"a": 1, "b": 1}], same=lambda a, b: True)
    assert refused.mismatches == 1  # `same` is not asked about a refusal


def test_bools_are_not_numbers_that_equal_ints():
    assert matches(True, 1) is None and matches(True, True) == "exact"


# ---------------------------------------------------------------- drawing cases


def test_the_same_seed_gives_the_same_cases_and_another_seed_others():
    def seen_with(seed: int) -> list[tuple[int, int]]:
        seen: list[tuple[int, int]] = []
        agree(lambda a, b: seen.append((a, b)), lambda a, b: None, pair, n_cases=30, seed=seed)
        return seen

    assert seen_with(3) == seen_with(3) == [(c["a"], c["b"]) for c in draw_cases(pair, 30, 3)]
    assert seen_with(3) != seen_with(4)


def test_a_case_function_returning_none_is_asked_again():
    calls = []

    def even(draw: Draw) -> dict[str, int] | None:
        calls.append(1)
        a = draw.int(0, 9)
        return {"a": a} if a % 2 == 0 else None

    cases = draw_cases(even, 50)
    assert len(cases) == 50 and all(c["a"] % 2 == 0 for c in cases)
    assert len(calls) > 50  # some draws were rejected and drawn again
    assert agree(lambda a: a % 2, lambda a: 0, even, n_cases=50).ok


def test_a_case_function_that_always_returns_none_is_an_error():
    with pytest.raises(ValueError, match="rejected almost every draw"):
        agree(add, add, lambda draw: None, n_cases=5)


@pytest.mark.parametrize("n_cases", [0, -1, 2.5, True, "10", None])
def test_n_cases_must_be_a_positive_int_with_a_case_function(n_cases):
    with pytest.raises(ValueError, match="n_cases"):
        agree(add, add, pair, n_cases=n_cases)


def test_n_cases_does_not_go_with_a_fixed_list():
    with pytest.raises(ValueError, match="n_cases"):
        agree(add, add, [{"a": 1, "b": 2}], n_cases=1)


@pytest.mark.parametrize("fns", [(3, add), (add, "add"), (None, None)])
def test_ours_and_reference_must_be_functions(fns):
    with pytest.raises(TypeError, match="must be functions"):
        agree(*fns, pair, n_cases=3)


# ---------------------------------------------------------------- arguments are copies


def test_a_function_that_changes_its_arguments_does_not_spoil_the_reference():
    def ours(x: torch.Tensor, items: list[int]) -> tuple[float, int]:
        result = (float(x.sum()), len(items))
        x.zero_()  # both changes, in place, after the result was computed
        items.append(99)
        return result

    def reference(x: torch.Tensor, items: list[int]) -> tuple[float, int]:
        return float(x.sum()), len(items)

    case = {"x": torch.ones(3, dtype=torch.float64), "items": [1, 2]}
    result = agree(ours, reference, [case])
    assert result.ok, str(result)
    assert case["items"] == [1, 2] and torch.equal(case["x"], torch.ones(3, dtype=torch.float64))
    drawn = agree(ours, reference, lambda d: {"x": d.tensor(4), "items": [d.int(0, 3)]}, n_cases=20)
    assert drawn.ok, str(drawn)


# ---------------------------------------------------------------- wording


def test_str_of_an_agreement():
    assert str(Agreement("W'", 10_000, 0, level="exact")) == "W': 10,000 random cases, all exact"
    assert str(Agreement("W'", 3, 0, level="agree to 1e-10", random=False)) == (
        "W': 3 cases, all agree to 1e-10"
    )
    first = Disagreement({"W": 7, "F": 3}, 2, 3)
    failing = Agreement("W'", 1_500, 1_200, first, random=True)
    assert not failing.ok
    assert (
        str(failing)
        == "W': 1,500 random cases, 1,200 DIFFERENT; first: W=7, F=3: ours 2, reference 3"
    )


def test_a_disagreement_shows_small_tensors_and_shapes_of_big_ones():
    first = Disagreement(
        {"x": torch.zeros(2, 5), "k": torch.tensor([1, 2])}, torch.ones(2), "a" * 80
    )
    assert first.describe() == (
        f"x=tensor of shape (2, 5), k=[1, 2]: ours [1.0, 1.0], reference '{'a' * 56}..."
    )


# ---------------------------------------------------------------- Draw stays in range


@SOME
@given(seed=st.integers(0, 2**32), low=st.integers(-50, 50), width=st.integers(0, 20))
def test_draw_int_and_ints_stay_in_range(seed, low, width):
    draw, high = Draw(torch.Generator().manual_seed(seed)), low + width
    assert all(low <= draw.int(low, high) <= high for _ in range(20))
    values = draw.ints(7, low, high)
    assert len(values) == 7 and all(type(v) is int and low <= v <= high for v in values)


def test_draw_int_reaches_both_ends_and_refuses_an_empty_range():
    draw = Draw(torch.Generator().manual_seed(0))
    assert {draw.int(2, 4) for _ in range(200)} == {2, 3, 4}
    assert {draw.flag() for _ in range(50)} == {True, False}
    with pytest.raises(ValueError, match="empty range"):
        draw.int(3, 2)


@SOME
@given(seed=st.integers(0, 2**32), options=st.lists(st.text(max_size=3), min_size=1, max_size=5))
def test_draw_flag_and_pick_give_allowed_values(seed, options):
    draw = Draw(torch.Generator().manual_seed(seed))
    assert all(type(draw.flag()) is bool for _ in range(5))
    assert all(draw.pick(options) in options for _ in range(10))


@SOME
@given(
    seed=st.integers(0, 2**32),
    shape=st.lists(st.integers(0, 4), min_size=1, max_size=3),
    high=st.integers(1, 5),
)
def test_draw_tensors_have_the_shape_dtype_and_range_asked_for(seed, shape, high):
    draw = Draw(torch.Generator().manual_seed(seed))
    t = draw.tensor(*shape)
    assert t.shape == tuple(shape) and t.dtype == torch.float64
    assert draw.tensor(*shape, dtype=torch.float32).dtype == torch.float32
    s = draw.small_ints(*shape, high=high)
    assert s.shape == tuple(shape) and s.dtype == torch.float64
    assert bool(((s >= 0) & (s < high) & (s == s.round())).all())
