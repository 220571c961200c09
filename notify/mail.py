"""Well-formed mail: what 126.com's spam filter and the recipients' auto-responders expect.

One recipient per message, `formataddr` with UTF-8 names, Date, a Message-ID in our own domain,
HTML with a plain-text alternative, and the RFC 3834 headers that say the mail is automatic
(promise 11) so that no responder answers it and no loop starts.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from zoneinfo import ZoneInfo

from store.config import Settings
from store.model import BaosongError

# A References header is capped like mail clients do: the first and the latest ids are the
# ones threading needs.
_MAX_REFERENCES = 20


class AutoSubmitted(enum.StrEnum):
    REPLIED = "auto-replied"  # acknowledgments: answers to a report
    GENERATED = "auto-generated"  # reminders and the digest: sent on our own schedule


@dataclass(frozen=True)
class Letterhead:
    """Who we are in every mail: the From line, the contact line, the campaign, the clock."""

    sender: str  # "运城市工信局运行监测科 <ycjjyxk@126.com>"
    contact: str
    campaign: str
    zone: tzinfo

    @classmethod
    def from_settings(cls, settings: Settings) -> Letterhead:
        return cls(
            sender=settings.smtp.sender,
            contact=settings.notify.contact,
            campaign=settings.campaign.name,
            zone=ZoneInfo(settings.campaign.timezone),
        )

    @property
    def name(self) -> str:
        return parseaddr(self.sender)[0]

    @property
    def address(self) -> str:
        address = parseaddr(self.sender)[1]
        if "@" not in address:
            raise BaosongError(f"smtp.sender {self.sender!r} 中没有发件地址，应写作 名称 <地址>")
        return address.lower()

    def when(self, moment: datetime) -> str:
        """A moment as a person reads it: 2023年6月7日 10:32 (Beijing time for the seed)."""
        local = moment.astimezone(self.zone)
        return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"


def bracketed(message_id: str) -> str:
    """'<x@y>' whether or not the angle brackets came with it."""
    return f"<{message_id.strip().strip('<>')}>"


def one_line(text: str) -> str:
    """Header text from untrusted input: no line breaks, no runs of spaces."""
    return " ".join(text.split())


def compose(
    letterhead: Letterhead,
    recipient: str,
    subject: str,
    text: str,
    html: str,
    now: datetime,
    auto_submitted: AutoSubmitted,
    *,
    recipient_name: str = "",
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
) -> EmailMessage:
    """One message to one recipient, HTML with its plain-text alternative."""
    message = EmailMessage()
    message["From"] = formataddr((letterhead.name, letterhead.address))
    message["To"] = formataddr((one_line(recipient_name), recipient.strip()))
    message["Subject"] = one_line(subject)
    message["Date"] = format_datetime(now.astimezone(letterhead.zone))
    message["Message-ID"] = make_msgid("baosong", letterhead.address.split("@", 1)[1])
    message["Auto-Submitted"] = str(auto_submitted)
    # Exchange/Outlook's own switch for out-of-office and delivery receipts.
    message["X-Auto-Response-Suppress"] = "All"
    if in_reply_to:
        parent = bracketed(in_reply_to)
        chain = [bracketed(r) for r in references if r.strip()]
        if parent not in chain:
            chain.append(parent)
        if len(chain) > _MAX_REFERENCES:
            chain = [chain[0], *chain[-(_MAX_REFERENCES - 1) :]]
        message["In-Reply-To"] = parent
        message["References"] = " ".join(chain)
    # base64 keeps the mail 7-bit: no server on the way needs 8BITMIME for Chinese text.
    message.set_content(text, charset="utf-8", cte="base64")
    message.add_alternative(html, subtype="html", charset="utf-8", cte="base64")
    return message
