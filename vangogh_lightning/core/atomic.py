"""Atomic file writes: a temporary file in the target folder, then a rename.

A kill never leaves half a file under the real name; the temporary files are named
``.<name>.<random>.tmp`` so :func:`remove_stale_temps` can clean them at the next start. Files get
the user's normal permissions (``0o666`` minus the umask), not ``mkstemp``'s private ``0o600``."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from vangogh_lightning.core.errors import UserError

TEMP_SUFFIX = ".tmp"


_UMASK = os.umask(0)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK


def disk_full(exc: BaseException) -> bool:
    """True when ``exc`` says the file system is full (or the user's quota is): ``OSError`` ENOSPC or
    EDQUOT, or torch's zip writer, which reports a short write as a ``RuntimeError``."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    return isinstance(exc, RuntimeError) and any(s in str(exc) for s in ("unexpected pos", "file write failed"))


def no_space_error(path: Path, atomic: bool = True) -> UserError:
    """One line for a write that found no room, naming the file and what is free there (an atomic
    write also kept the earlier file; a library's own write may not have)."""
    try:
        free = f"{shutil.disk_usage(path.parent).free / 2**20:.0f} MB free there"
    except OSError:
        free = "free space unknown"
    kept = "; earlier files are untouched" if atomic else ""
    return UserError(f"{path}: no space left on the device to write it ({free}); free some space or write the "
                     f"outputs elsewhere (out_dir, hydra.run.dir, paths.log_dir){kept}")


def write_problem(folder: Path) -> str | None:
    """Why files cannot be written in ``folder`` (made if missing): not a folder, no permission, a full disk; or
    None. A real write: root ignores mode bits, and a full disk refuses blocks, not names."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder) as probe:
            probe.write(b"\0" * 4096)
            probe.flush()
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` to fill a temporary file beside ``path``, then rename it to ``path``; a full
    disk is a :class:`UserError` naming ``path`` (the earlier file at ``path`` stays as it was)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
        os.close(fd)
        write(Path(tmp))
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except (OSError, RuntimeError) as exc:
        if disk_full(exc):
            raise no_space_error(path) from None
        raise
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
    return path


def atomic_save_array(array, path: str | Path) -> Path:
    """Write a numpy ``array`` as an ``.npy`` file atomically (no pickled objects)."""
    import numpy as np

    def save(tmp: Path) -> None:
        with open(tmp, "wb") as handle:  # (a file name would get ".npy" appended)
            np.save(handle, array, allow_pickle=False)

    return atomic_write(path, save)


def atomic_write_text(text: str, path: str | Path) -> Path:
    """Write a UTF-8 text file atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_link(source: str | Path, path: str | Path, symbolic: bool) -> Path:
    """Point ``path`` at ``source`` (a symlink, or a hard link: same file, no extra disk) atomically.
    A hard link across file systems raises ``OSError``; the caller then copies instead."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.link{TEMP_SUFFIX}")
    tmp.unlink(missing_ok=True)
    if symbolic:
        tmp.symlink_to(Path(source).resolve())
    else:
        os.link(source, tmp)
    os.replace(tmp, path)
    return path


def remove_stale_temps(folder: str | Path) -> list[Path]:
    """Delete temporary files an interrupted :func:`atomic_write` left in ``folder``; return them."""
    stale = [p for p in Path(folder).glob(f".*{TEMP_SUFFIX}") if p.is_file()]  # (none in a folder not there)
    for path in stale:
        path.unlink(missing_ok=True)
    return stale
