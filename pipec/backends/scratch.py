"""Scratch folders in the temp directory that a killed run cannot leave behind for good.

`pipec run --target airflow` and `--target spark` compile into, and run Airflow in, folders of
the temp directory. A run that is killed (SIGKILL, a crash, a power cut) never removes its own,
so every scratch folder holds a lock file, locked (`flock`) by the run and by the child processes
working in the folder (they inherit the lock's descriptor). The lock goes when the last of them
exits, however it ends; the next run that makes a scratch folder removes every pipec scratch
folder whose lock is free. Folders without a lock file are never touched.
"""
from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

LOCK_NAME = ".pipec-scratch-lock"
PREFIX = "pipec-"


class Scratch:
    """A scratch folder of this run: `path`, and `lock_fd`, the descriptor a child process that
    works in the folder keeps open (`pass_fds`) so that the folder stays while it runs."""

    def __init__(self, path: Path, lock_fd: int):
        self.path = path
        self.lock_fd = lock_fd


@contextmanager
def scratch_folder(kind: str) -> Iterator[Scratch]:
    """A new folder `pipec-<kind>-*` in the temp directory, removed on every way out of the block;
    first, the scratch folders of runs that are gone are removed."""
    remove_stale_scratch()
    with tempfile.TemporaryDirectory(prefix=f"{PREFIX}{kind}-") as folder:
        path = Path(folder)
        # Locked before it has its name, so that no other run ever sees it unlocked.
        unnamed = path / f"{LOCK_NAME}.new"
        fd = os.open(unnamed, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.rename(unnamed, path / LOCK_NAME)
            yield Scratch(path, fd)
        finally:
            os.close(fd)


def remove_stale_scratch(temp_dir: str | os.PathLike | None = None) -> list[Path]:
    """Remove the pipec scratch folders (in `temp_dir`, default the temp directory) whose lock no
    process holds; returns them."""
    removed = []
    root = Path(temp_dir or tempfile.gettempdir())
    try:
        candidates = [p for p in root.iterdir() if p.name.startswith(PREFIX)]
    except OSError:
        return removed
    for folder in candidates:
        if folder.is_symlink() or not folder.is_dir():
            continue
        try:
            fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_NOFOLLOW)
        except OSError:       # no lock file: not a scratch folder of this kind, or not ours
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:       # in use
            os.close(fd)
            continue
        try:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
        finally:
            os.close(fd)
    return removed
