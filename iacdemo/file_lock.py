"""A lock shared by processes, not just threads: the app, a training job and a second app can all
reach for the same cache folder (a model converted from GGUF, the RAG index) at once, and each writes
it through a fixed temporary name, so two writers at once would delete each other's work.

`fcntl.flock` on a lock file beside the folder (`NAME.lock`): the kernel drops it when its holder dies, so a killed
process never leaves a stale lock behind. Where `fcntl` is missing (Windows) or the file system refuses
locks, the block runs unlocked, as it did before, rather than failing.
"""
from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no flock; threads are still serialised below
    fcntl = None  # type: ignore[assignment]

_THREAD_LOCKS: dict[str, threading.Lock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


def _thread_lock(path: Path) -> threading.Lock:
    # flock is per open file description: two threads of one process each opening the file would both
    # get it, so threads queue on an in-process lock first.
    with _THREAD_LOCKS_GUARD:
        return _THREAD_LOCKS.setdefault(str(path), threading.Lock())


@contextlib.contextmanager
def exclusive(folder: Path) -> Iterator[bool]:
    """Hold `folder` exclusively (through `folder.lock` beside it, created if needed); yields whether
    another process's lock was honoured (False where locking is unavailable)."""
    path = Path(folder)
    path = path.with_name(path.name + ".lock")
    with _thread_lock(path):
        if fcntl is None:
            yield False
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            yield False
            return
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                locked = True
            except OSError:  # e.g. a file system without lock support
                locked = False
            try:
                yield locked
            finally:
                if locked:
                    fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
