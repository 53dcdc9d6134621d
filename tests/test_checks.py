"""The shared argument checks: what passes, what fails, and that the error names the argument."""

from __future__ import annotations

import pytest
import torch

from ecgformer.checks import check_choice, check_fraction, check_heads, check_int, check_ints, check_tokens


@pytest.mark.parametrize("value, kwargs", [(1, {}), (7, {"odd": True}), (0, {"minimum": 0}), (3, {"maximum": 3}),
                                           (torch.tensor(5), {})])
def test_check_int_accepts(value: object, kwargs: dict) -> None:
    check_int("size", value, **kwargs)


@pytest.mark.parametrize("value, kwargs", [(0, {}), (True, {}), (2.0, {}), ("3", {}), (None, {}), (4, {"odd": True}),
                                           (4, {"maximum": 3}), (-1, {"minimum": 0})])
def test_check_int_rejects_naming_the_argument(value: object, kwargs: dict) -> None:
    with pytest.raises(ValueError, match=r"^window_size must be an .*int .*got"):
        check_int("window_size", value, **kwargs)


def test_check_ints_needs_every_entry_and_at_least_one() -> None:
    check_ints("kernels", (3, 5), odd=True)
    with pytest.raises(ValueError, match="kernels entries must be an odd int"):
        check_ints("kernels", (3, 4), odd=True)
    with pytest.raises(ValueError, match="kernels must hold at least one value"):
        check_ints("kernels", ())


def test_check_fraction_bounds() -> None:
    check_fraction("alpha", 1.0)
    check_fraction("p", 0.0, include_one=False)
    for value, include_one in ((1.0, False), (-0.1, True), (1.5, True), (True, True), ("0.5", True)):
        with pytest.raises(ValueError, match=r"^alpha must be in \[0, 1"):
            check_fraction("alpha", value, include_one=include_one)


def test_check_choice_lists_the_choices() -> None:
    check_choice("mode", "pool", ("conv", "pool"))
    with pytest.raises(ValueError, match=r"mode must be one of \('conv', 'pool'\), got 'avg'"):
        check_choice("mode", "avg", ("conv", "pool"))


def test_check_tokens_and_heads() -> None:
    check_tokens(torch.zeros(2, 5, 8), 8)
    for shape in ((2, 5, 4), (2, 0, 8), (5, 8)):
        with pytest.raises(ValueError, match="x must be tokens"):
            check_tokens(torch.zeros(shape), 8)
    check_heads(8, 4)
    with pytest.raises(ValueError, match="num_heads=3 must divide dim=8"):
        check_heads(8, 3)
    with pytest.raises(ValueError, match="num_heads must be an int >= 1"):
        check_heads(8, 0)
