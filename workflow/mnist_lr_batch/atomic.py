"""Atomic file writes: a reader (or Snakemake) never sees a half-written file."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator

# What a full disk or an exhausted quota raises, on a local disk or a cluster's file system.
DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


class DiskFullError(OSError):
    """A write failed because the disk (or the user's quota) is full; the message names the file."""


@contextlib.contextmanager
def atomic_path(destination: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to `destination`; rename it into place on success.

    The temporary file lives in the destination's directory so the final
    `os.replace` is a same-filesystem rename. On any exception the temporary
    file is removed and `destination` is left untouched. A full disk or quota
    becomes a `DiskFullError` that says so and names `destination`.
    """
    destination = Path(destination)
    temporary = None
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".part", dir=destination.parent)
        os.close(handle)
        temporary = Path(name)
        os.chmod(temporary, 0o666 & ~_current_umask())  # mkstemp's 0600 is too private for results
        yield temporary
        os.replace(temporary, destination)
    except OSError as error:
        if error.errno not in DISK_FULL or isinstance(error, DiskFullError):
            raise
        raise DiskFullError(
            error.errno,
            f"cannot write {destination}: the disk is full ({error.strerror}); nothing was written to it. "
            f"Free space on the file system of {destination.parent.resolve()} (or raise your quota), then rerun",
        ) from error
    finally:
        if temporary is not None:
            temporary.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_open(destination: str | os.PathLike, mode: str = "w") -> Iterator[IO]:
    """Open a temporary file for writing that replaces `destination` when closed cleanly."""
    with atomic_path(destination) as temporary:
        with open(temporary, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
