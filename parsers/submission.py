"""From a decoded message to a Submission: who sent it, what it is, which deadline it answers."""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass
from datetime import datetime

from parsers.classify import (
    DeadlineMatch,
    KindGuess,
    UnitMatch,
    assign_deadline,
    guess_kinds,
    identify_unit,
)
from parsers.message import Attachment, Message
from store.model import Campaign


@dataclass(frozen=True)
class Submission:
    """One message read as a report. `deadline` is None when the unit is unknown."""

    unit: UnitMatch
    kinds: KindGuess
    deadline: DeadlineMatch | None
    attachments: tuple[Attachment, ...]
    warnings: tuple[str, ...]


def read_submission(
    message: Message,
    received_at: datetime,
    campaign: Campaign,
    known_senders: Mapping[str, str],
    on_file: Mapping[str, Set[str]],
) -> Submission:
    """Decide unit, kinds and deadline; `on_file` maps a unit to the deadline ids it answered."""
    envelope = message.envelope
    names = [a.filename for a in message.attachments]
    unit = identify_unit(envelope.sender, envelope.subject, names, campaign.units, known_senders)
    kinds = guess_kinds(envelope.subject, names)
    deadline = None
    if unit.unit is not None:
        deadline = assign_deadline(
            received_at, kinds.kinds, campaign, on_file.get(unit.unit, frozenset())
        )
    warnings = []
    if not message.attachments:
        warnings.append("邮件没有附件")
    return Submission(unit, kinds, deadline, message.attachments, tuple(warnings))
