from __future__ import annotations

import subprocess
import sys


def test_import_thresher_does_not_import_torch():
    code = "import sys, thresher; assert 'torch' not in sys.modules, 'import thresher pulled in torch'"
    subprocess.run([sys.executable, "-c", code], check=True)
