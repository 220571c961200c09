"""The poll cycle: fetch → keep → parse → file. The scheduler and `baosong poll` both call
`poll()`; everything it decides comes from parsers/, everything it writes goes through store/.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from ingest.ahead import Ahead, bodies_ahead
from ingest.context import Context
from ingest.progress import Progress
from ingest.readers import NotAMessage, Pending, Readers, ReadingFailed, SpoolUnreadable, read_ahead
from ingest.sources import Listing, MailboxError, MailSource, open_source
from notify.ack import AckFacts, CloudLink, Problem
from notify.figures import FormLabels
from parsers import parse_envelope
from parsers.autoreply import answer_allowed
from parsers.classify import could_be_report
from parsers.concerns import Concern
from parsers.errors import ParseError
from parsers.message import Envelope, Message
from parsers.submission import Submission, read_submission
from store.db import Activity, Duplicate, FileToKeep, Filing, History, Kept, PhotoRecord, Seen, Spooled, Store
from store.lock import exclusive
from store.model import Outcome, ProblemKind

log = logging.getLogger(__name__)

# How many bytes of spooled messages may wait, read or being read, for the poll's thread: their
# readings are held in memory until it files them.
READ_AHEAD = 32 * 1024 * 1024


@dataclass
class PollReport:
    """What one poll did, for the closing log line and the caller."""

    listed: int = 0
    fetched: int = 0
    filed: int = 0
    unsorted: int = 0
    quarantined: int = 0
    not_report: int = 0
    duplicate: int = 0
    retry_later: int = 0

    def count(self, outcome: Outcome) -> None:
        name = outcome.value
        setattr(self, name, getattr(self, name) + 1)

    @property
    def busy(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))

    def summary(self) -> str:
        labels = {
            "listed": "新邮件",
            "fetched": "下载",
            "filed": "归档",
            "unsorted": "待分拣",
            "quarantined": "隔离",
            "not_report": "非报送",
            "duplicate": "重复",
            "retry_later": "待重试",
        }
        return "，".join(f"{labels[f.name]} {getattr(self, f.name)}" for f in fields(self))


def _never() -> bool:
    return False


def poll(
    ctx: Context, progress: Progress, should_stop: Callable[[], bool] = _never, source: MailSource | None = None
) -> PollReport:
    """One cycle over the configured mailbox. Raises MailboxError when it cannot be read.

    `should_stop` is asked between messages: a daemon told to stop finishes the message in
    hand and leaves the rest to its next start. `source`: the configured mailbox, when the
    caller has opened it already (`sources.connected_ahead`).
    """
    source = source or open_source(ctx.settings.mailbox)
    with exclusive(ctx.settings.data_dir / "locks", source.key):
        run = ctx.store.poll_started(source.key)
        report = PollReport()
        ctx.store.sweep_temporary()
        try:
            with _readers(ctx) as readers:
                this = _Round(report, ctx.known_senders(), ctx.store.history(ctx.campaign), readers)
                _process_kept(ctx, ctx.store.pending(), this, should_stop)
                with source:
                    _fetch_requeued(ctx, source, this)
                    _take_new(ctx, source, this, progress, should_stop)
        except MailboxError as exc:
            ctx.store.poll_finished(run, str(exc), report.fetched)
            ctx.oplog.error(f"收取邮件失败：{exc}")
            _alarm_if_down_long(ctx, source.key)
            raise
        finally:
            progress.finish()
        _say_recovered(ctx, source.key)
        ctx.store.poll_finished(run, None, report.fetched)
        _log_quiet_outcomes(ctx, report)
        if report.busy:  # a poll that found nothing says so in `status`, not in the log every 5 minutes
            ctx.oplog.info(f"本次收取完成：{report.summary()}")
    ctx.notifier.deliver()
    return report


def reprocess(ctx: Context, progress: Progress) -> PollReport:
    """Rebuild every submission from the raw spool (after a parser fix); the mailbox is not read."""
    source = open_source(ctx.settings.mailbox)
    with exclusive(ctx.settings.data_dir / "locks", source.key):
        reopened = ctx.store.reopen_all()
        ctx.oplog.info(f"开始重新处理原始邮件 {reopened} 封")
        report = PollReport()
        progress.start("重新处理", reopened)
        with _readers(ctx) as readers:
            this = _Round(report, ctx.known_senders(), ctx.store.history(ctx.campaign), readers)
            _process_kept(ctx, ctx.store.pending(), this, _never, progress)
        progress.finish()
        ctx.oplog.info(f"重新处理完成：{report.summary()}")
        return report


def _alarm_if_down_long(ctx: Context, source: str) -> None:
    """Say once, loudly, when the mailbox has failed for longer than the configured time."""
    failing = ctx.store.failing_since(source)
    if failing is None:
        return
    streak, since = failing
    minutes = (ctx.clock() - since).total_seconds() / 60
    if minutes >= ctx.settings.mailbox.alarm_after_minutes and ctx.store.give_notice(f"down:{streak}"):
        ctx.oplog.error(
            f"【注意】邮箱自 {ctx.campaign.local(since):%m-%d %H:%M} 起已连续 {minutes / 60:.1f} 小时无法收取，"
            "各单位的报送可能无人处理；请检查网络、授权码和 baosong check-config 的结果"
        )


def _say_recovered(ctx: Context, source: str) -> None:
    failing = ctx.store.failing_since(source)
    if failing is not None and ctx.store.notice_given(f"down:{failing[0]}"):
        ctx.oplog.info("邮箱已恢复收取")


def _take_new(
    ctx: Context,
    source: MailSource,
    this: _Round,
    progress: Progress,
    should_stop: Callable[[], bool],
) -> None:
    store = ctx.store
    checkpoint = store.checkpoint(source.key)
    after = 0
    if checkpoint is not None and source.numeric_uids:
        if checkpoint.uidvalidity == source.uidvalidity:
            after = checkpoint.last_uid
        else:
            ctx.oplog.warning(
                f"邮箱文件夹的 UIDVALIDITY 已变化（{checkpoint.uidvalidity} → {source.uidvalidity}），"
                "将逐封按 Message-ID 和内容核对，已归档的邮件不会重复归档"
            )
    known = store.known_uids(source.key, source.uidvalidity)
    uids = source.candidates(after, ctx.campaign.start, known)
    if uids:
        this.readers.start()  # it gets ready while the headers are read
    progress.start("收取邮件", len(uids))
    now = ctx.clock()
    for batch in _chunks(uids, ctx.settings.mailbox.batch_size):
        listings = source.listings(batch)
        if not _take_batch(ctx, source, listings, this, progress, should_stop, now):
            return


@dataclass(frozen=True)
class _Round:
    """What one poll (or reprocess) carries from message to message."""

    report: PollReport
    senders: dict[str, str]  # address -> unit: `Context.known_senders`, learning from each 附件1 filed
    history: History  # what the submissions filed so far tell the next one
    readers: Readers


def _readers(ctx: Context) -> Readers:
    return Readers(ctx.definitions, ctx.convert, ctx.campaign.timezone)


@dataclass
class _Known:
    """What decisions about a batch consult, read once and kept up to date as it is recorded."""

    originals: dict[str, int]  # Message-ID -> the first message recorded with it
    senders: dict[str, str]  # `_Round.senders`


@dataclass(frozen=True)
class _Step:
    """What to do with one listed message: fetch and keep it (`outcome` None), or record it."""

    listing: Listing
    seen: Seen
    outcome: Outcome | None = None
    reason: str = ""
    original: int | None = None
    too_large: bool = False


def _take_batch(
    ctx: Context,
    source: MailSource,
    listings: Sequence[Listing],
    this: _Round,
    progress: Progress,
    should_stop: Callable[[], bool],
    now: datetime,
) -> bool:
    """Decide for each listed message from its headers; then fetch the bodies wanted (a few
    FETCHes for the lot) and keep, record and process each as it lands (`_carry_out`). False
    when the poll is to stop here.

    A decision is made only when it cannot depend on what is still planned: a message with
    the Message-ID of a planned one, or one that looks like no report while a planned one
    might teach us its sender (a 附件1), waits until the plan is carried out.
    """
    envelopes = [_envelope(listing.header) for listing in listings]
    known = _Known(
        ctx.store.originals_of(e.message_id for e in envelopes if e is not None and e.message_id), this.senders
    )
    plan: list[_Step] = []
    for listing, envelope in zip(listings, envelopes, strict=True):
        if should_stop():
            return False  # nothing planned is recorded yet: all of it is left to the next start
        if listing.received_at > now:
            # Only with --now in the past (a replay): this mail has not "arrived" yet. The
            # checkpoint must not pass it, so a numbered mailbox stops here for this poll.
            if source.numeric_uids:
                _carry_out(ctx, source, plan, known, this, progress, should_stop)
                return False
            continue
        step = _decide(ctx, source, listing, envelope, plan, known)
        if step is None:
            if not _carry_out(ctx, source, plan, known, this, progress, should_stop):
                return False
            plan = []
            step = _decide(ctx, source, listing, envelope, plan, known)
            assert step is not None
        plan.append(step)
    return _carry_out(ctx, source, plan, known, this, progress, should_stop)


def _decide(
    ctx: Context,
    source: MailSource,
    listing: Listing,
    envelope: Envelope | None,
    plan: Sequence[_Step],
    known: _Known,
) -> _Step | None:
    """From the headers: record the message as it is, or fetch it. None: carry out `plan` first."""
    seen = Seen(
        source=source.key,
        uidvalidity=source.uidvalidity,
        uid=listing.uid,
        size=listing.size,
        received_at=listing.received_at,
        message_id=envelope.message_id if envelope else None,
        sender=envelope.sender if envelope else "",
        sender_name=envelope.sender_name if envelope else "",
        subject=envelope.subject if envelope else "",
    )
    if seen.message_id is not None and any(step.seen.message_id == seen.message_id for step in plan):
        return None
    original = known.originals.get(seen.message_id) if seen.message_id else None
    if original is not None:
        return _Step(
            listing, seen, Outcome.DUPLICATE, f"与 #{original} 为同一封邮件（Message-ID 相同）", original
        )
    cap = ctx.settings.mailbox.max_message_bytes
    if listing.size > cap:
        reason = (
            f"邮件大小 {listing.size / 1048576:.1f} MB 超过上限 {cap / 1048576:.0f} MB，未下载；"
            "请在网页邮箱中查看并手工保存附件"
        )
        return _Step(listing, seen, Outcome.QUARANTINED, reason, too_large=True)
    if envelope is not None and (envelope.sender or envelope.subject):
        likely = could_be_report(
            envelope.sender,
            envelope.subject,
            listing.attachment_names,
            ctx.campaign.units,
            known.senders,
        )
        if not likely.possible:
            if any(step.outcome is None for step in plan):
                return None
            return _Step(listing, seen, Outcome.NOT_REPORT, likely.reason)
    return _Step(listing, seen)


def _carry_out(
    ctx: Context,
    source: MailSource,
    plan: Sequence[_Step],
    known: _Known,
    this: _Round,
    progress: Progress,
    should_stop: Callable[[], bool],
) -> bool:
    """Fetch the bodies of `plan` into the spool, record each step in order and file each kept
    message as soon as it is recorded, while the next bodies are still arriving and being read
    (`Ahead`, `Readers`). The checkpoint moves with the last step. False when told to stop: the
    steps not recorded yet are left to the next start. `known` is brought up to date."""
    if not plan:
        return True
    store = ctx.store
    wanted = [(step.listing.uid, step.listing.size) for step in plan if step.outcome is None]
    with (
        bodies_ahead(source.bodies(wanted)) as arriving,
        Ahead(_submitted(store, store.spool(arriving), this.readers), "baosong-spool", READ_AHEAD, _size) as landed,
    ):
        bodies = iter(landed)
        for quiet, fetched in _runs(plan):
            if should_stop():
                return False
            spooled, reading = _landed(bodies, fetched.listing.uid) if fetched is not None else (None, None)
            with store.recording() as recording:
                for step in quiet:
                    assert step.outcome is not None
                    recording.seen(step.seen, step.outcome, step.reason, step.original)
                result = recording.kept(fetched.seen, spooled) if fetched is not None and spooled is not None else None
                if source.numeric_uids and (fetched or quiet[-1]) is plan[-1]:
                    recording.checkpoint(source.key, source.uidvalidity, int(plan[-1].listing.uid))
            for step in quiet:
                _recorded(ctx, step, this.report)
                progress.advance()
            if fetched is not None and reading is not None:
                this.report.fetched += 1
                _recorded(ctx, fetched, this.report, result)
                if isinstance(result, Kept):
                    _process(ctx, result, this, reading, counted=True)
                else:
                    reading.cancel()
                progress.advance()
    new_ids = {s.seen.message_id for s in plan if s.seen.message_id and s.seen.message_id not in known.originals}
    known.originals.update(store.originals_of(new_ids) if new_ids else {})
    return True


def _submitted(
    store: Store, spooled: Iterable[tuple[str, Spooled]], readers: Readers
) -> Iterator[tuple[str, Spooled, Pending]]:
    """Each body, once in the spool, is handed to the readers: reading starts before the poll's
    thread records it (a worker dying on it takes nothing with it)."""
    for uid, body in spooled:
        yield uid, body, readers.submit(store.raw_file(body.relative), body.size)


def _size(landed: tuple[str, Spooled, Pending]) -> int:
    return landed[1].size


def _landed(bodies: Iterator[tuple[str, Spooled, Pending]], uid: str) -> tuple[Spooled, Pending]:
    """The next body from the spool, which must be that of `uid`: sources yield in order."""
    landed, spooled, reading = next(bodies)
    if landed != uid:
        raise MailboxError(f"邮箱返回的邮件顺序有误：等待 UID {uid}，收到 UID {landed}")
    return spooled, reading


def _runs(plan: Sequence[_Step]) -> Iterator[tuple[list[_Step], _Step | None]]:
    """`plan` cut after each message to fetch: the steps recorded as they are before it, and
    it (None at the end). Each run is recorded in one commit, and its fetched message
    processed right after."""
    quiet: list[_Step] = []
    for step in plan:
        if step.outcome is None:
            yield quiet, step
            quiet = []
        else:
            quiet.append(step)
    if quiet:
        yield quiet, None


def _recorded(ctx: Context, step: _Step, report: PollReport, result: Kept | Duplicate | None = None) -> None:
    """Count a step just recorded; a kept message is counted when it is filed."""
    report.listed += 1
    if step.outcome is not None:
        if step.too_large:
            ctx.oplog.warning(f"{_who(step.seen)}「{step.seen.subject}」{step.reason}")
        report.count(step.outcome)
    elif isinstance(result, Duplicate):
        report.count(Outcome.DUPLICATE)


def _log_quiet_outcomes(ctx: Context, report: PollReport) -> None:
    """One line for the many messages that are not worth a line each."""
    if report.duplicate:
        ctx.oplog.info(f"{report.duplicate} 封邮件与已收到的邮件相同（Message-ID 或内容一致），已记录，不再重复归档")
    if report.not_report:
        ctx.oplog.info(
            f"{report.not_report} 封邮件不像报送材料（发件人未登记，也无单位名称、活动关键词或文档附件），"
            "已登记但未下载正文；可用 baosong status 查看"
        )


def _fetch_requeued(ctx: Context, source: MailSource, this: _Round) -> None:
    """Bodies the operator asked for (`baosong refetch`) of mail first judged not a report.

    Their size was not kept, so each comes in partial FETCHes: even one over the size limit
    (the operator's choice) goes to the spool a piece at a time.
    """
    waiting = ctx.store.awaiting_body(source.key, source.uidvalidity)
    rows = {uid: row for row, uid in waiting}
    for uid, spooled in ctx.store.spool(source.bodies([(uid, None) for _, uid in waiting])):
        kept = ctx.store.attach_spooled(rows[uid], spooled)
        this.report.fetched += 1
        _process(ctx, kept, this, this.readers.submit(kept.raw_path, spooled.size))


def _envelope(header: bytes) -> Envelope | None:
    try:
        return parse_envelope(header)
    except ParseError:
        return None


def _process_kept(
    ctx: Context,
    kept: Sequence[Kept],
    this: _Round,
    should_stop: Callable[[], bool],
    progress: Progress | None = None,
) -> None:
    """Process messages already in the spool (kept before a crash or a failed attempt, or all
    of them again for `reprocess`), read ahead by the readers."""
    if kept:
        this.readers.start()
    readings = read_ahead((k.raw_path for k in kept), this.readers, READ_AHEAD)
    for message, reading in zip(kept, readings, strict=True):
        if should_stop():
            return
        _process(ctx, message, this, reading)
        if progress is not None:
            progress.advance()


def _process(ctx: Context, kept: Kept, this: _Round, reading: Pending, counted: bool = False) -> None:
    """File one kept message from its reading; whatever goes wrong stays with this message.

    `counted`: the attempt was counted when the message was recorded (`Recording.kept`).
    """
    store, oplog, report = ctx.store, ctx.oplog, this.report
    attempts = kept.attempts if counted else store.begin_attempt(kept.id)
    limit = ctx.settings.mailbox.max_attempts
    if attempts > limit:
        # A failed attempt ends in `_failed`, which sets the message aside at the limit: the
        # last ones ended with the process instead (a crash on this message, or a kill). It is
        # not read here again; a worker reads it still, so that its death on it is not put
        # down to the message after.
        if reading.in_worker:
            this.readers.result(reading)
        where = store.set_aside(kept.id, f"已开始处理 {limit} 次，每次都在中途中断")
        oplog.error(
            f"邮件 #{kept.id} 已开始处理 {limit} 次，每次程序都在处理中途中断（可能是附件触发了程序崩溃，"
            f"或内存不足），已隔离到 {where}，请人工查看"
        )
        report.count(Outcome.QUARANTINED)
        return
    read = this.readers.result(reading)
    if isinstance(read, NotAMessage):
        where = store.set_aside(kept.id, read.reason)
        oplog.warning(f"邮件 #{kept.id} 无法解析：{read.reason}；原件已隔离到 {where}，请人工查看")
        report.count(Outcome.QUARANTINED)
        return
    if isinstance(read, SpoolUnreadable):
        where = store.set_aside(kept.id, f"原始邮件文件无法读取：{read.reason}")
        oplog.error(f"邮件 #{kept.id} 的原始文件无法读取（{read.reason}），已隔离；请检查数据目录 {where}")
        report.count(Outcome.QUARANTINED)
        return
    if isinstance(read, ReadingFailed):
        log.debug("reading message %s failed: %s\n%s", kept.id, read.reason, read.trace)
        _failed(ctx, kept, report, attempts, read.reason)
        return
    message = read.message
    if read.contents is None:
        store.set_outcome(kept.id, Outcome.NOT_REPORT, f"{read.automatic}，不是报送材料")
        oplog.info(f"邮件 #{kept.id}「{message.envelope.subject}」是{read.automatic}，不是报送材料，不归档、不回复")
        report.count(Outcome.NOT_REPORT)
        return
    try:
        submission = read_submission(
            message,
            read.contents,
            kept.received_at,
            ctx.campaign,
            this.senders,
            this.history.on_file,
            this.history.photos,
            this.history.figures,
        )
        filing = _filing(submission)
        learned = dict(this.senders)
        # The filing, the addresses it teaches and its ack are one commit: a crash between
        # them must not leave a report filed that is never acknowledged.
        with store.transaction():
            stored = store.file(kept.id, filing)
            oplog.info(_filed_line(message.envelope, kept, submission, filing, len(stored)))
            _learn_liaisons(ctx, kept, submission, filing, learned)
            if filing.outcome is Outcome.FILED:
                _acknowledge(ctx, kept, message, submission, filing)
    except Exception as exc:  # one message's failure must not stop the poll
        log.debug("processing message %s failed", kept.id, exc_info=True)
        _failed(ctx, kept, report, attempts, str(exc))
        return
    this.history.filed(filing, ctx.campaign)
    this.senders.update(learned)
    report.count(filing.outcome)


def _failed(ctx: Context, kept: Kept, report: PollReport, attempts: int, reason: str) -> None:
    """Tried again on the next poll, or set aside once it has failed too often."""
    if attempts >= ctx.settings.mailbox.max_attempts:
        where = ctx.store.set_aside(kept.id, f"连续 {attempts} 次处理失败：{reason}")
        ctx.oplog.error(f"邮件 #{kept.id} 连续 {attempts} 次处理失败（{reason}），已隔离到 {where}；详见 debug.log")
        report.count(Outcome.QUARANTINED)
    else:
        ctx.store.note_failure(kept.id, reason)
        ctx.oplog.warning(f"邮件 #{kept.id} 第 {attempts} 次处理失败（{reason}），下次收取时重试")
        report.retry_later += 1


def _acknowledge(ctx: Context, kept: Kept, message: Message, submission: Submission, filing: Filing) -> None:
    """Queue the ack (the notifier applies the no-loop rules) and withdraw reminders now moot."""
    assert filing.unit is not None and submission.deadline is not None
    deadline, state = submission.deadline.deadline, submission.deadline.state
    assert deadline is not None and state is not None
    envelope = message.envelope
    facts = AckFacts(
        recipient=envelope.sender,
        recipient_name=envelope.sender_name,
        unit=filing.unit,
        deadline=deadline,
        received_at=kept.received_at,
        state=state,
        subject=envelope.subject,
        message_id=envelope.message_id,
        references=envelope.references,
        files=tuple(f.original_name for f in filing.files),
        cloud_links=tuple(
            CloudLink(c.filename or "（未注明文件名）", c.url, c.size_text or "", c.expires)
            for c in submission.contents.cloud_links
        ),
        figures=FormLabels.from_definitions(ctx.definitions).labelled(submission.figures),
        problems=tuple(Problem(w.kind, w) for w in submission.warnings),
        replaced_earlier=ctx.store.earlier_submission(filing.unit, deadline.id, kept.id),
    )
    notifier = ctx.notifier
    verdict = answer_allowed(envelope, envelope.header("content-type") or "", notifier.own_addresses)
    notifier.acknowledge(kept.id, facts, loop_check=verdict, verified=filing.unit_verified)
    notifier.withdraw_reminders(filing.unit, deadline.id)


def _filing(submission: Submission) -> Filing:
    contents = submission.contents
    common: dict[str, Any] = {
        "kinds": submission.kinds.kinds,
        "files": tuple(FileToKeep(a.filename, a.content_type, a.data) for a in contents.files),
        "figures": submission.figures,
        "warnings": submission.warnings,
        "activities": tuple(
            Activity(r.content, r.time, r.media, r.link, r.note) for r in contents.media_rows
        ),
        "photos": tuple(PhotoRecord(p.name, p.taken, p.phash, p.thumbnail) for p in contents.photos),
    }
    unit, deadline = submission.unit, submission.deadline
    if unit.unit is None or deadline is None or deadline.deadline is None:
        reason = unit.reason if unit.unit is None else (deadline.reason if deadline else "")
        return Filing(Outcome.UNSORTED, reason, **common)
    return Filing(
        Outcome.FILED,
        f"{unit.reason}；{submission.kinds.reason}；{deadline.reason}",
        unit=unit.unit,
        unit_verified=unit.verified,
        deadline_id=deadline.deadline.id,
        state=deadline.state,
        **common,
    )


def _learn_liaisons(
    ctx: Context, kept: Kept, submission: Submission, filing: Filing, senders: dict[str, str]
) -> None:
    """The e-mail address on a unit's 附件1 speaks for the unit from now on."""
    if filing.outcome is not Outcome.FILED:
        return
    for address, unit in submission.contacts.items():
        if unit == filing.unit and senders.get(address) != unit:
            ctx.store.learn_sender(address, unit, kept.id)
            senders[address] = unit
            ctx.oplog.info(f"从{unit}的联络员表登记报送邮箱 {address}（邮件 #{kept.id}）")


def _who(seen: Seen) -> str:
    return f"{seen.sender_name}<{seen.sender}>" if seen.sender_name else f"<{seen.sender}>"


def _filed_line(
    envelope: Envelope, kept: Kept, submission: Submission, filing: Filing, n_files: int
) -> str:
    sender = f"{envelope.sender_name}<{envelope.sender}>" if envelope.sender_name else envelope.sender
    head = f"收到 {sender}「{envelope.subject}」（#{kept.id}）"
    if filing.outcome is Outcome.UNSORTED:
        return f"{head}：{filing.reason}；{n_files} 个附件放入 archive/_unsorted/{kept.id:06d}/，请人工分拣"
    assert submission.deadline is not None and submission.deadline.deadline is not None
    assert submission.deadline.state is not None
    verified = "" if filing.unit_verified else "（发件地址未登记，待核实）"
    kinds = "、".join(k.label for k in filing.kinds) or "类别未识别"
    extra = "".join(f"；{w}" for w in _brief(submission.warnings))
    return (
        f"{head}：{filing.unit}{verified}，{submission.deadline.deadline.label}，"
        f"{submission.deadline.state.label}；{kinds}；存档 {n_files} 个文件{extra}"
    )


def _brief(warnings: Sequence[Concern]) -> list[str]:
    """Warnings for one log line: the blanks left empty counted, not listed one by one."""
    blanks = [w for w in warnings if w.kind is ProblemKind.BLANK]
    rest = [w for w in warnings if w.kind is not ProblemKind.BLANK]
    return ([f"附件2 有 {len(blanks)} 个空未填写"] if blanks else []) + rest


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
