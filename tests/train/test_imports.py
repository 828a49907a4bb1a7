from __future__ import annotations

import subprocess
import sys


def test_import_thresher_does_not_import_torch():
    code = "import sys, thresher; assert 'torch' not in sys.modules, 'import thresher pulled in torch'"
    subprocess.run([sys.executable, "-c", code], check=True)


BLOCKED = """
import sys
from thresher._startup import blocked_imports
with blocked_imports({name!r}):
    try:
        {code}
    except Exception as err:
        print(type(err).__name__, err)
"""


def _run_blocked(name: str, code: str) -> str:
    script = BLOCKED.format(name=name, code=code)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout


def test_import_thresher_train_without_torch_names_the_extra():
    out = _run_blocked("torch", "import thresher.train")
    assert out.startswith("MissingDependencyError"), out
    assert "pip install 'thresher[torch]'" in out and "thresher.train" in out


def test_thresher_callback_without_transformers_names_the_extra():
    out = _run_blocked("transformers", "from thresher.train import ThresherCallback, RS2Sampler; "
                                       "ThresherCallback(RS2Sampler(10, 0.5))")
    assert out.startswith("MissingDependencyError"), out
    assert "pip install 'thresher[trainer]'" in out
