"""Safe output: write to a temporary name beside the target, rename when complete.

An interrupted run leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path
from typing import Iterable, Iterator

from thresher.errors import UsageError


def check_output_path(path: str | os.PathLike, overwrite: bool, inputs: Iterable[str | os.PathLike] = ()) -> Path:
    """Refuse an output that would clobber an input, or an existing file without `overwrite`."""
    out = Path(path)
    for source in inputs:
        source = Path(source)
        if out.resolve() == source.resolve() or (out.exists() and source.exists() and os.path.samefile(out, source)):
            raise UsageError(
                f"output {out} is one of the input files; thresher never modifies its input. "
                "Choose another output path."
            )
    if out.exists() and not overwrite:
        raise UsageError(f"output {out} already exists. Pass --overwrite (overwrite=True) to replace it.")
    if out.is_dir():
        raise UsageError(f"output {out} is a directory; give a file path.")
    if not out.parent.exists():
        raise UsageError(f"the folder of output {out} does not exist. Create {out.parent} first.")
    return out


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, overwrite: bool = False, inputs: Iterable[str | os.PathLike] = ()) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces `path`, on error it is removed."""
    out = check_output_path(path, overwrite, inputs)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        yield tmp
        if tmp.exists():
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
