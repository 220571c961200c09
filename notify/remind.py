"""Reminders (提醒 before a deadline, 逾期催报 after it) to units with nothing on file.

`due_reminders` decides, purely, who gets which stage at `now`; `build_reminder` writes one
mail; `queue_reminders` puts them in the outbox; `cancel_reminders` withdraws the queued ones of
a unit that has just sent its report.

Which stage: for each deadline, the latest stage whose moment has passed and that still makes
sense (a before-deadline stage only until the deadline; an after-deadline one only after it,
and only while the unit is still missing), unless it was queued before. When the program was
down across several stages, only the latest goes out: one mail that fits the moment, not a
burst of stale ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from email.message import EmailMessage

from notify.mail import AutoSubmitted, Letterhead, compose
from notify.templates import Templates
from store.config import ReminderStage
from store.model import Campaign, Deadline, Unit
from store.oplog import OperatorLog
from store.outbox import MailKind, Outbox, reminder_key


@dataclass(frozen=True)
class Reminder:
    """One stage of one deadline for one unit, to each of its liaison addresses."""

    unit: str
    deadline: Deadline
    stage: ReminderStage
    at: datetime  # the stage's moment
    recipients: tuple[str, ...]  # empty: the unit has no known address

    @property
    def key(self) -> str:
        return reminder_key(self.unit, self.deadline.id, self.stage.id)

    @property
    def label(self) -> str:
        return "提醒" if self.stage.before_deadline else "逾期催报"

    def describe(self, letterhead: Letterhead) -> str:
        """One line for `remind --dry-run` and the operator log."""
        to = "、".join(self.recipients) or "（没有联络员邮箱，无法发送）"
        return f"{self.unit} → {to}：{self.deadline.label}{self.label}（{self.stage.id}，{letterhead.when(self.at)}）"


def stage_time(stage: ReminderStage, due: datetime, zone: tzinfo) -> datetime:
    """The moment of `stage` for a deadline due at `due`; day counts are calendar days in `zone`."""
    if stage.before is not None:
        return due - stage.before
    if stage.after is not None:
        return due + stage.after
    assert stage.at is not None  # the config requires `at` with before_days/after_days
    days = -stage.before_days if stage.before_days is not None else stage.after_days or 0
    day = due.astimezone(zone).date() + timedelta(days=days)
    return datetime.combine(day, stage.at, tzinfo=zone)


def current_stage(
    deadline: Deadline, stages: Sequence[ReminderStage], now: datetime, zone: tzinfo
) -> tuple[ReminderStage, datetime] | None:
    """The stage that fits `now` for this deadline, with its moment, or None."""
    before = not deadline.passed(now)
    fitting = [(stage_time(stage, deadline.due, zone), stage) for stage in stages if stage.before_deadline == before]
    passed = [(at, stage) for at, stage in fitting if at <= now]
    if not passed:
        return None
    at, stage = max(passed, key=lambda pair: pair[0])
    return stage, at


def due_reminders(
    campaign: Campaign,
    on_file: Mapping[str, Set[str]],
    stages: Sequence[ReminderStage],
    now: datetime,
    already_sent: Set[str],
    addresses_of: Mapping[str, Sequence[str]],
) -> list[Reminder]:
    """The reminders to queue at `now`.

    `on_file`: unit -> the deadline ids it has something filed for (Store.deadlines_on_file);
    `already_sent`: the reminder keys queued before, whatever became of them (Outbox.keys);
    `addresses_of`: unit -> its liaison addresses (`liaison_addresses`).
    """
    found = []
    for deadline in campaign.deadlines:
        current = current_stage(deadline, stages, now, campaign.timezone)
        if current is None:
            continue
        stage, at = current
        for unit in campaign.units:
            if deadline.id in on_file.get(unit.name, ()):
                continue
            reminder = Reminder(unit.name, deadline, stage, at, tuple(addresses_of.get(unit.name, ())))
            if reminder.key not in already_sent:
                found.append(reminder)
    return found


def liaison_addresses(units: Iterable[Unit], learned: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """Unit -> its addresses: the config's first, then those learned from liaison forms."""
    found: dict[str, list[str]] = {u.name: [e.strip().lower() for e in u.emails] for u in units}
    for address, unit in sorted(learned.items()):
        if unit in found and address.strip().lower() not in found[unit]:
            found[unit].append(address.strip().lower())
    return {unit: tuple(addresses) for unit, addresses in found.items()}


def _remaining(span: timedelta) -> str:
    """'1天2小时', '2小时', '10分钟': the two largest units of a span."""
    minutes = max(0, int(span.total_seconds() // 60))
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{n}{unit}" for n, unit in ((days, "天"), (hours, "小时"), (minutes, "分钟")) if n]
    return "".join(parts[:2]) or "不到1分钟"


def build_reminder(
    reminder: Reminder,
    recipient: str,
    templates: Templates,
    letterhead: Letterhead,
    now: datetime,
) -> EmailMessage:
    before = reminder.stage.before_deadline
    rendered = templates.render(
        "remind",
        campaign=letterhead.campaign,
        unit=reminder.unit,
        deadline_label=reminder.deadline.label,
        expects="、".join(kind.label for kind in reminder.deadline.expects),
        due=letterhead.when(reminder.deadline.due),
        now=letterhead.when(now),
        before=before,
        stage=reminder.stage.id,
        remaining=_remaining(reminder.deadline.due - now) if before else "",
        contact=letterhead.contact,
        signature=letterhead.name,
        mailbox=letterhead.address,
    )
    return compose(
        letterhead,
        recipient,
        rendered.subject,
        rendered.text,
        rendered.html,
        now,
        AutoSubmitted.GENERATED,
        recipient_name=reminder.unit,
    )


def queue_reminders(
    outbox: Outbox,
    reminders: Iterable[Reminder],
    templates: Templates,
    letterhead: Letterhead,
    now: datetime,
    oplog: OperatorLog,
) -> int:
    """Queue one mail per reminder and address; return how many were queued.

    A unit without any address is recorded as a failed reminder (shown in `status`, logged
    once) rather than tried again at every run.
    """
    queued = 0
    for reminder in reminders:
        if not reminder.recipients:
            outbox.record_unsendable(reminder.key, MailKind.REMIND, "没有联络员邮箱：请在 config.yaml 的 units 中登记")
            oplog.warning(f"无法发送{reminder.label}：{reminder.describe(letterhead)}")
            continue
        # A reminder before the deadline that could not go out in time must not go out late.
        not_after = reminder.deadline.due if reminder.stage.before_deadline else None
        fresh = sum(
            outbox.enqueue(
                reminder.key,
                MailKind.REMIND,
                address,
                build_reminder(reminder, address, templates, letterhead, now),
                not_after,
            )
            for address in reminder.recipients
        )
        if fresh:
            oplog.info(f"{reminder.label}已排队：{reminder.describe(letterhead)}")
        queued += fresh
    return queued


def cancel_reminders(outbox: Outbox, unit: str, deadline_id: str, oplog: OperatorLog) -> int:
    """Withdraw the queued, unsent reminders of a unit that has just filed for the deadline."""
    prefix = reminder_key(unit, deadline_id, "")
    cancelled = outbox.cancel(prefix, f"{unit}已报送，提醒不再需要")
    for item in cancelled:
        oplog.info(f"已取消未发出的提醒「{item.subject}」→ {item.recipient}：{unit}已报送")
    return len(cancelled)
