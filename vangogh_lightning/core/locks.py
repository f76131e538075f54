"""One writer per output folder: a second process aiming at the same folder is refused at once.

The lock is an OS file lock (``flock``) on a small file in the folder, which also names its holder.
The OS drops it when the holder ends, however it ends (even ``kill -9``), so a dead holder never
blocks the next run and nothing needs cleaning up."""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import stat
import time
from collections.abc import Iterator
from pathlib import Path

from vangogh_lightning.core.errors import UserError

LOCK_FILE = ".lock"  # in an output folder of train.py, stylize.py or evaluate.py, while one writes there


@contextlib.contextmanager
def exclusive(folder: str | Path, lock_name: str, what: str, key: str = "out_dir") -> Iterator[None]:
    """Hold ``<folder>/<lock_name>`` while the block runs; if another process holds it, raise a
    one-line :class:`UserError` naming ``key``, ``what`` runs there and who holds it."""
    folder = Path(folder).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    try:  # never through a link: the lock is truncated and rewritten, which would hit the file it points to
        fd = os.open(folder / lock_name, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o666)
    except OSError as exc:
        raise UserError(f"{folder / lock_name}: cannot be this folder's lock file ({exc.strerror}: a link or "
                        "not a file); remove it and run again") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UserError(f"{folder / lock_name}: not a plain file, so it cannot be this folder's lock file; "
                        "remove it and run again")
    with open(fd, "r+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise UserError(f"{key}={folder}: {what} is already running there ({holder}); wait for it, "
                            f"or pass another {key}") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}")
        handle.flush()
        yield
