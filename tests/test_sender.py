"""Delivering the outbox to a real SMTP server (aiosmtpd, implicit TLS, AUTH) or into a folder.

The server refuses, goes away and comes back; the sender is killed with SIGKILL mid-queue.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from notify.mail import AutoSubmitted, compose
from notify.sender import Throttle, backoff
from store.lock import exclusive
from store.outbox import MailKind, MailState, ack_key
from tests.baosong_cli import ROOT, SMTP_PASSWORD_ENV
from tests.notify_support import Bureau, Clock, beijing, bureau
from tests.servers import SmtpSink

SPAM = (
    "DT:SPM 163 smtp10,DsCowAA3h9_BLDFc4RSCAA--.5423S2 1546726849,please see http://mail.163.com/help/help_spam_16.htm"
)


@pytest.fixture
def clock() -> Clock:
    return Clock(beijing("2023-06-07T10:40"))


def queue(office: Bureau, count: int, not_after_minutes: int | None = None) -> list[str]:
    """Queue `count` acks to u1@ … u<count>@county.test; return their Message-IDs in order."""
    ids = []
    for n in range(1, count + 1):
        message = compose(
            office.notifier.letterhead,
            f"u{n}@county.test",
            f"回执：第{n}封",
            f"第{n}封回执",
            f"<p>第{n}封回执</p>",
            office.clock.now,
            AutoSubmitted.REPLIED,
        )
        not_after = None if not_after_minutes is None else office.clock.now + timedelta(minutes=not_after_minutes)
        assert office.notifier.outbox.enqueue(ack_key(n), MailKind.ACK, f"u{n}@county.test", message, not_after)
        ids.append(str(message["Message-ID"]))
    return ids


def message_ids(sink: SmtpSink) -> list[str]:
    return [str(message_from_bytes(c.data, policy=policy.default)["Message-ID"]) for c in sink.messages]


def states(office: Bureau) -> list[MailState]:
    return [item.state for item in office.notifier.outbox.items()]


def test_mail_goes_one_recipient_at_a_time_from_the_senders_address(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch, smtp_sink: SmtpSink
) -> None:
    office = bureau(tmp_path, clock, monkeypatch, smtp_sink)
    ids = queue(office, 3)
    report = office.notifier.deliver()
    assert (report.sent, report.error) == (3, None)
    assert message_ids(smtp_sink) == ids
    assert [(c.mail_from, c.rcpt_tos) for c in smtp_sink.messages] == [
        ("bureau@city.test", [f"u{n}@county.test"]) for n in (1, 2, 3)
    ]
    assert states(office) == [MailState.SENT] * 3
    assert "已发送「回执：第1封」→ u1@county.test" in office.log()
    assert office.notifier.deliver().sent == 0 and len(smtp_sink.messages) == 3


def test_outbox_dir_gets_one_eml_file_per_mail(tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    office = bureau(tmp_path, clock, monkeypatch)
    queue(office, 2)
    assert office.notifier.deliver().sent == 2
    folder = tmp_path / "outbox"
    files = sorted(p.name for p in folder.iterdir())
    assert files == ["ack_1~u1@county.test.eml", "ack_2~u2@county.test.eml"]
    [first, _] = office.notifier.outbox.items()
    assert (folder / files[0]).read_bytes() == first.data
    assert office.notifier.deliver().sent == 0
    assert sorted(p.name for p in folder.iterdir()) == files


def test_while_the_server_is_down_mail_stays_queued_then_goes_once(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch, smtp_sink: SmtpSink
) -> None:
    office = bureau(tmp_path, clock, monkeypatch, smtp_sink)
    ids = queue(office, 3)
    smtp_sink.stop()
    down = office.notifier.deliver()
    assert down.sent == 0 and down.error is not None and "无法连接发信服务器" in down.error
    assert states(office) == [MailState.QUEUED] * 3
    assert "3 封邮件留在待发队列，下次再试" in office.log()
    clock.advance(timedelta(minutes=5))
    assert office.notifier.deliver().error is not None  # still down

    smtp_sink.start()
    assert office.notifier.deliver().sent == 3
    assert office.notifier.deliver().sent == 0
    assert message_ids(smtp_sink) == ids


def test_a_temporary_refusal_is_retried_after_a_backoff(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch, smtp_sink: SmtpSink
) -> None:
    office = bureau(tmp_path, clock, monkeypatch, smtp_sink)
    ids = queue(office, 3)
    smtp_sink.fail("RCPT", 451, "MI:SFQ Sender over quota")
    first = office.notifier.deliver()
    # 126.com's 4xx mostly mean "slow down": the rest of the batch waits for the next run.
    assert (first.sent, first.retrying) == (0, 1)
    assert smtp_sink.messages == []
    [refused, *_] = office.notifier.outbox.items()
    assert (refused.last_error, refused.attempts) == ("451 MI:SFQ Sender over quota", 1)
    assert "「回执：第1封」→ u1@county.test 暂时未能发送（451 MI:SFQ Sender over quota），1 分钟后重试" in office.log()

    assert office.notifier.deliver().sent == 2  # the others; the first waits for its backoff
    clock.advance(timedelta(minutes=1))
    assert office.notifier.deliver().sent == 1
    assert sorted(message_ids(smtp_sink)) == sorted(ids)
    assert states(office) == [MailState.SENT] * 3


def test_a_closed_connection_is_retried(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch, smtp_sink: SmtpSink
) -> None:
    office = bureau(tmp_path, clock, monkeypatch, smtp_sink)
    queue(office, 2)
    smtp_sink.fail("MAIL", 421, "HL:IFC too many connections")  # smtplib hangs up on a 421
    assert office.notifier.deliver().retrying == 1
    clock.advance(timedelta(minutes=1))
    assert office.notifier.deliver().sent == 2
    assert len(smtp_sink.messages) == 2


def test_a_permanent_refusal_is_marked_and_reported_with_the_servers_words(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch, smtp_sink: SmtpSink
) -> None:
    office = bureau(tmp_path, clock, monkeypatch, smtp_sink)
    ids = queue(office, 3)
    smtp_sink.fail("DATA", 554, SPAM)
    report = office.notifier.deliver()
    assert (report.sent, report.failed, report.retrying) == (2, 1, 0)
    assert report.summary() == "已发送 2，待重试 0，失败 1，过时未发 0，中断后重发 0"
    assert message_ids(smtp_sink) == ids[1:]
    assert states(office) == [MailState.FAILED, MailState.SENT, MailState.SENT]
    [problem] = office.notifier.summary().problems
    assert (problem.recipient, problem.last_error) == ("u1@county.test", f"554 {SPAM}")
    line = next(line for line in office.oplog.lines() if "u1@county.test" in line)
    assert "[错误]" in line and f"被服务器拒绝（554 {SPAM}），不再重试" in line
    clock.advance(timedelta(days=1))
    assert office.notifier.deliver().sent == 0


def test_temporary_refusals_become_a_failure_after_retry_for(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch, smtp_sink: SmtpSink
) -> None:
    office = bureau(tmp_path, clock, monkeypatch, smtp_sink, notify={"throttle_per_minute": 60_000, "retry_for": "1d"})
    queue(office, 1)
    smtp_sink.fail("RCPT", 450, "MI:DMC too frequent", times=None)
    assert office.notifier.deliver().retrying == 1
    clock.advance(timedelta(days=1, minutes=1))
    report = office.notifier.deliver()
    assert (report.failed, report.retrying) == (1, 0)
    [item] = office.notifier.outbox.items()
    assert (item.state, item.last_error) == (MailState.FAILED, "450 MI:DMC too frequent（已重试 2 次）")
    assert "已超过重试时限，不再重试" in office.log()


def test_mail_past_its_time_is_not_sent(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch, smtp_sink: SmtpSink
) -> None:
    office = bureau(tmp_path, clock, monkeypatch, smtp_sink)
    queue(office, 1, not_after_minutes=30)
    smtp_sink.stop()
    office.notifier.deliver()
    smtp_sink.start()
    clock.advance(timedelta(minutes=31))
    assert office.notifier.deliver().expired == 1
    assert states(office) == [MailState.EXPIRED]
    assert smtp_sink.messages == []


def test_a_refused_login_keeps_the_mail_and_says_so(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch, smtp_sink: SmtpSink
) -> None:
    office = bureau(tmp_path, clock, monkeypatch, smtp_sink)
    queue(office, 1)
    monkeypatch.setenv(SMTP_PASSWORD_ENV, "not-the-code")
    report = office.notifier.deliver()
    assert report.error is not None and "拒绝登录" in report.error
    assert states(office) == [MailState.QUEUED]
    assert any("[错误]" in line and "拒绝登录" in line for line in office.oplog.lines())


def test_one_sender_at_a_time(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch, smtp_sink: SmtpSink
) -> None:
    office = bureau(tmp_path, clock, monkeypatch, smtp_sink)
    queue(office, 1)
    with exclusive(office.settings.data_dir / "locks", "outbox"):
        assert office.notifier.deliver().busy
    assert smtp_sink.messages == []
    assert office.notifier.deliver().sent == 1


def test_throttle_spaces_mails_evenly() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(round(seconds, 3))
        now[0] += seconds

    throttle = Throttle(20, sleep=sleep, monotonic=lambda: now[0])
    throttle.wait()
    now[0] += 1.0  # a mail took a second to send
    throttle.wait()
    now[0] += 5.0  # a slow one: no need to wait
    throttle.wait()
    assert slept == [2.0]


def test_backoff_doubles_up_to_an_hour() -> None:
    assert [backoff(n) for n in (1, 2, 3, 6, 7, 30)] == [timedelta(minutes=m) for m in (1, 2, 4, 32, 60, 60)]


# --- an unreliable server ----------------------------------------------------------------------


class UnreliableSink(SmtpSink):
    """A sink that can hang up instead of taking a message (`drops` times), or keep a message
    at once but answer only `hold` seconds later, so that a sender can be killed while a mail
    is in flight: the server has it, the sender never hears."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.hold = 0.0
        self.drops = 0
        self.arrivals = 0
        self._arrived = threading.Condition()
        super().__init__(*args, **kwargs)

    def wait_arrivals(self, count: int, timeout: float = 20.0) -> None:
        with self._arrived:
            if not self._arrived.wait_for(lambda: self.arrivals >= count, timeout):
                raise TimeoutError(f"{self.arrivals} of {count} messages arrived")

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.drops:
            self.drops -= 1
            assert server.transport is not None
            server.transport.close()
            return "421 never heard"
        reply = await super().handle_DATA(server, session, envelope)  # kept, whatever happens next
        with self._arrived:
            self.arrivals += 1
            self._arrived.notify_all()
        await asyncio.sleep(self.hold)
        return reply


@pytest.fixture
def unreliable_sink(certificate: tuple[Path, Path]) -> Iterator[UnreliableSink]:
    with UnreliableSink(*certificate) as sink:
        yield sink


def test_a_dropped_connection_is_retried(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch, unreliable_sink: UnreliableSink
) -> None:
    office = bureau(tmp_path, clock, monkeypatch, unreliable_sink)
    ids = queue(office, 2)
    unreliable_sink.drops = 1
    report = office.notifier.deliver()
    assert (report.sent, report.retrying, report.error) == (0, 1, None)
    [dropped, _] = office.notifier.outbox.items()
    assert dropped.last_error is not None and dropped.last_error.startswith("连接中断")
    assert office.notifier.deliver().sent == 1  # the second, on a new connection
    clock.advance(timedelta(minutes=1))
    assert office.notifier.deliver().sent == 1
    assert sorted(message_ids(unreliable_sink)) == sorted(ids)


# --- SIGKILL mid-queue --------------------------------------------------------------------------

_DELIVER = """
import sys
from datetime import datetime
from pathlib import Path
from notify import Notifier
from store.config import load_settings
from store.db import Store
from store.oplog import OperatorLog

settings = load_settings(Path(sys.argv[1]))
moment = datetime.fromisoformat(sys.argv[2])
clock = lambda: moment
store = Store(settings.data_dir, settings.db_url, clock)
oplog = OperatorLog(settings.data_dir / "operator.log", clock, moment.tzinfo)
Notifier(settings, store.db, oplog, clock).deliver()
"""


@pytest.mark.parametrize("mid_send", [True, False], ids=["killed mid-send", "killed between mails"])
def test_a_sender_killed_mid_queue_loses_nothing_and_repeats_at_most_the_mail_in_flight(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch, unreliable_sink: UnreliableSink, mid_send: bool
) -> None:
    # 300 a minute: 0.2 s between mails, so the kill lands in the middle of the queue.
    office = bureau(tmp_path, clock, monkeypatch, unreliable_sink, notify={"throttle_per_minute": 300})
    ids = queue(office, 8)
    unreliable_sink.hold = 1.0 if mid_send else 0.0
    process = subprocess.Popen(
        [sys.executable, "-c", _DELIVER, str(tmp_path / "config.yaml"), clock.now.isoformat()],
        cwd=ROOT,
        env={**os.environ, SMTP_PASSWORD_ENV: unreliable_sink.password},
    )
    try:
        unreliable_sink.wait_arrivals(3)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL
    unreliable_sink.hold = 0.0

    report = office.notifier.deliver()
    assert report.error is None
    counts = Counter(message_ids(unreliable_sink))
    assert set(counts) == set(ids), "every queued mail was delivered"
    repeated = [mid for mid, n in counts.items() if n > 1]
    # A mail counts as in flight from just before its bytes leave: it may not have arrived.
    assert len(repeated) <= report.repeated <= 1
    assert all(n <= 2 for n in counts.values())
    if mid_send:
        assert repeated == [ids[2]]
        assert "「回执：第3封」→ u3@county.test 上次发送时程序中断" in office.log()
    assert states(office) == [MailState.SENT] * 8
    assert office.notifier.deliver().sent == 0
