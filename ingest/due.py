"""What is due at the context's moment, computed from the calendar, the database and the outbox
(never remembered by a scheduler): so a restart after downtime catches up exactly once.
"""

from __future__ import annotations

from ingest.context import Context
from ingest.reports import send_due_digest
from notify.remind import Reminder


def reminders_due(ctx: Context) -> list[Reminder]:
    """The reminder stages due now for units with nothing on file."""
    return ctx.notifier.due_reminders(ctx.store.deadlines_on_file(ctx.campaign), ctx.store.learned_senders())


def queue_due_reminders(ctx: Context) -> int:
    """Queue the reminders due now; returns the number of mails queued."""
    return ctx.notifier.remind(reminders_due(ctx))


def send_due(ctx: Context) -> None:
    """Everything but polling that a scheduler tick does: reminders, the digest, delivery."""
    queue_due_reminders(ctx)
    send_due_digest(ctx)
    ctx.notifier.deliver()
