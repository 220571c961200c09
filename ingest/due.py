"""What is due at the context's moment, computed from the calendar, the database and the outbox
(never remembered by a scheduler): so a restart after downtime catches up exactly once.
"""

from __future__ import annotations

from ingest.context import Context


def queue_due_reminders(ctx: Context) -> int:
    """Queue the reminder stages due now for units with nothing on file; returns mails queued."""
    due = ctx.notifier.due_reminders(ctx.store.deadlines_on_file(), ctx.store.learned_senders())
    return ctx.notifier.remind(due)


def send_due(ctx: Context) -> None:
    """Everything but polling that a scheduler tick does: reminders, then delivery."""
    queue_due_reminders(ctx)
    ctx.notifier.deliver()
