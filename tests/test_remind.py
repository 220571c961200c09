"""Reminders: when each stage falls, who gets it, and a simulated week through a real SMTP server."""

from __future__ import annotations

from email.utils import parseaddr
from pathlib import Path
from typing import Any

import pytest
import yaml

from notify.remind import Reminder, current_stage, due_reminders, liaison_addresses, stage_time
from store.config import ConfigError, NotifyConfig, Settings, load_settings
from store.db import Filing, Kept, Seen
from store.model import Outcome, State, Unit
from store.outbox import MailState
from tests.baosong_cli import ROOT
from tests.notify_support import BEIJING, Bureau, Clock, beijing, bureau
from tests.servers import SmtpSink

CAMPAIGN = load_settings(ROOT / "config.yaml").campaign_model()
STAGES = NotifyConfig().reminders
WEEK_1 = CAMPAIGN.deadline("week-1")
SETUP = CAMPAIGN.deadline("setup")
ALL_UNITS = [u.name for u in CAMPAIGN.units]
ADDRESSES = {name: (f"liaison{i}@county.test",) for i, name in enumerate(ALL_UNITS)}


# --- the stages -------------------------------------------------------------------------------


def test_the_default_stages_of_a_wednesday_noon_deadline() -> None:
    times = {s.id: stage_time(s, WEEK_1.due, BEIJING) for s in STAGES}
    assert times == {
        "eve": beijing("2023-06-06T10:00"),
        "two-hours": beijing("2023-06-07T10:00"),
        "overdue": beijing("2023-06-07T12:10"),
        "next-morning": beijing("2023-06-08T09:00"),
    }


def test_the_default_stages_of_an_end_of_day_deadline() -> None:
    times = {s.id: stage_time(s, SETUP.due, BEIJING) for s in STAGES}
    assert times["eve"] == beijing("2023-05-30T10:00")
    assert times["two-hours"] == beijing("2023-05-31T21:59:59")
    assert times["next-morning"] == beijing("2023-06-01T09:00")


def test_the_notify_block_in_config_yaml_shows_the_defaults() -> None:
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    head, block = text.split("# notify:")
    settings = Settings.model_validate(yaml.safe_load(head + "notify:" + block.replace("\n#   ", "\n  ")))
    assert settings.notify == NotifyConfig()


@pytest.mark.parametrize(
    ("stage", "error"),
    [
        ({"id": "x", "before": "2h", "after": "1h"}, "其中之一"),
        ({"id": "x"}, "其中之一"),
        ({"id": "x", "before_days": 1}, "须同时设置 at"),
        ({"id": "x", "before": "2h", "at": "10:00"}, "at 只能与"),
        ({"id": "x", "after": "2 hours"}, "不是时长"),
        ({"id": "x", "after_days": 1, "at": "25:00"}, "at"),
        ({"id": "X Y", "after": "1h"}, "id"),
        ({"id": "x", "after": "1h", "sms": True}, "未知的配置项"),
    ],
)
def test_a_wrong_stage_fails_at_start_up_naming_the_key(tmp_path: Path, stage: dict[str, Any], error: str) -> None:
    config: dict[str, Any] = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    config["notify"] = {"reminders": [stage]}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"notify\.reminders\.0") as raised:
        load_settings(path)
    assert error in str(raised.value)


def test_an_unquoted_yaml_time_is_read_as_a_time() -> None:
    parsed = NotifyConfig.model_validate(yaml.safe_load("reminders: [{id: eve, before_days: 1, at: 10:00}]"))
    assert stage_time(parsed.reminders[0], WEEK_1.due, BEIJING) == beijing("2023-06-06T10:00")


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2023-06-06T09:59", None),
        ("2023-06-06T10:00", "eve"),
        ("2023-06-07T09:59", "eve"),
        ("2023-06-07T10:00", "two-hours"),
        ("2023-06-07T12:00", "two-hours"),  # due at 12:00: still before it
        ("2023-06-07T12:01", None),  # a before-deadline reminder is never sent after the deadline
        ("2023-06-07T12:10", "overdue"),
        ("2023-06-08T08:59", "overdue"),
        ("2023-06-08T09:00", "next-morning"),
        ("2023-06-20T09:00", "next-morning"),
    ],
)
def test_the_stage_that_fits_the_moment(now: str, expected: str | None) -> None:
    current = current_stage(WEEK_1, STAGES, beijing(now), BEIJING)
    assert (current[0].id if current else None) == expected


# --- who gets which -----------------------------------------------------------------------------


def due(now: str, on_file: dict[str, set[str]] | None = None, sent: set[str] | None = None) -> list[Reminder]:
    return [
        r
        for r in due_reminders(CAMPAIGN, on_file or {}, STAGES, beijing(now), sent or set(), ADDRESSES)
        if r.deadline.id == "week-1"
    ]


def test_only_units_with_nothing_on_file_are_reminded() -> None:
    on_file = {"盐湖区工科局": {"week-1"}, "永济市工科局": {"setup"}}
    reminders = due("2023-06-06T10:00", on_file)
    assert [r.unit for r in reminders] == [u for u in ALL_UNITS if u != "盐湖区工科局"]
    assert {(r.stage.id, r.at) for r in reminders} == {("eve", beijing("2023-06-06T10:00"))}
    assert reminders[0].recipients == ADDRESSES[reminders[0].unit]


def test_each_stage_once() -> None:
    first = due("2023-06-06T10:00")
    assert due("2023-06-06T15:00", sent={r.key for r in first}) == []
    assert {r.stage.id for r in due("2023-06-07T10:00", sent={r.key for r in first})} == {"two-hours"}


def test_after_a_gap_only_the_latest_stage_goes_out() -> None:
    # Down from Monday to Wednesday 11:00: one reminder that fits, not the eve's too.
    assert {r.stage.id for r in due("2023-06-07T11:00")} == {"two-hours"}


def test_every_deadline_is_looked_at() -> None:
    reminders = due_reminders(CAMPAIGN, {}, STAGES, beijing("2023-06-07T12:30"), set(), ADDRESSES)
    assert {(r.deadline.id, r.stage.id) for r in reminders} == {("setup", "next-morning"), ("week-1", "overdue")}


def test_liaison_addresses_are_the_configs_then_the_learned_ones() -> None:
    units = [Unit("盐湖区工科局", emails=("yanhu@county.test",)), Unit("夏县工科局")]
    learned = {"Zhang@QQ.test": "盐湖区工科局", "yanhu@county.test": "盐湖区工科局", "x@y.test": "不存在的单位"}
    assert liaison_addresses(units, learned) == {
        "盐湖区工科局": ("yanhu@county.test", "zhang@qq.test"),
        "夏县工科局": (),
    }


# --- a simulated week through the real server ---------------------------------------------------

ONE_DEADLINE = {
    "name": '2023年"安全生产月"',
    "timezone": "Asia/Shanghai",
    "start": "2023-05-29",
    "deadlines": [{"id": "week-1", "label": "第1周进展", "due": "2023-06-07T12:00", "expects": ["weekly"]}],
}
FOUR_UNITS = [
    {"name": "盐湖区工科局", "aliases": ["盐湖区"], "emails": ["yanhu@county.test"]},
    {"name": "永济市工科局", "aliases": ["永济市"], "emails": ["yongji@county.test", "yongji2@county.test"]},
    {"name": "河津市工科局", "aliases": ["河津市"], "emails": ["hejin@county.test"]},
    {"name": "夏县工科局", "aliases": ["夏县"], "emails": []},
]


def file_report(office: Bureau, unit: str, uid: str) -> None:
    """What the poll cycle does with a unit's report: file it, then withdraw its reminders."""
    store = office.store
    seen = Seen("maildir:/test", 0, uid, 10, office.clock.now, f"<{uid}@county.test>", "x@county.test")
    kept = store.keep_raw(seen, f"Subject: {uid}\r\n\r\n{unit}\r\n".encode())
    assert isinstance(kept, Kept)
    store.file(kept.id, Filing(Outcome.FILED, "测试", unit, True, "week-1", State.ON_TIME))
    office.notifier.withdraw_reminders(unit, "week-1")


def remind_at(office: Bureau, sink: SmtpSink, when: str) -> list[tuple[str, str]]:
    """`baosong remind --now when`: queue what is due and send it; return (to, subject) sent."""
    before = len(sink.messages)
    office.clock.now = beijing(when)
    notifier = office.notifier
    on_file = office.store.deadlines_on_file(office.settings.campaign_model())
    notifier.remind(notifier.due_reminders(on_file, office.store.learned_senders()))
    notifier.deliver()
    return [(c.rcpt_tos[0], str(c.message()["Subject"])) for c in sink.messages[before:]]


def test_a_week_of_reminders_goes_to_exactly_the_missing_units(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smtp_sink: SmtpSink
) -> None:
    office = bureau(
        tmp_path, Clock(beijing("2023-06-05T09:00")), monkeypatch, smtp_sink, campaign=ONE_DEADLINE, units=FOUR_UNITS
    )
    remind_before = "【报送提醒】第1周进展请于 2023年6月7日 12:00 前报送"
    overdue = "【逾期催报】第1周进展尚未收到"

    assert remind_at(office, smtp_sink, "2023-06-06T09:59") == []
    assert remind_at(office, smtp_sink, "2023-06-06T10:00") == [
        ("yanhu@county.test", f"{remind_before}（盐湖区工科局）"),
        ("yongji@county.test", f"{remind_before}（永济市工科局）"),
        ("yongji2@county.test", f"{remind_before}（永济市工科局）"),
        ("hejin@county.test", f"{remind_before}（河津市工科局）"),
    ]
    assert remind_at(office, smtp_sink, "2023-06-06T10:30") == []  # each stage once

    office.clock.now = beijing("2023-06-06T16:00")
    file_report(office, "盐湖区工科局", "1")
    assert [to for to, _ in remind_at(office, smtp_sink, "2023-06-07T10:00")] == [
        "yongji@county.test",
        "yongji2@county.test",
        "hejin@county.test",
    ]
    assert remind_at(office, smtp_sink, "2023-06-07T12:05") == []
    assert remind_at(office, smtp_sink, "2023-06-07T12:10") == [
        ("yongji@county.test", f"{overdue}（永济市工科局）"),
        ("yongji2@county.test", f"{overdue}（永济市工科局）"),
        ("hejin@county.test", f"{overdue}（河津市工科局）"),
    ]

    office.clock.now = beijing("2023-06-07T15:00")
    file_report(office, "永济市工科局", "2")  # late, but on file: no more reminders
    assert remind_at(office, smtp_sink, "2023-06-08T09:00") == [("hejin@county.test", f"{overdue}（河津市工科局）")]
    assert remind_at(office, smtp_sink, "2023-06-09T09:00") == []

    # 夏县 has no address: recorded once per stage as a failure, for the operator.
    no_address = [i for i in office.notifier.outbox.items() if i.recipient == ""]
    assert [(i.key, i.state) for i in no_address] == [
        (f"remind:夏县工科局:week-1:{stage}", MailState.FAILED)
        for stage in ("eve", "two-hours", "overdue", "next-morning")
    ]
    assert sum("夏县工科局 → （没有联络员邮箱，无法发送）" in line for line in office.oplog.lines()) == 4


def test_a_captured_reminder_reads_right(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smtp_sink: SmtpSink) -> None:
    office = bureau(
        tmp_path,
        Clock(beijing("2023-06-05T09:00")),
        monkeypatch,
        smtp_sink,
        campaign=ONE_DEADLINE,
        units=FOUR_UNITS[:1],
    )
    remind_at(office, smtp_sink, "2023-06-07T10:00")
    remind_at(office, smtp_sink, "2023-06-07T12:10")
    before, after = (c.message() for c in smtp_sink.wait_for(2))
    for mail in (before, after):
        assert str(mail["Auto-Submitted"]) == "auto-generated"
        assert str(mail["X-Auto-Response-Suppress"]) == "All"
        assert mail["In-Reply-To"] is None
        assert parseaddr(str(mail["To"])) == ("盐湖区工科局", "yanhu@county.test")
    text = before.get_body(("plain",))
    assert text is not None
    assert (
        '按照2023年"安全生产月"活动安排，「第1周进展」（周进展）须于 2023年6月7日 12:00 前报送，距截止还有2小时。'
        "截至 2023年6月7日 10:00，尚未收到你单位的材料，请按时报送。"
    ) in text.get_content()
    text = after.get_body(("plain",))
    assert text is not None
    assert (
        "「第1周进展」（周进展）的报送截止时间 2023年6月7日 12:00 已过，截至 2023年6月7日 12:10 仍未收到你单位的材料"
    ) in text.get_content()


def test_a_queued_reminder_is_withdrawn_when_the_unit_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smtp_sink: SmtpSink
) -> None:
    office = bureau(
        tmp_path,
        Clock(beijing("2023-06-05T09:00")),
        monkeypatch,
        smtp_sink,
        campaign=ONE_DEADLINE,
        units=FOUR_UNITS[:2],
    )
    smtp_sink.stop()
    remind_at(office, smtp_sink, "2023-06-07T12:10")
    file_report(office, "盐湖区工科局", "1")
    smtp_sink.start()
    assert remind_at(office, smtp_sink, "2023-06-07T12:20") == [
        ("yongji@county.test", "【逾期催报】第1周进展尚未收到（永济市工科局）"),
        ("yongji2@county.test", "【逾期催报】第1周进展尚未收到（永济市工科局）"),
    ]
    assert "已取消未发出的提醒「【逾期催报】第1周进展尚未收到（盐湖区工科局）」→ yanhu@county.test" in office.log()


def test_a_reminder_held_up_past_the_deadline_is_dropped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smtp_sink: SmtpSink
) -> None:
    office = bureau(
        tmp_path,
        Clock(beijing("2023-06-05T09:00")),
        monkeypatch,
        smtp_sink,
        campaign=ONE_DEADLINE,
        units=FOUR_UNITS[:1],
    )
    smtp_sink.stop()
    remind_at(office, smtp_sink, "2023-06-07T10:00")
    [queued] = office.notifier.outbox.items()
    assert queued.not_after == WEEK_1.due
    smtp_sink.start()
    office.clock.now = beijing("2023-06-07T12:01")
    assert office.notifier.deliver().expired == 1
    assert smtp_sink.messages == []


def test_dry_run_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    office = bureau(
        tmp_path, Clock(beijing("2023-06-07T12:30")), monkeypatch, campaign=ONE_DEADLINE, units=FOUR_UNITS[1:]
    )
    notifier = office.notifier
    lines = [notifier.describe(r) for r in notifier.due_reminders({}, {})]
    assert lines == [
        "永济市工科局 → yongji@county.test、yongji2@county.test：第1周进展逾期催报（overdue，2023年6月7日 12:10）",
        "河津市工科局 → hejin@county.test：第1周进展逾期催报（overdue，2023年6月7日 12:10）",
        "夏县工科局 → （没有联络员邮箱，无法发送）：第1周进展逾期催报（overdue，2023年6月7日 12:10）",
    ]
    assert notifier.outbox.items() == []  # a dry run queues nothing
