"""The operator log: one Chinese line per event, newest last, for the clerk and the operator.

It says what happened and what to do; stack traces go to the debug log instead.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable
from datetime import datetime, tzinfo
from pathlib import Path


class Level(enum.StrEnum):
    INFO = "信息"
    WARNING = "警告"
    ERROR = "错误"


class OperatorLog:
    """Appends lines like `2023-06-07 10:32:15 [信息] 收到 盐湖区工科局 …` to operator.log."""

    def __init__(self, path: Path, clock: Callable[[], datetime], zone: tzinfo) -> None:
        self.path = path
        self._clock = clock
        self._zone = zone

    def info(self, text: str) -> None:
        self._write(Level.INFO, text)

    def warning(self, text: str) -> None:
        self._write(Level.WARNING, text)

    def error(self, text: str) -> None:
        self._write(Level.ERROR, text)

    def lines(self) -> list[str]:
        if not self.path.exists():
            return []
        return self.path.read_text(encoding="utf-8").splitlines()

    def _write(self, level: Level, text: str) -> None:
        stamp = self._clock().astimezone(self._zone).strftime("%Y-%m-%d %H:%M:%S")
        one_line = " ".join(text.split())
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # O_APPEND keeps lines whole when a poll and a reminder job write at once.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{stamp} [{level}] {one_line}\n".encode())
        finally:
            os.close(fd)
