"""The 汇总表 and the leadership digest: what `export` and `digest` do, and what the scheduler calls.

Each action reads the status once, builds the workbook and the digest with the pure builders of
notify/, and writes or queues them in a few lines; the outbox keeps a digest from going out twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ingest.context import Context
from ingest.sources import open_source
from notify.digest import DigestFacts, digest_content, workbook_name
from notify.figures import FormLabels, Tally
from notify.sender import DeliveryReport
from notify.templates import Rendered
from store.config import ConfigError
from store.durable import write_durably
from store.model import BaosongError, Deadline, State
from store.status import Status, load_status


@dataclass(frozen=True)
class DigestResult:
    """What `baosong digest` did."""

    deadline: Deadline
    subject: str
    recipients: tuple[str, ...]
    queued: int  # mails queued by this run
    sent_before: bool  # the digest had been queued by an earlier run: nothing new was queued
    files: tuple[Path, ...] = ()  # a dry run's HTML, text and workbook
    delivery: DeliveryReport | None = None


def export_workbook(ctx: Context, deadline_id: str | None, path: Path) -> Path:
    """Write the 汇总表 up to the deadline (default: the latest one passed or reported for)."""
    status = _status(ctx)
    through = ctx.campaign.deadline(deadline_id) if deadline_id else _latest_with_news(ctx, status)
    labels, tally = _tally(ctx, status)
    from notify.workbook import build_workbook  # openpyxl and numpy: not for every poll's start-up

    write_durably(path, build_workbook(status, ctx.campaign, labels, tally, through, ctx.notifier.letterhead))
    ctx.oplog.info(f"已导出汇总表（截至{through.label}）：{path}")
    return path


def send_digest(ctx: Context, deadline_id: str | None, dry_run: bool, out_dir: Path | None) -> DigestResult:
    """Queue and send the digest of a deadline (default: the latest passed one), once.

    A dry run writes the HTML, the plain text and the workbook under `out_dir` (default
    data_dir/digests) instead, and queues nothing.
    """
    deadline = ctx.campaign.deadline(deadline_id) if deadline_id else ctx.campaign.latest_passed(ctx.clock())
    if deadline is None:
        raise BaosongError("还没有已截止的报送节点，没有可汇总的内容；可用 --deadline 指定")
    # Sent early, a digest would stand for the deadline and the real one would never go out.
    if not dry_run and not deadline.passed(ctx.clock()):
        when = ctx.notifier.letterhead.when(deadline.due)
        raise BaosongError(f"{deadline.label}尚未截止（{when}），截止后才能发送汇总；可先用 --dry-run 预览")
    recipients = tuple(ctx.settings.leadership)
    if not dry_run and not recipients:
        raise ConfigError("leadership: 没有领导邮箱，汇总无法发送；请在 config.yaml 的 leadership 中填写")
    if not dry_run and ctx.notifier.digest_queued(deadline):
        return DigestResult(deadline, "", recipients, 0, True, delivery=ctx.notifier.deliver())
    content, workbook = _digest(ctx, deadline)
    if dry_run:
        folder = out_dir or ctx.settings.data_dir / "digests"
        files = (
            folder / f"digest-{deadline.id}.html",
            folder / f"digest-{deadline.id}.txt",
            folder / workbook_name(deadline),
        )
        for path, data in zip(files, (content.html.encode(), content.text.encode(), workbook), strict=True):
            write_durably(path, data)
        return DigestResult(deadline, content.subject, recipients, 0, False, files)
    queued = ctx.notifier.queue_digest(deadline, content, workbook)
    return DigestResult(deadline, content.subject, recipients, queued, False, delivery=ctx.notifier.deliver())


def send_due_digest(ctx: Context) -> bool:
    """The scheduler's job: queue and send the digest owed now, if any; True if mail was queued.

    Without leaders configured the digest is recorded as failed (see `status`), once.
    """
    deadline = ctx.notifier.due_digest()
    if deadline is None:
        return False
    queued = ctx.notifier.queue_digest(deadline, *_digest(ctx, deadline))
    ctx.notifier.deliver()
    return queued > 0


def _status(ctx: Context) -> Status:
    return load_status(ctx.store, ctx.campaign, ctx.clock(), open_source(ctx.settings.mailbox).key)


def _tally(ctx: Context, status: Status) -> tuple[FormLabels, Tally]:
    """The labels of the forms, and the figures added up as notify.figures says."""
    labels = FormLabels.from_definitions(ctx.definitions)
    unknown = sorted(set(ctx.settings.notify.figure_modes) - {b.key for b in labels.blanks})
    if unknown:
        raise ConfigError(f"notify.figure_modes: 附件2 中没有编号为 {'、'.join(unknown)} 的数据")
    return labels, Tally(status, labels.blanks, ctx.settings.notify.figure_mode)


def _digest(ctx: Context, deadline: Deadline) -> tuple[Rendered, bytes]:
    """The digest's content and its 汇总表, from one reading of the status."""
    status = _status(ctx)
    labels, tally = _tally(ctx, status)
    letterhead = ctx.notifier.letterhead
    from notify.workbook import build_workbook  # openpyxl and numpy: not for every poll's start-up

    content = digest_content(
        DigestFacts(status, deadline, ctx.campaign, tally, labels), ctx.notifier.templates, letterhead
    )
    return content, build_workbook(status, ctx.campaign, labels, tally, deadline, letterhead)


def _latest_with_news(ctx: Context, status: Status) -> Deadline:
    """The last deadline that has passed or that somebody has already reported for."""
    started = [
        d.deadline
        for d in status.deadlines
        if d.passed or any(u.state is not State.NOT_DUE for u in d.units)
    ]
    return started[-1] if started else ctx.campaign.deadlines[0]
