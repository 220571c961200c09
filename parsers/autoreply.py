"""May a message be answered automatically? The no-loop, no-backscatter rules (promise 6).

Only decides: `answer_allowed` returns a verdict with its reason and the caller acts on it.
Whether the sender belongs to a unit is the caller's rule: it knows who is registered.
The rules follow RFC 3834 (responders must not answer auto-submitted mail, bounces or lists)
and Mailman 3's replybot; a false "no" costs one acknowledgment, a false "yes" can start a loop,
so doubt means no.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from parsers.message import Envelope


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str


# Local parts of addresses that are machines: bounces and no-reply senders.
_MACHINE_SENDERS = re.compile(
    r"^(mailer-daemon|postmaster|mail-daemon|maildaemon|no-?reply|do-?not-?reply|bounces?)"
    r"([+\-.].*)?$"
)
# Headers whose mere presence marks an automatic reply (Exchange, procmail, vacation).
_AUTOREPLY_FLAGS = ("X-Autoreply", "X-Autorespond", "X-Autoresponse")
_BULK_PRECEDENCE = frozenset({"bulk", "junk", "list"})
_LIST_HEADERS = ("List-Id", "List-Unsubscribe", "List-Post")
# Subjects of out-of-office replies and bounces, as 126/163, QQ Mail, Outlook and Exchange
# write them; compared without case or spaces.
_AUTOMATIC_SUBJECTS = (
    "自动回复",
    "自动答复",
    "自动回覆",
    "系统退信",
    "退信通知",
    "邮件投递失败",
    "无法投递",
    "autoreply",
    "auto-reply",
    "automaticreply",
    "outofoffice",
    "undeliverable",
    "undelivered",
    "deliverystatusnotification",
    "returnedmail",
    "mailfailure",
)


def _first_word(value: str | None) -> str:
    """The value before any ';' parameters, lower-cased: 'Auto-Replied; x=y' -> 'auto-replied'."""
    return (value or "").split(";", 1)[0].strip().lower()


def machine_made(envelope: Envelope, content_type: str) -> str | None:
    """Why this message was sent by a machine (a bounce, an auto-reply, list mail), or None.

    Such mail is never a report and is never answered.
    """
    sender = envelope.sender.strip().lower()
    if sender and _MACHINE_SENDERS.match(sender.split("@", 1)[0]):
        return f"发件人 {sender} 是系统地址（退信或不接收回复）"
    if (envelope.header("Return-Path") or "").strip() == "<>":
        return "退信（Return-Path 为空）"
    if _first_word(content_type) == "multipart/report":
        return "投递状态报告（退信或回执，multipart/report）"
    auto_submitted = _first_word(envelope.header("Auto-Submitted"))
    if auto_submitted and auto_submitted != "no":
        return f"自动发出的邮件（Auto-Submitted: {auto_submitted}）"
    for name in _AUTOREPLY_FLAGS:
        if envelope.header(name) is not None:
            return f"自动回复（带有 {name} 标记）"
    precedence = _first_word(envelope.header("Precedence"))
    if precedence in _BULK_PRECEDENCE:
        return f"群发或邮件列表邮件（Precedence: {precedence}）"
    for name in _LIST_HEADERS:
        if envelope.header(name) is not None:
            return f"邮件列表邮件（带有 {name}）"
    squeezed = "".join(envelope.subject.split()).lower()
    marker = next((m for m in _AUTOMATIC_SUBJECTS if m in squeezed), None)
    if marker is not None:
        return f"主题表明是自动回复或退信（“{marker}”）"
    return None


def answer_allowed(envelope: Envelope, content_type: str, own_addresses: Collection[str]) -> Verdict:
    """Whether an automatic answer to this message may be sent, and why (not)."""
    sender = envelope.sender.strip().lower()
    if not sender or "@" not in sender:
        return Verdict(False, "没有可回复的发件地址（退信或系统邮件）")
    if sender in {a.strip().lower() for a in own_addresses}:
        return Verdict(False, f"发件人 {sender} 是本系统自己的地址")
    reason = machine_made(envelope, content_type)
    if reason is not None:
        return Verdict(False, reason)
    return Verdict(True, "可以回复")
