"""What the notify tests share: a clock they can move, and a Notifier on a real data folder."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from notify import Notifier
from store.config import Settings, load_settings
from store.db import Store
from store.oplog import OperatorLog
from tests.baosong_cli import SMTP_PASSWORD_ENV, write_config
from tests.servers import SmtpSink

BEIJING = ZoneInfo("Asia/Shanghai")


def beijing(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=BEIJING)


class Clock:
    """The program's clock (`--now`), moved by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, span: timedelta) -> None:
        self.now += span


@dataclass
class Bureau:
    """One data folder with its store, operator log and notifier, as a command would build them."""

    settings: Settings
    store: Store
    oplog: OperatorLog
    notifier: Notifier
    clock: Clock

    def log(self) -> str:
        return "\n".join(self.oplog.lines())


def bureau(
    folder: Path,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
    sink: SmtpSink | None = None,
    **overrides: Any,
) -> Bureau:
    """The seed campaign (three units registered) sending to `sink`, or to folder/outbox.

    Mail is not throttled unless the test asks (`notify={...}`): tests wait for nothing.
    """
    overrides.setdefault("notify", {"throttle_per_minute": 60_000})
    settings = load_settings(write_config(folder, smtp=sink, **overrides))
    if sink is not None:
        monkeypatch.setenv(SMTP_PASSWORD_ENV, sink.password)
    store = Store(settings.data_dir, settings.db_url, clock)
    oplog = OperatorLog(settings.data_dir / "operator.log", clock, BEIJING)
    return Bureau(settings, store, oplog, Notifier(settings, store.db, oplog, clock), clock)
