"""`baosong run`: APScheduler calls the same functions as the commands, at their times.

The jobs hold no logic: what is due is computed from the calendar, the database and the
outbox at each tick, so nothing depends on the scheduler remembering anything across restarts.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import datetime
from types import FrameType

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from ingest.context import Context
from ingest.cycle import poll
from ingest.due import send_due
from ingest.progress import Progress
from ingest.readers import prepare as prepare_readers
from store.config import Settings
from store.lock import LockHeld, exclusive
from store.model import BaosongError

log = logging.getLogger(__name__)


class Daemon:
    """Polls every `poll_minutes` (with jitter) and sends what is due every minute."""

    def __init__(self, settings: Settings, clock: Callable[[], datetime]) -> None:
        self.settings = settings
        self.clock = clock
        self.stopping = threading.Event()

    def run(self) -> None:
        """Run until SIGINT/SIGTERM; raises LockHeld when another daemon has this data folder."""
        data_dir = self.settings.data_dir
        with exclusive(data_dir / "locks", f"daemon {data_dir.resolve()}"):
            scheduler = BackgroundScheduler(timezone=self.settings.campaign.timezone)
            minutes = self.settings.mailbox.poll_minutes
            first = datetime.now(scheduler.timezone)
            # One instance of each job at a time; a tick missed while busy is not made up twice.
            common = {"max_instances": 1, "coalesce": True, "next_run_time": first}
            scheduler.add_job(self.poll_job, IntervalTrigger(minutes=minutes, jitter=min(60, minutes * 6)), **common)
            scheduler.add_job(self.due_job, IntervalTrigger(minutes=1), **common)
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, self._on_signal)
            self._say(f"baosong 已启动：每 {minutes:g} 分钟收取一次邮件，每分钟检查提醒和汇总")
            prepare_readers()
            scheduler.start()
            self.stopping.wait()
            scheduler.shutdown(wait=True)  # lets a running job finish its current message
            self._say("baosong 已停止")

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        log.debug("signal %s: stopping", signum)
        self.stopping.set()

    def _context(self) -> Context:
        return Context.build(self.settings, self.clock)

    def poll_job(self) -> None:
        if self.stopping.is_set():
            return
        ctx = self._context()
        try:
            poll(ctx, Progress(interactive=False), should_stop=self.stopping.is_set)
        except LockHeld as exc:
            log.info("poll skipped: %s", exc)
        except BaosongError:
            log.debug("poll failed (already in the operator log)", exc_info=True)
        finally:
            ctx.close()

    def due_job(self) -> None:
        if self.stopping.is_set():
            return
        ctx = self._context()
        try:
            send_due(ctx)
        except BaosongError as exc:
            ctx.oplog.error(f"发送提醒或汇总时出错：{exc}")
            log.debug("due job failed", exc_info=True)
        finally:
            ctx.close()

    def _say(self, text: str) -> None:
        ctx = self._context()
        try:
            ctx.oplog.info(text)
        finally:
            ctx.close()
