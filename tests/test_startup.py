"""thresher's process start-up: no pandas import for pyarrow's probe, and pandas still
works when something really needs it."""

import importlib.util
import subprocess
import sys

import pytest

SCRIPT = """
import sys
from thresher._startup import start
start()
import pyarrow as pa
import numpy as np
pa.array([1, 2]); pa.array(np.arange(3)); pa.table({"a": [1]})
print("pandas" in sys.modules)
from thresher.features.ngrams import HashedNgrams
print(HashedNgrams().buckets_of("Hello, world!").tolist())
print("scipy" in sys.modules)
frame = pa.table({"a": [1, 2]}).to_pandas()
print(len(frame), "pandas" in sys.modules)
"""


@pytest.mark.skipif(importlib.util.find_spec("pandas") is None, reason="pandas is not installed")
def test_start_skips_pandas_probe_but_pandas_still_works():
    lines = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True).stdout.split("\n")
    assert lines[0] == "False"  # pyarrow's conversions did not import pandas
    assert lines[2] == "False"  # numba's kernels loaded without scipy
    assert lines[3] == "2 True"  # a real need imports it
    from thresher.features.ngrams import HashedNgrams

    assert lines[1] == str(HashedNgrams().buckets_of("Hello, world!").tolist())


def test_blocked_imports_only_inside_and_leaves_loaded_modules():
    from thresher._startup import blocked_imports

    import json  # noqa: F401  (already loaded: untouched)

    with blocked_imports("thresher_no_such_module", "json"):
        import json as again  # noqa: F401
        with pytest.raises(ImportError):
            __import__("thresher_no_such_module")
    with pytest.raises(ModuleNotFoundError):
        __import__("thresher_no_such_module")
