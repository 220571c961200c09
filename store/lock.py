"""One poller per mailbox: an advisory file lock that the kernel drops if the process dies."""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from store.model import BaosongError


class LockHeld(BaosongError):
    """Another baosong process holds the lock for this mailbox (or data folder)."""


@contextmanager
def exclusive(folder: Path, name: str, wait_seconds: float = 0.0) -> Iterator[None]:
    """Hold the lock called `name` under `folder`, waiting up to `wait_seconds` for it."""
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(name.encode()).hexdigest()[:16]
    fd = os.open(folder / f"{digest}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockHeld(f"另一个 baosong 进程正在处理 {name}，本次不再重复运行") from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {name}\n".encode())
        yield
    finally:
        os.close(fd)  # closing releases the lock
