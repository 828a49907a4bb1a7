import pytest

from thresher.engine import LocalEngine, get_engine
from thresher.errors import UsageError


def _square(x):
    return x * x


def test_results_come_back_in_item_order_for_any_worker_count():
    items = list(range(20))
    assert list(LocalEngine(1).map(_square, items)) == list(LocalEngine(3).map(_square, items)) == [x * x for x in items]


def test_bad_worker_counts_and_engines_are_usage_errors():
    with pytest.raises(UsageError):
        LocalEngine(0)
    with pytest.raises(UsageError, match="not available"):
        get_engine("spark")
