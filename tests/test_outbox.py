"""The durable outbox on a real SQLite file: keyed once, bytes kept, retries, failures, status."""

from __future__ import annotations

from datetime import timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from store.db import Store
from store.outbox import MailKind, MailState, Outbox, ack_key, reminder_key
from tests.notify_support import Clock, beijing


@pytest.fixture
def clock() -> Clock:
    return Clock(beijing("2023-06-07T10:35"))


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Store:
    return Store(tmp_path / "data", f"sqlite:///{tmp_path / 'data' / 'db.sqlite3'}", clock)


@pytest.fixture
def outbox(store: Store, clock: Clock) -> Outbox:
    return Outbox(store.db, clock)


def mail(subject: str = "回执：盐湖区第1周进展") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "运城市工信局运行监测科 <ycjjyxk@126.com>"
    message["To"] = "yanhu@county.test"
    message["Subject"] = subject
    message.set_content("已收到。")
    return message


def test_a_key_is_queued_once_even_after_a_restart(store: Store, outbox: Outbox, clock: Clock) -> None:
    assert outbox.enqueue(ack_key(7), MailKind.ACK, "Yanhu@County.test", mail())
    assert not outbox.enqueue(ack_key(7), MailKind.ACK, "yanhu@county.test", mail("另一封"))
    restarted = Outbox(store.db, clock)  # create_all again: idempotent
    assert not restarted.enqueue(ack_key(7), MailKind.ACK, "yanhu@county.test", mail())
    [item] = restarted.items()
    assert (item.key, item.recipient, item.state) == ("ack:7", "yanhu@county.test", MailState.QUEUED)
    assert item.subject == "回执：盐湖区第1周进展"


def test_a_key_queued_twice_in_one_held_transaction_keeps_the_rest_of_it(store: Store, outbox: Outbox) -> None:
    with store.transaction():
        assert outbox.enqueue(ack_key(7), MailKind.ACK, "yanhu@county.test", mail())
        assert not outbox.enqueue(ack_key(7), MailKind.ACK, "yanhu@county.test", mail("另一封"))
        assert outbox.enqueue(ack_key(8), MailKind.ACK, "yanhu@county.test", mail())
    assert [(item.key, item.subject) for item in outbox.items()] == [
        (ack_key(7), "回执：盐湖区第1周进展"),
        (ack_key(8), "回执：盐湖区第1周进展"),
    ]


def test_the_exact_bytes_are_kept(outbox: Outbox) -> None:
    message = mail()
    outbox.enqueue(ack_key(1), MailKind.ACK, "yanhu@county.test", message)
    [item] = outbox.due(beijing("2023-06-07T10:35"))
    assert item.data == message.as_bytes(policy=policy.SMTP)


def test_one_key_may_go_to_several_recipients(outbox: Outbox) -> None:
    key = reminder_key("盐湖区工科局", "week-1", "eve")
    assert outbox.enqueue(key, MailKind.REMIND, "a@county.test", mail())
    assert outbox.enqueue(key, MailKind.REMIND, "b@county.test", mail())
    assert outbox.keys(MailKind.REMIND) == {key}
    assert outbox.keys(MailKind.ACK) == set()


def test_retry_waits_for_its_backoff_and_counts_attempts(outbox: Outbox, clock: Clock) -> None:
    outbox.enqueue(ack_key(1), MailKind.ACK, "yanhu@county.test", mail())
    [item] = outbox.due(clock.now)
    outbox.begin_attempt(item.id)
    assert outbox.due(clock.now)[0].in_flight
    outbox.mark_retry(item.id, "451 MI:SFQ Sender over quota", timedelta(minutes=5))
    assert outbox.due(clock.now) == []
    assert outbox.due(clock.now + timedelta(minutes=4, seconds=59)) == []
    [again] = outbox.due(clock.now + timedelta(minutes=5))
    assert (again.attempts, again.in_flight, again.last_error) == (1, False, "451 MI:SFQ Sender over quota")


def test_failures_keep_the_servers_words_for_status(outbox: Outbox, clock: Clock) -> None:
    for n in (1, 2, 3):
        outbox.enqueue(ack_key(n), MailKind.ACK, f"u{n}@county.test", mail())
    first, second, _third = outbox.due(clock.now)
    outbox.mark_sent(first.id)
    outbox.mark_failed(second.id, "554 DT:SPM 发送的邮件内容包含了未被许可的信息")
    summary = outbox.summary()
    assert summary.counts == {MailState.SENT: 1, MailState.FAILED: 1, MailState.QUEUED: 1}
    [problem] = summary.problems
    assert (problem.recipient, problem.last_error) == (
        "u2@county.test",
        "554 DT:SPM 发送的邮件内容包含了未被许可的信息",
    )
    assert [i.recipient for i in outbox.due(clock.now)] == ["u3@county.test"]


def test_cancel_takes_only_queued_mail_with_the_prefix(outbox: Outbox, clock: Clock) -> None:
    # '_' is a LIKE wildcard: a unit called a_b must not cancel the mail of a unit called axb.
    keys = [
        reminder_key("a_b", "week-1", "eve"),
        reminder_key("axb", "week-1", "eve"),
        reminder_key("a_b", "week-2", "eve"),
    ]
    for key in keys:
        outbox.enqueue(key, MailKind.REMIND, "x@county.test", mail(key))
    cancelled = outbox.cancel(reminder_key("a_b", "week-1", ""), "已报送")
    assert [c.key for c in cancelled] == [keys[0]]
    assert {i.key for i in outbox.due(clock.now)} == set(keys[1:])
    assert outbox.cancel(reminder_key("a_b", "week-1", ""), "已报送") == []


def test_recent_mail_to_an_address_is_counted(outbox: Outbox, clock: Clock) -> None:
    outbox.enqueue(ack_key(1), MailKind.ACK, "yanhu@county.test", mail())
    clock.advance(timedelta(minutes=30))
    outbox.enqueue(ack_key(2), MailKind.ACK, "YANHU@county.test", mail())
    outbox.enqueue(ack_key(3), MailKind.ACK, "other@county.test", mail())
    since = clock.now - timedelta(hours=1)
    assert outbox.count_since(MailKind.ACK, "yanhu@county.test", since) == 2
    assert outbox.count_since(MailKind.ACK, "yanhu@county.test", clock.now - timedelta(minutes=10)) == 1
    assert outbox.count_since(MailKind.REMIND, "yanhu@county.test", since) == 0


def test_a_mail_with_nobody_to_go_to_is_recorded_once(outbox: Outbox, clock: Clock) -> None:
    key = reminder_key("夏县工科局", "week-1", "eve")
    assert outbox.record_unsendable(key, MailKind.REMIND, "没有联络员邮箱")
    assert not outbox.record_unsendable(key, MailKind.REMIND, "没有联络员邮箱")
    assert outbox.keys(MailKind.REMIND) == {key}
    assert outbox.due(clock.now) == []
    [problem] = outbox.summary().problems
    assert (problem.state, problem.last_error) == (MailState.FAILED, "没有联络员邮箱")
