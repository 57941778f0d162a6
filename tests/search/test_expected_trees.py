"""Fixed searches reproduce the stored expected trees exactly (ints, bools, hashes) or within 1e-6 (floats).

The fixture is written by `tests.search.make_expected_trees` (see there for the matrix of
cases); a failure names the case, the move and the field that changed.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.search.make_expected_trees import CASES, FIXTURE, run_case

ATOL = 1e-6


@pytest.fixture(scope="module")
def expected() -> dict:
    return json.loads(FIXTURE.read_text())


def test_the_fixture_holds_every_case(expected):
    assert sorted(expected) == sorted(case.name for case in CASES)


def assert_same(actual, stored, where: str) -> None:
    """Recursive comparison: dicts by key, lists element-wise, floats within ATOL, the rest exactly."""
    if isinstance(stored, dict):
        assert isinstance(actual, dict) and sorted(actual) == sorted(stored), f"{where}: keys differ"
        for key in stored:
            assert_same(actual[key], stored[key], f"{where}.{key}")
    elif isinstance(stored, list) and stored and _all_numbers(stored) and _has_float(stored):
        np.testing.assert_allclose(
            np.array(actual, dtype=float), np.array(stored, dtype=float), rtol=0, atol=ATOL, err_msg=where
        )
    elif isinstance(stored, list):
        assert isinstance(actual, list) and len(actual) == len(stored), f"{where}: length differs"
        for i, (a, s) in enumerate(zip(actual, stored, strict=True)):
            assert_same(a, s, f"{where}[{i}]")
    elif isinstance(stored, float):
        assert actual == pytest.approx(stored, rel=0, abs=ATOL), where
    else:
        assert actual == stored and type(actual) is type(stored), f"{where}: {actual!r} != {stored!r}"


def _all_numbers(values: list) -> bool:
    return all(
        isinstance(v, (int, float)) and not isinstance(v, bool) or isinstance(v, list) and _all_numbers(v)
        for v in values
    )


def _has_float(values: list) -> bool:
    return any(isinstance(v, float) or isinstance(v, list) and _has_float(v) for v in values)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_search_reproduces_the_expected_tree(expected, case):
    assert_same(run_case(case), expected[case.name], case.name)
