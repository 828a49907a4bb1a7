"""Process start-up for thresher's own processes (the CLI and its worker processes).

pyarrow looks for pandas the first time it converts anything (even `pa.array([1])`) and,
when pandas is installed, imports it: about 0.6 CPU-seconds and 30-50 MB that a
command reading files never uses. `skip_pandas_probe()` lets that first look fail while
pandas is blocked; pyarrow remembers "no pandas" for its quick checks, and any later call
that really needs pandas (`Table.to_pandas`, `Table.from_pandas`) imports it as usual.

Arrow's default allocator (mimalloc or jemalloc) keeps freed pages for reuse: parsing
8 MB of JSON lines raised a process's peak RSS by about 60 MB with it and by 25 MB with
the system allocator, which hands memory back as blocks are dropped. `start()` switches
Arrow to the system allocator, which costs no measurable time on our reads.

Library users are not affected: only `thresher` commands and the engine's workers call
`start()`.

SIGTERM (the default of `kill`, and what Slurm and Kubernetes send first) ends a Python
process at once, leaving temporary files and work folders behind. `handle_sigterm()`,
which the CLI's `main()` calls (not the workers), turns it into `Terminated`, a
KeyboardInterrupt, so the cleanup that Ctrl-C runs runs for it too; the CLI exits 143.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
import threading
from contextlib import contextmanager, nullcontext
from types import ModuleType
from typing import Callable, Iterator


class _Blocker:
    """A meta-path finder that makes `import <name>` fail for the given top-level names."""

    def __init__(self, names: tuple[str, ...]):
        self.names = names

    def find_spec(self, fullname, path=None, target=None):
        if fullname.partition(".")[0] in self.names:
            raise ImportError(f"{fullname} is not imported during thresher's start-up")
        return None


@contextmanager
def blocked_imports(*names: str) -> Iterator[None]:
    """While inside, `import name` raises ImportError (modules already imported are untouched)."""
    blocker = _Blocker(names)
    sys.meta_path.insert(0, blocker)
    try:
        yield
    finally:
        sys.meta_path.remove(blocker)


def skip_pandas_probe() -> None:
    """Make pyarrow's first pandas probe come back empty, unless pandas is already loaded."""
    if "pandas" in sys.modules:
        return
    import pyarrow as pa

    with blocked_imports("pandas"):
        pa.array([0])


def numba_loading():
    """Context for loading thresher's compiled kernels. In thresher's own processes numba
    is kept from importing scipy (for its np.linalg support, which no kernel of ours uses):
    0.1 CPU-seconds and 14 MB less. Elsewhere, or once scipy is loaded, it does nothing."""
    if _started and "scipy" not in sys.modules:
        return blocked_imports("scipy")
    return nullcontext()


_KERNELS: dict[str, ModuleType] = {}


def load_kernels(name: str, warm_up: Callable[[ModuleType], object]) -> ModuleType:
    """Import a module of numba kernels and make a first call, `warm_up(module)`, inside
    `numba_loading()`: that first call, not the import, loads numba's machinery and the
    cached code. Once per module and process; import errors reach the caller."""
    module = _KERNELS.get(name)
    if module is None:
        with numba_loading():
            module = importlib.import_module(name)
            warm_up(module)
        _KERNELS[name] = module
    return module


def start() -> None:
    """Start-up of a thresher process: no pandas probe, the system allocator for Arrow."""
    global _started
    import pyarrow as pa

    skip_pandas_probe()
    pa.set_memory_pool(pa.system_memory_pool())
    _started = True


_started = False


class Terminated(KeyboardInterrupt):
    """The process was sent SIGTERM; raised like Ctrl-C's KeyboardInterrupt, so the same
    cleanup runs. The CLI exits with `exit_code` (128 + 15, as a shell reports it)."""

    exit_code = 143
    what = "terminated (SIGTERM)"


def handle_sigterm() -> None:
    """From now on, SIGTERM raises `Terminated` in this process's main thread. A process
    forked from this one dies of SIGTERM as by default. Does nothing outside the main
    thread (signals are delivered there only)."""
    if threading.current_thread() is not threading.main_thread():
        return
    owner = os.getpid()

    def on_sigterm(signum, frame):
        if os.getpid() != owner:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        raise Terminated()

    signal.signal(signal.SIGTERM, on_sigterm)


def worker_initializer():
    """What the engine's worker processes run first: the same start-up as this process had."""
    return start if _started else None
