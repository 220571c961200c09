"""Delivering the outbox: over SMTP (126.com), or as .eml files into `smtp.outbox_dir`.

One SMTP session per batch, one recipient per message, throttled. A temporary answer (4xx) or a
dropped connection leaves the mail queued with a growing backoff and ends the batch (126.com's
4xx are mostly "slow down": 451 MI:SFQ, 421 HL:IFC, 450 MI:DMC); a permanent answer (5xx, such as
554 DT:SPM) marks it failed with the server's words, for the operator log and `status`.

Each mail is marked in flight before its bytes leave and sent right after the server accepts
it, so a crash loses nothing and repeats at most the one mail that was in flight. One sender at
a time holds the outbox (a file lock), so two runs never send the same row.
"""

from __future__ import annotations

import smtplib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parseaddr
from pathlib import Path

from notify.smtp import SmtpError, SmtpLoginError, smtp_session
from store.config import ConfigError, SmtpConfig
from store.durable import write_durably
from store.lock import LockHeld, exclusive
from store.names import safe_name
from store.oplog import OperatorLog
from store.outbox import Outbox, OutboxItem

_FIRST_BACKOFF = timedelta(minutes=1)
_MAX_BACKOFF = timedelta(hours=1)


class Throttle:
    """At most `per_minute` mails a minute, by spacing them evenly (real time, not `--now`)."""

    def __init__(
        self,
        per_minute: float,
        *,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = 60.0 / per_minute
        self._sleep = sleep
        self._monotonic = monotonic
        self._last: float | None = None

    def wait(self) -> None:
        if self._last is not None:
            remaining = self._last + self.interval - self._monotonic()
            if remaining > 0:
                self._sleep(remaining)
        self._last = self._monotonic()


@dataclass
class DeliveryReport:
    """What one delivery run did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    expired: int = 0
    repeated: int = 0  # in flight when an earlier run died: sent again, perhaps twice
    error: str | None = None  # the server could not be reached or refused the login
    busy: bool = False  # another sender held the outbox

    def summary(self) -> str:
        if self.busy:
            return "另一个进程正在发送，本次跳过"
        counts = "，".join(f"{label} {getattr(self, name)}" for name, label in _LABELS.items())
        return counts + (f"；{self.error}" if self.error else "")


_LABELS = {
    "sent": "已发送",
    "retrying": "待重试",
    "failed": "失败",
    "expired": "过时未发",
    "repeated": "中断后重发",
}


def backoff(attempts: int) -> timedelta:
    """1, 2, 4 … minutes after the n-th failed attempt, at most an hour."""
    doublings = min(max(attempts - 1, 0), 10)
    return min(_FIRST_BACKOFF * (1 << doublings), _MAX_BACKOFF)


def deliver(
    outbox: Outbox,
    smtp: SmtpConfig,
    oplog: OperatorLog,
    clock: Callable[[], datetime],
    throttle: Throttle,
    *,
    lock_dir: Path,
    retry_for: timedelta = timedelta(days=2),
) -> DeliveryReport:
    """Send what is due in the outbox now. Never raises for a server's answer or absence."""
    report = DeliveryReport()
    try:
        with exclusive(lock_dir, "outbox"):
            now = clock()
            due = []
            for item in outbox.due(now):
                if item.not_after is not None and now > item.not_after:
                    outbox.mark_expired(item.id, "未能在时限前发出，已过时效")
                    oplog.info(f"「{item.subject}」→ {item.recipient} 未能在时限前发出，不再发送")
                    report.expired += 1
                else:
                    due.append(item)
            if not due:
                return report
            if smtp.outbox_dir is not None:
                _write_files(outbox, due, smtp.outbox_dir, oplog, report)
            else:
                _send(outbox, due, smtp, oplog, clock, throttle, retry_for, report)
    except LockHeld:
        report.busy = True
    return report


def _write_files(
    outbox: Outbox,
    items: list[OutboxItem],
    folder: Path,
    oplog: OperatorLog,
    report: DeliveryReport,
) -> None:
    for item in items:
        path = folder / safe_name(f"{item.key}~{item.recipient}.eml")
        write_durably(path, item.data)
        outbox.mark_sent(item.id)
        oplog.info(f"已写出「{item.subject}」→ {item.recipient}：{path}")
        report.sent += 1


def _send(
    outbox: Outbox,
    items: list[OutboxItem],
    smtp: SmtpConfig,
    oplog: OperatorLog,
    clock: Callable[[], datetime],
    throttle: Throttle,
    retry_for: timedelta,
    report: DeliveryReport,
) -> None:
    envelope_from = _envelope_from(smtp)
    try:
        with smtp_session(smtp) as server:
            for item in items:
                throttle.wait()
                if not _send_one(server, envelope_from, outbox, item, oplog, clock, retry_for, report):
                    break
    except (SmtpLoginError, ConfigError) as exc:
        report.error = str(exc)
        oplog.error(f"{exc}；{len(items)} 封邮件留在待发队列")
    except SmtpError as exc:
        report.error = str(exc)
        oplog.warning(f"{exc}；{len(items)} 封邮件留在待发队列，下次再试")


def _send_one(
    server: smtplib.SMTP,
    envelope_from: str,
    outbox: Outbox,
    item: OutboxItem,
    oplog: OperatorLog,
    clock: Callable[[], datetime],
    retry_for: timedelta,
    report: DeliveryReport,
) -> bool:
    """Hand one mail over and record the outcome; False when the batch should stop."""
    what = f"「{item.subject}」→ {item.recipient}"
    if item.in_flight:
        report.repeated += 1
        oplog.warning(f"{what} 上次发送时程序中断，不能确定是否已送达，现重新发送（对方可能收到两封）")
    outbox.begin_attempt(item.id)
    try:
        # One recipient: a refusal raises (sendmail returns refusals only when others got it).
        server.sendmail(envelope_from, [item.recipient], item.data)
    except (smtplib.SMTPException, OSError) as exc:
        code, words = _answer(exc)
    else:
        outbox.mark_sent(item.id)
        oplog.info(f"已发送{what}")
        report.sent += 1
        return True
    if code is not None and code >= 500:
        outbox.mark_failed(item.id, words)
        oplog.error(f"{what} 被服务器拒绝（{words}），不再重试；请改用电话等方式通知对方，或检查邮件内容")
        report.failed += 1
        return True
    if clock() - item.created_at > retry_for:
        outbox.mark_failed(item.id, f"{words}（已重试 {item.attempts + 1} 次）")
        oplog.error(f"{what} 多次暂时失败（{words}），已超过重试时限，不再重试")
        report.failed += 1
        return False
    wait = backoff(item.attempts + 1)
    outbox.mark_retry(item.id, words, wait)
    oplog.warning(f"{what} 暂时未能发送（{words}），{int(wait.total_seconds() // 60)} 分钟后重试；本批其余邮件下次再发")
    report.retrying += 1
    return False


def _answer(exc: BaseException) -> tuple[int | None, str]:
    """The server's code and words, or None and what happened when it gave no answer."""
    text: bytes | str
    if isinstance(exc, smtplib.SMTPRecipientsRefused) and exc.recipients:
        code, text = next(iter(exc.recipients.values()))
    elif isinstance(exc, smtplib.SMTPResponseException):
        code, text = exc.smtp_code, exc.smtp_error
    else:
        return None, f"连接中断：{str(exc) or type(exc).__name__}"
    words = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return code, f"{code} {' '.join(words.split())}"


def _envelope_from(smtp: SmtpConfig) -> str:
    """MAIL FROM: the sender's address (126.com refuses any other than the login's)."""
    return parseaddr(smtp.sender)[1]
