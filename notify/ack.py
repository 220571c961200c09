"""Acknowledgments (回执): what the bureau received from a unit, and what the unit should fix.

`build_ack` is pure: facts in, an `EmailMessage` out. `queue_ack` is the handler the poll cycle
calls after a message is filed: it applies the sending rules that need the outbox (one ack per
report, a per-address rate limit) on top of the caller's no-loop verdict, and queues the mail.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Protocol

from notify.mail import AutoSubmitted, Letterhead, compose
from notify.templates import Templates
from store.model import Deadline, ProblemKind, State
from store.oplog import OperatorLog
from store.outbox import MailKind, Outbox, ack_key


class FileGroup(enum.StrEnum):
    """How the ack groups the files it lists, by extension."""

    DOCUMENT = "document"
    PHOTO = "photo"
    VIDEO = "video"
    OTHER = "other"

    @property
    def label(self) -> str:
        return _GROUP_LABELS[self]


_GROUP_LABELS = {
    FileGroup.DOCUMENT: "文档和表格",
    FileGroup.PHOTO: "照片",
    FileGroup.VIDEO: "视频",
    FileGroup.OTHER: "其他文件",
}
_GROUP_EXTENSIONS = {
    FileGroup.DOCUMENT: frozenset(
        {"doc", "docx", "docm", "wps", "xls", "xlsx", "xlsm", "et", "pdf", "ofd", "txt", "rtf"}
    ),
    FileGroup.PHOTO: frozenset({"jpg", "jpeg", "png", "gif", "bmp", "heic", "heif", "webp", "tif", "tiff"}),
    FileGroup.VIDEO: frozenset({"mp4", "mov", "avi", "wmv", "mkv", "flv", "3gp", "m4v", "mpg", "mpeg", "rmvb"}),
}


def file_group(name: str) -> FileGroup:
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return next((g for g, exts in _GROUP_EXTENSIONS.items() if extension in exts), FileGroup.OTHER)


@dataclass(frozen=True)
class Problem:
    kind: ProblemKind
    detail: str  # what, as the operator log says it: "附件2 第3项 第4空 未填写"


@dataclass(frozen=True)
class CloudLink:
    """A 超大附件: a file left on the sender's cloud drive, to be downloaded before it expires."""

    name: str
    url: str
    size: str = ""  # as the mail shows it, e.g. "52.3M"
    expires_at: datetime | None = None


@dataclass(frozen=True)
class AckFacts:
    """Everything an acknowledgment says about one filed report."""

    recipient: str  # the report's sender address
    unit: str
    deadline: Deadline
    received_at: datetime  # the server's receipt time
    state: State  # ON_TIME or LATE
    subject: str  # the report's subject
    message_id: str | None  # the report's, for threading
    recipient_name: str = ""
    references: tuple[str, ...] = ()
    files: tuple[str, ...] = ()  # the original names of the files received
    cloud_links: tuple[CloudLink, ...] = ()
    figures: Mapping[str, int | str | None] = field(default_factory=dict)  # Chinese label -> value
    problems: tuple[Problem, ...] = ()
    replaced_earlier: datetime | None = None  # receipt time of the submission this one replaces


def build_ack(facts: AckFacts, templates: Templates, letterhead: Letterhead, now: datetime) -> EmailMessage:
    """The acknowledgment mail, threaded to the report."""
    grouped: dict[FileGroup, list[str]] = {}
    for name in facts.files:
        grouped.setdefault(file_group(name), []).append(name)
    rendered = templates.render(
        "ack",
        campaign=letterhead.campaign,
        unit=facts.unit,
        report_subject=facts.subject,
        deadline_label=facts.deadline.label,
        due=letterhead.when(facts.deadline.due),
        received=letterhead.when(facts.received_at),
        state=str(facts.state),
        state_label=facts.state.label,
        replaced=letterhead.when(facts.replaced_earlier) if facts.replaced_earlier else None,
        files=[{"label": group.label, "names": grouped[group]} for group in FileGroup if group in grouped],
        cloud_links=[
            {
                "name": link.name,
                "url": link.url,
                "size": link.size,
                "expires": letterhead.when(link.expires_at) if link.expires_at else "",
            }
            for link in facts.cloud_links
        ],
        figures=[
            {"label": label, "value": "" if value is None else str(value)} for label, value in facts.figures.items()
        ],
        problems=[{"kind": str(p.kind), "detail": p.detail.rstrip("。.；;，, ")} for p in facts.problems],
        contact=letterhead.contact,
        signature=letterhead.name,
        mailbox=letterhead.address,
    )
    return compose(
        letterhead,
        facts.recipient,
        rendered.subject,
        rendered.text,
        rendered.html,
        now,
        AutoSubmitted.REPLIED,
        recipient_name=facts.recipient_name,
        in_reply_to=facts.message_id,
        references=facts.references,
    )


class LoopCheck(Protocol):
    """The caller's no-loop verdict (parsers.autoreply.Verdict fits)."""

    @property
    def allowed(self) -> bool: ...

    @property
    def reason(self) -> str: ...


@dataclass(frozen=True)
class AckOutcome:
    queued: bool
    reason: str


def queue_ack(
    outbox: Outbox,
    message: int,
    facts: AckFacts,
    *,
    loop_check: LoopCheck,
    verified: bool,
    per_address_per_hour: int,
    templates: Templates,
    letterhead: Letterhead,
    now: datetime,
    oplog: OperatorLog,
) -> AckOutcome:
    """Queue the acknowledgment of the filed message `message` (its row id), if it may be sent.

    Every refusal is logged for the operator; an unverified sender is listed so that a person
    can confirm the address and add it to the unit.
    """
    key = ack_key(message)
    refusal = _refusal(outbox, key, facts, loop_check, verified, per_address_per_hour, now)
    who = f"{facts.unit}「{facts.subject}」（#{message}，{facts.recipient}）"
    if refusal is None:
        mail = build_ack(facts, templates, letterhead, now)
        if outbox.enqueue(key, MailKind.ACK, facts.recipient, mail):
            oplog.info(f"回执已排队：{who}，{facts.deadline.label}，{facts.state.label}")
            return AckOutcome(True, "已排队")
        refusal = _ALREADY  # queued meanwhile by another process
    if loop_check.allowed and not verified:
        oplog.warning(f"不发回执：{who}：{refusal}，请核实；确认后把该地址加入 config.yaml 中{facts.unit}的 emails")
    else:
        oplog.info(f"不发回执：{who}：{refusal}")
    return AckOutcome(False, refusal)


_ALREADY = "这份报送已经回执过"


def _refusal(
    outbox: Outbox,
    key: str,
    facts: AckFacts,
    loop_check: LoopCheck,
    verified: bool,
    per_address_per_hour: int,
    now: datetime,
) -> str | None:
    """Why no acknowledgment may go out, or None."""
    if not loop_check.allowed:
        return loop_check.reason
    if not verified:
        return "发件地址未登记为该单位的联络员地址"
    if outbox.has(key):
        return _ALREADY
    recent = outbox.count_since(MailKind.ACK, facts.recipient, now - timedelta(hours=1))
    if recent >= per_address_per_hour:
        return f"该地址一小时内已收到 {recent} 封回执，达到上限 {per_address_per_hour} 封"
    return None
