import numpy as np
import pytest

from thresher.budget import Budget, Limit
from thresher.errors import UsageError


@pytest.mark.parametrize(
    "text, kind, value",
    [
        (2000, "count", 2000),
        ("2000", "count", 2000),
        ("50k", "count", 50_000),
        (0.1, "fraction", 0.1),
        ("0.25", "fraction", 0.25),
        ("10%", "fraction", 0.1),
        ("2M tokens", "tokens", 2_000_000),
        ("1.5k tokens", "tokens", 1500),
        ("500 tok", "tokens", 500),
    ],
)
def test_parse(text, kind, value):
    budget = Budget.parse(text)
    assert budget.kind == kind
    assert budget.value == pytest.approx(value)


@pytest.mark.parametrize("bad", ["", "ten", -5, 1.5, 0.0, "0%", True, "3.5", [3]])
def test_parse_rejects_with_a_usage_error(bad):
    with pytest.raises(UsageError):
        Budget.parse(bad)


def test_resolve_counts_and_fractions():
    assert Budget.parse("10%").resolve(1000).count == 100
    assert Budget.parse(0.29).resolve(100).count == 29
    assert Budget.parse(7).resolve(7).count == 7


def test_budget_larger_than_pool_is_an_error_unless_replacing():
    with pytest.raises(UsageError, match="more than the pool"):
        Budget.parse(11).resolve(10)
    assert Budget.parse(11).resolve(10, replace=True).count == 11
    with pytest.raises(UsageError, match="tokens"):
        Budget.parse("100 tokens").resolve(10, total_tokens=50)


def test_token_limit_cuts_before_the_record_that_does_not_fit():
    limit = Limit(count=None, tokens=10)
    order = np.array([3, 0, 1, 2])
    costs = np.array([4, 5, 100, 3])
    # 3 (3 tokens) + 0 (4) = 7; then 1 (5) would make 12 > 10: stop there.
    assert limit.cut(order, costs).tolist() == [3, 0]
