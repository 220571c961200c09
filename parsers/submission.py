"""From a decoded message and its contents to a Submission: who sent it, what it is, which
deadline it answers, the figures it reports and what a person should look at."""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import datetime
from statistics import median
from typing import TYPE_CHECKING

from parsers.classify import (
    DeadlineMatch,
    KindGuess,
    UnitMatch,
    assign_deadline,
    guess_kinds,
    identify_unit,
    mentioned_deadline,
    units_named_in,
)
from parsers.concerns import Concern
from parsers.message import Message
from parsers.photochecks import near_duplicate, outside_period
from store.model import Campaign, Deadline, Kind, ProblemKind

if TYPE_CHECKING:  # the readers themselves (images, forms) run in the reading worker
    from parsers.contents import Contents

_FORM_KINDS = {"statistics": Kind.WEEKLY, "liaison": Kind.LIAISON}


@dataclass(frozen=True)
class Submission:
    """One message read as a report. `deadline` is None when the unit is unknown."""

    unit: UnitMatch
    kinds: KindGuess
    deadline: DeadlineMatch | None
    contents: Contents
    contacts: Mapping[str, str]  # address -> unit, from the 附件1 forms in this message
    warnings: tuple[Concern, ...]

    @property
    def figures(self) -> Mapping[str, int | str | None]:
        statistics = self.contents.statistics
        return statistics.figures if statistics else {}


def read_submission(
    message: Message,
    contents: Contents,
    received_at: datetime,
    campaign: Campaign,
    known_senders: Mapping[str, str],
    on_file: Mapping[str, Set[str]],
    earlier_photos: Mapping[str, str],
    earlier_figures: Mapping[str, Sequence[int]],
) -> Submission:
    """Decide unit, kinds and deadline, and check the photos and the figures.

    `on_file` maps a unit to the deadline ids it answered; `earlier_photos` maps the perceptual
    hash of every photo filed before to where it was filed ("盐湖区工科局 第1周进展");
    `earlier_figures` maps a figure key to the values all units filed for it before.
    """
    envelope = message.envelope
    names = [a.filename for a in contents.files]
    contacts = _liaison_addresses(contents, campaign)
    form_units = [r.header.get("填报单位", "") for r in contents.readings] + [c.unit or "" for c in contents.contacts]
    unit = identify_unit(
        envelope.sender, envelope.subject, names, campaign.units, {**known_senders, **contacts}, form_units
    )
    guessed = guess_kinds(envelope.subject, names)
    from_forms = [_FORM_KINDS[r.form] for r in contents.readings if r.form in _FORM_KINDS]
    kinds = KindGuess(
        tuple(k for k in Kind if k in guessed.kinds or k in from_forms),
        guessed.reason + ("；附件中有" + "、".join(k.label for k in from_forms) if from_forms else ""),
    )
    deadline = None
    warnings = list(contents.warnings)
    if unit.unit is not None:
        deadline = assign_deadline(
            received_at,
            kinds.kinds,
            campaign,
            on_file.get(unit.unit, frozenset()),
            mentioned_deadline(envelope.subject, names, campaign),
        )
        if deadline.deadline is not None:
            warnings += _photo_warnings(contents, campaign, deadline.deadline, received_at, earlier_photos)
    statistics = contents.statistics
    if statistics is not None:
        warnings += far_outside(statistics.figures, earlier_figures)
    if not contents.files and not contents.cloud_links:
        warnings.append(Concern(ProblemKind.OTHER, "邮件没有附件"))
    if Kind.WEEKLY in kinds.kinds and contents.statistics is None:
        warnings.append(Concern(ProblemKind.FORM_MISSING, "没有找到附件2（活动进展情况统计表），请单位补报"))
    return Submission(unit, kinds, deadline, contents, contacts, tuple(warnings))


# A figure this many times the usual value (and at least OUTLIER_FLOOR) is worth a second look:
# a digit typed twice, or the year's total where the week's was asked for.
OUTLIER_FACTOR = 20
OUTLIER_FLOOR = 100
OUTLIER_HISTORY = 5  # fewer earlier values than this say nothing about what is usual


def far_outside(figures: Mapping[str, int | str | None], earlier: Mapping[str, Sequence[int]]) -> list[Concern]:
    """Warnings for figures far above what the units have filed for the same blank before."""
    warnings = []
    for key, value in figures.items():
        history = earlier.get(key, ())
        if not isinstance(value, int) or value < OUTLIER_FLOOR or len(history) < OUTLIER_HISTORY:
            continue
        usual = median(history)
        if usual > 0 and value > OUTLIER_FACTOR * usual:
            item, blank = key.split(".", 1)
            warnings.append(
                Concern(
                    ProblemKind.SUSPICIOUS,
                    f"附件2 第{item}项 第{blank}空 填报 {value}，远高于各单位以往的数值（中位数 {usual:g}），请核实",
                )
            )
    return warnings


def _liaison_addresses(contents: Contents, campaign: Campaign) -> dict[str, str]:
    """Address -> unit for each 附件1 whose 单位名称 names exactly one unit."""
    found = {}
    for contact in contents.contacts:
        named = units_named_in(contact.unit or "", campaign.units)
        if contact.email and "@" in contact.email and len(named) == 1:
            found[contact.email.strip().lower()] = named[0]
    return found


def _photo_warnings(
    contents: Contents,
    campaign: Campaign,
    deadline: Deadline,
    received_at: datetime,
    earlier_photos: Mapping[str, str],
) -> list[Concern]:
    index = campaign.deadlines.index(deadline)
    start = campaign.deadlines[index - 1].due if index else campaign.start
    warnings = []
    seen_here: dict[str, str] = {}
    for photo in contents.photos:
        if photo.taken is not None:
            late_or_early = outside_period(photo.taken, start, max(received_at, deadline.due))
            if late_or_early:
                warnings.append(Concern(ProblemKind.SUSPICIOUS, f"“{photo.name}”：{late_or_early}"))
        if photo.phash is not None:
            again = near_duplicate(photo.phash, {**earlier_photos, **seen_here})
            if again:
                warnings.append(Concern(ProblemKind.SUSPICIOUS, f"“{photo.name}”：{again}"))
            seen_here[photo.phash] = f"本邮件中的“{photo.name}”"
    return warnings
