"""Progress of long work: a live counter for a person at a terminal, plain lines for a pipe."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Reports `done/total` for one piece of work at a time.

    On a terminal the counter is redrawn in place at most a few times a second; elsewhere (a
    scheduler, a pipe, a log file) a plain line is written every tenth of the way.
    """

    def __init__(self, stream: TextIO | None = None, interactive: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self._what = ""
        self._total = 0
        self._done = 0
        self._next_line = 0
        self._last_draw = 0.0

    def start(self, what: str, total: int) -> None:
        self._what, self._total, self._done = what, total, 0
        self._next_line = max(1, total // 10)
        if total:
            self._emit(force=True)

    def advance(self, step: int = 1) -> None:
        self._done += step
        self._emit(force=self._done >= self._total)

    def finish(self) -> None:
        if self.interactive and self._total:
            self.stream.write("\n")
            self.stream.flush()
        self._total = 0

    def _emit(self, force: bool) -> None:
        if not self._total:
            return
        text = f"{self._what}：{self._done}/{self._total}"
        if self.interactive:
            now = time.monotonic()
            if force or now - self._last_draw > 0.2:
                self.stream.write(f"\r{text}")
                self.stream.flush()
                self._last_draw = now
        elif force or self._done >= self._next_line:
            self.stream.write(text + "\n")
            self.stream.flush()
            while self._next_line <= self._done:
                self._next_line += max(1, self._total // 10)


class Silent(Progress):
    """No progress output (tests, the demo's inner steps)."""

    def _emit(self, force: bool) -> None:
        return None

    def finish(self) -> None:
        return None
