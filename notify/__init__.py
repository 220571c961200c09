"""What baosong sends: acknowledgments, reminders, the leadership digest; the outbox and its sender.

`Notifier` is the face the rest of the program uses, built once per run:

    notifier = Notifier(settings, store.db, oplog, clock)
    # in the poll cycle, after a message is filed:
    verdict = answer_allowed(envelope, envelope.header("content-type") or "", notifier.own_addresses)
    notifier.acknowledge(message_id, facts, loop_check=verdict, verified=filing.unit_verified)
    notifier.withdraw_reminders(unit, deadline_id)
    # at the end of the cycle, and after `remind`:
    notifier.deliver()
    # `baosong remind [--dry-run]`:
    reminders = notifier.due_reminders(store.deadlines_on_file(campaign), store.learned_senders())
    notifier.describe(reminder) for --dry-run, else notifier.remind(reminders); notifier.deliver()
    # the leadership digest (ingest/reports.py builds its content and the 汇总表):
    deadline = notifier.due_digest()
    notifier.queue_digest(deadline, content, workbook); notifier.deliver()
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Set
from datetime import datetime

from notify.ack import AckFacts, AckOutcome, CloudLink, LoopCheck, Problem, build_ack, queue_ack
from notify.digest import digest_due, queue_digest
from notify.mail import Letterhead
from notify.remind import (
    Reminder,
    build_reminder,
    cancel_reminders,
    due_reminders,
    liaison_addresses,
    queue_reminders,
)
from notify.sender import DeliveryReport, Throttle, deliver
from notify.templates import Rendered, TemplateProblem, Templates
from store.config import Settings
from store.database import Database
from store.model import Deadline, ProblemKind
from store.oplog import OperatorLog
from store.outbox import MailKind, Outbox, OutboxSummary, digest_key

__all__ = [
    "AckFacts",
    "AckOutcome",
    "CloudLink",
    "DeliveryReport",
    "Letterhead",
    "Notifier",
    "Problem",
    "ProblemKind",
    "Reminder",
    "TemplateProblem",
    "Templates",
    "build_ack",
    "build_reminder",
    "deliver",
]


class Notifier:
    """The outbox, the templates and the sender, set up from the config."""

    def __init__(self, settings: Settings, db: Database, oplog: OperatorLog, clock: Callable[[], datetime]) -> None:
        self.settings = settings
        self.outbox = Outbox(db, clock)
        self.templates = Templates(settings.notify.templates_dir)
        self.letterhead = Letterhead.from_settings(settings)
        self._campaign = settings.campaign_model()
        self._oplog = oplog
        self._clock = clock
        # One throttle for the life of the process: a daemon's batches are spaced too.
        self._throttle = Throttle(settings.notify.throttle_per_minute)

    @property
    def own_addresses(self) -> frozenset[str]:
        """Our own addresses: never answered (answer_allowed's `own_addresses`)."""
        found = {self.letterhead.address, self.settings.smtp.username, self.settings.mailbox.username}
        return frozenset(a.strip().lower() for a in found if a)

    def acknowledge(self, message: int, facts: AckFacts, *, loop_check: LoopCheck, verified: bool) -> AckOutcome:
        """Queue the acknowledgment of filed message `message` (its row id) if it may go out."""
        return queue_ack(
            self.outbox,
            message,
            facts,
            loop_check=loop_check,
            verified=verified,
            per_address_per_hour=self.settings.notify.per_address_per_hour,
            templates=self.templates,
            letterhead=self.letterhead,
            now=self._clock(),
            oplog=self._oplog,
        )

    def withdraw_reminders(self, unit: str, deadline_id: str) -> int:
        """Cancel queued reminders a unit no longer needs: it has just filed for the deadline."""
        return cancel_reminders(self.outbox, unit, deadline_id, self._oplog)

    def due_reminders(self, on_file: Mapping[str, Set[str]], learned_senders: Mapping[str, str]) -> list[Reminder]:
        """Who gets which reminder now (Store.deadlines_on_file, Store.learned_senders)."""
        return due_reminders(
            self._campaign,
            on_file,
            self.settings.notify.reminders,
            self._clock(),
            self.outbox.keys(MailKind.REMIND),
            liaison_addresses(self._campaign.units, learned_senders),
        )

    def describe(self, reminder: Reminder) -> str:
        return reminder.describe(self.letterhead)

    def remind(self, reminders: Iterable[Reminder]) -> int:
        """Queue the reminders; returns the number of mails queued."""
        return queue_reminders(self.outbox, reminders, self.templates, self.letterhead, self._clock(), self._oplog)

    def due_digest(self) -> Deadline | None:
        """The deadline whose leadership digest is owed now (`notify.digest_after` past it), or None."""
        return digest_due(
            self._campaign, self._clock(), self.settings.notify.digest_after, self.outbox.keys(MailKind.DIGEST)
        )

    def digest_queued(self, deadline: Deadline) -> bool:
        """Whether the deadline's digest was queued before, whatever became of it."""
        return self.outbox.has(digest_key(deadline.id))

    def queue_digest(self, deadline: Deadline, content: Rendered, workbook: bytes) -> int:
        """Queue the digest to every leader once; returns the number of mails queued now."""
        return queue_digest(
            self.outbox,
            deadline,
            content,
            workbook,
            self.settings.leadership,
            self.letterhead,
            self._clock(),
            self._oplog,
        )

    def deliver(self) -> DeliveryReport:
        """Send (or write to outbox_dir) what is due; the outcome is in the operator log too."""
        return deliver(
            self.outbox,
            self.settings.smtp,
            self._oplog,
            self._clock,
            self._throttle,
            lock_dir=self.settings.data_dir / "locks",
            retry_for=self.settings.notify.retry_for,
        )

    def summary(self) -> OutboxSummary:
        """Counts by state and the failures with the server's words, for `status`."""
        return self.outbox.summary()
