"""The decisions of parsers/classify.py on the real 2023 calendar and units of config.yaml."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from parsers.classify import (
    assign_deadline,
    could_be_report,
    guess_kinds,
    identify_unit,
    mentioned_deadline,
    units_named_in,
)
from store.config import load_settings
from store.model import Kind, State

BEIJING = ZoneInfo("Asia/Shanghai")
CAMPAIGN = load_settings(Path(__file__).parents[1] / "config.yaml").campaign_model()
UNITS = CAMPAIGN.units


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=BEIJING)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("新绛县安全生产月第一周统计表", ["新绛县工科局"]),
        ("绛县工科局报送", ["绛县工科局"]),
        ("新绛县与绛县联合活动", ["新绛县工科局", "绛县工科局"]),
        ("运城开发区产业发展部 方案", ["运城开发区产业发展部"]),
        ("夏县", ["夏县工科局"]),
        ("运城市工信局通知", []),
    ],
)
def test_units_named_in_prefers_longer_names(text: str, expected: list[str]) -> None:
    assert units_named_in(text, UNITS) == expected


def test_registered_sender_is_verified_and_beats_names() -> None:
    match = identify_unit("YH@126.com", "永济市周报", [], UNITS, {"yh@126.com": "盐湖区工科局"})
    assert (match.unit, match.verified) == ("盐湖区工科局", True)


def test_unit_from_file_name_is_unverified() -> None:
    match = identify_unit("someone@qq.com", "周报", ["附件2（临猗县）.docx"], UNITS, {})
    assert (match.unit, match.verified) == ("临猗县工科局", False)
    assert "附件名" in match.reason


def test_two_units_in_subject_is_no_unit() -> None:
    match = identify_unit("x@qq.com", "盐湖区、永济市联合报送", [], UNITS, {})
    assert match.unit is None
    assert "盐湖区工科局" in match.reason and "永济市工科局" in match.reason


@pytest.mark.parametrize(
    ("subject", "names", "kinds"),
    [
        ("盐湖区安全生产月联络员表及活动方案", [], {Kind.LIAISON, Kind.PLAN}),
        ("第二周进展", ["附件2.xlsx"], {Kind.WEEKLY}),
        ("第三周", [], {Kind.WEEKLY}),
        ("特色活动：安全宣传咨询日", [], {Kind.FEATURE}),
        ("活动总结", ["总结.docx"], {Kind.SUMMARY}),
        ("你好", ["照片.jpg"], set()),
    ],
)
def test_guess_kinds(subject: str, names: list[str], kinds: set[Kind]) -> None:
    assert set(guess_kinds(subject, names).kinds) == kinds


@pytest.mark.parametrize(
    ("received", "kinds", "on_file", "deadline", "state"),
    [
        ("2023-05-30 09:00", [Kind.PLAN], [], "setup", State.ON_TIME),
        ("2023-05-31 23:59:59", [Kind.LIAISON], [], "setup", State.ON_TIME),
        ("2023-06-01 08:00", [Kind.PLAN], [], "setup", State.LATE),
        ("2023-06-01 08:00", [Kind.WEEKLY], [], "week-1", State.ON_TIME),
        ("2023-06-07 12:00", [Kind.WEEKLY], [], "week-1", State.ON_TIME),
        ("2023-06-07 12:01", [Kind.WEEKLY], [], "week-1", State.LATE),
        ("2023-06-07 12:01", [Kind.WEEKLY], ["week-1"], "week-2", State.ON_TIME),
        ("2023-06-15 09:00", [Kind.WEEKLY], ["week-1"], "week-2", State.LATE),
        ("2023-06-16 10:00", [Kind.FEATURE], [], "week-3", State.ON_TIME),
        ("2023-06-29 10:00", [Kind.SUMMARY], [], "summary", State.ON_TIME),
        ("2023-07-02 10:00", [Kind.SUMMARY], ["summary"], "summary", State.LATE),
        ("2023-06-08 10:00", [], [], "week-1", State.LATE),
    ],
)
def test_assign_deadline_by_receipt_time(
    received: str, kinds: list[Kind], on_file: list[str], deadline: str, state: State
) -> None:
    match = assign_deadline(at(received), kinds, CAMPAIGN, on_file)
    assert match.deadline is not None
    assert (match.deadline.id, match.state) == (deadline, state)
    assert match.reason


@pytest.mark.parametrize(
    ("subject", "expected"),
    [("第二周进展", "week-2"), ("第 3 周统计表", "week-3"), ("第4周", "week-4"), ("第五周", None), ("周报", None)],
)
def test_a_week_named_in_the_subject_is_found(subject: str, expected: str | None) -> None:
    found = mentioned_deadline(subject, [], CAMPAIGN)
    assert (found.id if found else None) == expected


def test_a_named_week_wins_over_the_receipt_time() -> None:
    # Missed week-1, sends week-2's report on the 13th: it is week-2, on time, not week-1 late.
    week2 = CAMPAIGN.deadline("week-2")
    match = assign_deadline(at("2023-06-13 10:00"), [Kind.WEEKLY], CAMPAIGN, [], week2)
    assert (match.deadline, match.state) == (week2, State.ON_TIME)
    late = assign_deadline(at("2023-06-21 15:00"), [Kind.WEEKLY], CAMPAIGN, [], CAMPAIGN.deadline("week-3"))
    assert late.state is State.LATE


def test_receipt_time_is_judged_in_beijing_time() -> None:
    # 04:30 UTC is 12:30 in Beijing: half an hour after week-1's 12:00 deadline.
    utc = datetime.fromisoformat("2023-06-07T04:30:00+00:00")
    match = assign_deadline(utc, [Kind.WEEKLY], CAMPAIGN, [])
    assert match.deadline is not None and match.deadline.id == "week-1"
    assert match.state is State.LATE


@pytest.mark.parametrize(
    ("sender", "subject", "names", "possible"),
    [
        ("a@qq.com", "周末聚餐", [], False),
        ("a@qq.com", "发票", ["invoice.jpg"], False),
        ("a@qq.com", "转发", ["材料.docx"], True),
        ("a@qq.com", "安全生产月材料", [], True),
        ("a@qq.com", "稷山材料", [], True),
        ("yh@126.com", "hi", [], True),
    ],
)
def test_could_be_report(sender: str, subject: str, names: list[str], possible: bool) -> None:
    verdict = could_be_report(sender, subject, names, UNITS, {"yh@126.com": "盐湖区工科局"})
    assert verdict.possible is possible
    assert verdict.reason
