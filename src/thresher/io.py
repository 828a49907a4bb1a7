"""Safe output: write to a temporary name beside the target, rename when complete.

An interrupted run leaves either the old file or the new one, never half of one. Without
overwrite, the new file is put in place only if no other run has written the same output
meanwhile (a hard link fails when the name exists); with overwrite, it replaces the old
file and keeps its permissions. A run killed outright (SIGKILL) leaves its temporary
file, `.NAME.tmp-PID-HOST-RANDOM`; the next run writing NAME removes those of processes
of this host that are no longer alive.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import socket
import stat
import uuid
from pathlib import Path
from typing import Iterable, Iterator, Mapping

import xxhash

from thresher.errors import ThresherError, UsageError

# Which machine a temporary name's PID belongs to: on a shared file system, a PID says
# nothing about processes of other hosts.
HOST_TAG = xxhash.xxh32_hexdigest(socket.gethostname().encode())


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


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def check_outputs(outputs: Mapping[str, str | os.PathLike | None], inputs: Iterable[str | os.PathLike],
                  overwrite: bool, create_folders: bool = False) -> None:
    """Check every output of a run before any work: none is an input or another output,
    none exists without `overwrite`, each has an existing folder (unless the writer
    creates it: `create_folders`). `outputs` maps the option that names a file ("--out",
    "--manifest") to its path (None: not written); a UsageError names the option and the path."""
    inputs = [Path(p) for p in inputs]
    given = [(option, Path(path)) for option, path in outputs.items() if path]
    for i, (option, out) in enumerate(given):
        for source in inputs:
            if _same_file(out, source):
                raise UsageError(f"{option} {out} is one of the input files; thresher never modifies its input. "
                                 f"Choose another path for {option}.")
        for other_option, other in given[:i]:
            if _same_file(out, other):
                raise UsageError(f"{option} {out} is also {other_option}; give each output its own path.")
        if out.is_dir():
            raise UsageError(f"{option} {out} is a directory; give a file path.")
        if out.exists() and not overwrite:
            raise UsageError(f"{option} {out} already exists. Pass --overwrite to replace it, or choose another path.")
        if not create_folders and not out.parent.exists():
            raise UsageError(f"the folder of {option} {out} does not exist. Create {out.parent} first.")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, overwrite: bool = False, inputs: Iterable[str | os.PathLike] = ()) -> Iterator[Path]:
    """Yield a temporary path to write; on success it becomes `path`, on error it is removed.

    Without `overwrite`, an output that another run created meanwhile is left alone and a
    ThresherError names it; with `overwrite`, the replaced file's mode is kept."""
    out = check_output_path(path, overwrite, inputs)
    sweep_temp_files(out)
    tmp = temp_path(out)
    try:
        yield tmp
        if tmp.exists():
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
        if overwrite:
            with contextlib.suppress(FileNotFoundError):
                os.chmod(tmp, stat.S_IMODE(os.stat(out).st_mode))
            os.replace(tmp, out)
        else:
            _put_new(tmp, out)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def _put_new(tmp: Path, out: Path) -> None:
    """Move `tmp` to `out` only if `out` does not exist: a hard link fails atomically when
    the name is taken; where links are not supported, the name is claimed with an
    exclusive create first."""
    try:
        os.link(tmp, out)
    except FileExistsError:
        raise _appeared(out) from None
    except OSError as err:
        if err.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK, errno.ENOSYS,
                             errno.EACCES):
            raise
        try:
            os.close(os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            raise _appeared(out) from None
        os.replace(tmp, out)
        return
    tmp.unlink()


def _appeared(out: Path) -> ThresherError:
    return ThresherError(f"output {out} appeared while this run was writing it (another run writing the same file?); "
                         "it was left as it is. Choose another output path, or pass --overwrite (overwrite=True) to "
                         "replace it.")


def temp_path(out: str | os.PathLike, pid: int | None = None) -> Path:
    """The temporary name beside `out` that a process writes first: `.NAME.tmp-PID-HOST-RANDOM`."""
    out = Path(out)
    return out.with_name(f".{out.name}.tmp-{os.getpid() if pid is None else pid}-{HOST_TAG}-{uuid.uuid4().hex[:8]}")


def pid_alive(pid: int) -> bool:
    """Whether a process of this host has this PID (one of another user counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True
    return True


def dead_owner(name: str, pattern: "re.Pattern[str]") -> bool:
    """Whether `name` matches `pattern` (groups: pid, host tag) and its process, of this
    host, is gone: a leftover of a killed run."""
    match = pattern.fullmatch(name)
    return bool(match) and match.group(2) == HOST_TAG and not pid_alive(int(match.group(1)))


def sweep_temp_files(out: Path) -> int:
    """Remove the temporary files beside `out` left by dead processes; returns how many."""
    pattern = re.compile(re.escape(f".{out.name}.tmp-") + r"(\d+)-([0-9a-f]{8})-[0-9a-f]{8}")
    removed = 0
    try:
        names = os.listdir(out.parent)
    except OSError:
        return 0
    for name in names:
        if dead_owner(name, pattern):
            with contextlib.suppress(OSError):
                os.unlink(out.parent / name)
                removed += 1
    return removed
